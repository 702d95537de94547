"""Classical inverse tone mapping: the camera's inverse response, and two expansion operators.

Every function maps one LDR photo ``ldr`` (``[H, W, 3]`` float in [0, 1], display-referred) to linear
HDR ``[H, W, 3]`` float32 >= 0 in relative units (an evaluation aligns the exposure; what matters is
the ratio between the highlights and the rest).

All three first undo the camera response with the **mean CRF of the camera prior**
(:meth:`glowgan.camera.CameraPrior.mean`, the official GlowGAN curve with gamma 0.9, beta 0.6, the
mean of the prior that :mod:`glowgan.data.synth` photographs with). The papers remove a display gamma
of 2.2 instead; using the same inverse CRF for every method keeps the comparison about expansion.

- :func:`trivial`: the inverse CRF alone. Clipped pixels stay at the clip level (linear 1).
- :func:`akyuz`: Akyüz, Fleming, Riecke, Reinhard, Bülthoff, "Do HDR displays support LDR content?
  A psychophysical evaluation", ACM TOG 26(3) (SIGGRAPH 2007), their expansion function:
  ``L_out = L_max ((L - L_min) / (L_max_in - L_min))**gamma`` on luminance, with gamma = 1, the
  *linear scaling* their experiments found to be preferred. Highlights get no special treatment: every
  pixel, clipped or not, is scaled by the same factor (after the black offset), so clipped highlights
  keep the linearised photo's highlight-to-midtone ratio.
- :func:`masia`: Masia, Agustin, Fleming, Sorkine, Gutierrez, "Evaluation of reverse tone mapping
  through varying exposure conditions", ACM TOG 28(5) (SIGGRAPH Asia 2009): gamma expansion
  ``L_out = L_max L**gamma`` with the exponent set by the image key ``k = (log L_avg - log L_min) /
  (log L_max - log L_min)`` (L_avg the log-average, L_min/L_max the 1st/99th percentiles of
  the non-zero luminance, as in Banterle's HDR Toolbox) through their fitted line
  ``gamma = 10.44 k - 6.282``, or through the later multilinear fit of Masia, Serrano, Gutierrez, "Dynamic range
  expansion based on image statistics", Multimedia Tools and Applications 76(1), 2017, Eq. 5:
  ``gamma = 2.4379 + 0.2319 ln L_avg - 1.1228 k + 0.0085 p_ov`` with ``p_ov`` the percentage of
  over-exposed pixels. With gamma > 1 the top of the range is stretched: a highlight that is ``s``
  stops above a mid-tone in the linearised photo ends ``gamma * s`` stops above it, and the clipped
  pixels (the brightest) gain the most. The 2009 fit was made on over-exposed, high-key photos: it
  gives gamma < 1 for keys below 0.70 and inverts the image (gamma <= 0) below 0.60, which is where
  most metered photos of the procedural sky world fall; we raise gamma to 1 there (linear scaling),
  see ``MASIA_2009_MIN_GAMMA``. The 2017 fit covers under- and over-exposed photos.

Peak output: both operators map the brightest input luminance (the clip level for a photo with
clipped pixels) to ``peak`` = ``DISPLAY_PEAK`` = 3000, the peak luminance in cd/m² of the
Brightside DR37-P HDR display both papers used; the trivial baseline maps it to 1. For these global
operators the peak only sets the absolute scale (an exposure alignment removes it); the expansion of
highlights relative to the mid-tones is 0 extra stops for :func:`akyuz` and ``(gamma - 1) s`` extra
stops for :func:`masia`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from glowgan.camera import CameraPrior, crf_inverse
from glowgan.metrics.dynamic_range import luminance

logger = logging.getLogger(__name__)

DISPLAY_PEAK = 3000.0  # cd/m², Brightside DR37-P, the HDR display of Akyüz et al. 2007 and Masia et al. 2009
AKYUZ_GAMMA = 1.0  # Akyüz et al. 2007: linear scaling was preferred
MASIA_2009_FIT = (10.44, -6.282)  # Masia et al. 2009, fitted line: gamma = a k + b
MASIA_2009_MIN_GAMMA = 1.0  # our guard: the 2009 fit compresses (gamma < 1) below key 0.70, inverts below 0.60
# Masia et al. 2017, Eq. 5: gamma = c0 + c_avg ln(L_avg) + c_key k + c_ov p_ov.
MASIA_2017_FIT = (2.4379, 0.2319, -1.1228, 0.0085)
MASIA_ROBUST_PERCENT = 1.0  # L_min / L_max of the key: 1st / 99th percentiles (Banterle's HDR Toolbox)
MASIA_OVEREXPOSED_CODE = 254  # Masia et al. 2017: a pixel is over-exposed when 255 L >= 254
_LOG_AVERAGE_DELTA = 1e-6  # offset inside the log-average (Reinhard et al. 2002, Eq. 1, "delta")
MASIA_REGRESSIONS = ("2009", "2017")


def as_ldr_rgb(ldr: np.ndarray, *, name: str = "ldr") -> np.ndarray:
    """Check a photo and return it as ``[H, W, 3]`` float32 in [0, 1]; grey ``[H, W]``/``[H, W, 1]`` is replicated."""
    array = np.asarray(ldr)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(
            f"{name}: expected a photo of shape [H, W, 3] (or grey [H, W]), got {array.shape}; "
            "drop the alpha channel or batch dimension"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: the photo is empty ({array.shape[0]}x{array.shape[1]} pixels)")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name}: expected floats in [0, 1], got {array.dtype}; divide 8-bit codes by 255")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"{name}: values must be finite and in [0, 1] (an LDR photo); read it with hdrio.read_ldr")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def inverse_crf(ldr: np.ndarray, *, prior: CameraPrior | None = None) -> np.ndarray:
    """Undo the mean CRF of ``prior`` (default: :class:`CameraPrior`): ``[H, W, 3]`` in [0, 1] -> linear in [0, 1]."""
    params = (prior or CameraPrior()).mean(1)
    ldr_t = torch.from_numpy(as_ldr_rgb(ldr)).permute(2, 0, 1)[None]  # [1, 3, H, W]
    return crf_inverse(ldr_t, params)[0].permute(1, 2, 0).numpy().astype(np.float32)


def trivial(ldr: np.ndarray, *, prior: CameraPrior | None = None) -> np.ndarray:
    """The inverse of the prior's mean CRF, nothing else: clipped pixels stay at linear 1."""
    return inverse_crf(ldr, prior=prior)


