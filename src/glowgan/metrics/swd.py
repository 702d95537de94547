"""Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches (ProGAN's SWD).

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, Sec. 5 and Appendix D: build a Laplacian pyramid of every image down to about 16 px,
take 7x7 neighbourhoods (descriptors of 3 x 49 values) at random positions from each level,
normalise them per channel, and at each level compare the two sets' descriptor distributions by the
sliced Wasserstein distance (the 1-D Wasserstein-1 distance of random projections, averaged over
projection directions). Small distances at coarse levels mean similar large-scale structure; at fine
levels, similar detail.

One deliberate change from the ProGAN code: descriptors are normalised per level and channel by the
mean and standard deviation of **both sets pooled**, not of each set separately. Per-set
normalisation removes any global brightness or contrast difference between the sets, which is the
very thing HDR evaluation must see; pooled statistics keep the distance symmetric and scale-free.

Wrappers compare HDR sets in PU21 space (:func:`hdr_swd`) and as LDR photos at fixed exposures
(:func:`exposure_bracket_swd`); :func:`swd_floor` measures the distance between two halves of one
set, the floor that sampling noise alone produces.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from glowgan.camera import CameraPrior, render
from glowgan.metrics.fidelity import DIFFUSE_WHITE_NITS, to_display_nits
from glowgan.metrics.pu21 import PU21_DEFAULT_VARIANT, pu21_encode

# ProGAN Appendix D: 7x7 neighbourhoods, 128 descriptors per image and level, coarsest level 16 px,
# 512 projection directions (the official code: 4 repeats x 128 directions).
PATCH_SIZE = 7
DESCRIPTORS_PER_IMAGE = 128
MIN_LEVEL_SIZE = 16
NUM_PROJECTIONS = 512

# 5-tap binomial filter of the Laplacian pyramid (Burt & Adelson 1983, a = 0.375).
_BINOMIAL_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)

# Projections processed at once: bounds the memory of the [descriptors, projections] matrix.
_PROJECTION_CHUNK = 128

# Exposures of the LDR bracket, stops relative to the images' own scale.
BRACKET_STOPS = (-6.0, -3.0, 0.0, 3.0)


@dataclass(frozen=True)
class SwdResult:
    """Sliced Wasserstein distances per pyramid level (finest first) and their mean."""

    per_level: tuple[float, ...]
    mean: float


def _check_set(images: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = getattr(images, "shape", type(images))
        raise ValueError(f"{name} must be a tensor of images [N, C, H, W], got {got}")
    if min(images.shape[-2:]) < MIN_LEVEL_SIZE:
        size = tuple(images.shape[-2:])
        raise ValueError(f"{name} images are {size}; SWD needs at least {MIN_LEVEL_SIZE} px a side")
    if images.shape[0] < 1:
        raise ValueError(f"{name} holds no images")
    return images.detach().float().cpu()


def _blur(images: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable binomial blur of [N, C, H, W] with reflect padding (``gain`` scales the filter).

    Written as weighted sums of shifted views: much faster on CPU than a depthwise convolution.
    """
    weights = [tap / sum(_BINOMIAL_TAPS) * gain**0.5 for tap in _BINOMIAL_TAPS]
    height, width = images.shape[-2:]
    padded = F.pad(images, (2, 2, 0, 0), mode="reflect")
    rows = sum(weight * padded[..., :, k : k + width] for k, weight in enumerate(weights))
    padded = F.pad(rows, (0, 0, 2, 2), mode="reflect")
    return sum(weight * padded[..., k : k + height, :] for k, weight in enumerate(weights))


