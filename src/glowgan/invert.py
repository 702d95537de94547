"""Unsupervised inverse tone mapping: one LDR photo in, one HDR image out, by inverting a GlowGAN generator.

The recipe of GlowGAN (Wang et al., ICCV 2023, Sec. 4.3 and the official code), in the numbered steps of
:func:`invert_photo`:

1. **Target.** The photo is resampled to the generator's grid (stretched, or centre-cropped with
   ``fit="crop"``); its saturated pixels are found at full resolution. Its left and right edges are
   treated as neighbours only if it is a 2:1 panorama whose edges meet, or when asked
   (``InversionOptions.wrap``); otherwise a panorama model's wrap-around is turned off for it.
2. **Latent and camera.** One latent ``w`` (or one per layer, W+) and the camera that photographed it
   (exposure in stops and, unlike the official code, which fixes gamma 0.9 / beta 0.6, the CRF) are
   optimised so that ``camera.render(G(w))`` looks like the photo: perceptual loss (LPIPS-VGG16, or the
   documented fallback; for generators under 128 pixels the pixel loss alone, which measured better) plus
   a pixel loss, Adam with a ramped learning rate and decaying latent noise
   (the StyleGAN2 projector's schedule, Karras et al. 2020, Sec. 5 and Appendix D), 1000 steps at lr 0.1
   by default (official). The CRF is kept near the camera prior by a Gaussian log-prior term. Ours: a
   one-sided term asks the photo's pixels clipped in every channel for the level above the clip that the
   generator's own photographed samples reach where a similar share clips in every channel (:mod:`glowgan.itm_levels`);
   without it the fit stops where the rendering clips, and the fill is the clip level. Pixels clipped in
   one or two channels (a bright coloured sky) are not asked: asking them lit suns in sunless skies.
3. **Pivotal tuning** (Roich et al. 2022, PTI): the generator's synthesis weights are fine-tuned for
   350 steps (official) so that the pivot ``w`` reproduces the photo exactly, with a locality
   regulariser that keeps the generator's output unchanged for latents at a fixed distance from the
   pivot towards random latents. Beside a perceptual loss its pixel MSE is weighted as the official
   code's, which compares codes on 0-255 (``InversionOptions.tune_pixel_weight``).
4. **Blend**, at the photo's own resolution: a soft mask from the photo's saturated pixels
   (official: ``m = clip((max_c I - 0.97) / 0.03, 0, 1)``) takes the generator's HDR there, exposed by
   the found exposure and upsampled (bilinear in log radiance), and the photo linearised by the found
   inverse CRF everywhere else: ``out = m * max(gain * H, f^-1(I)) + (1 - m) * f^-1(I)``. The ``max``
   (ours) keeps a clipped pixel at least as bright as the clip level it was recorded at.

Units of the result: the photo's linear scale, where 1.0 is the level at which the photo clips.

A fast mode (``glowgan.encoder``) replaces the start of step 2 with an encoder's prediction of the
latent and camera, after which a few optimisation steps suffice.

This module holds the options, the result and steps 2 and 3; the photo's side of steps 1 and 4 is
:mod:`glowgan.itm_photo`, the image loss :mod:`glowgan.itm_losses`, what is written for a result
(record, preview sheet) :mod:`glowgan.itm_outputs`, and several inversions of one photo from different
starts :mod:`glowgan.itm_samples`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call, vmap
from tqdm import tqdm

from glowgan import camera as cam
from glowgan import crf as curves
from glowgan.config import Config
from glowgan.itm_defaults import CLIP_LEVEL_WEIGHT, FILL_COLOURS, LATENT_LR, LATENT_STEPS, TUNE_STEPS
from glowgan.itm_levels import ITM_WHITE, ClipLevels, clip_level_loss
from glowgan.itm_losses import ImageLoss, perceptual_network
from glowgan.itm_photo import blend, downsample, fit_photo, photo_tensor, photo_wraps, saturation_mask
from glowgan.models.generator import Generator

log = logging.getLogger(__name__)

LATENT_SPACES = ("w", "w+")
FITS = ("stretch", "crop")
PERCEPTUAL_KINDS = ("auto", "lpips", "msssim", "pixel")

# StyleGAN2 projector schedule (Karras et al. 2020, Appendix D): lr ramps up over the first 5 % and
# down (cosine) over the last 25 % of the steps; latent noise starts at 5 % of the spread of W and
# decays quadratically to 0 at 75 % of the steps.
LR_RAMP_UP = 0.05
LR_RAMP_DOWN = 0.25
LATENT_NOISE_START = 0.05
LATENT_NOISE_END = 0.75
# Latents drawn to measure the spread of W (used to scale latent noise and the locality distance).
W_SPREAD_SAMPLES = 2000
# Radiance floor before log2 in the locality regulariser: a relu generator outputs exact zeros.
LOG_HDR_FLOOR = 2.0**-24
# The image losses averaged to score how well a fit ended (choosing between curve families, or samples).
FINAL_LOSS_STEPS = 10
# Pivotal-tuning steps whose locality-regulariser references are made in one batched pass.
LOCALITY_CHUNK = 32
# The pixel weight that makes an MSE of codes in [0, 1] one of codes on 0-255, as the official tuning compares.
PIXEL_WEIGHT_0_255 = 255.0**2


@dataclass(frozen=True)
class InversionOptions:
    """How to invert; defaults are the official recipe's step counts and learning rates."""

    latent_steps: int = LATENT_STEPS  # official
    latent_lr: float = LATENT_LR  # official (Adam, ramped)
    latent_space: str = "w"  # "w" (official) or "w+" (one w per layer)
    tune_steps: int = TUNE_STEPS  # official
    tune_lr: float = 3e-4  # PTI (Roich et al. 2022)
    # Locality regulariser (PTI Sec. 3.3): latents at this distance from the pivot, towards a random
    # w, in units of the spread of W (the RMS distance of a random w from the mean w). PTI's alpha = 30
    # is in the absolute units of FFHQ's W; a relative unit transfers between generators of any size.
    locality_distance: float = 1.0
    # The weight is the official code's number, but here it multiplies an MSE in log2 radiance
    # (PTI's and GlowGAN's compare images with L2 + LPIPS), so its strength is not theirs.
    locality_weight: float = 10.0
    pixel_weight: float = 1.0  # MSE on the LDR rendering (codes in [0, 1]), beside the perceptual loss
    # The pixel weight of pivotal tuning (step 3). None: the official balance, an MSE of codes on 0-255
    # (PIXEL_WEIGHT_0_255) beside a perceptual loss (at 64x128 with LPIPS: +0.4 dB PU21 clipped over
    # weight 1, docs/itm/README.md), and ``pixel_weight`` with the pixel loss alone (measured at 32x64,
    # against the locality regulariser's weight).
    tune_pixel_weight: float | None = None
    # Weight of the hinge that asks the photo's clipped region for the generator's typical level above
    # the clip (glowgan.itm_levels); 0 turns it off.
    clip_level_weight: float = CLIP_LEVEL_WEIGHT
    estimate_crf: bool = True  # ours; the official code fixes gamma 0.9, beta 0.6
    # The curve family fitted to the photo (glowgan.crf): None takes the model prior's family (with a
    # mixture prior, each of its families is fitted and the best fit kept: K times the latent steps);
    # "pca" fits the data-driven family that spans sRGB, filmic, gamma and GlowGAN curves.
    crf: str | None = None
    # Weight of the Gaussian log-prior of gamma and beta: how far one photo may pull the CRF from the
    # prior. Chosen on held-out validation photos (a synthesis run with seed 4242, not the benchmark scenes), where
    # weaker priors let the CRF absorb what the latent cannot fit (1e-5: -2.4 dB PU21 on average
    # against a fixed CRF; 1e-3: -0.25 dB; 1e-2: -0.15 dB; docs/itm/README.md).
    crf_prior_weight: float = 1e-2
    # "auto": LPIPS (if its weights are installed, else the MS-SSIM fallback) for generators of at least
    # itm_losses.AUTO_LPIPS_MIN_SIZE pixels, the pixel loss alone for smaller ones; or "lpips", "msssim",
    # "pixel".
    perceptual: str = "auto"
    fit: str = "stretch"  # how a photo of another aspect ratio meets the generator: "stretch" or "crop"
    # Whether the photo's left and right edges are neighbours (a 360-degree panorama): True, False, or
    # None to decide from the photo (itm_photo.photo_wraps). Without it, a panorama model's wrap-around
    # convolutions are turned off for this photo and its content is upsampled without wrapping.
    wrap: bool | None = None
    # The colour of the fill in the clipped regions (itm_photo.FILL_COLOURS): the generator's own, the
    # photo's, or that of the photo's unclipped surround (itm_photo.blend).
    fill: str = FILL_COLOURS[0]
    seed: int = 0  # latent noise and regulariser latents

    def __post_init__(self) -> None:
        for name in ("latent_steps", "tune_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("latent_lr", "tune_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        for name in ("locality_distance", "locality_weight", "pixel_weight", "crf_prior_weight", "clip_level_weight"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.tune_pixel_weight is not None and not (math.isfinite(self.tune_pixel_weight) and self.tune_pixel_weight >= 0):
            raise ValueError(f"tune_pixel_weight must be None or a finite number >= 0, got {self.tune_pixel_weight}")
        if self.latent_space not in LATENT_SPACES:
            raise ValueError(f"latent_space must be one of {LATENT_SPACES}, got {self.latent_space!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}")
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_KINDS}, got {self.perceptual!r}")
        if self.fill not in FILL_COLOURS:
            raise ValueError(f"fill must be one of {FILL_COLOURS}, got {self.fill!r}")
        if self.crf is not None and self.crf not in cam.CRF_FAMILIES:
            raise ValueError(f"crf must be one of {', '.join(cam.CRF_FAMILIES)} or None, got {self.crf!r}")


@dataclass
class InitialGuess:
    """A starting point for step 2 (e.g. from ``glowgan.encoder``): ``w`` [w_dim] and a camera."""

    w: torch.Tensor  # [w_dim] or [num_ws, w_dim]
    # One camera; its curve is used when it is of the fitted family. None: the default start's camera
    # (the prior's mean curve at the exposure that matches the photo's median at this w).
    camera: cam.CameraParams | None = None


@dataclass
class InversionResult:
    hdr: np.ndarray  # [H, W, 3] at the photo's resolution, linear, 1.0 = the photo's clip level
    mask: np.ndarray  # [H, W] in [0, 1]: 1 where the generator's content was used
    generator_hdr: np.ndarray  # [h, w, 3] the tuned generator's image, same scale, its own resolution
    camera: cam.CameraParams  # the camera found for the photo (one image)
    perceptual: str  # the perceptual loss that was used
    latent_losses: list[float] = field(default_factory=list)
    tune_losses: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    crop: dict[str, int] | None = None  # {"top", "left", "height", "width"} of the photo used, fit="crop"
    wrap: bool = False  # the photo's left and right edges were treated as neighbours
    # the level (stops above the clip) asked of the clipped region (glowgan.itm_levels); None: not asked
    clip_target_stops: float | None = None
    batch_size: int = 1  # photos inverted side by side with it (glowgan.invert.invert_photos); seconds are its share


def tune_pixel_weight(options: InversionOptions, perceptual: str) -> float:
    """The pixel weight of pivotal tuning for ``options`` when its perceptual loss is ``perceptual``
    (``ImageLoss.name``: "pixel", "lpips" or "msssim")."""
    if options.tune_pixel_weight is not None:
        return options.tune_pixel_weight
    return options.pixel_weight if perceptual == "pixel" else PIXEL_WEIGHT_0_255


def check_generator(generator: Generator, config: Config) -> None:
    """Inverse tone mapping needs an HDR generator: refuse a vanilla (camera-off) model clearly."""
    if not config.camera.enabled or generator.output != "hdr":
        raise ValueError(
            "this checkpoint is a plain LDR GAN (trained with --camera off); inverse tone mapping needs a "
            "GlowGAN checkpoint trained with the camera on"
        )


def clip_levels_for(generator: Generator, config: Config, options: InversionOptions) -> ClipLevels | None:
    """The generator's clip levels if ``options`` ask the clipped region for them (measure once, pass to
    every :func:`invert_photo` of a batch), else None."""
    return ClipLevels.measure(generator, config, white=ITM_WHITE) if options.clip_level_weight > 0 else None


def w_spread(generator: Generator, *, generator_seed: int = 0) -> float:
    """RMS distance of a random w from the mean w (the StyleGAN2 projector's ``w_std``)."""
    device = generator.mapping.w_avg.device
    rng = torch.Generator(device="cpu").manual_seed(generator_seed)
    z = torch.randn(W_SPREAD_SAMPLES, generator.z_dim, generator=rng).to(device)
    with torch.no_grad():
        w = generator.mapping(z)[:, 0]  # [S, w_dim]
    return float((w - generator.mapping.w_avg).square().sum(dim=1).mean().sqrt())


def ramped_lr(base: float, progress: float) -> float:
    """The projector's learning-rate schedule at ``progress`` in [0, 1] (see LR_RAMP_UP/DOWN)."""
    ramp_down = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1.0 - progress) / LR_RAMP_DOWN))
    return base * ramp_down * min(1.0, progress / LR_RAMP_UP)