def akyuz(
    ldr: np.ndarray,
    *,
    peak: float = DISPLAY_PEAK,
    gamma: float = AKYUZ_GAMMA,
    prior: CameraPrior | None = None,
) -> np.ndarray:
    """Akyüz et al. 2007 on the linearised luminance; colour ratios are kept (see the module docstring)."""
    _check_positive(peak=peak, gamma=gamma)
    linear = inverse_crf(ldr, prior=prior)
    lum = luminance(linear)  # [H, W] float64
    low, high = float(lum.min()), float(lum.max())
    if high <= low:
        expanded = np.full_like(lum, peak if high > 0 else 0.0)
    else:
        expanded = peak * ((lum - low) / (high - low)) ** gamma
    return _change_luminance(linear, lum, expanded)


def masia(
    ldr: np.ndarray,
    *,
    peak: float = DISPLAY_PEAK,
    regression: str = "2017",
    prior: CameraPrior | None = None,
) -> np.ndarray:
    """Masia et al. gamma expansion ``peak * L**gamma`` with gamma from the image statistics (module docstring)."""
    _check_positive(peak=peak)
    linear = inverse_crf(ldr, prior=prior)
    lum = luminance(linear)  # [H, W] float64, in [0, 1]
    gamma = masia_gamma(lum, regression=regression)
    return _change_luminance(linear, lum, peak * lum**gamma)


def masia_gamma(lum: np.ndarray, *, regression: str = "2017") -> float:
    """The expansion exponent of linear luminance ``lum`` (in [0, 1]): Masia et al. 2009 (line) or 2017 (Eq. 5)."""
    if regression not in MASIA_REGRESSIONS:
        raise ValueError(f"unknown Masia regression {regression!r}; choose one of {', '.join(MASIA_REGRESSIONS)}")
    key, log_average = image_key(lum)
    if regression == "2009":
        slope, offset = MASIA_2009_FIT
        gamma = slope * key + offset
        if gamma < MASIA_2009_MIN_GAMMA:
            logger.debug("Masia 2009: key %.3f gives gamma %.3f; using %.1f", key, gamma, MASIA_2009_MIN_GAMMA)
        return max(gamma, MASIA_2009_MIN_GAMMA)
    constant, per_log_average, per_key, per_overexposed = MASIA_2017_FIT
    overexposed_percent = 100.0 * float(np.mean(lum * 255.0 >= MASIA_OVEREXPOSED_CODE))
    return constant + per_log_average * log_average + per_key * key + per_overexposed * overexposed_percent


def image_key(lum: np.ndarray) -> tuple[float, float]:
    """Key ``k`` (Masia et al. 2009) and ``ln L_avg`` of luminance ``lum``.

    ``L_avg = exp(mean(ln(L + 1e-6)))`` (Reinhard et al. 2002, Eq. 1); ``L_min``/``L_max`` are the 1st
    and 99th percentiles of the non-zero luminance. The key is clipped to [0, 1] (many black pixels can
    pull ``L_avg`` below ``L_min``); a flat or black image has key 0.5 (mid-key).
    """
    lum = np.asarray(lum, dtype=np.float64)
    log_average = float(np.mean(np.log(lum + _LOG_AVERAGE_DELTA)))
    lit = lum[lum > 0]
    if lit.size == 0:
        return 0.5, log_average
    low, high = np.percentile(lit, [MASIA_ROBUST_PERCENT, 100.0 - MASIA_ROBUST_PERCENT])
    if not high > low:
        return 0.5, log_average
    key = (log_average - math.log(low)) / (math.log(high) - math.log(low))
    return float(np.clip(key, 0.0, 1.0)), log_average


def _change_luminance(linear: np.ndarray, lum: np.ndarray, new_lum: np.ndarray) -> np.ndarray:
    """Scale each pixel's RGB so its luminance becomes ``new_lum`` (colour ratios kept; black stays black)."""
    ratio = np.divide(new_lum, lum, out=np.zeros_like(lum), where=lum > 0)
    return (linear * ratio[..., None]).astype(np.float32)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
