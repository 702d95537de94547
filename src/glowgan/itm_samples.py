"""Several solutions of inverse tone mapping for one photo (``glowgan itm --samples K``), and how much they
disagree.

A photo's clipped regions admit many fills: the GlowGAN paper (Wang et al., ICCV 2023) notes that
inversion can give several plausible ones. :func:`invert_samples` runs K inversions of the same photo side
by side as one batch (:func:`glowgan.invert.invert_photos`) with the same loaded networks. Sample 1 is the
single inversion (the default start and ``options.seed``; with K > 1 up to float rounding, as it runs
in a batch); sample k > 1 uses seed ``options.seed + k - 1`` for its latent
noise and regulariser and starts from a different latent: the default start (the mean w, or the
encoder's guess in fast mode) moved by START_PSI of the way from the mean w to a random w drawn from
the mapping network with that seed. Each sample fits its own camera.

**The main fill** is the sample with the lowest final image loss (the mean of the last 10 losses of its
last stage, pivotal tuning when it ran), ties going to the earlier sample. Not a per-pixel median in
log space: each sample has its own exposure and response curve, so a median would mix fills rendered
under different cameras into a result that no inversion produced (at K = 2 the geometric mean of two
different highlights: two half-bright suns), with no camera, record or preview that belongs to it.
The lowest loss keeps one coherent solution, chosen by the photo's evidence alone, with the same rule
that :func:`glowgan.invert.invert_photo` uses to choose between curve families.

**The spread** is the per-pixel standard deviation of log2 radiance (stops; a pixel's radiance is the mean
of its three channels) across the K outputs, where
the generator's content enters (the photo's soft saturation mask > 0; the mask depends on the photo
only, so it is the same for every sample) and 0 elsewhere. It includes what the different cameras
change there (the exposure that scales the fill, and, in the soft edge of the mask, the curve that
linearises the photo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from glowgan.config import Config
from glowgan.itm_levels import ClipLevels
from glowgan.invert import LOG_HDR_FLOOR, InitialGuess, InversionOptions, InversionResult, clip_levels_for, invert_photos
from glowgan.invert import final_loss as final_loss_of
from glowgan.models.generator import Generator

# How far sample k > 1 starts from the default start, towards a random w: the truncation trick's psi
# (Karras et al. 2019, Sec. 3.1: w' = w_avg + psi (w - w_avg); 0.7 is the value of their figures), so
# that starts lie where the generator's typical images are, not at its rarely seen extremes.
START_PSI = 0.7


@dataclass
class Samples:
    """K inversions of one photo, the main one among them, and their spread."""

    results: list[InversionResult]  # sample 1 first
    seeds: list[int]  # each sample's seed
    chosen: int  # index into ``results`` of the main fill
    spread: np.ndarray  # [H, W] stops (std of log2 radiance across samples), 0 outside the fill region

    @property
    def main(self) -> InversionResult:
        return self.results[self.chosen]

    def record(self) -> dict[str, Any]:
        """What a photo's JSON record says about its samples (sample numbers count from 1)."""
        return {
            "count": len(self.results),
            "seeds": self.seeds,
            "final_losses": [final_loss(result) for result in self.results],
            "main": self.chosen + 1,
            "main_rule": "the sample with the lowest final image loss",
            "start_psi": START_PSI,
            "spread_stops": spread_summary(self.spread, self.main.mask),
        }


def invert_samples(
    generator: Generator,
    config: Config,
    photo_ldr: np.ndarray,
    *,
    samples: int,  # K >= 1 inversions
    options: InversionOptions = InversionOptions(),
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | None = None,
    perceptual: torch.nn.Module | None = None,
    clip_levels: ClipLevels | None = None,
    progress: bool = True,
) -> Samples:
    """``samples`` inversions of ``photo_ldr`` from different starts (module doc); arguments as
    :func:`glowgan.invert.invert_photo`, whose call with them is the first sample (up to float rounding)."""
    return invert_samples_of(
        generator,
        config,
        [photo_ldr],
        samples=samples,
        options=options,
        initial=initial,
        perceptual=perceptual,
        clip_levels=clip_levels,
        progress=progress,
    )[0]


