"""Equirectangular HDR environment maps: geometry, seam check, wrap-aware resampling, generation.

GlowGAN (Wang et al., ICCV 2023, Sec. 5) uses generated HDR panoramas as environment maps for
image-based lighting; :mod:`glowgan.ibl` renders with them. This module is the map side: turning
generator output into panoramas and checking that they are usable as environment maps.

Coordinate conventions (shared with :mod:`glowgan.data.world` and :mod:`glowgan.ibl`):

- A map is ``[H, W, 3]`` float32 linear radiance >= 0 with ``W == 2 H`` (equirectangular, 2:1).
- Texel ``(i, j)`` has its centre at ``u = (j + 0.5) / W``, ``v = (i + 0.5) / H``.
  Azimuth ``phi = 2 pi u - pi`` (u = 0 is the back, phi = -180 degrees; u = 0.5, the image centre, is
  the front), polar angle from the zenith ``theta = pi v`` (row 0 is the top, the zenith).
- The direction of ``(theta, phi)`` is ``(x, y, z) = (sin theta sin phi, cos theta, sin theta cos phi)``:
  **y is up**, the centre of the map looks along **+z**, u = 0.75 looks along **+x** and u = 0.25 along
  -x. Standing inside the panorama and facing its centre (+z, y up), +x is on the right, so
  (x, y, z) = (right, up, forward) is a *left-handed* frame (as in Unity or Direct3D): a map seen from
  the inside is not mirrored. Mitsuba's world frame is right-handed; :mod:`glowgan.ibl` negates x to
  convert.
- The left and right edges are neighbours (phi = -180 = +180 degrees); every lookup and resampling
  here wraps around horizontally and clamps vertically.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from glowgan import hdrio
from glowgan.config import Config
from glowgan.generate import interpolate_hdr, sample_hdr_batches, write_interpolation, write_sample
from glowgan.metrics.dynamic_range import luminance

log = logging.getLogger(__name__)

# A seam score above this is flagged: the wrap-around column step is 3x the 75th percentile of the
# interior adjacent-column steps. Chosen from measurements on 60 seeds each (docs/envmaps/README.md):
# procedural sky panoramas (seamless by construction) score at most 3.6 at 32x64 (2 % flagged) and 1.7
# at 128x256 (none); non-wrapping 2:1 perspective views ("window" scenes) score 3-250 (97-100 % flagged).
SEAM_THRESHOLD = 3.0
_SEAM_TYPICAL_PERCENTILE = 75.0
_SEAM_MIN_TYPICAL = 1e-6  # stops; keeps the score finite on maps whose interior columns are all equal
SUMMARY_NAME = "envmaps.json"
# Relative floor of luminance before taking log2 in the seam score (black texels would give -inf).
_SEAM_LOG_FLOOR = 1e-4


def check_envmap(hdr: np.ndarray, *, name: str = "environment map") -> np.ndarray:
    """Return ``hdr`` as float32 ``[H, W, 3]`` after checking it is a usable equirectangular map.

    Raises ``ValueError`` naming ``name`` for a wrong shape, an aspect ratio other than 2:1, NaN/Inf or
    negative radiance.
    """
    hdr = np.asarray(hdr)
    if hdr.ndim != 3 or hdr.shape[2] != 3:
        raise ValueError(f"{name}: expected an RGB image [H, W, 3], got shape {hdr.shape}")
    height, width = hdr.shape[:2]
    if width != 2 * height:
        raise ValueError(
            f"{name}: an equirectangular environment map is 2:1 (width = 2 x height), got {width} pixels wide "
            f"and {height} high; pass a latitude-longitude panorama (resample or crop it to 2:1 first)"
        )
    if height < 2:
        raise ValueError(f"{name}: an environment map {height} pixel high is too small; use at least 2 rows")
    if not np.isfinite(hdr).all():
        raise ValueError(f"{name}: contains NaN or infinite values; clean the map (e.g. replace them by 0) first")
    if hdr.min() < 0:
        raise ValueError(f"{name}: contains negative radiance (min {float(hdr.min()):.3g}); clip it at 0 first")
    return np.ascontiguousarray(hdr, dtype=np.float32)


def uv_to_directions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit directions [..., 3] float64 of map coordinates ``u``, ``v`` in [0, 1] (module docstring)."""
    theta = math.pi * np.asarray(v, dtype=np.float64)
    phi = 2.0 * math.pi * np.asarray(u, dtype=np.float64) - math.pi
    return np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], axis=-1)


def texel_directions(height: int, width: int) -> np.ndarray:
    """Unit directions of the texel centres, ``[H, W, 3]`` float64 (see the module docstring)."""
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    return uv_to_directions(u[None, :], v[:, None] + 0 * u[None, :])