def initial_exposure_stops(target_ldr: torch.Tensor, hdr: torch.Tensor, params: cam.CameraParams) -> float:
    """Exposure that matches the median of ``hdr`` to the median of the linearised unclipped photo."""
    linear = cam.crf_inverse(target_ldr, params)  # exposed scale, 1 = clip
    usable = (saturation_mask(target_ldr) == 0) & (target_ldr.amax(dim=1, keepdim=True) > 0)
    if usable.sum() < 4:
        return 0.0
    photo_median = linear.mean(dim=1, keepdim=True)[usable].median()
    hdr_median = hdr.mean(dim=1, keepdim=True)[usable].median()
    return float(torch.log2(photo_median.clamp_min(1e-8) / hdr_median.clamp_min(1e-8)))


class _CameraFit(torch.nn.Module):
    """The camera being estimated: exposure (stops) and, when the CRF is estimated, the curve's parameters
    in its family: gamma and beta (``glowgan``), the display gamma (``gamma``, ``filmic``), or the
    coefficients (``pca``), for n photos at once. ``prior`` is a single-family prior; ``start`` n cameras of its
    family."""

    def __init__(self, prior: cam.CameraPrior, start: cam.CameraParams, estimate_crf: bool):
        super().__init__()
        self.prior = prior
        family = prior.crf

        def parameter(value: torch.Tensor, fitted: bool) -> torch.nn.Parameter:
            return torch.nn.Parameter(value.detach().clone().float(), requires_grad=estimate_crf and fitted)

        self.exposure_stops = torch.nn.Parameter(start.exposure_stops.detach().clone().float())
        self.gamma = parameter(start.gamma, family in ("glowgan", "gamma", "filmic"))
        self.beta = parameter(start.beta, family == "glowgan")
        self.coeffs = parameter(start.coeffs, True) if family == "pca" else None
        # the log-prior of the pca coefficients is centred on the start (the model's curve, projected)
        self.register_buffer("coeffs_centre", start.coeffs.detach().clone().float() if family == "pca" else None)

    def params(self) -> cam.CameraParams:
        return cam.CameraParams(
            exposure_stops=self.exposure_stops, crf=self.prior.crf, gamma=self.gamma, beta=self.beta, coeffs=self.coeffs
        )

    def log_prior(self) -> torch.Tensor:
        """Negative Gaussian log-prior of the estimated CRF parameters (constant when fixed)."""
        penalty = self.exposure_stops.new_zeros(())
        for name in ("gamma", "beta"):
            value, std = getattr(self, name), getattr(self.prior, f"{name}_std")
            if value.requires_grad and std > 0:
                penalty = penalty + ((value - getattr(self.prior, f"{name}_mean")) / std).square().sum() / 2
        if self.coeffs is not None and self.coeffs.requires_grad:
            spread = curves.pca_basis()[2].to(self.coeffs.device) * max(self.prior.pca_spread, 1e-3)
            penalty = penalty + ((self.coeffs - self.coeffs_centre) / spread).square().sum() / 2
        return penalty

    @torch.no_grad()
    def clamp_(self) -> None:
        clamped = self.prior.clamp(self.params().detach())
        self.gamma.copy_(clamped.gamma)
        self.beta.copy_(clamped.beta)
        if self.coeffs is not None:
            self.coeffs.copy_(clamped.coeffs)