def invert_samples_of(
    generator: Generator,
    config: Config,
    photos_ldr: Sequence[np.ndarray],
    *,
    samples: int,
    options: InversionOptions = InversionOptions(),
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | None = None,
    perceptual: torch.nn.Module | None = None,
    clip_levels: ClipLevels | None = None,
    progress: bool = True,
) -> list[Samples]:
    """:func:`invert_samples` of several photos, all their samples side by side in one batch
    (:func:`glowgan.invert.invert_photos`); one :class:`Samples` per photo, in order."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1 (one inversion per photo), got {samples}")
    if clip_levels is None:
        clip_levels = clip_levels_for(generator, config, options)
    seeds = [options.seed + index for index in range(samples)]
    starts = [initial] + [_moved_start(generator, initial, seed=seed) for seed in seeds[1:]]
    results = invert_photos(
        generator,
        config,
        [photo for photo in photos_ldr for _ in seeds],
        options=options,
        initial=starts * len(photos_ldr),
        seeds=seeds * len(photos_ldr),
        perceptual=perceptual,
        clip_levels=clip_levels,
        progress=progress,
    )
    found = []
    for first in range(0, len(results), samples):
        mine = results[first : first + samples]
        losses = [final_loss(result) for result in mine]
        chosen = min(range(samples), key=lambda index: losses[index] if losses[index] is not None else 0.0)
        found.append(Samples(results=mine, seeds=seeds, chosen=chosen, spread=log2_spread(mine)))
    return found


def final_loss(result: InversionResult) -> float | None:
    """How well an inversion ended (:func:`glowgan.invert.final_loss` of its last stage: pivotal tuning, or
    the latent fit without it); None for an inversion without steps."""
    losses = result.tune_losses or result.latent_losses
    return final_loss_of(losses) if losses else None


def log2_spread(results: list[InversionResult]) -> np.ndarray:
    """[H, W] per-pixel standard deviation (population) of log2 radiance, the mean of the three channels,
    across ``results`` in stops; 0 where the first result's mask is 0."""
    logs = np.stack([np.log2(np.maximum(result.hdr.mean(axis=2), LOG_HDR_FLOOR)) for result in results])  # [K, H, W]
    return np.where(results[0].mask > 0, logs.std(axis=0), 0.0).astype(np.float32)


def spread_summary(spread: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Median and max of ``spread`` (stops) over the filled pixels (mask > 0); None without any."""
    filled = spread[mask > 0]
    if filled.size == 0:
        return {"median": None, "max": None, "filled_pixels": 0}
    return {"median": float(np.median(filled)), "max": float(filled.max()), "filled_pixels": int(filled.size)}


def _moved_start(
    generator: Generator,
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | None,
    *,
    seed: int,
) -> Callable[[torch.Tensor], InitialGuess]:
    """The start of a later sample: ``initial``'s w (the mean w without one) moved by START_PSI
    (w_random - w_avg), with ``initial``'s camera (the default start's without one)."""

    def start(target_ldr: torch.Tensor) -> InitialGuess:  # [1, 3, h, w] in [0, 1]
        w_avg = generator.mapping.w_avg.detach()
        rng = torch.Generator(device="cpu").manual_seed(seed)
        z = torch.randn(1, generator.z_dim, generator=rng).to(w_avg.device)
        with torch.no_grad():
            w_random = generator.mapping(z)[0, 0]  # [w_dim]
        offset = START_PSI * (w_random - w_avg)
        if initial is None:
            return InitialGuess(w=w_avg + offset)
        guess = initial(target_ldr) if callable(initial) else initial
        return InitialGuess(w=guess.w.detach().to(w_avg.device) + offset, camera=guess.camera)

    return start
