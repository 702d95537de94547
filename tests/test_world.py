import math

import numpy as np
import pytest

from glowgan.data import world
from glowgan.metrics.dynamic_range import dynamic_range_stops, luminance

FAMILIES = world.FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", [(8, 16), (7, 13), (20, 11)])
def test_renders_finite_positive_hdr_of_any_size(family, size):
    height, width = size
    hdr = world.render_scenes(family, [0, 1, 2], height=height, width=width)
    assert hdr.shape == (3, height, width, 3)
    assert hdr.dtype == np.float32
    assert np.isfinite(hdr).all()
    assert (hdr >= 0).all()
    assert (luminance(hdr) > 0).all()  # no black pixels: dynamic range is defined on every image


@pytest.mark.parametrize("family", FAMILIES)
def test_renders_at_256x512(family):
    hdr = world.render_scenes(family, [4], height=256, width=512)
    assert hdr.shape == (1, 256, 512, 3) and np.isfinite(hdr).all() and (luminance(hdr) > 0).all()
    assert dynamic_range_stops(hdr[0]) > 6.0


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_bytes_whatever_the_batch(family):
    seeds = [11, 5, 2**63 + 7, 0]
    batch = world.render_scenes(family, seeds, height=16, width=32)
    again = world.render_scenes(family, seeds, height=16, width=32)
    assert batch.tobytes() == again.tobytes()
    # Alone or in other batches: the same image up to float rounding of vectorised vs scalar loops.
    alone = world.render_scenes(family, [5], height=16, width=32)
    np.testing.assert_allclose(alone[0], batch[1], rtol=1e-5, atol=0)
    chunked = world.render_scenes(family, seeds, height=16, width=32, chunk_pixels=16 * 32)  # one image per chunk
    np.testing.assert_allclose(chunked, batch, rtol=1e-5, atol=0)
    odd = world.render_scenes(family, [5, 6, 7], height=7, width=13)
    np.testing.assert_allclose(world.render_scenes(family, [6], height=7, width=13)[0], odd[1], rtol=1e-5, atol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_different_seeds_give_different_scenes(family):
    hdr = world.render_scenes(family, range(8), height=16, width=32)
    log_lum = np.log2(luminance(hdr))
    pairwise = [np.abs(log_lum[i] - log_lum[j]).mean() for i in range(8) for j in range(i + 1, 8)]
    assert min(pairwise) > 0.2  # stops, on average over the image


def _seam_ratio(hdr: np.ndarray) -> np.ndarray:
    """Per image: mean |log2 step| across the left/right seam over the mean step between neighbouring columns."""
    log_lum = np.log2(luminance(hdr))  # [N, H, W]
    interior = np.abs(np.diff(log_lum, axis=2)).mean(axis=(1, 2))
    seam = np.abs(log_lum[:, :, 0] - log_lum[:, :, -1]).mean(axis=1)
    return seam / interior


def test_sky_wraps_around_horizontally():
    hdr = world.render_scenes("sky", range(16), height=32, width=64)
    ratio = _seam_ratio(hdr)
    assert ratio.max() < 2.5
    assert ratio.mean() < 1.3
    # The measure sees a real seam: join the halves of two different panoramas.
    spliced = np.concatenate([hdr[:8, :, :32], hdr[8:, :, 32:]], axis=2)
    assert _seam_ratio(spliced).mean() > 2.0


def test_night_and_window_are_not_panoramas():
    # Sanity check of the seam measure's other side: perspective views need not wrap.
    hdr = world.render_scenes("window", range(16), height=32, width=64)
    assert _seam_ratio(hdr).mean() > 1.5


@pytest.mark.parametrize("family", FAMILIES)
def test_median_dynamic_range_is_at_least_12_stops(family):
    hdr = world.render_scenes(family, range(1000, 1064), height=32, width=64)
    ranges = [dynamic_range_stops(image) for image in hdr]
    assert np.median(ranges) >= 12.0
    assert np.percentile(ranges, 90) - np.percentile(ranges, 10) > 2.0  # scenes vary


@pytest.mark.parametrize("family", FAMILIES)
def test_dynamic_range_does_not_depend_on_resolution(family):
    # Per image, the 99.9th percentile of 2,048 pixels depends on where a sub-pixel sun or lamp falls
    # within its pixel (+-3 stops); the median over a few dozen scenes is stable.
    seeds = range(2000, 2024)
    small = world.render_scenes(family, seeds, height=32, width=64)
    large = world.render_scenes(family, seeds, height=128, width=256)
    small_median = np.median([dynamic_range_stops(image) for image in small])
    large_median = np.median([dynamic_range_stops(image) for image in large])
    assert abs(small_median - large_median) < 1.5


def _radiant_power(panorama: np.ndarray) -> np.ndarray:
    """Integral of luminance over the sphere of equirectangular images [N, H, W, 3] (solid-angle weights)."""
    height, width = panorama.shape[1:3]
    el = math.pi / 2 - math.pi * (np.arange(height) + 0.5) / height
    d_omega = (2 * math.pi / width) * (math.pi / height) * np.cos(el)
    return (luminance(panorama) * d_omega[None, :, None]).sum(axis=(1, 2))


def test_sun_energy_is_kept_at_low_resolution():
    # Clear, sunny skies: the sun dominates the light; sub-pixel at 32x64, resolved at 256x512.
    seeds = [s for s in range(40) if _sunny(s)][:3]
    assert len(seeds) == 3
    low = world.render_scenes("sky", seeds, height=32, width=64)
    high = world.render_scenes("sky", seeds, height=256, width=512)
    np.testing.assert_allclose(_radiant_power(low), _radiant_power(high), rtol=0.05)
    # And the sun is far brighter than the sky around it at both resolutions.
    for image in (low, high):
        lum = luminance(image)
        assert (lum.reshape(3, -1).max(axis=1) / np.median(lum.reshape(3, -1), axis=1) > 100).all()


def _sunny(seed: int) -> bool:
    params = world._draw_sky(np.random.default_rng(seed))
    return params["sun_el"] > 0.2 and params["cover"] == 0.0


def test_sun_is_visible_in_most_skies():
    hdr = world.render_scenes("sky", range(3000, 3064), height=32, width=64)
    lum = luminance(hdr).reshape(64, -1)
    ratio = lum.max(axis=1) / np.median(lum, axis=1)
    assert np.mean(ratio > 100) > 0.6  # a sub-pixel sun at 32x64 still outshines the median pixel 100-fold


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown scene family"):
        world.render_scenes("forest", [0], height=8, width=16)
    with pytest.raises(ValueError, match="non-negative"):
        world.render_scenes("sky", [-1], height=8, width=16)
    with pytest.raises(ValueError, match="at least 1x1"):
        world.render_scenes("sky", [0], height=0, width=16)