def _without_wrap(generator: Generator) -> Generator:
    """``generator`` (in place) with its wrap-around convolutions and upsampling turned off: zero padding at
    the left and right edges, as for an ordinary photo."""
    for module in generator.modules():
        if hasattr(module, "circular"):
            module.circular = False
    return generator


def invert_photo(
    generator: Generator,
    config: Config,
    photo_ldr: np.ndarray,
    *,
    options: InversionOptions = InversionOptions(),
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | None = None,
    perceptual: torch.nn.Module | None = None,
    clip_levels: ClipLevels | None = None,
    progress: bool = True,
) -> InversionResult:
    """Turn one LDR photo ``[H, W, 3]`` in [0, 1] into linear HDR at its own resolution (see module doc).

    ``generator`` is left unchanged (pivotal tuning works on a copy). ``initial`` replaces the default
    start (mean w, prior-mean CRF, median-matched exposure): a guess, or a function of the target
    (the photo on the generator's grid after step 1, [1, 3, h, w]) that makes one, such as
    ``glowgan.encoder.guesser``. ``perceptual``: the network of
    :func:`glowgan.itm_losses.perceptual_network`, loaded once for many photos (otherwise it is loaded
    here when ``options.perceptual`` needs it). ``clip_levels``: the generator's
    :class:`glowgan.itm_levels.ClipLevels`, measured once for many photos (otherwise measured here when
    ``options.clip_level_weight`` asks for them). Several photos at once: :func:`invert_photos`.
    """
    return invert_photos(
        generator,
        config,
        [photo_ldr],
        options=options,
        initial=[initial],
        perceptual=perceptual,
        clip_levels=clip_levels,
        progress=progress,
    )[0]


