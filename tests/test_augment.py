"""DiffAugment-style augmentation: shape, range, gradients, determinism, circular wrap."""

from __future__ import annotations

import pytest
import torch

from glowgan.augment import FILL_VALUE, augment

POLICIES = ["color", "translation", "cutout", "color,translation,cutout"]


def images(n: int = 6, h: int = 16, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("circular_x", [False, True])
def test_shape_and_range(policy: str, circular_x: bool) -> None:
    ldr = images()
    out = augment(ldr, policy, circular_x=circular_x, rng=torch.Generator().manual_seed(1))
    assert out.shape == ldr.shape
    if "color" not in policy:  # geometric ops move and fill pixels, they never change values
        assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, ldr)


def test_color_keeps_near_white_apart_from_clipped_white() -> None:
    # A 0.9 fake and a clipped 1.0 real under the same colour draw: a clamp after the shifts would
    # make them the same pixel (and cut the gradient) whenever the draw brightens; DiffAugment does not.
    n = 64
    base = torch.full((n, 3, 8, 16), 0.5)
    near_white, white = base.clone(), base.clone()
    near_white[:, :, :4, :8] = 0.9
    white[:, :, :4, :8] = 1.0
    near_white.requires_grad_(True)
    a = augment(near_white, "color", rng=torch.Generator().manual_seed(5))
    b = augment(white, "color", rng=torch.Generator().manual_seed(5))
    patch_a, patch_b = a[:, :, :4, :8], b[:, :, :4, :8]
    assert (patch_b > 1).any(), "some draws brighten white past 1"
    assert (patch_b - patch_a).abs().amin() > 0.0  # never merged
    patch_a.sum().backward()
    grad = near_white.grad[:, :, :4, :8]
    assert (grad.abs().sum(dim=(1, 2, 3)) > 0).all(), "every sample passes a gradient to its near-white pixels"


@pytest.mark.parametrize("policy", POLICIES)
def test_differentiable(policy: str) -> None:
    ldr = images().requires_grad_(True)
    out = augment(ldr, policy, rng=torch.Generator().manual_seed(1))
    (out * torch.randn_like(out)).sum().backward()
    assert ldr.grad is not None and torch.isfinite(ldr.grad).all()
    assert (ldr.grad != 0).float().mean() > 0.2


@pytest.mark.parametrize("policy", POLICIES)
def test_deterministic_with_seeded_generator(policy: str) -> None:
    ldr = images()
    a = augment(ldr, policy, rng=torch.Generator().manual_seed(3))
    b = augment(ldr, policy, rng=torch.Generator().manual_seed(3))
    c = augment(ldr, policy, rng=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_each_image_gets_its_own_parameters() -> None:
    ldr = images(n=1).expand(8, -1, -1, -1)
    out = augment(ldr, "color,translation,cutout", rng=torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8


def test_empty_policy_is_identity_and_unknown_op_is_rejected() -> None:
    ldr = images()
    assert augment(ldr, "") is ldr
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(ldr, "color,rotate")


def test_circular_translation_is_a_pure_horizontal_roll() -> None:
    # height 2: the vertical shift range is int(2 / 8 + 0.5) = 0, so only dx remains
    ldr = images(n=16, h=2, w=32)
    out = augment(ldr, "translation", circular_x=True, rng=torch.Generator().manual_seed(0))
    shifts = []
    for src, dst in zip(ldr, out):
        matches = [k for k in range(-4, 5) if torch.equal(dst, torch.roll(src, k, dims=-1))]
        assert matches, "translated image is not a roll of the input"
        shifts.append(matches[0])
    assert len(set(shifts)) > 3
    # without wrapping the same shifts leave uncovered columns filled
    flat = augment(ldr, "translation", circular_x=False, rng=torch.Generator().manual_seed(0))
    assert (flat == FILL_VALUE).any()


def _shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` [C, H, W] moved down by ``dy`` and right by ``dx``, uncovered pixels filled."""
    out = torch.full_like(image, FILL_VALUE)
    h, w = image.shape[-2:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_translation_moves_content() -> None:
    n, h, w = 90, 16, 32  # shifts of up to 1/8 of the size: dy in [-2, 2], dx in [-4, 4], 45 pairs
    ldr = images(n=n, h=h, w=w)
    out = augment(ldr, "translation", rng=torch.Generator().manual_seed(2))
    offsets = []
    for src, dst in zip(ldr, out):
        # Where the output's centre pixel came from (random pixels are unique) gives the shift.
        [[y, x]] = (src == dst[:, h // 2, w // 2, None, None]).all(dim=0).nonzero().tolist()
        dy, dx = h // 2 - y, w // 2 - x
        assert torch.equal(dst, _shifted(src, dy, dx)), "each output is its input shifted, the uncovered pixels filled"
        offsets.append((dy, dx))
    assert {dy for dy, _ in offsets} == set(range(-2, 3)), "every vertical shift up to 1/8 of the height, no more"
    assert {dx for _, dx in offsets} == set(range(-4, 5)), "every horizontal shift up to 1/8 of the width, no more"
    still = offsets.count((0, 0))
    assert still <= 8, f"{still} of {n} images did not move (about 2 expected from uniform shifts)"


@pytest.mark.parametrize("circular_x", [False, True])
def test_cutout_box(circular_x: bool) -> None:
    ldr = images(n=64) * 0.4  # no pixel equals the fill value
    out = augment(ldr, "cutout", circular_x=circular_x, rng=torch.Generator().manual_seed(0))
    filled = (out == FILL_VALUE).all(dim=1)  # [N, H, W]
    assert torch.equal(out[:, :, ~filled.any(0)], ldr[:, :, ~filled.any(0)])
    rows = filled.any(dim=2).sum(dim=1)  # filled rows per image
    cols = filled.any(dim=1).sum(dim=1)  # filled columns per image
    assert rows.max() == 8 and cols.max() == 16  # half the height and width
    if circular_x:
        assert (cols == 16).all()  # the box wraps around instead of leaving the image
    else:
        assert (cols < 16).any()
