"""Fidelity of an HDR reconstruction against ground truth: PU21-PSNR, PU21-SSIM, log-PSNR, exposure alignment.

Metrics take linear RGB images in **absolute units** (cd/m², the light a reference display would
emit), ``[H, W, 3]`` numpy arrays, as PU21 requires (Mantiuk & Azimi, PCS 2021; gfxdisp/pu21
``pu21_metric.m``). Relative radiance, such as a generator's output or a linearised photo, is put in
those units with :func:`to_display_nits`; a reconstruction whose overall scale is unknown (inverse
tone mapping recovers radiance only up to the camera's exposure) is first scaled by
:func:`align_exposure`.

A typical evaluation of a reconstruction of a photo that clips at relative radiance ``clip``::

    gain = align_exposure(test_hdr, reference_hdr, mask=~clipped)
    test = to_display_nits(gain * test_hdr, white=clip)
    reference = to_display_nits(reference_hdr, white=clip)
    psnr_pu21(test, reference), psnr_pu21(test, reference, mask=clipped), ssim_pu21(test, reference)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from glowgan.metrics.dynamic_range import luminance
from glowgan.metrics.pu21 import PU21_DEFAULT_VARIANT, PU21_L_MAX, PU21_L_MIN, PU21_PEAK, pu21_encode

# Diffuse white of an SDR reference display, cd/m² (the SDR range PU21 is scaled to: 100 cd/m² -> ~256).
DIFFUSE_WHITE_NITS = 100.0

# SSIM constants (Wang et al., "Image quality assessment: from error visibility to structural
# similarity", IEEE TIP 2004, Sec. III-C): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Peak of log-PSNR: the whole valid PU21 luminance range, in decades (log10(10000 / 0.005) ~ 6.3).
LOG_PSNR_PEAK = math.log10(PU21_L_MAX / PU21_L_MIN)


def to_display_nits(hdr: np.ndarray, *, white: float, white_nits: float = DIFFUSE_WHITE_NITS) -> np.ndarray:
    """Relative linear radiance -> absolute display luminance in cd/m², clamped to PU21's valid range.

    Convention: radiance ``white`` (typically the photo's clip level, the brightest value an LDR image
    could show) maps to ``white_nits`` (100 cd/m², an SDR display's white, where PU21 ~ 256); the scale
    is linear, so highlights ``k`` times brighter than the clip level map to ``k * 100`` cd/m². Values
    are clamped to [0.005, 10000] cd/m² (:data:`PU21_L_MIN`, :data:`PU21_L_MAX`), the range PU21 is
    defined on: detail more than 100x brighter than the clip level is not scored. Returns float64.
    """
    if not (math.isfinite(white) and white > 0):
        raise ValueError(f"white (the radiance shown at {white_nits} cd/m²) must be finite and > 0, got {white}")
    if not (math.isfinite(white_nits) and white_nits > 0):
        raise ValueError(f"white_nits must be a finite number > 0, got {white_nits}")
    scaled = np.asarray(hdr, dtype=np.float64) * (white_nits / white)
    return np.nan_to_num(scaled, nan=PU21_L_MIN, posinf=PU21_L_MAX).clip(PU21_L_MIN, PU21_L_MAX)


def _check_pair(test: np.ndarray, reference: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    test = np.asarray(test, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise ValueError(f"expected a reference image [H, W, 3], got shape {reference.shape}")
    if test.shape != reference.shape:
        raise ValueError(f"test image has shape {test.shape} but the reference has {reference.shape}; resize one")
    if mask is None:
        return test, reference, np.ones(reference.shape[:2], dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != reference.shape[:2] or mask.dtype != bool:
        raise ValueError(f"mask must be boolean of shape {reference.shape[:2]}, got {mask.dtype} {mask.shape}")
    if not mask.any():
        raise ValueError("mask selects no pixels; pass mask=None to score the whole image")
    return test, reference, mask


def _psnr(test: np.ndarray, reference: np.ndarray, mask: np.ndarray, peak: float) -> float:
    mse = float(np.mean((test[mask] - reference[mask]) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def align_exposure(test_hdr: np.ndarray, reference_hdr: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Scalar gain ``g`` that best matches ``g * test_hdr`` to ``reference_hdr`` on ``mask`` (least squares in log).

    Minimises ``sum (log Y_ref - log(g Y_test))**2`` over the luminance ``Y`` of the pixels in ``mask``
    (typically the pixels the photo did not clip) where both images are positive and finite; the
    solution is the geometric mean of the ratios ``Y_ref / Y_test``. Log space weighs every pixel by
    its relative error, as exposure errors are (a linear fit would be decided by the few brightest
    pixels), and pixels where the test image is 0 (or the reference is) are excluded instead of
    sending the fit to infinity. Images are [H, W, 3] linear, mask [H, W] boolean.
    """
    test, reference, mask = _check_pair(test_hdr, reference_hdr, mask)
    test_lum = luminance(test)[mask]
    reference_lum = luminance(reference)[mask]
    usable = np.isfinite(test_lum) & np.isfinite(reference_lum) & (test_lum > 0) & (reference_lum > 0)
    if not usable.any():
        raise ValueError("no pixel in the mask is positive in both images; cannot align exposure (check the mask)")
    return float(np.exp(np.mean(np.log(reference_lum[usable]) - np.log(test_lum[usable]))))


def psnr_pu21(
    test_nits: np.ndarray,
    reference_nits: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    variant: str = PU21_DEFAULT_VARIANT,
) -> float:
    """PU21-PSNR in dB of linear RGB images [H, W, 3] in cd/m², over all pixels or the ``mask`` [H, W].

    Each RGB channel is PU21-encoded and PSNR taken with peak 256, the PU21 reference metric's
    convention (``pu21_metric.m``: ``psnr(T, R, 256)``; 100 cd/m² encodes to ~256). Identical images
    give ``inf``.
    """
    test, reference, mask = _check_pair(test_nits, reference_nits, mask)
    return _psnr(pu21_encode(test, variant=variant), pu21_encode(reference, variant=variant), mask, PU21_PEAK)


def hue_error_degrees(test_hdr: np.ndarray, reference_hdr: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean angle in degrees between the linear RGB vectors of two images [H, W, 3] over the ``mask``
    [H, W]: the colour error regardless of brightness and exposure (the "recovery angular error" of colour
    constancy; 0 is the right hue, a white against a pure primary is 54.7). Pixels black in either image
    have no hue and are left out (0 when every pixel is)."""
    test, reference, mask = _check_pair(test_hdr, reference_hdr, mask)
    test, reference = test[mask], reference[mask]
    norms = np.linalg.norm(test, axis=-1) * np.linalg.norm(reference, axis=-1)
    usable = np.isfinite(norms) & (norms > 0)
    if not usable.any():
        return 0.0
    cosine = np.sum(test[usable] * reference[usable], axis=-1) / norms[usable]
    return float(np.degrees(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0)))))


def psnr_log(test_nits: np.ndarray, reference_nits: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Log-space PSNR in dB of linear RGB images [H, W, 3] in cd/m², over all pixels or the ``mask``.

    PSNR of ``log10`` of each channel, clamped to PU21's range [0.005, 10000] cd/m² so zeros are
    defined, with peak ``log10(10000 / 0.005)`` (the whole range, ~6.3 decades). Unlike PU21 it
    weighs a relative error equally at every luminance, dark or bright.
    """
    test, reference, mask = _check_pair(test_nits, reference_nits, mask)
    log_test = np.log10(test.clip(PU21_L_MIN, PU21_L_MAX))
    log_reference = np.log10(reference.clip(PU21_L_MIN, PU21_L_MAX))
    return _psnr(log_test, log_reference, mask, LOG_PSNR_PEAK)


def _gaussian_blur(images: torch.Tensor) -> torch.Tensor:
    """Separable SSIM window (Gaussian, sigma 1.5, 11 taps) over [B, 1, H, W], replicate padding."""
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=images.dtype)
    taps = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    taps = taps / taps.sum()
    padded = F.pad(images, (SSIM_RADIUS,) * 4, mode="replicate")
    blurred = F.conv2d(padded, taps.reshape(1, 1, 1, -1))
    return F.conv2d(blurred, taps.reshape(1, 1, -1, 1))


def ssim_pu21(
    test_nits: np.ndarray,
    reference_nits: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    variant: str = PU21_DEFAULT_VARIANT,
) -> float:
    """PU21-SSIM of linear RGB images [H, W, 3] in cd/m²: SSIM of the PU21-encoded luminance.

    As the PU21 reference metric does (``pu21_metric.m``: SSIM on luminance with dynamic range 256),
    SSIM (Wang et al. 2004, Eq. 13, Gaussian window sigma 1.5, K1 0.01, K2 0.03) is computed on the
    PU21 encoding of the Rec. 709 luminance with ``L = 256``; the SSIM map (same size as the image,
    replicate padding at the borders) is averaged over all pixels or over ``mask`` [H, W].
    """
    test, reference, mask = _check_pair(test_nits, reference_nits, mask)
    x = torch.from_numpy(pu21_encode(luminance(test), variant=variant))[None, None]  # [1, 1, H, W], float64
    y = torch.from_numpy(pu21_encode(luminance(reference), variant=variant))[None, None]
    moments = _gaussian_blur(torch.cat([x, y, x * x, y * y, x * y]))  # [5, 1, H, W]
    mu_x, mu_y, xx, yy, xy = moments[:, 0]
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * PU21_PEAK) ** 2, (SSIM_K2 * PU21_PEAK) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.numpy()[mask].mean())
