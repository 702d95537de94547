"""The generator's typical level above the clip, and the term that asks a photo's clipped region for it
(glowgan.itm_levels, glowgan.invert step 2)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from glowgan.checkpoint import build_generator
from glowgan.config import load_config
from glowgan.invert import InversionOptions, invert_photo
from glowgan.itm_levels import MIN_CLIPPED_SHARE, ClipLevels, clip_level_loss, clipped_statistics

TINY = ["model.resolution=[16, 32]", "model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]


def test_the_target_is_the_level_of_samples_that_clip_a_similar_share():
    rng = np.random.default_rng(0)
    suns, skies = rng.uniform(0.004, 0.006, 20), rng.uniform(0.04, 0.06, 20)
    levels = ClipLevels(np.concatenate([suns, skies]), np.concatenate([np.full(20, 2.0), np.full(20, 0.2)]))
    assert levels.target(0.005) == pytest.approx(2.0)
    assert levels.target(0.05) == pytest.approx(0.2)
    assert levels.target(0.011) == pytest.approx(2.0)  # few within a factor 2: the 16 nearest, all suns
    assert levels.target(0.5) == pytest.approx(0.2)
    assert ClipLevels(np.zeros(0), np.zeros(0)).target(0.01) is None


def test_clipped_statistics_are_the_share_and_mean_log2_of_the_clipped_pixels():
    exposed = torch.full((2, 3, 4, 4), 0.5)
    exposed[0, :, 1, 2] = torch.tensor([4.0, 2.0, 1.0])  # its brightest channel clips: log2 2, 1, 0
    exposed[0, :, 3, 3] = torch.tensor([0.9, 0.99, 0.5])  # just below the clip
    shares, levels = clipped_statistics(exposed)
    assert shares == [pytest.approx(1 / 16), 0.0]
    assert levels[0] == pytest.approx(1.0) and np.isnan(levels[1])


def test_white_statistics_count_only_the_pixels_clipped_in_every_channel():
    exposed = torch.full((1, 3, 4, 4), 0.5)
    exposed[0, :, 1, 2] = torch.tensor([4.0, 2.0, 1.0])  # every channel clips: counted, log2 2, 1, 0
    exposed[0, :, 3, 3] = torch.tensor([0.6, 0.8, 8.0])  # a bright blue: only its blue channel clips
    assert clipped_statistics(exposed) == ([pytest.approx(2 / 16)], [pytest.approx((1.0 + math.log2(0.6 * 0.8 * 8) / 3) / 2)])
    assert clipped_statistics(exposed, white=True) == ([pytest.approx(1 / 16)], [pytest.approx(1.0)])
    assert ClipLevels.of_images(exposed, white=True).shares.tolist() == [pytest.approx(1 / 16)]


def test_the_hinge_pushes_a_region_below_the_target_up_and_leaves_a_brighter_one_alone():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1.0
    exposed = torch.full((1, 3, 4, 4), 2.0, requires_grad=True)  # the region lies 1 stop above the clip
    loss = clip_level_loss(exposed, mask, torch.tensor([3.0]))
    assert loss.shape == (1,) and float(loss.detach()) == pytest.approx(4.0)  # (3 - 1)^2
    loss.sum().backward()
    inside = mask.bool().expand(1, 3, 4, 4)
    assert (exposed.grad[inside] < 0).all() and (exposed.grad[~inside] == 0).all()  # brighter lowers the loss
    assert float(clip_level_loss(exposed.detach(), mask, torch.tensor([0.5]))) == 0.0
    assert float(clip_level_loss(exposed.detach(), torch.zeros_like(mask), torch.tensor([3.0]))) == 0.0


def test_the_hinge_is_per_image_and_asks_nothing_of_an_image_without_a_target():
    mask = torch.ones(3, 1, 4, 4)
    mask[2] = 0.0  # no clipped region
    exposed = torch.full((3, 3, 4, 4), 2.0, requires_grad=True)
    loss = clip_level_loss(exposed, mask, torch.tensor([3.0, -math.inf, 3.0]))
    assert loss.detach().tolist() == [pytest.approx(4.0), 0.0, 0.0]
    loss.sum().backward()
    assert (exposed.grad[0] < 0).all() and (exposed.grad[1:] == 0).all() and torch.isfinite(exposed.grad).all()


def tiny(extra=()):
    config = load_config(preset="cpu-32x64", overrides=[*TINY, *extra])
    torch.manual_seed(0)
    return build_generator(config).eval().requires_grad_(False), config


def test_levels_are_measured_on_the_generators_photographed_samples():
    generator, config = tiny()
    levels = ClipLevels.measure(generator, config, samples=64)
    assert len(levels.shares) == len(levels.levels) > 0
    assert (levels.shares >= MIN_CLIPPED_SHARE).all() and (levels.shares <= 1).all()
    assert np.isfinite(levels.levels).all()
    brighter = dataclasses.replace(config.camera.prior, exposure_mean_stops=config.camera.prior.exposure_mean_stops + 3)
    more = ClipLevels.measure(generator, dataclasses.replace(config, camera=dataclasses.replace(config.camera, prior=brighter)), samples=64)
    assert np.median(more.shares) > np.median(levels.shares)  # the prior's exposure is used
    dark = dataclasses.replace(config.camera.prior, exposure_mean_stops=-40.0, exposure_std_stops=0.0)
    config_dark = dataclasses.replace(config, camera=dataclasses.replace(config.camera, prior=dark))
    assert len(ClipLevels.measure(generator, config_dark, samples=16).shares) == 0


def _photo_with_a_clipped_block():
    rng = np.random.default_rng(0)
    photo = rng.uniform(0.2, 0.8, (16, 32, 3)).astype(np.float32)
    photo[5:9, 12:18] = 1.0
    return photo


def test_inversion_asks_the_clipped_region_for_the_target_level():
    generator, config = tiny()
    photo = _photo_with_a_clipped_block()
    high = ClipLevels(np.full(20, 24 / 512), np.full(20, 4.0))  # samples that clip 24 of 512 pixels, 4 stops up
    means = {}
    for weight in (0.0, 1.0):
        options = InversionOptions(latent_steps=60, tune_steps=0, perceptual="pixel", clip_level_weight=weight)
        result = invert_photo(generator, config, photo, options=options, clip_levels=high, progress=False)
        means[weight] = float(np.log2(result.generator_hdr[5:9, 12:18]).mean())
        assert result.clip_target_stops == (None if weight == 0 else pytest.approx(4.0))
    assert means[1.0] > means[0.0] + 1.0  # the fill rises towards 4 stops above the clip


def test_a_region_clipped_in_one_channel_asks_for_no_level():
    """A bright sky over the clip saturates its colour's channel, not all three: the generator's level for
    white-clipped suns would light a sun in it (docs/itm/README.md, invented suns)."""
    generator, config = tiny()
    levels = ClipLevels(np.full(20, 24 / 512), np.full(20, 4.0))
    options = InversionOptions(latent_steps=2, tune_steps=0, perceptual="pixel", clip_level_weight=1.0)
    white = _photo_with_a_clipped_block()
    blue = white.copy()
    blue[5:9, 12:18, :2] = 0.6  # only the blue channel clips there
    found = [invert_photo(generator, config, photo, options=options, clip_levels=levels, progress=False) for photo in (white, blue)]
    assert found[0].clip_target_stops == pytest.approx(4.0) and found[1].clip_target_stops is None


def test_the_photos_share_counts_a_sun_a_jpeg_left_a_few_codes_short():
    """A JPEG leaves some of a clipped sun's pixels at 250-254 in a channel: the share is the soft mask's
    (those pixels count in part), not the count of exact 255s, which a JPEG cuts to a fraction."""
    generator, config = tiny()
    photo = _photo_with_a_clipped_block()  # a 4x6 block clipped in every channel: 24 of 512 pixels
    photo[5:7, 12:18, 0] = 0.985  # half of it a JPEG's few codes short in red: half-way up the soft mask
    levels = ClipLevels(np.array([18 / 512] * 20 + [7 / 512] * 20), np.array([4.0] * 20 + [1.0] * 20))
    options = InversionOptions(latent_steps=2, tune_steps=0, perceptual="pixel", clip_level_weight=1.0)
    result = invert_photo(generator, config, photo, options=options, clip_levels=levels, progress=False)
    assert result.clip_target_stops == pytest.approx(4.0)  # 18/512 of the photo; exact 255s alone: 12/512, 2.5


def test_a_non_finite_sample_is_left_out_of_the_levels():
    exposed = torch.full((3, 3, 4, 4), 0.5)
    exposed[:, :, 0, 0] = 2.0  # each clips 1/16 of its pixels, 1 stop up
    exposed[1, 0, 2, 2] = float("nan")  # unclipped but NaN: the level stays finite
    exposed[2, :, 0, 0] = float("inf")  # a clipped pixel overflows
    levels = ClipLevels.of_images(exposed)
    assert levels.levels.tolist() == [1.0, 1.0]


def test_the_clipped_share_of_a_large_photo_is_measured_at_its_own_resolution():
    generator, config = tiny()
    photo = np.full((160, 320, 3), 0.5, np.float32)
    photo[40:80, 120:200] = 1.0  # 6.25 % of the photo clips
    shares = np.array([0.02] * 20 + [0.0625] * 20)
    levels = ClipLevels(shares, np.array([3.0] * 20 + [1.0] * 20))
    options = InversionOptions(latent_steps=2, tune_steps=0, perceptual="pixel")
    result = invert_photo(generator, config, photo, options=options, clip_levels=levels, progress=False)
    assert result.clip_target_stops == pytest.approx(1.0)