@dataclass
class _Target:
    """Step 1 of one photo: the photo, its target on the generator's grid and what it asks of steps 2-3."""

    photo: torch.Tensor  # [1, 3, H, W] ldr, the photo as used (cropped with fit="crop")
    crop: dict[str, int] | None
    target_ldr: torch.Tensor  # [1, 3, h, w]
    wrap: bool
    initial: InitialGuess | None
    clip_target: float | None  # stops above the clip that the clipped region is asked for, or None
    seed: int


def invert_photos(
    generator: Generator,
    config: Config,
    photos_ldr: Sequence[np.ndarray],
    *,
    options: InversionOptions = InversionOptions(),
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | list | tuple | None = None,
    seeds: Sequence[int] | None = None,
    perceptual: torch.nn.Module | None = None,
    clip_levels: ClipLevels | None = None,
    progress: bool = True,
) -> list[InversionResult]:
    """:func:`invert_photo` for several photos at once, one result each, in order.

    The photos' optimisations run side by side as one batch: each has its own latent, camera, tuned
    generator weights (pivotal tuning through ``torch.func.vmap``) and random stream, and its losses are
    summed, so each photo's result is the one :func:`invert_photo` gives it alone, up to float rounding,
    in less time per photo (a step at a batch of one is bound by per-operation overhead). Photos of any
    sizes mix; those whose edges wrap and those whose do not run as two batches. ``initial``: one start
    for all photos, or one per photo. ``seeds``: each photo's ``options.seed`` (default: that seed for
    all; e.g. several inversions of one photo, :mod:`glowgan.itm_samples`). ``seconds`` in each result
    are its share of the batch's. Choices made by comparing losses (the curve family of a mixture prior)
    can fall the other way on a near-tie, since the losses agree only up to rounding.
    """
    check_generator(generator, config)
    count = len(photos_ldr)
    initials = list(initial) if isinstance(initial, (list, tuple)) else [initial] * count
    seeds = [options.seed] * count if seeds is None else [int(seed) for seed in seeds]
    if len(initials) != count or len(seeds) != count:
        raise ValueError(f"{count} photos need {count} initial guesses and seeds, got {len(initials)} and {len(seeds)}")
    if count == 0:
        return []
    device = generator.mapping.w_avg.device
    started = time.perf_counter()
    targets = []
    prepared: dict[int, tuple] = {}  # by id: a photo given several times (its samples) is prepared once
    for photo_ldr, guess, seed in zip(photos_ldr, initials, seeds):
        if id(photo_ldr) not in prepared:
            # 1. Target: the photo on the generator's grid; saturation is judged at full resolution later.
            photo = photo_tensor(photo_ldr).to(device)  # [1, 3, H, W] ldr
            photo, crop = fit_photo(photo, generator.img_resolution, options.fit)
            target_ldr = downsample(photo, generator.img_resolution)  # [1, 3, h, w]
            clip_target = None
            # on the photo itself: resampling to the generator's grid leaves clipped pixels a rounding below 1
            white = saturation_mask(photo, white=ITM_WHITE) if options.clip_level_weight > 0 else None
            if white is not None and bool((white >= 1).any()):
                clip_levels = clip_levels if clip_levels is not None else clip_levels_for(generator, config, options)
                # the soft mask's share: a JPEG leaves a clipped sun's pixels a few codes short of 255 in some
                # channel, and counting exact 255s there found a fifth of the share a PNG of the photo shows
                clip_target = clip_levels.target(float(white.mean()))
            prepared[id(photo_ldr)] = (photo, crop, target_ldr, clip_target, photo_wraps(photo, config, options.wrap))
        photo, crop, target_ldr, clip_target, wrap = prepared[id(photo_ldr)]
        guess = guess(target_ldr) if callable(guess) else guess
        targets.append(_Target(photo, crop, target_ldr, wrap, guess, clip_target, seed))
    step1 = (time.perf_counter() - started) / count
    if perceptual is None:
        perceptual = perceptual_network(options.perceptual, generator)
    results: list[InversionResult | None] = [None] * count
    for wrap in (True, False):
        members = [index for index, target in enumerate(targets) if target.wrap == wrap]
        if members:
            found = _invert_batch(generator, config, [targets[i] for i in members], options, perceptual, progress)
            for index, result in zip(members, found):
                result.seconds["latent"] += step1
                results[index] = result
    return results


