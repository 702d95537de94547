"""Sliced Wasserstein distance on Laplacian-pyramid patches and its HDR / exposure-bracket wrappers."""

from __future__ import annotations

import pytest
import torch

from glowgan.data.world import render_scenes
from glowgan.metrics import swd as swd_module
from glowgan.metrics.swd import exposure_bracket_swd, hdr_swd, laplacian_pyramid, swd, swd_floor

FAST = {"descriptors_per_image": 64, "num_projections": 64}


def _hdr(family: str, seeds: range, height: int = 32, width: int = 64) -> torch.Tensor:
    """Procedural HDR scenes as [N, 3, H, W] linear radiance."""
    return torch.from_numpy(render_scenes(family, seeds, height=height, width=width)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def skies() -> torch.Tensor:
    return _hdr("sky", range(24))


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_laplacian_pyramid_collapses_back_to_the_image():
    images = torch.rand(2, 3, 37, 70, dtype=torch.float64)  # odd, non-square
    levels = laplacian_pyramid(images)
    assert [tuple(level.shape[-2:]) for level in levels] == [(37, 70), (19, 35)]
    collapsed = levels[-1]
    for level in reversed(levels[:-1]):
        collapsed = level + swd_module._upsample(collapsed, tuple(level.shape[-2:]))
    torch.testing.assert_close(collapsed, images)
    assert len(laplacian_pyramid(torch.rand(1, 3, 64, 128))) == 3  # 64, 32, 16 px


def test_swd_is_deterministic_near_zero_for_one_set_and_grows_with_a_brightness_shift(skies):
    ldr = swd_module.render_mean_camera(skies, 0.0)
    first = swd(ldr, ldr, rng=_generator(3), **FAST)
    again = swd(ldr, ldr, rng=_generator(3), **FAST)
    assert first == again
    assert len(first.per_level) == 2 and first.mean == pytest.approx(sum(first.per_level) / 2)
    shifted = [swd(ldr, (ldr + delta).clamp(0, 1), rng=_generator(3), **FAST).mean for delta in (0.1, 0.2, 0.4)]
    assert first.mean < 0.4 * shifted[0]  # the sampling floor: patches are drawn independently per set
    assert shifted[0] < shifted[1] < shifted[2]


def test_swd_is_symmetric_up_to_sampling(skies):
    a = swd_module.render_mean_camera(skies[:12], 0.0)
    b = swd_module.render_mean_camera(skies[12:], 2.0)
    ab = swd(a, b, rng=_generator(1), **FAST).mean
    ba = swd(b, a, rng=_generator(1), **FAST).mean
    assert ab == pytest.approx(ba, rel=0.15)


def test_floor_of_one_distribution_is_far_below_the_distance_to_another(skies):
    nights = _hdr("night", range(12)) * 10.0  # about as bright as the skies at 0 stops
    floor = hdr_swd(skies[:12], skies[12:], rng=_generator(0), **FAST).mean
    other = hdr_swd(skies[:12], nights, rng=_generator(0), **FAST).mean
    assert floor < 0.4 * other
    ldr_floor = swd_floor(swd_module.render_mean_camera(skies, 0.0), rng=_generator(0), **FAST).mean
    ldr_other = swd(
        swd_module.render_mean_camera(skies[:12], 0.0),
        swd_module.render_mean_camera(nights, 0.0),
        rng=_generator(0),
        **FAST,
    ).mean
    assert ldr_floor < 0.4 * ldr_other


def test_hdr_swd_sees_highlight_changes_that_one_ldr_exposure_cannot(skies):
    skies = skies[:12]
    brighter_highlights = torch.where(skies > 1.0, skies * 8.0, skies)  # above the clip level only
    hdr_distance = hdr_swd(skies, brighter_highlights, rng=_generator(0), **FAST).mean
    assert hdr_distance > 4 * hdr_swd(skies, skies, rng=_generator(0), **FAST).mean
    bracket = exposure_bracket_swd(skies, brighter_highlights, rng=_generator(0), stops=(-6.0, 0.0), **FAST)
    assert set(bracket) == {-6.0, 0.0}
    # At 0 stops both sets clip to the same photos (only patch sampling differs); 6 stops down they differ.
    assert bracket[0.0].mean < 0.3 * bracket[-6.0].mean


def test_swd_accepts_unequal_set_sizes_and_rejects_bad_input():
    generator = _generator(0)
    result = swd(torch.rand(6, 3, 16, 40), torch.rand(4, 3, 16, 40), rng=generator, **FAST)
    assert len(result.per_level) == 1
    with pytest.raises(ValueError, match="at least 16"):
        swd(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), rng=generator)
    with pytest.raises(ValueError, match="differ"):
        swd(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 20), rng=generator)
    with pytest.raises(ValueError, match="at least 2 images"):
        swd_floor(torch.rand(1, 3, 16, 16), rng=generator)


def test_mean_camera_photographs_with_the_chosen_curve_family():
    """The default is the official mean camera (gamma 0.9, beta 0.6); other families give other photos,
    and sRGB matches the IEC curve at the chosen exposure."""
    from glowgan.camera import CameraParams, render

    hdr = torch.rand(2, 3, 4, 8) * 0.5
    official = render(hdr, CameraParams(exposure_stops=torch.ones(2), crf="glowgan", gamma=torch.full((2,), 0.9), beta=torch.full((2,), 0.6)))
    assert torch.equal(swd_module.render_mean_camera(hdr, 1.0), official)
    srgb = swd_module.render_mean_camera(hdr, 1.0, crf="srgb")
    expected = torch.where(2 * hdr <= 0.0031308, 12.92 * 2 * hdr, 1.055 * (2 * hdr).clamp(max=1).pow(1 / 2.4) - 0.055)
    assert torch.allclose(srgb, expected, atol=1e-6)
    assert not torch.allclose(swd_module.render_mean_camera(hdr, 1.0, crf="filmic"), official, atol=1e-2)
