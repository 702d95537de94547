"""Luminance statistics of linear HDR images: percentiles and dynamic range in stops.

Dynamic range is measured robustly, as in the issue tracker's definition used by ``glowgan info``:
``log2(P99.9 / P0.1)`` of the luminance over non-zero pixels, so a few hot or dead pixels do not
decide it. Luminance uses the Rec. ITU-R BT.709 weights (linear RGB).
"""

from __future__ import annotations

import numpy as np

# Rec. ITU-R BT.709 luminance weights for linear RGB.
REC709_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)

DR_LOW_PERCENTILE = 0.1
DR_HIGH_PERCENTILE = 99.9


def luminance(hdr: np.ndarray) -> np.ndarray:
    """Relative luminance of linear ``hdr`` [..., H, W, 3] (or [..., H, W, 1]) -> [..., H, W] float64."""
    hdr = np.asarray(hdr)
    if hdr.shape[-1] == 1:
        return hdr[..., 0].astype(np.float64)
    if hdr.shape[-1] != 3:
        raise ValueError(f"expected an image with 1 or 3 channels in the last axis, got shape {hdr.shape}")
    return hdr.astype(np.float64, copy=False) @ REC709_WEIGHTS


def dynamic_range_stops(
    hdr: np.ndarray,
    *,
    low_percentile: float = DR_LOW_PERCENTILE,
    high_percentile: float = DR_HIGH_PERCENTILE,
) -> float:
    """``log2(P_high / P_low)`` of the luminance of one image [H, W, C] over its finite, non-zero pixels.

    Returns 0.0 for an image with fewer than two such pixels (nothing to compare).
    """
    lum = luminance(hdr).ravel()
    lum = lum[np.isfinite(lum) & (lum > 0)]
    if lum.size < 2:
        return 0.0
    low, high = np.percentile(lum, [low_percentile, high_percentile])
    return float(np.log2(high / low))


def dynamic_range_stops_batch(hdr_batch: np.ndarray) -> np.ndarray:
    """Per-image :func:`dynamic_range_stops` of a batch [N, H, W, C] -> [N]."""
    return np.array([dynamic_range_stops(image) for image in hdr_batch], dtype=np.float64)