def texel_solid_angles(height: int, width: int) -> np.ndarray:
    """Solid angle of each texel, ``[H, 1]`` float64 (sums to 4 pi over the map).

    The exact area of a latitude band, ``(2 pi / W) (cos theta_top - cos theta_bottom)``: the integral of
    the equirectangular Jacobian ``sin theta dtheta dphi`` over the texel, not a midpoint sample of it.
    """
    edges = np.cos(math.pi * np.arange(height + 1) / height)
    return ((2.0 * math.pi / width) * (edges[:-1] - edges[1:]))[:, None]


def directions_to_uv(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in [0, 1] of unit ``directions`` [..., 3] (u wraps, v = 0 at the zenith)."""
    x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
    u = (np.arctan2(x, z) + math.pi) / (2.0 * math.pi)
    v = np.arccos(np.clip(y, -1.0, 1.0)) / math.pi
    return u, v


def sample_bilinear(hdr: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Radiance of map ``hdr`` [H, W, 3] in ``directions`` [..., 3]: bilinear between texel centres,
    wrapping around horizontally and clamping at the poles. Returns [..., 3] float32."""
    height, width = hdr.shape[:2]
    u, v = directions_to_uv(directions)
    x = u * width - 0.5
    y = np.clip(v * height - 0.5, 0.0, height - 1.0)
    x0 = np.floor(x)
    y0 = np.minimum(np.floor(y), height - 2) if height > 1 else np.zeros_like(y)
    fx = (x - x0)[..., None].astype(np.float32)
    fy = (y - y0)[..., None].astype(np.float32)
    j0 = x0.astype(np.int64) % width
    j1 = (j0 + 1) % width
    i0 = y0.astype(np.int64)
    i1 = np.minimum(i0 + 1, height - 1)
    top = hdr[i0, j0] * (1 - fx) + hdr[i0, j1] * fx
    bottom = hdr[i1, j0] * (1 - fx) + hdr[i1, j1] * fx
    return top * (1 - fy) + bottom * fy


def seam_score(hdr: np.ndarray) -> dict[str, float]:
    """How well the left and right edges of a panorama [H, W, 3] continue each other.

    On log2 luminance (stops, so the score does not depend on exposure and a bright sun does not
    dominate), ``seam_stops`` is the mean absolute step between the last and the first column, and
    ``typical_stops`` the 75th percentile over the ``W - 1`` interior column pairs of the same mean
    step. ``score = seam_stops / typical_stops``: below about 1.5 for a seamless panorama (the seam is
    just another column pair), far above :data:`SEAM_THRESHOLD` for a picture whose edges do not meet.
    The 75th percentile rather than the median keeps maps with a few sharp features (a sun, a mountain
    edge) from being flagged when the seam happens to cross one.
    """
    lum = luminance(np.asarray(hdr, dtype=np.float32)).astype(np.float64)  # [H, W]
    if lum.ndim != 2 or lum.shape[1] < 3:
        raise ValueError(f"the seam score needs a panorama [H, W, 3] at least 3 pixels wide, got {np.shape(hdr)}")
    floor = _SEAM_LOG_FLOOR * max(float(lum.mean()), np.finfo(np.float32).tiny)
    stops = np.log2(lum + floor)
    steps = np.abs(np.diff(stops, axis=1)).mean(axis=0)  # [W - 1], interior column pairs
    seam = float(np.abs(stops[:, 0] - stops[:, -1]).mean())
    typical = float(np.percentile(steps, _SEAM_TYPICAL_PERCENTILE))
    return {"score": seam / max(typical, _SEAM_MIN_TYPICAL), "seam_stops": seam, "typical_stops": typical}


def check_panorama_size(size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of an environment map: 2:1 and at least 2x4, or a clear error."""
    if size[0] < 2 or size[1] != 2 * size[0]:
        raise ValueError(f"--size {size[0]}x{size[1]}: an environment map is 2:1 and at least 2x4, e.g. 128x256 or 256x512")
    return size


def resample_panorama(hdr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize panorama(s) ``[..., H, W, 3]`` to ``[..., height, width, 3]``, wrap-aware horizontally.

    Bilinear (antialiased when shrinking) on the panorama tiled three times side by side, keeping the
    middle tile: the result is exactly what resampling the infinite periodic panorama gives, so no seam
    appears at the edges. Vertically the edges are clamped. Enlarging adds no detail.
    """
    array = np.asarray(hdr, dtype=np.float32)
    lead = array.shape[:-3]
    if array.shape[-3:-1] == (height, width):
        return array.copy()
    x = torch.from_numpy(array.reshape(-1, *array.shape[-3:])).permute(0, 3, 1, 2)  # [N, 3, H, W]
    tiled = torch.cat([x, x, x], dim=3)
    out = F.interpolate(tiled, size=(height, 3 * width), mode="bilinear", align_corners=False, antialias=True)
    out = out[..., width : 2 * width].clamp_min(0.0)
    return out.permute(0, 2, 3, 1).numpy().reshape(*lead, height, width, 3)


@dataclass(frozen=True)
class EnvmapRecord:
    """What was written for one map (one entry of ``envmaps.json``)."""

    name: str
    seed: int | None
    exr: str
    seam_score: float
    seam_stops: float
    typical_stops: float
    seamless: bool


def _record(name: str, seed: int | None, exr: Path, hdr: np.ndarray) -> EnvmapRecord:
    seam = seam_score(hdr)
    return EnvmapRecord(
        name=name,
        seed=seed,
        exr=exr.name,
        seam_score=seam["score"],
        seam_stops=seam["seam_stops"],
        typical_stops=seam["typical_stops"],
        seamless=seam["score"] <= SEAM_THRESHOLD,
    )


def _output_size(generator: torch.nn.Module, size: tuple[int, int] | None) -> tuple[tuple[int, int], bool]:
    native = tuple(int(s) for s in generator.img_resolution)
    if native[1] != 2 * native[0]:
        raise ValueError(
            f"the generator makes {native[0]}x{native[1]} images, not 2:1 panoramas; environment maps need a "
            "model trained on equirectangular panoramas (e.g. preset cpu-32x64 or gpu-128x256)"
        )
    target = native if size is None else tuple(size)
    if target[1] != 2 * target[0]:
        raise ValueError(f"environment maps are 2:1; size {target[0]}x{target[1]} is not (e.g. 128x256)")
    return target, target != native


def _warn_if_not_circular(config: Config) -> str | None:
    if config.model.circular:
        return None
    message = (
        "this model was trained without wrap-around convolutions (model.circular = false): its panoramas "
        "need not be seamless; check the seam scores"
    )
    log.warning(message)
    return message


def write_envmaps(
    generator: torch.nn.Module,
    config: Config,
    seeds: Sequence[int],
    out_dir: Path,
    *,
    size: tuple[int, int] | None = None,
    psi: float = 1.0,
    batch: int = 16,
) -> dict:
    """Generate one environment map per seed into ``out_dir`` and return the summary.

    Per seed: ``envmapNNNNNN.exr`` (+ PNG preview and exposure stack, see
    :func:`glowgan.generate.write_sample`); then ``envmaps.json`` with the size, whether the maps were
    resampled from the generator's own size (:func:`resample_panorama`), whether the model is circular,
    and each map's seam score (:func:`seam_score`).
    """
    target, resampled = _output_size(generator, size)
    warning = _warn_if_not_circular(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for chunk, hdr in sample_hdr_batches(generator, config, seeds, psi=psi, batch=batch):
        if resampled:
            hdr = resample_panorama(hdr, *target)
        for seed, image in zip(chunk, hdr):
            name = f"envmap{seed:06d}"
            paths = write_sample(out_dir, name, image)
            records.append(_record(name, seed, paths["exr"], image))
    return _write_summary(out_dir, generator, config, target, resampled, warning, records)


def write_envmap_interpolation(
    generator: torch.nn.Module,
    config: Config,
    seed_a: int,
    seed_b: int,
    out_dir: Path,
    *,
    frames: int,
    size: tuple[int, int] | None = None,
    psi: float = 1.0,
) -> dict:
    """A sequence of maps moving smoothly from seed_a's to seed_b's (``frame-NNNN.exr``, a GIF preview,
    :func:`glowgan.generate.interpolate_hdr`) and ``envmaps.json`` with every frame's seam score."""
    target, resampled = _output_size(generator, size)
    warning = _warn_if_not_circular(config)
    frames_hdr = interpolate_hdr(generator, config, seed_a, seed_b, frames=frames, psi=psi)
    if resampled:
        frames_hdr = resample_panorama(frames_hdr, *target)
    write_interpolation(out_dir, frames_hdr)
    records = [
        _record(f"frame-{index:04d}", None, out_dir / f"frame-{index:04d}.exr", image)
        for index, image in enumerate(frames_hdr)
    ]
    return _write_summary(out_dir, generator, config, target, resampled, warning, records)


def _write_summary(
    out_dir: Path,
    generator: torch.nn.Module,
    config: Config,
    target: tuple[int, int],
    resampled: bool,
    warning: str | None,
    records: list[EnvmapRecord],
) -> dict:
    summary = {
        "size": list(target),
        "generator_size": list(generator.img_resolution),
        "resampled": resampled,
        "circular": bool(config.model.circular),
        "seam_threshold": SEAM_THRESHOLD,
        "warning": warning,
        "maps": [asdict(record) for record in records],
    }
    hdrio.write_text(out_dir / SUMMARY_NAME, json.dumps(summary, indent=1))
    return summary


def read_envmap(path: Path | str) -> np.ndarray:
    """Read an HDR file (EXR, .hdr, PFM) and check it is an equirectangular map (:func:`check_envmap`).

    Small negative texels, which real HDRIs carry, are clamped at 0 with a warning (hdrio's ``negatives="clamp"``).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such environment map; pass an existing .exr/.hdr/.pfm file")
    return check_envmap(hdrio.read_hdr(path, nonfinite="keep", negatives="clamp"), name=str(path))
