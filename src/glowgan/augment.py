"""Differentiable augmentation of LDR images (DiffAugment, Zhao et al. 2020, NeurIPS).

Applied identically to reals and fakes after the camera projection, so the discriminator sees
``T(x)`` for both and cannot simply memorise the few real photos; because every transform is
differentiable, G still receives gradients through it (DiffAugment Sec. 3, Eq. 4-5).

The transforms follow DiffAugment's definitions (its reference code works on [-1, 1] images;
here the domain is [0, 1], so brightness shifts are halved and the fill value is mid-grey 0.5,
DiffAugment's 0 in [-1, 1]):

- ``color``: brightness ``x + U(-0.25, 0.25)``, saturation ``m_c + (x - m_c) U(0, 2)`` about
  the per-pixel channel mean, contrast ``m + (x - m) U(0.5, 1.5)`` about the image mean. As in
  DiffAugment, nothing is clamped: values may leave [0, 1]. A clamp would merge a 0.9 fake with a
  clipped 1.0 real whenever a shift pushes both past 1, and zero the gradient of near-white pixels
  in about half the samples: exactly the band where GlowGAN learns how often photos clip.
- ``translation``: integer shifts up to 1/8 of the height and width, uncovered pixels filled;
  with ``circular_x=True`` the horizontal shift wraps around instead (equirectangular
  panoramas), which is a pure re-parameterisation of the panorama's azimuth.
- ``cutout``: one rectangle of half the height and width per image filled with mid-grey; it
  wraps around horizontally when ``circular_x=True``.

Everything is vectorised over the batch; random numbers come from ``rng`` when given.
"""

from __future__ import annotations

import torch

POLICY_OPS = ("color", "translation", "cutout")
# DiffAugment defaults: translation up to 1/8 of the image size, cutout of half the image size.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
# DiffAugment fills with 0 in [-1, 1], i.e. mid-grey in [0, 1].
FILL_VALUE = 0.5


def _rand(
    shape: tuple[int, ...],
    like: torch.Tensor,
    rng: torch.Generator | None,
) -> torch.Tensor:
    """U(0, 1) samples of ``shape`` on ``like``'s device, drawn from ``rng`` if given."""
    device = rng.device if rng is not None else like.device
    u = torch.rand(shape, generator=rng, device=device, dtype=like.dtype)
    return u.to(like.device)


def _randint(
    low: int,
    high: int,
    n: int,
    like: torch.Tensor,
    rng: torch.Generator | None,
) -> torch.Tensor:
    """``n`` integers in [low, high) on ``like``'s device, drawn from ``rng`` if given."""
    device = rng.device if rng is not None else like.device
    return torch.randint(low, high, (n,), generator=rng, device=device).to(like.device)


def _color(ldr: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
    n = ldr.shape[0]
    x = ldr + (_rand((n, 1, 1, 1), ldr, rng) - 0.5) * 0.5  # brightness
    mean = x.mean(dim=1, keepdim=True)  # [N, 1, H, W]
    x = (x - mean) * (_rand((n, 1, 1, 1), ldr, rng) * 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # [N, 1, 1, 1]
    return (x - mean) * (_rand((n, 1, 1, 1), ldr, rng) + 0.5) + mean  # contrast


def _translation(
    ldr: torch.Tensor,
    circular_x: bool,
    rng: torch.Generator | None,
) -> torch.Tensor:
    n, c, h, w = ldr.shape
    max_dy, max_dx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy = _randint(-max_dy, max_dy + 1, n, ldr, rng)  # [N]
    dx = _randint(-max_dx, max_dx + 1, n, ldr, rng)  # [N]
    src_y = torch.arange(h, device=ldr.device)[None, :, None] - dy[:, None, None]  # [N, H, 1]
    src_x = torch.arange(w, device=ldr.device)[None, None, :] - dx[:, None, None]  # [N, 1, W]
    valid = (src_y >= 0) & (src_y < h)  # [N, H, 1]
    if circular_x:
        src_x = src_x % w
    else:
        valid = valid & (src_x >= 0) & (src_x < w)  # [N, H, W]
    index = src_y.clamp(0, h - 1) * w + src_x.clamp(0, w - 1)  # [N, H, W]
    index = index.reshape(n, 1, h * w).expand(n, c, h * w)
    shifted = torch.gather(ldr.reshape(n, c, h * w), 2, index).reshape(n, c, h, w)
    return torch.where(valid[:, None], shifted, FILL_VALUE)


def _cutout(
    ldr: torch.Tensor,
    circular_x: bool,
    rng: torch.Generator | None,
) -> torch.Tensor:
    n, _, h, w = ldr.shape
    cut_h, cut_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    # DiffAugment: centre offsets in [0, size + (1 - size % 2)), the box may leave the image.
    y0 = _randint(0, h + (1 - h % 2), n, ldr, rng) - cut_h // 2  # [N]
    x0 = _randint(0, w if circular_x else w + (1 - w % 2), n, ldr, rng) - cut_w // 2
    rel_y = torch.arange(h, device=ldr.device)[None, :, None] - y0[:, None, None]  # [N, H, 1]
    rel_x = torch.arange(w, device=ldr.device)[None, None, :] - x0[:, None, None]  # [N, 1, W]
    if circular_x:
        rel_x = rel_x % w
    inside = (rel_y >= 0) & (rel_y < cut_h) & (rel_x >= 0) & (rel_x < cut_w)  # [N, H, W]
    return torch.where(inside[:, None], FILL_VALUE, ldr)


def augment(
    ldr: torch.Tensor,
    policy: str = "color,translation,cutout",
    *,
    circular_x: bool = False,
    rng: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply the comma-separated DiffAugment ``policy`` to ``ldr`` [N, 3, H, W] in [0, 1].

    Returns a tensor of the same shape, differentiable with respect to ``ldr``; ``color`` may move
    values outside [0, 1] (see the module docstring), the other ops keep the range. Each image gets
    its own random parameters; an empty policy returns ``ldr`` unchanged.
    """
    ops = [op.strip() for op in policy.split(",") if op.strip()]
    unknown = [op for op in ops if op not in POLICY_OPS]
    if unknown:
        raise ValueError(
            f"unknown augmentation {unknown} in policy {policy!r}; choose from {POLICY_OPS}"
        )
    if ldr.ndim != 4:
        raise ValueError(f"augment expects images [N, C, H, W], got shape {tuple(ldr.shape)}")
    for op in ops:
        if op == "color":
            ldr = _color(ldr, rng)
        elif op == "translation":
            ldr = _translation(ldr, circular_x, rng)
        else:
            ldr = _cutout(ldr, circular_x, rng)
    return ldr