def _invert_batch(
    generator: Generator,
    config: Config,
    targets: list[_Target],
    options: InversionOptions,
    perceptual: torch.nn.Module | None,
    progress: bool,
) -> list[InversionResult]:
    """Steps 2-4 for photos that share whether their edges wrap."""
    count = len(targets)
    started = time.perf_counter()
    target_ldr = torch.cat([target.target_ldr for target in targets])  # [n, 3, h, w]
    loss_fn = ImageLoss(options.perceptual, options.pixel_weight, target_ldr, network=perceptual)
    # 2. Latent and camera, on a frozen copy of the generator (wrapping as these photos do), which pivotal
    # tuning leaves unchanged (it tunes copies of its weights) and so also serves as the regulariser's reference.
    model = copy.deepcopy(generator).eval().requires_grad_(False)
    if config.model.circular and not targets[0].wrap:
        model = _without_wrap(model)
    spread_of = {seed: w_spread(model, generator_seed=seed) for seed in {target.seed for target in targets}}
    spreads = torch.tensor([spread_of[target.seed] for target in targets], device=target_ldr.device)
    clip_targets = torch.tensor(
        [-math.inf if target.clip_target is None else target.clip_target for target in targets], device=target_ldr.device
    )
    mixture = config.camera.prior.mixture
    families = [options.crf] if options.crf is not None or len(mixture) == 1 else [name for name, _ in mixture]
    fits = []
    for family in families:  # with a mixture prior, each of its families; each photo keeps its best fit
        rngs = [torch.Generator(device="cpu").manual_seed(target.seed) for target in targets]
        ws, camera_fit, losses = _fit_latent_and_camera(
            model,
            config,
            family=family,
            target_ldr=target_ldr,
            loss_fn=loss_fn,
            options=options,
            initials=[target.initial for target in targets],
            spreads=spreads,
            rngs=rngs,
            clip_targets=clip_targets,
            progress=progress,
        )
        fits.append((ws, camera_fit.params().detach(), losses, rngs))
    best = [min(range(len(fits)), key=lambda f: final_loss(fits[f][2][i])) for i in range(count)]
    ws_pivot = torch.cat([fits[f][0][i : i + 1] for i, f in enumerate(best)])  # [n, num_ws, w_dim]
    params = cam.CameraParams.cat([fits[f][1][i] for i, f in enumerate(best)])
    latent_losses = [fits[f][2][i] for i, f in enumerate(best)]
    rngs = [fits[f][3][i] for i, f in enumerate(best)]
    latent_seconds = time.perf_counter() - started
    # 3. Pivotal tuning.
    started = time.perf_counter()
    tune_losses, weights = _pivotal_tuning(
        model,
        ws_pivot=ws_pivot,
        params=params,
        target_ldr=target_ldr,
        loss_fn=loss_fn.reweighted(tune_pixel_weight(options, loss_fn.name)),
        options=options,
        spreads=spreads,
        rngs=rngs,
        progress=progress,
    )
    with torch.no_grad():
        generator_hdr = tuned_synthesis(model.synthesis, weights)(ws_pivot[:, None])[:, 0].float()  # [n, 3, h, w]
    tune_seconds = time.perf_counter() - started
    # 4. Blend at each photo's resolution.
    results = []
    for index, target in enumerate(targets):
        started = time.perf_counter()
        with torch.no_grad():
            camera = params[index]
            exposed = generator_hdr[index : index + 1] * cam.exposure_gain(camera, target.target_ldr)
            hdr, mask = blend(target.photo, exposed, camera, circular=target.wrap, fill=options.fill)
        seconds = {"latent": latent_seconds / count, "tune": tune_seconds / count, "blend": time.perf_counter() - started}
        results.append(
            InversionResult(
                hdr=hdr[0].permute(1, 2, 0).cpu().numpy(),
                mask=mask[0, 0].cpu().numpy(),
                generator_hdr=exposed[0].permute(1, 2, 0).cpu().numpy(),
                camera=camera.to("cpu"),
                perceptual=loss_fn.name,
                latent_losses=latent_losses[index],
                tune_losses=tune_losses[index],
                seconds=seconds,
                crop=target.crop,
                wrap=target.wrap,
                clip_target_stops=target.clip_target,
                batch_size=count,
            )
        )
    return results


