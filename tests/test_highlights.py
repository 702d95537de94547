"""The highlight head: order statistics of each photo's brightest channel, learnt and wired into both Ds."""

from __future__ import annotations

import pytest
import torch

from glowgan.checkpoint import build_discriminator
from glowgan.config import load_config
from glowgan.distributed import Distributed
from glowgan.models.efficientnet import efficientnet_available
from glowgan.models.highlights import HighlightHead, quantile_ranks, shadow_ranks
from glowgan.train import d_step, new_state
from tiny import TINY_TRAIN


def test_quantile_ranks_run_from_the_darker_pixels_to_the_brightest():
    ranks = quantile_ranks(32 * 64)
    assert ranks == sorted(set(ranks)), "ascending, no repeats"
    assert ranks[0] == 204 and ranks[2] == 1024  # the 10th percentile, the median
    assert ranks[-1] == 32 * 64 - 1, "the brightest pixel"
    assert len(quantile_ranks(256 * 512)) == len(ranks) + 6  # one more level per doubling of the pixels


def test_shadow_ranks_mirror_the_top_levels():
    pixels = 32 * 64
    top = quantile_ranks(pixels)[-11:]  # the median ... the brightest pixel
    assert shadow_ranks(pixels) == [pixels - 1 - rank for rank in reversed(top)]
    assert shadow_ranks(pixels)[0] == 0, "the darkest pixel"


def dark_sky(n: int, sun: float, generator: torch.Generator) -> torch.Tensor:
    """[n, 3, 16, 32] dim skies (0.05-0.25) with a one-pixel sun of value ``sun`` at a random place."""
    ldr = 0.05 + 0.2 * torch.rand(n, 3, 16, 32, generator=generator)
    rows = torch.randint(0, 16, (n,), generator=generator)
    cols = torch.randint(0, 32, (n,), generator=generator)
    ldr[torch.arange(n), :, rows, cols] = sun
    return ldr


def test_the_head_sees_only_values_not_places():
    head = HighlightHead((16, 32))
    ldr = dark_sky(4, 1.0, torch.Generator().manual_seed(0))
    shuffled = ldr.flatten(2)[:, :, torch.randperm(16 * 32)].reshape(ldr.shape)
    torch.testing.assert_close(head(shuffled), head(ldr))
    dimmer = ldr.clone()
    dimmer[dimmer == 1.0] = 0.6
    assert not torch.allclose(head(dimmer), head(ldr)), "the brightest pixel changes the logit"