def _upsample(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-insertion upsampling to ``size`` followed by the binomial filter (gain 4 keeps the level)."""
    upsampled = coarse.new_zeros(*coarse.shape[:2], *size)
    upsampled[..., ::2, ::2] = coarse
    return _blur(upsampled, gain=4.0)


def laplacian_pyramid(images: torch.Tensor, *, min_size: int = MIN_LEVEL_SIZE) -> list[torch.Tensor]:
    """Laplacian pyramid (Burt & Adelson 1983) of [N, C, H, W], finest level first.

    Levels halve until the next one would be smaller than ``min_size`` on its short side; the last
    level is the low-pass residual. Non-square and odd sizes are fine (a level of odd size h has a
    coarser level of size ceil(h / 2)).
    """
    levels = []
    current = images
    while min(current.shape[-2:]) // 2 >= min_size:
        coarse = _blur(current)[..., ::2, ::2]
        levels.append(current - _upsample(coarse, tuple(current.shape[-2:])))
        current = coarse
    levels.append(current)
    return levels


def _descriptors(level: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """``count`` random 7x7 neighbourhoods of every image of ``level`` [N, C, H, W] -> [N * count, C * 49]."""
    n, channels, height, width = level.shape
    ys = torch.randint(0, height - PATCH_SIZE + 1, (n, count, 1, 1), generator=rng)
    xs = torch.randint(0, width - PATCH_SIZE + 1, (n, count, 1, 1), generator=rng)
    offsets = torch.arange(PATCH_SIZE)
    rows = (ys + offsets.reshape(1, 1, -1, 1)).expand(n, count, PATCH_SIZE, PATCH_SIZE)
    cols = (xs + offsets.reshape(1, 1, 1, -1)).expand(n, count, PATCH_SIZE, PATCH_SIZE)
    flat = level.reshape(n, channels, height * width)
    index = (rows * width + cols).reshape(n, 1, -1).expand(n, channels, -1)  # [N, C, count * 49]
    patches = flat.gather(2, index).reshape(n, channels, count, PATCH_SIZE * PATCH_SIZE)
    return patches.permute(0, 2, 1, 3).reshape(n * count, channels * PATCH_SIZE * PATCH_SIZE)


def _sort_rows(values: np.ndarray) -> np.ndarray:
    return np.sort(values, axis=1)


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, num_projections: int, rng: torch.Generator) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance between projected [M, D] sets.

    For two sets of M values each, W1 is the mean absolute difference of their sorted values. The
    sorts dominate the cost; numpy's is several times faster on CPU than ``torch.sort`` on this
    shape and releases the GIL, so the two sets are sorted on two threads.
    """
    total = 0.0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, num_projections, _PROJECTION_CHUNK):
            count = min(_PROJECTION_CHUNK, num_projections - start)
            directions = torch.randn(a.shape[1], count, generator=rng)
            directions = directions / directions.norm(dim=0, keepdim=True)
            projected = [(directions.T @ d.T).numpy() for d in (a, b)]  # 2 x [count, M]
            sorted_a, sorted_b = pool.map(_sort_rows, projected)
            total += float(np.abs(sorted_a - sorted_b).mean(axis=1).sum())
    return total / num_projections


def swd(
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    *,
    rng: torch.Generator,
    descriptors_per_image: int = DESCRIPTORS_PER_IMAGE,
    num_projections: int = NUM_PROJECTIONS,
    min_size: int = MIN_LEVEL_SIZE,
) -> SwdResult:
    """Sliced Wasserstein distance between two image sets [N, C, H, W] per Laplacian level (Karras et al. 2018).

    Both sets must have the same C, H, W (any size with both sides >= ``min_size``; need not be
    square) but may differ in N: the larger set's descriptors are subsampled to the smaller count.
    Inputs are moved to the CPU.
    Descriptors (``descriptors_per_image`` random 7x7 patches per image and level) are normalised per
    channel by the pooled mean and std of both sets (see the module notes), then compared along
    ``num_projections`` random directions. Values are raw (ProGAN tables show them x 10^3).
    Deterministic given ``rng``, which draws patch positions, subsets and directions.
    """
    images_a = _check_set(images_a, "images_a")
    images_b = _check_set(images_b, "images_b")
    if images_a.shape[1:] != images_b.shape[1:]:
        shapes = f"{tuple(images_a.shape[1:])} vs {tuple(images_b.shape[1:])}"
        raise ValueError(f"image sets differ in [C, H, W]: {shapes}; resize one set to the other's size")
    if descriptors_per_image < 1 or num_projections < 1:
        raise ValueError("descriptors_per_image and num_projections must be at least 1")
    channels = images_a.shape[1]
    distances = []
    pyramids = laplacian_pyramid(images_a, min_size=min_size), laplacian_pyramid(images_b, min_size=min_size)
    for level_a, level_b in zip(*pyramids):
        desc_a = _descriptors(level_a, descriptors_per_image, rng)  # [Na * K, C * 49]
        desc_b = _descriptors(level_b, descriptors_per_image, rng)
        count = min(desc_a.shape[0], desc_b.shape[0])
        if desc_a.shape[0] > count:
            desc_a = desc_a[torch.randperm(desc_a.shape[0], generator=rng)[:count]]
        if desc_b.shape[0] > count:
            desc_b = desc_b[torch.randperm(desc_b.shape[0], generator=rng)[:count]]
        pooled = torch.cat([desc_a, desc_b]).reshape(2 * count, channels, -1)
        mean = pooled.mean(dim=(0, 2)).repeat_interleave(PATCH_SIZE * PATCH_SIZE)  # [C * 49]
        std = pooled.std(dim=(0, 2)).clamp_min(1e-8).repeat_interleave(PATCH_SIZE * PATCH_SIZE)
        desc_a = (desc_a - mean) / std
        desc_b = (desc_b - mean) / std
        distances.append(_sliced_wasserstein(desc_a, desc_b, num_projections, rng))
    return SwdResult(per_level=tuple(distances), mean=sum(distances) / len(distances))