def final_loss(losses: list[float]) -> float:
    """How well a fit ended: the mean of its last FINAL_LOSS_STEPS image losses (0 for a fit without steps)."""
    return float(np.mean(losses[-FINAL_LOSS_STEPS:])) if losses else 0.0


def _fit_latent_and_camera(
    generator: Generator,
    config: Config,
    *,
    family: str | None,
    target_ldr: torch.Tensor,  # [n, 3, h, w]
    loss_fn: ImageLoss,
    options: InversionOptions,
    initials: list[InitialGuess | None],
    spreads: torch.Tensor,  # [n]
    rngs: list[torch.Generator],
    clip_targets: torch.Tensor,  # [n], -inf where none is asked
    progress: bool,
) -> tuple[torch.Tensor, _CameraFit, list[list[float]]]:
    """Step 2 for n photos side by side: optimise each one's w (or W+) and camera with a curve of
    ``family`` (None: the prior's most probable); returns the pivots ws [n, num_ws, w_dim], the camera
    fit (n cameras) and each photo's image losses."""
    starts = [_start(generator, config, family, target_ldr[i : i + 1], initial, options) for i, initial in enumerate(initials)]
    w = torch.nn.Parameter(torch.stack([w_start for w_start, _ in starts]))  # [n, layers, w_dim]
    prior = config.camera.prior.component(family)  # the family fitted, with its prior
    camera_fit = _CameraFit(prior, cam.CameraParams.cat([camera for _, camera in starts]), options.estimate_crf)
    camera_fit = camera_fit.to(target_ldr.device)
    optimizer = torch.optim.Adam([w, *(p for p in camera_fit.parameters() if p.requires_grad)], lr=options.latent_lr)
    clipped = saturation_mask(target_ldr, white=ITM_WHITE)  # the region the clip-level term asks
    asks_level = bool(torch.isfinite(clip_targets).any())
    losses: list[list[float]] = [[] for _ in rngs]
    for step in tqdm(range(options.latent_steps), desc="latent", unit="step", disable=not progress, leave=False):
        t = step / max(options.latent_steps, 1)
        for group in optimizer.param_groups:
            group["lr"] = ramped_lr(options.latent_lr, t)
        noise_scale = spreads * LATENT_NOISE_START * max(0.0, 1.0 - t / LATENT_NOISE_END) ** 2
        noise = torch.cat([torch.randn((1, *w.shape[1:]), generator=rng) for rng in rngs]).to(w.device)
        ws = (w + noise * noise_scale[:, None, None]).expand(-1, generator.num_ws, -1)
        hdr = generator.synthesis(ws, noise_mode="const").float()
        params = camera_fit.params()
        image_losses = loss_fn(cam.render(hdr, params))  # [n]
        # each photo's loss depends on its own latent and camera alone: the sum gives each its own gradient
        loss = image_losses.sum() + options.crf_prior_weight * camera_fit.log_prior()
        if asks_level:
            exposed = hdr * cam.exposure_gain(params, hdr)
            loss = loss + options.clip_level_weight * clip_level_loss(exposed, clipped, clip_targets).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        camera_fit.clamp_()
        for photo_losses, value in zip(losses, image_losses.detach().tolist()):
            photo_losses.append(value)
    return w.detach().expand(-1, generator.num_ws, -1).clone(), camera_fit, losses


