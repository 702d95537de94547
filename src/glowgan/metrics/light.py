"""Light-based scores of an HDR reconstruction against its ground truth: what matters for lighting.

PU21 and log errors judge how an image looks; an environment map is judged by the light it casts.
Three scores, all in stops (log2 of restored over true, so 0 is exact, -1 is half the light):

- :func:`clipped_energy_stops`: the energy of the clipped region, ``log2(sum Y_restored / sum Y_true)``
  over the pixels the photo clipped, with ``Y`` the Rec.709 luminance
  (:func:`glowgan.metrics.dynamic_range.luminance`). A restoration that leaves highlights at the clip
  level has a large negative energy; one whose sun is too small but too bright can still be right.
- :func:`clipped_peak_stops`: the brightest pixel of the clipped region, ``log2(max Y_restored /
  max Y_true)`` there. A sun invented where the photo's clipped region is a bright, sunless sky shows
  as a large positive peak, one left at the clip level as a large negative one, where the energy may
  look right.
- :func:`irradiance_error`: the diffuse irradiance of an equirectangular panorama at the 6 axis normals
  (+x, -x, +y (up), -y, +z (the map's centre), -z; the convention of :mod:`glowgan.envmap`), the
  cosine- and solid-angle-weighted integral ``E(n) = int L(w) max(0, n . w) dw`` computed by
  :func:`glowgan.ibl.irradiance` (spherical harmonics with the brightest texels summed exactly), as
  luminance; per normal ``log2(E_restored / E_true)`` and their RMS over the 6 normals.

Both compare images on one scale: align the exposure first (``glowgan.evaluation`` does, on the
unclipped pixels).
"""

from __future__ import annotations

import numpy as np

from glowgan.ibl import irradiance
from glowgan.metrics.dynamic_range import luminance

# The 6 axis normals in glowgan.envmap's frame (y up, +z the map's centre, +x at u = 0.75).
AXIS_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
AXIS_NORMALS = np.array(
    [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]
)
# Irradiance below this fraction of the true map's brightest axis irradiance counts as darkness (2^-20,
# 20 stops down): both sides are floored there, so a normal that no light reaches (the ground side of a
# map lit only from above) scores 0 when the restoration is dark there too, rather than log2(0 / 0).
IRRADIANCE_FLOOR = 2.0**-20


def clipped_energy_stops(restored_hdr: np.ndarray, true_hdr: np.ndarray, clipped: np.ndarray) -> float:
    """``log2(sum Y(restored) / sum Y(true))`` over the ``clipped`` pixels [H, W] (bool) of two
    linear images [H, W, 3] on one scale; -inf when the restoration is black there."""
    restored, true = _clipped_luminance(restored_hdr, true_hdr, clipped, "energy")
    with np.errstate(divide="ignore"):
        return float(np.log2(float(restored.sum()) / float(true.sum())))


def clipped_peak_stops(restored_hdr: np.ndarray, true_hdr: np.ndarray, clipped: np.ndarray) -> float:
    """``log2(max Y(restored) / max Y(true))`` over the ``clipped`` pixels [H, W] (bool) of two linear
    images [H, W, 3] on one scale; -inf when the restoration is black there."""
    restored, true = _clipped_luminance(restored_hdr, true_hdr, clipped, "peak")
    with np.errstate(divide="ignore"):
        return float(np.log2(float(restored.max()) / float(true.max())))


def _clipped_luminance(
    restored_hdr: np.ndarray, true_hdr: np.ndarray, clipped: np.ndarray, score: str
) -> tuple[np.ndarray, np.ndarray]:
    """The luminance of both images at the clipped pixels [K], checked: one size, a non-empty mask, and
    light in the truth there (the ratio ``score`` takes is undefined otherwise)."""
    restored_hdr, true_hdr, clipped = np.asarray(restored_hdr), np.asarray(true_hdr), np.asarray(clipped, dtype=bool)
    if restored_hdr.shape != true_hdr.shape or clipped.shape != true_hdr.shape[:2]:
        raise ValueError(
            f"the restoration {restored_hdr.shape}, the truth {true_hdr.shape} and the clipped mask {clipped.shape} "
            "must be one image size ([H, W, 3] and [H, W])"
        )
    if not clipped.any():
        raise ValueError(f"the clipped mask is empty: the {score} of the clipped region needs at least one clipped pixel")
    true = luminance(true_hdr)[clipped]
    if not true.sum() > 0:
        raise ValueError(f"the true image is black in the clipped region; its {score} ratio is undefined")
    return luminance(restored_hdr)[clipped], true


def axis_irradiance(hdr: np.ndarray) -> np.ndarray:
    """Luminance of the irradiance [6] at :data:`AXIS_NORMALS` (order :data:`AXIS_NAMES`) under the
    equirectangular map ``hdr`` [H, W, 3] (W = 2 H); a uniform map of radiance L gives pi L at each."""
    return luminance(irradiance(hdr, AXIS_NORMALS))


def irradiance_error(restored_hdr: np.ndarray, true_hdr: np.ndarray) -> dict[str, object]:
    """Diffuse irradiance error of a restored panorama against the true one, in stops.

    Returns ``{"rms_stops": float, "per_normal_stops": {"+x": float, ...}}``: per axis normal
    ``log2(E_restored / E_true)`` of luminance (both floored at :data:`IRRADIANCE_FLOOR` times the true
    map's largest axis irradiance), and the RMS of the 6.
    """
    if np.shape(restored_hdr) != np.shape(true_hdr):
        raise ValueError(f"the restoration has shape {np.shape(restored_hdr)} and the truth {np.shape(true_hdr)}; they must match")
    true_e = axis_irradiance(true_hdr)
    if not true_e.max() > 0:
        raise ValueError("the true panorama is black: its irradiance error is undefined")
    floor = IRRADIANCE_FLOOR * true_e.max()
    stops = np.log2(np.maximum(axis_irradiance(restored_hdr), floor) / np.maximum(true_e, floor))
    return {
        "rms_stops": float(np.sqrt(np.mean(np.square(stops)))),
        "per_normal_stops": {name: float(value) for name, value in zip(AXIS_NAMES, stops)},
    }