def hdr_swd(
    hdr_a: torch.Tensor,
    hdr_b: torch.Tensor,
    *,
    rng: torch.Generator,
    white: float = 1.0,
    variant: str = PU21_DEFAULT_VARIANT,
    **swd_options: int,
) -> SwdResult:
    """SWD between two sets of linear HDR images [N, 3, H, W] in PU21 space.

    Both sets are put in display units with :func:`glowgan.metrics.fidelity.to_display_nits` (radiance
    ``white`` -> 100 cd/m², clamped to [0.005, 10000] cd/m²) and each channel is PU21-encoded, so
    equal steps are roughly equally visible at every brightness before :func:`swd` compares them.
    ``swd_options`` go to :func:`swd`.
    """
    encoded = []
    for name, hdr in (("hdr_a", hdr_a), ("hdr_b", hdr_b)):
        hdr = _check_set(hdr, name)
        nits = to_display_nits(hdr.numpy(), white=white, white_nits=DIFFUSE_WHITE_NITS)
        encoded.append(torch.from_numpy(pu21_encode(nits, variant=variant)).float())
    return swd(encoded[0], encoded[1], rng=rng, **swd_options)


def render_mean_camera(hdr: torch.Tensor, stops: float, *, crf: str = "glowgan") -> torch.Tensor:
    """Photograph linear HDR [N, 3, H, W] at ``stops`` with one fixed camera -> LDR [0, 1].

    Exposure ``2**stops``, clip at 1, then the mean curve of the ``crf`` family (by default the
    official code's ``glowgan`` CRF at its prior mean, gamma 0.9 and beta 0.6; ``"srgb"`` or
    ``"filmic"`` photograph with curves a GlowGAN model never assumed), no noise or quantisation
    (:func:`glowgan.camera.render`): the same camera for every image, so sets differ only by their radiance.
    """
    return render(hdr, CameraPrior(crf=crf).mean(hdr.shape[0], device=hdr.device).shifted(float(stops)))


def exposure_bracket_swd(
    hdr_a: torch.Tensor,
    hdr_b: torch.Tensor,
    *,
    rng: torch.Generator,
    stops: Sequence[float] = BRACKET_STOPS,
    crf: str = "glowgan",
    **swd_options: int,
) -> dict[float, SwdResult]:
    """SWD between two HDR sets [N, 3, H, W] photographed at each fixed exposure in ``stops``.

    Each set is rendered by :func:`render_mean_camera` (with ``crf``) at every exposure, and :func:`swd` compares
    the LDR photos: low stops look into the highlights, high stops into the shadows. Returns
    ``{stops: SwdResult}``.
    """
    hdr_a = _check_set(hdr_a, "hdr_a")
    hdr_b = _check_set(hdr_b, "hdr_b")
    return {
        float(stop): swd(
            render_mean_camera(hdr_a, stop, crf=crf),
            render_mean_camera(hdr_b, stop, crf=crf),
            rng=rng,
            **swd_options,
        )
        for stop in stops
    }


def swd_floor(images: torch.Tensor, *, rng: torch.Generator, **swd_options: int) -> SwdResult:
    """SWD between two random disjoint halves of one set [N, C, H, W]: the real-vs-real floor.

    A distance between two sets is only meaningful against this floor, which sampling noise alone
    produces at the same set size (compare sets of N / 2 with it, or accept that it is optimistic
    for larger sets). ``swd_options`` go to :func:`swd`.
    """
    images = _check_set(images, "images")
    if images.shape[0] < 2:
        raise ValueError(f"the floor needs at least 2 images to split in halves, got {images.shape[0]}")
    order = torch.randperm(images.shape[0], generator=rng)
    half = images.shape[0] // 2
    return swd(images[order[:half]], images[order[half : 2 * half]], rng=rng, **swd_options)