def _start(
    generator: Generator,
    config: Config,
    family: str | None,
    target_ldr: torch.Tensor,  # [1, 3, h, w]
    initial: InitialGuess | None,
    options: InversionOptions,
) -> tuple[torch.Tensor, cam.CameraParams]:
    """Where step 2 starts for one photo: w [layers, w_dim] and one camera of ``family``."""
    prior = config.camera.prior.component(family)
    start = prior.mean(1, device=target_ldr.device)
    if prior.crf == "pca" and config.camera.prior.component().crf != "pca":
        # the data-driven family starts from (and is kept near) the curve the model was trained with
        start = cam.to_pca(config.camera.prior.mean(1, device=target_ldr.device))
    if initial is None:
        w_start = generator.mapping.w_avg.detach().clone()
    elif initial.w.shape[-1] != generator.w_dim or initial.w.ndim not in (1, 2):
        raise ValueError(f"the initial w has shape {tuple(initial.w.shape)}; this generator needs [{generator.w_dim}]")
    else:
        w_start = initial.w.detach().to(target_ldr.device)
    if initial is None or initial.camera is None:
        with torch.no_grad():
            hdr = generator.synthesis(w_start.expand(1, generator.num_ws, -1), noise_mode="const").float()
        start = start.shifted(initial_exposure_stops(target_ldr, hdr, start))
    else:
        guess = initial.camera.to(target_ldr.device)
        # a fixed CRF stays at the prior's mean (the official recipe), as does a guess of another family
        start = guess if options.estimate_crf and guess.crf == prior.crf else start.shifted(guess.exposure_stops - start.exposure_stops)
    if w_start.ndim == 1:
        w_start = w_start[None]
    layers = generator.num_ws if options.latent_space == "w+" else 1
    if w_start.shape[0] not in (1, layers):
        w_start = w_start.mean(dim=0, keepdim=True)
    # the fit renders without quantisation or noise: starts from a guess and from the prior then concatenate
    start = dataclasses.replace(start, quantize_bits=None, read_noise=0.0, shot_noise=0.0)
    return w_start.expand(layers, -1).clone(), start


