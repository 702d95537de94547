"""Luminance statistics of linear HDR images: percentiles and dynamic range in stops.

Dynamic range is measured robustly, as in the issue tracker's definition used by ``glowgan info``:
``log2(P99.9 / P0.1)`` of the luminance over non-zero pixels, so a few hot or dead pixels do not
decide it. Luminance uses the Rec. ITU-R BT.709 weights (linear RGB).

The highlight share (issue 7) is the fraction of an image's total luminance carried by its brightest
1 % of pixels: near 0.01 for a flat image, near 1 when a small sun or lamp dominates the light, which
is what image-based lighting with the image depends on and what a clipped photo loses.
"""

from __future__ import annotations

import math

import numpy as np

# Rec. ITU-R BT.709 luminance weights for linear RGB.
REC709_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)

DR_LOW_PERCENTILE = 0.1
DR_HIGH_PERCENTILE = 99.9

# Share of pixels counted as highlights by `highlight_share` (issue 7: "the brightest 1 % of pixels").
HIGHLIGHT_FRACTION = 0.01


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


def highlight_share_batch(hdr_batch: np.ndarray, *, fraction: float = HIGHLIGHT_FRACTION) -> np.ndarray:
    """Per image of ``hdr_batch`` [N, H, W, C]: share of its total luminance in its brightest pixels -> [N].

    The brightest ``ceil(fraction * H * W)`` pixels by luminance (negative and non-finite values count
    as 0) are summed and divided by the sum over all pixels; an all-black image gives 0.0.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"highlight fraction must be in (0, 1], got {fraction}")
    hdr_batch = np.asarray(hdr_batch)
    if hdr_batch.ndim != 4:
        raise ValueError(f"expected a batch of images [N, H, W, C], got shape {hdr_batch.shape}")
    lum = luminance(hdr_batch).reshape(hdr_batch.shape[0], -1)  # [N, H*W]
    lum = np.where(np.isfinite(lum) & (lum > 0), lum, 0.0)
    count = max(1, math.ceil(fraction * lum.shape[1]))
    brightest = np.partition(lum, lum.shape[1] - count, axis=1)[:, lum.shape[1] - count :]  # [N, count]
    total = lum.sum(axis=1)
    return np.divide(brightest.sum(axis=1), total, out=np.zeros_like(total), where=total > 0)


def highlight_share(hdr: np.ndarray, *, fraction: float = HIGHLIGHT_FRACTION) -> float:
    """Share of the total luminance of one image [H, W, C] in its brightest ``fraction`` of pixels."""
    hdr = np.asarray(hdr)
    if hdr.ndim != 3:
        raise ValueError(f"expected one image [H, W, C], got shape {hdr.shape}")
    return float(highlight_share_batch(hdr[None], fraction=fraction)[0])