def trained_head(photos, real_value: float, fake_value: float, *, shadows: bool = False) -> tuple[HighlightHead, torch.Generator]:
    """A head trained for 150 steps to tell ``photos(n, real_value, rng)`` from ``photos(n, fake_value, rng)``."""
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(1)
    head = HighlightHead((16, 32), shadows=shadows)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.002, betas=(0.0, 0.99))
    for _ in range(150):
        real, fake = photos(16, real_value, rng), photos(16, fake_value, rng)
        loss = torch.nn.functional.softplus(-head(real)).mean() + torch.nn.functional.softplus(head(fake)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head, rng


def judged_fakes(head: HighlightHead, photos, real_value: float, fake_value: float, rng: torch.Generator) -> torch.Tensor:
    """64 fresh fakes, checked to score below every real, with G's gradient in ``.grad``."""
    real, fake = photos(64, real_value, rng), photos(64, fake_value, rng)
    with torch.no_grad():
        assert (head(real) > head(fake).max()).all(), "every real scores above every fake"
    fake.requires_grad_(True)
    head(fake).sum().backward()
    return fake


def test_a_trained_head_tells_a_clipped_sun_from_a_grey_one_and_pushes_the_grey_one_up():
    head, rng = trained_head(dark_sky, 1.0, 0.6)  # the fake's sun does not clip
    fake = judged_fakes(head, dark_sky, 1.0, 0.6, rng)
    sun = fake.detach() == 0.6
    assert (fake.grad[sun] > 0).all(), "G's gradient brightens the fake's sun"
    assert fake.grad[sun].abs().mean() > 10 * fake.grad[~sun].abs().mean()


def grey_sky(n: int, shadow: float, generator: torch.Generator) -> torch.Tensor:
    """[n, 3, 16, 32] mid-grey skies (0.3-0.6) whose two darkest pixels have the value ``shadow``."""
    ldr = 0.3 + 0.3 * torch.rand(n, 3, 16, 32, generator=generator)
    for _ in range(2):
        rows = torch.randint(0, 16, (n,), generator=generator)
        cols = torch.randint(0, 32, (n,), generator=generator)
        ldr[torch.arange(n), :, rows, cols] = shadow
    return ldr


def test_only_a_head_with_shadow_statistics_sees_the_darkest_pixel():
    ldr = grey_sky(4, 0.1, torch.Generator().manual_seed(0))
    blacker = ldr.clone()
    blacker[blacker == 0.1] = 0.0
    torch.manual_seed(0)
    plain, with_shadows = HighlightHead((16, 32)), HighlightHead((16, 32), shadows=True)
    torch.testing.assert_close(plain(blacker), plain(ldr))
    assert not torch.allclose(with_shadows(blacker), with_shadows(ldr))


def test_a_trained_shadow_head_tells_black_pixels_from_dark_ones_and_lifts_the_black_ones():
    head, rng = trained_head(grey_sky, 0.1, 0.0, shadows=True)  # the fake's shadows are crushed black
    fake = judged_fakes(head, grey_sky, 0.1, 0.0, rng)
    black = fake.detach() == 0.0
    assert (fake.grad[black] > 0).all(), "G's gradient lifts the black pixels"
    assert fake.grad[black].abs().mean() > 10 * fake.grad[~black].abs().mean()


def test_the_head_reads_the_statistics_asked_for():
    config = load_config(preset="cpu-32x64", overrides=["model.highlight_head=false"])  # the shadows stay on
    head = build_discriminator(config).highlights
    assert len(head.dark_ranks) == 11 and len(head.ranks) == 0 and head(torch.rand(2, 3, 32, 64)).shape == (2, 1)
    both = build_discriminator(load_config(preset="cpu-32x64")).highlights
    assert len(both.dark_ranks) == 11 and len(both.ranks) == 13
    plain = load_config(preset="cpu-32x64", overrides=["model.highlight_head=false", "model.shadow_statistics=false"])
    assert build_discriminator(plain).highlights is None
    with pytest.raises(ValueError, match="both"):
        HighlightHead((16, 32), highlights=False)


@pytest.mark.parametrize(
    "settings",
    [
        ["model.discriminator=resnet"],
        pytest.param(
            ["model.discriminator=projected", "model.projected_branch=resnet"],
            marks=pytest.mark.skipif(not efficientnet_available(), reason="EfficientNet-lite0 weights not installed"),
        ),
    ],
)
def test_either_discriminator_adds_the_head_s_logit(settings):
    size = ["model.resolution=[32, 64]", "model.d_channel_max=16"]
    off = ["model.highlight_head=false", "model.shadow_statistics=false"]
    plain = build_discriminator(load_config(preset="cpu-32x64", overrides=[*size, *settings, *off]))
    config = load_config(preset="cpu-32x64", overrides=[*size, *settings, "model.highlight_head=true", "model.shadow_statistics=false"])
    torch.manual_seed(0)
    with_head = build_discriminator(config)
    assert plain.highlights is None and isinstance(with_head.highlights, HighlightHead)
    with_head.eval()
    ldr = torch.rand(4, 3, 32, 64)
    with torch.no_grad():
        total, head = with_head(ldr), with_head.highlights(ldr)
        restored = build_discriminator(config).eval()
        restored.load_state_dict(with_head.state_dict())  # a checkpoint carries the head
        torch.testing.assert_close(restored(ldr), total)
        with_head.highlights = None
        torch.testing.assert_close(with_head(ldr) + head, total)


def test_the_trainer_shows_the_head_the_photos_before_augmentation():
    config = load_config(
        preset="cpu-32x64",
        overrides=[*TINY_TRAIN, "model.highlight_head=true", "train.augment=color,translation,cutout"],
    )
    state = new_state(config, device=torch.device("cpu"))
    seen = []
    state.D.highlights.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    reals = torch.rand(4, 3, 8, 16)
    d_step(state, reals, Distributed())
    assert len(seen) == 2  # the fakes, then the reals
    torch.testing.assert_close(seen[1], reals, rtol=0, atol=0)
    assert seen[0].amax() <= 1.0, "the fakes as the camera rendered them: no colour shift above white"


def test_the_head_gain_weights_its_logit_and_is_checked():
    config = load_config(preset="cpu-32x64", overrides=["model.discriminator=resnet", "model.head_gain=3"])
    weighted = build_discriminator(config).highlights
    plain = HighlightHead((32, 64), highlights=True, shadows=True)
    plain.load_state_dict(weighted.state_dict())  # the gain is a setting, not a weight: old checkpoints load
    ldr = torch.rand(3, 3, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(weighted(ldr), 3.0 * plain(ldr))
    for bad, message in (("0", "finite number > 0"), ("-1", "finite number > 0"), ("inf", "finite number > 0")):
        with pytest.raises(ValueError, match=message):
            load_config(preset="cpu-32x64", overrides=[f"model.head_gain={bad}"])
    with pytest.raises(ValueError, match="head is off"):
        load_config(preset="cpu-32x64", overrides=["model.head_gain=2", "model.highlight_head=false", "model.shadow_statistics=false"])