def _pivotal_tuning(
    original: Generator,
    *,
    ws_pivot: torch.Tensor,  # [n, num_ws, w_dim]
    params: cam.CameraParams,  # n cameras
    target_ldr: torch.Tensor,  # [n, 3, h, w]
    loss_fn: ImageLoss,
    options: InversionOptions,
    spreads: torch.Tensor,  # [n]
    rngs: list[torch.Generator],
    progress: bool,
) -> tuple[list[list[float]], dict[str, torch.Tensor]]:
    """Step 3: fine-tune a copy of ``original.synthesis``'s weights per photo so that its pivot reproduces it
    (PTI); returns each photo's image losses and the tuned weights, stacked [n, ...] (run them with
    :func:`tuned_synthesis`).

    The n weight sets run through ``torch.func.vmap`` in one pass; Adam, elementwise, updates each as
    it would alone. With the locality regulariser, each step passes the pivot and that step's
    regulariser latent through each tuned generator as one batch of two, and the original generator's
    reference images are made ahead, LOCALITY_CHUNK steps at a time, in one batched pass (at a batch of
    one a step is bound by per-operation overhead, so both save most of a pass).
    """
    count = ws_pivot.shape[0]
    synthesis = original.synthesis  # left unchanged: the regulariser's reference
    weights = {
        name: p.detach().expand(count, *p.shape).clone() for name, p in synthesis.named_parameters() if p.is_floating_point()
    }
    losses: list[list[float]] = [[] for _ in range(count)]
    if options.tune_steps == 0:
        return losses, weights
    for p in weights.values():
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(list(weights.values()), lr=options.tune_lr)
    synthesise = tuned_synthesis(synthesis, weights)
    targets = None
    if options.locality_weight > 0:
        streams = [
            _locality_targets(original, ws_pivot[i : i + 1], float(spreads[i]), options, rng, steps=options.tune_steps)
            for i, rng in enumerate(rngs)
        ]
        targets = zip(*streams)
    for _ in tqdm(range(options.tune_steps), desc="tuning", unit="step", disable=not progress, leave=False):
        if targets is None:
            hdr = synthesise(ws_pivot[:, None]).float()
        else:
            ws_r, reference_log2 = (torch.stack(parts) for parts in zip(*next(targets)))  # [n, 1, ...]
            hdr = synthesise(torch.cat([ws_pivot[:, None], ws_r], dim=1)).float()
        image_losses = loss_fn(cam.render(hdr[:, 0], params))  # [n]
        loss = image_losses.sum()
        if targets is not None:
            tuned_log2 = torch.log2(hdr[:, 1:].clamp_min(LOG_HDR_FLOOR))
            loss = loss + options.locality_weight * (tuned_log2 - reference_log2).square().flatten(1).mean(dim=1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for photo_losses, value in zip(losses, image_losses.detach().tolist()):
            photo_losses.append(value)
    return losses, {name: p.detach() for name, p in weights.items()}


def tuned_synthesis(synthesis: torch.nn.Module, weights: dict[str, torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``synthesis`` run with n stacked weight sets (:func:`_pivotal_tuning`), each on its own latents:
    ws [n, b, num_ws, w_dim] -> hdr [n, b, 3, h, w]."""

    def one_photo(photo_weights: dict[str, torch.Tensor], ws: torch.Tensor) -> torch.Tensor:
        return functional_call(synthesis, photo_weights, (ws,), {"noise_mode": "const"})

    return functools.partial(vmap(one_photo), weights)


def _locality_targets(
    original: Generator,
    ws_pivot: torch.Tensor,
    spread: float,
    options: InversionOptions,
    rng: torch.Generator,
    *,
    steps: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """PTI's locality regulariser for one photo, one target per step: a latent ``w_r`` and the original
    generator's log2 radiance there (Roich et al. 2022, Eq. 4: ``w_r = w_p + alpha (w_z - w_p) / ||w_z - w_p||``;
    they compare images, here in log2 radiance). Made LOCALITY_CHUNK at a time, without gradients."""
    for first in range(0, steps, LOCALITY_CHUNK):
        count = min(LOCALITY_CHUNK, steps - first)
        z = torch.randn(count, original.z_dim, generator=rng).to(ws_pivot.device)
        with torch.no_grad():
            w_z = original.mapping(z)[:, :1]  # [count, 1, w_dim]
            direction = w_z - ws_pivot.mean(dim=1, keepdim=True)
            norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None]
            ws_r = ws_pivot + options.locality_distance * spread * direction / norm  # [count, num_ws, w_dim]
            reference = original.synthesis(ws_r, noise_mode="const").float()
            reference_log2 = torch.log2(reference.clamp_min(LOG_HDR_FLOOR))
        for k in range(count):
            yield ws_r[k : k + 1], reference_log2[k : k + 1]
