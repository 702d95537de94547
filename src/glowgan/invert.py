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
   documented fallback; for generators under 64 pixels the pixel loss alone, which measured better) plus
   a pixel loss, Adam with a ramped learning rate and decaying latent noise
   (the StyleGAN2 projector's schedule, Karras et al. 2020, Sec. 5 and Appendix D), 1000 steps at lr 0.1
   by default (official). The CRF is kept near the camera prior by a Gaussian log-prior term.
3. **Pivotal tuning** (Roich et al. 2022, PTI): the generator's synthesis weights are fine-tuned for
   350 steps (official) so that the pivot ``w`` reproduces the photo exactly, with a locality
   regulariser that keeps the generator's output unchanged for latents at a fixed distance from the
   pivot towards random latents.
4. **Blend**, at the photo's own resolution: a soft mask from the photo's saturated pixels
   (official: ``m = clip((max_c I - 0.97) / 0.03, 0, 1)``) takes the generator's HDR there, exposed by
   the found exposure and upsampled (bilinear in log radiance), and the photo linearised by the found
   inverse CRF everywhere else: ``out = m * max(gain * H, f^-1(I)) + (1 - m) * f^-1(I)``. The ``max``
   (ours) keeps a clipped pixel at least as bright as the clip level it was recorded at.

Units of the result: the photo's linear scale, where 1.0 is the level at which the photo clips.

A fast mode (``glowgan.encoder``) replaces the start of step 2 with an encoder's prediction of the
latent and camera, after which a few optimisation steps suffice.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from glowgan import camera as cam
from glowgan import crf as curves
from glowgan import tonemap
from glowgan.config import Config
from glowgan.envmap import SEAM_THRESHOLD, seam_score
from glowgan.itm_defaults import LATENT_LR, LATENT_STEPS, TUNE_STEPS
from glowgan.models.generator import Generator
from glowgan.perceptual import perceptual_loss

log = logging.getLogger(__name__)

LATENT_SPACES = ("w", "w+")
FITS = ("stretch", "crop")
PERCEPTUAL_KINDS = ("auto", "lpips", "msssim", "pixel")

# official GlowGAN code: m = clip((max_c I - 0.97) / 0.03, 0, 1); the ramp ends at the clip level 1.
MASK_THRESHOLD = 0.97
# StyleGAN2 projector schedule (Karras et al. 2020, Appendix D): lr ramps up over the first 5 % and
# down (cosine) over the last 25 % of the steps; latent noise starts at 5 % of the spread of W and
# decays quadratically to 0 at 75 % of the steps.
LR_RAMP_UP = 0.05
LR_RAMP_DOWN = 0.25
LATENT_NOISE_START = 0.05
LATENT_NOISE_END = 0.75
# Photos whose aspect ratio differs from the generator's by more than this are worth a warning.
ASPECT_TOLERANCE = 0.05
# The preview sheet's longest side at most (pixels): a screen's width. A 2560x1600 photo gave a
# 10246x1600 sheet (15 MB) before; now 2046x319.
PREVIEW_MAX_SIDE = 2048
# Latents drawn to measure the spread of W (used to scale latent noise and the locality distance).
W_SPREAD_SAMPLES = 2000
# Radiance floor before log2 in the locality regulariser: a relu generator outputs exact zeros.
LOG_HDR_FLOOR = 2.0**-24
# The smallest image LPIPS-VGG16 takes (glowgan.perceptual.MIN_SIZE).
LPIPS_MIN_SIZE = 16
# perceptual="auto" uses LPIPS only for generators at least this size (shorter side). Measured at 32x64
# (docs/itm/README.md): 300 + 100 steps with the pixel loss alone gained 1.1 dB PU21 on clipped regions
# over the trivial baseline, with LPIPS-VGG16 they lost 0.3 dB, and took 4x longer; VGG features of a
# 32-pixel image are a few pixels wide.
AUTO_LPIPS_MIN_SIZE = 64


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
    pixel_weight: float = 1.0  # MSE on the LDR rendering, beside the perceptual loss
    estimate_crf: bool = True  # ours; the official code fixes gamma 0.9, beta 0.6
    # The curve family fitted to the photo (glowgan.crf): None takes the model prior's (most probable)
    # family; "pca" fits the data-driven family that spans sRGB, filmic, gamma and GlowGAN curves.
    crf: str | None = None
    # Weight of the Gaussian log-prior of gamma and beta: how far one photo may pull the CRF from the
    # prior. Chosen on held-out validation photos (a synthesis run with seed 4242, not the benchmark scenes), where
    # weaker priors let the CRF absorb what the latent cannot fit (1e-5: -2.4 dB PU21 on average
    # against a fixed CRF; 1e-3: -0.25 dB; 1e-2: -0.15 dB; docs/itm/README.md).
    crf_prior_weight: float = 1e-2
    # "auto": LPIPS (if its weights are installed, else the MS-SSIM fallback) for generators of at least
    # AUTO_LPIPS_MIN_SIZE pixels, the pixel loss alone for smaller ones; or "lpips", "msssim", "pixel".
    perceptual: str = "auto"
    fit: str = "stretch"  # how a photo of another aspect ratio meets the generator: "stretch" or "crop"
    # Whether the photo's left and right edges are neighbours (a 360-degree panorama): True, False, or
    # None to decide from the photo (photo_wraps). Without it, a panorama model's wrap-around
    # convolutions are turned off for this photo and its content is upsampled without wrapping.
    wrap: bool | None = None
    seed: int = 0  # latent noise and regulariser latents

    def __post_init__(self) -> None:
        for name in ("latent_steps", "tune_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("latent_lr", "tune_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        for name in ("locality_distance", "locality_weight", "pixel_weight", "crf_prior_weight"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.latent_space not in LATENT_SPACES:
            raise ValueError(f"latent_space must be one of {LATENT_SPACES}, got {self.latent_space!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}")
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_KINDS}, got {self.perceptual!r}")
        if self.crf is not None and self.crf not in cam.CRF_FAMILIES:
            raise ValueError(f"crf must be one of {', '.join(cam.CRF_FAMILIES)} or None, got {self.crf!r}")




@dataclass
class InitialGuess:
    """A starting point for step 2 (e.g. from ``glowgan.encoder``): ``w`` [w_dim] and a camera."""

    w: torch.Tensor  # [w_dim] or [num_ws, w_dim]
    camera: cam.CameraParams  # one camera; its curve is used when it is of the fitted family


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


def saturation_mask(ldr: torch.Tensor) -> torch.Tensor:
    """Soft mask of saturated pixels [N, 1, H, W] from ``ldr`` [N, 3, H, W] (official GlowGAN blend).

    The ramp's width is computed in the image's own precision, so a clipped pixel gets exactly 1.
    """
    ramp = torch.ones((), dtype=ldr.dtype, device=ldr.device) - MASK_THRESHOLD
    return ((ldr.amax(dim=1, keepdim=True) - MASK_THRESHOLD) / ramp).clamp(0.0, 1.0)


def resize_bilinear(image: torch.Tensor, size: tuple[int, int], *, circular: bool = False) -> torch.Tensor:
    """Bilinear resampling of [N, C, H, W] to ``size`` with pixel centres aligned (align_corners=False).

    With ``circular=True`` the horizontal axis wraps (equirectangular panoramas), so the seam is
    interpolated across rather than clamped. Used to upsample; see :func:`downsample` for the other way.
    """
    out_h, out_w = size
    rows = _axis_weights(image.shape[2], out_h, wrap=False, device=image.device)
    cols = _axis_weights(image.shape[3], out_w, wrap=circular, device=image.device)
    top = image.index_select(2, rows[0]) * (1 - rows[2]).view(1, 1, -1, 1)
    image = top + image.index_select(2, rows[1]) * rows[2].view(1, 1, -1, 1)
    left = image.index_select(3, cols[0]) * (1 - cols[2]).view(1, 1, 1, -1)
    return left + image.index_select(3, cols[1]) * cols[2].view(1, 1, 1, -1)


def _axis_weights(size_in: int, size_out: int, *, wrap: bool, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Indices of the two source samples and the weight of the second, for each output position."""
    position = (torch.arange(size_out, device=device, dtype=torch.float64) + 0.5) * size_in / size_out - 0.5
    low = torch.floor(position)
    weight = (position - low).float()
    low = low.long()
    high = low + 1
    if wrap:
        low, high = low % size_in, high % size_in
    else:
        low, high = low.clamp(0, size_in - 1), high.clamp(0, size_in - 1)
    return low, high, weight


def downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased resampling of [N, C, H, W] to a smaller (or equal) ``size``."""
    if tuple(image.shape[2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def check_generator(generator: Generator, config: Config) -> None:
    """Inverse tone mapping needs an HDR generator: refuse a vanilla (camera-off) model clearly."""
    if not config.camera.enabled or generator.output != "hdr":
        raise ValueError(
            "this checkpoint is a plain LDR GAN (trained with --camera off); inverse tone mapping needs a "
            "GlowGAN checkpoint trained with the camera on"
        )


def photo_tensor(photo_ldr: np.ndarray, *, name: str = "photo") -> torch.Tensor:
    """[H, W, 3] (or [H, W] grey) floats in [0, 1] -> [1, 3, H, W] float32, checked."""
    photo_ldr = np.asarray(photo_ldr)
    if photo_ldr.ndim == 2:
        photo_ldr = np.repeat(photo_ldr[..., None], 3, axis=2)
    if photo_ldr.ndim != 3 or photo_ldr.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB image [H, W, 3] with values in [0, 1], got shape {photo_ldr.shape}")
    if not np.isfinite(photo_ldr).all() or photo_ldr.min() < 0 or photo_ldr.max() > 1:
        raise ValueError(f"{name} must hold finite values in [0, 1]; read photos with glowgan.hdrio.read_ldr")
    if min(photo_ldr.shape[:2]) < 4:
        raise ValueError(f"{name} is {photo_ldr.shape[1]}x{photo_ldr.shape[0]} pixels; it needs at least 4x4")
    return torch.from_numpy(np.ascontiguousarray(photo_ldr, dtype=np.float32)).permute(2, 0, 1)[None]


def fit_photo(
    photo: torch.Tensor,  # [1, 3, H, W] ldr
    resolution: tuple[int, int],
    fit: str,
) -> tuple[torch.Tensor, dict[str, int] | None]:
    """Step 1's geometry: the photo region used (``crop``: centre crop to the generator's aspect)."""
    height, width = photo.shape[2:]
    aspect_photo, aspect_g = width / height, resolution[1] / resolution[0]
    if abs(math.log(aspect_photo / aspect_g)) <= math.log1p(ASPECT_TOLERANCE):
        return photo, None
    if fit == "stretch":
        log.warning(
            "the photo's aspect ratio (%.3g) differs from the generator's (%.3g); it is stretched to fit for the "
            "inversion and the output keeps the photo's size (pass fit='crop' / --fit crop to crop instead)",
            aspect_photo,
            aspect_g,
        )
        return photo, None
    crop_h, crop_w = (height, round(height * aspect_g)) if aspect_photo > aspect_g else (round(width / aspect_g), width)
    if min(crop_h, crop_w) < 4:
        raise ValueError(
            f"the photo ({width}x{height}) cropped to the generator's aspect ratio would be {crop_w}x{crop_h} pixels; "
            "use --fit stretch or a larger photo"
        )
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    log.warning("the photo is centre-cropped to %dx%d (the generator's aspect ratio); the output has that size", crop_w, crop_h)
    return photo[:, :, top : top + crop_h, left : left + crop_w], {"top": top, "left": left, "height": crop_h, "width": crop_w}


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
    coefficients (``pca``). ``prior`` is a single-family prior; ``start`` one camera of its family."""

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

    def camera(self) -> cam.CameraParams:
        """The camera as found (detached, on the CPU)."""
        return self.params().detach().to("cpu")


def _resolve_perceptual(kind: str, size: tuple[int, int]) -> str:
    """``kind`` for a generator of ``size`` (height, width): "auto" becomes "pixel" below AUTO_LPIPS_MIN_SIZE."""
    if kind == "lpips" and min(size) < LPIPS_MIN_SIZE:
        raise ValueError(
            f"LPIPS needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} pixels and this generator makes "
            f"{size[1]}x{size[0]}; use --loss msssim or --loss pixel"
        )
    if kind == "auto" and min(size) < AUTO_LPIPS_MIN_SIZE:
        _announce_pixel_loss(size)
        return "pixel"
    return kind


@functools.cache
def _announce_pixel_loss(size: tuple[int, int]) -> None:
    """Say once per process (not once per photo of a batch) why the pixel loss is used."""
    log.info("a %dx%d generator: pixel loss only (LPIPS helps from %d pixels up)", size[1], size[0], AUTO_LPIPS_MIN_SIZE)


def perceptual_network(kind: str, generator: Generator) -> torch.nn.Module | None:
    """The perceptual network that inverting ``generator`` with ``InversionOptions.perceptual = kind``
    uses (None: the pixel loss alone), on the generator's device: load it once and pass it to
    :func:`invert_photo` for many photos."""
    kind = _resolve_perceptual(kind, generator.img_resolution)
    return None if kind == "pixel" else perceptual_loss(kind).to(generator.mapping.w_avg.device)


def photo_wraps(photo: torch.Tensor, config: Config, wrap: bool | None) -> bool:
    """Whether the photo's (after step 1's crop) left and right edges are neighbours.

    ``wrap`` True or False decides. None: only for a model trained with wrap-around convolutions
    (``model.circular``), and only for a photo that is a 2:1 panorama: 2:1 within ASPECT_TOLERANCE and
    with edges that meet (:func:`glowgan.envmap.seam_score` at most SEAM_THRESHOLD; measured on LDR
    photos of the procedural world at 32x64 and 128x256, 40 each: sky panoramas score at most 2.1, 2:1
    views into rooms ("window") 1.7-390, all but one above 3). An ordinary photo is never wrapped: a
    panorama model would otherwise join its left and right edges.
    """
    if wrap is not None:
        if wrap and not config.model.circular:
            log.warning("wrap: this model was trained without wrap-around convolutions; only its upsampled content wraps")
        return wrap
    height, width = photo.shape[2:]
    if not config.model.circular or abs(math.log(width / (2 * height))) > math.log1p(ASPECT_TOLERANCE):
        return False
    return seam_score(photo[0].permute(1, 2, 0).cpu().numpy())["score"] <= SEAM_THRESHOLD


def _without_wrap(generator: Generator) -> Generator:
    """``generator`` (in place) with its wrap-around convolutions and upsampling turned off: zero padding at
    the left and right edges, as for an ordinary photo."""
    for module in generator.modules():
        if hasattr(module, "circular"):
            module.circular = False
    return generator


class _ImageLoss(torch.nn.Module):
    """Distance of LDR images [1, 3, h, w] in [0, 1] to a fixed target: perceptual + ``pixel_weight`` x MSE.

    LPIPS features of the target are computed once.
    """

    def __init__(self, kind: str, pixel_weight: float, target_ldr: torch.Tensor, *, network: torch.nn.Module | None = None):
        super().__init__()
        kind = _resolve_perceptual(kind, tuple(target_ldr.shape[2:]))
        if network is not None and kind != "pixel" and kind not in ("auto", network.kind):
            raise ValueError(f"the perceptual network given is {network.kind!r} but the options ask for {kind!r}")
        if kind == "pixel":
            self.perceptual = None
        else:
            self.perceptual = network if network is not None else perceptual_loss(kind).to(target_ldr.device)
        self.name = "pixel" if self.perceptual is None else self.perceptual.kind
        self.pixel_weight = pixel_weight
        self.target_ldr = target_ldr
        self.target_units = None
        if self.name == "lpips":
            with torch.no_grad():
                self.target_units = self.perceptual.unit_features(target_ldr)

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        loss = self.pixel_weight * (ldr - self.target_ldr).square().mean()
        if self.target_units is not None:
            loss = loss + self.perceptual.distance_to_features(ldr, self.target_units).mean()
        elif self.perceptual is not None:
            loss = loss + self.perceptual(ldr, self.target_ldr).mean()
        return loss


def invert_photo(
    generator: Generator,
    config: Config,
    photo_ldr: np.ndarray,
    *,
    options: InversionOptions = InversionOptions(),
    initial: InitialGuess | Callable[[torch.Tensor], InitialGuess] | None = None,
    perceptual: torch.nn.Module | None = None,
    progress: bool = True,
) -> InversionResult:
    """Turn one LDR photo ``[H, W, 3]`` in [0, 1] into linear HDR at its own resolution (see module doc).

    ``generator`` is left unchanged (pivotal tuning works on a copy). ``initial`` replaces the default
    start (mean w, prior-mean CRF, median-matched exposure): a guess, or a function of the target
    (the photo on the generator's grid after step 1, [1, 3, h, w]) that makes one, such as
    ``glowgan.encoder.guesser``. ``perceptual``: the network of :func:`perceptual_network`, loaded
    once for many photos (otherwise it is loaded here when ``options.perceptual`` needs it).
    """
    check_generator(generator, config)
    device = generator.mapping.w_avg.device
    seconds: dict[str, float] = {}
    rng = torch.Generator(device="cpu").manual_seed(options.seed)

    # 1. Target: the photo on the generator's grid; saturation is judged at full resolution later.
    started = time.perf_counter()
    photo = photo_tensor(photo_ldr).to(device)  # [1, 3, H, W] ldr
    photo, crop = fit_photo(photo, generator.img_resolution, options.fit)
    target_ldr = downsample(photo, generator.img_resolution)  # [1, 3, h, w]
    loss_fn = _ImageLoss(options.perceptual, options.pixel_weight, target_ldr, network=perceptual)
    if callable(initial):
        initial = initial(target_ldr)
    wrap = photo_wraps(photo, config, options.wrap)
    # 2. Latent and camera.
    tuned = copy.deepcopy(generator).eval().requires_grad_(False)
    reference = generator  # what the locality regulariser keeps the tuned generator close to
    if config.model.circular and not wrap:
        tuned, reference = _without_wrap(tuned), _without_wrap(copy.deepcopy(generator).eval().requires_grad_(False))
    spread = w_spread(tuned, generator_seed=options.seed)
    ws_pivot, camera_fit, latent_losses = _fit_latent_and_camera(
        tuned, config, target_ldr, loss_fn, options, initial, spread, rng, progress
    )
    seconds["latent"] = time.perf_counter() - started
    # 3. Pivotal tuning.
    started = time.perf_counter()
    tune_losses = _pivotal_tuning(tuned, reference, ws_pivot, camera_fit.params().detach(), target_ldr, loss_fn, options, spread, rng, progress)
    seconds["tune"] = time.perf_counter() - started
    # 4. Blend at the photo's resolution.
    started = time.perf_counter()
    with torch.no_grad():
        params = camera_fit.params().detach()
        generator_hdr = tuned.synthesis(ws_pivot, noise_mode="const").float() * cam.exposure_gain(params, target_ldr)
        hdr, mask = blend(photo, generator_hdr, params, circular=wrap)
    seconds["blend"] = time.perf_counter() - started
    return InversionResult(
        hdr=hdr[0].permute(1, 2, 0).cpu().numpy(),
        mask=mask[0, 0].cpu().numpy(),
        generator_hdr=generator_hdr[0].permute(1, 2, 0).cpu().numpy(),
        camera=camera_fit.camera(),
        perceptual=loss_fn.name,
        latent_losses=latent_losses,
        tune_losses=tune_losses,
        seconds=seconds,
        crop=crop,
        wrap=wrap,
    )


def _fit_latent_and_camera(
    generator: Generator,
    config: Config,
    target_ldr: torch.Tensor,
    loss_fn: _ImageLoss,
    options: InversionOptions,
    initial: InitialGuess | None,
    spread: float,
    rng: torch.Generator,
    progress: bool,
) -> tuple[torch.Tensor, _CameraFit, list[float]]:
    """Step 2: optimise w (or W+) and the camera; returns the pivot ws [1, num_ws, w_dim]."""
    prior = config.camera.prior.component(options.crf)  # the family fitted, with its prior
    start = prior.mean(1, device=target_ldr.device)
    if prior.crf == "pca" and config.camera.prior.component().crf != "pca":
        # the data-driven family starts from (and is kept near) the curve the model was trained with
        start = cam.to_pca(config.camera.prior.mean(1, device=target_ldr.device))
    if initial is None:
        w_start = generator.mapping.w_avg.detach().clone()
        with torch.no_grad():
            hdr = generator.synthesis(w_start.expand(1, generator.num_ws, -1), noise_mode="const").float()
        start = start.shifted(initial_exposure_stops(target_ldr, hdr, start))
    else:
        if initial.w.shape[-1] != generator.w_dim or initial.w.ndim not in (1, 2):
            raise ValueError(f"the initial w has shape {tuple(initial.w.shape)}; this generator needs [{generator.w_dim}]")
        w_start = initial.w.detach().to(target_ldr.device)
        guess = initial.camera.to(target_ldr.device)
        # a fixed CRF stays at the prior's mean (the official recipe), as does a guess of another family
        start = guess if options.estimate_crf and guess.crf == prior.crf else start.shifted(guess.exposure_stops - start.exposure_stops)
    if w_start.ndim == 1:
        w_start = w_start[None]
    layers = generator.num_ws if options.latent_space == "w+" else 1
    if w_start.shape[0] not in (1, layers):
        w_start = w_start.mean(dim=0, keepdim=True)
    w = torch.nn.Parameter(w_start.expand(layers, -1).clone()[None])  # [1, layers, w_dim]
    camera_fit = _CameraFit(prior, start, options.estimate_crf).to(target_ldr.device)
    optimizer = torch.optim.Adam([w, *(p for p in camera_fit.parameters() if p.requires_grad)], lr=options.latent_lr)
    losses: list[float] = []
    for step in tqdm(range(options.latent_steps), desc="latent", unit="step", disable=not progress, leave=False):
        t = step / max(options.latent_steps, 1)
        for group in optimizer.param_groups:
            group["lr"] = ramped_lr(options.latent_lr, t)
        noise_scale = spread * LATENT_NOISE_START * max(0.0, 1.0 - t / LATENT_NOISE_END) ** 2
        noise = torch.randn(w.shape, generator=rng).to(w.device) * noise_scale
        ws = (w + noise).expand(1, generator.num_ws, -1)
        ldr = cam.render(generator.synthesis(ws, noise_mode="const").float(), camera_fit.params())
        image_loss = loss_fn(ldr)
        loss = image_loss + options.crf_prior_weight * camera_fit.log_prior()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        camera_fit.clamp_()
        losses.append(float(image_loss.detach()))
    return w.detach().expand(1, generator.num_ws, -1).clone(), camera_fit, losses


def _pivotal_tuning(
    tuned: Generator,
    original: Generator,
    ws_pivot: torch.Tensor,  # [1, num_ws, w_dim]
    params: cam.CameraParams,
    target_ldr: torch.Tensor,
    loss_fn: _ImageLoss,
    options: InversionOptions,
    spread: float,
    rng: torch.Generator,
    progress: bool,
) -> list[float]:
    """Step 3: fine-tune ``tuned.synthesis`` in place so the pivot reproduces the photo (PTI)."""
    if options.tune_steps == 0:
        return []
    weights = [p for p in tuned.synthesis.parameters() if p.is_floating_point()]
    for p in weights:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(weights, lr=options.tune_lr)
    losses: list[float] = []
    for _ in tqdm(range(options.tune_steps), desc="tuning", unit="step", disable=not progress, leave=False):
        ldr = cam.render(tuned.synthesis(ws_pivot, noise_mode="const").float(), params)
        image_loss = loss_fn(ldr)
        loss = image_loss
        if options.locality_weight > 0:
            loss = loss + options.locality_weight * _locality_loss(tuned, original, ws_pivot, spread, options, rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(image_loss.detach()))
    tuned.requires_grad_(False)
    return losses


def _locality_loss(
    tuned: Generator,
    original: Generator,
    ws_pivot: torch.Tensor,
    spread: float,
    options: InversionOptions,
    rng: torch.Generator,
) -> torch.Tensor:
    """PTI's locality regulariser: the tuned G must agree with the original at ``w_r`` (Roich et al.
    2022, Eq. 4: ``w_r = w_p + alpha (w_z - w_p) / ||w_z - w_p||``), compared in log2 radiance."""
    z = torch.randn(1, tuned.z_dim, generator=rng).to(ws_pivot.device)
    with torch.no_grad():
        w_z = original.mapping(z)[:, :1]  # [1, 1, w_dim]
        direction = w_z - ws_pivot.mean(dim=1, keepdim=True)
        ws_r = ws_pivot + options.locality_distance * spread * direction / direction.norm().clamp_min(1e-8)
        reference = torch.log2(original.synthesis(ws_r, noise_mode="const").float().clamp_min(LOG_HDR_FLOOR))
    tuned_log2 = torch.log2(tuned.synthesis(ws_r, noise_mode="const").float().clamp_min(LOG_HDR_FLOOR))
    return (tuned_log2 - reference).square().mean()


def blend(
    photo_ldr: torch.Tensor,  # [1, 3, H, W] in [0, 1], the photo at full resolution
    generator_hdr: torch.Tensor,  # [1, 3, h, w] linear, already multiplied by the photo's exposure gain
    params: cam.CameraParams,
    *,
    circular: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 4: ``out = m max(H, f^-1(I)) + (1 - m) f^-1(I)`` at the photo's resolution; returns (hdr, m).

    Where ``m`` is 0 the output *is* the linearised photo, bit for bit.
    """
    linear = cam.crf_inverse(photo_ldr, params)  # [1, 3, H, W], 1 = clip level
    mask = saturation_mask(photo_ldr)  # [1, 1, H, W]
    upsampled = torch.exp2(resize_bilinear(torch.log2(generator_hdr.clamp_min(1e-30)), tuple(photo_ldr.shape[2:]), circular=circular))
    filled = torch.maximum(upsampled, linear)
    return torch.where(mask > 0, mask * filled + (1 - mask) * linear, linear), mask


def result_record(result: InversionResult, *, input_path: str | None, options: InversionOptions) -> dict[str, Any]:
    """The JSON written next to an ITM result."""
    return {
        "input": input_path,  # the LDR photo
        "camera": result.camera.to_records()[0],
        "units": "linear; 1.0 = the level at which the photo clips",
        "size": [int(result.hdr.shape[1]), int(result.hdr.shape[0])],
        "generator_size": [int(result.generator_hdr.shape[1]), int(result.generator_hdr.shape[0])],
        "crop": result.crop,  # {top, left, height, width} of the photo, or null
        "wrap": result.wrap,  # the photo's left and right edges were treated as neighbours
        "masked_fraction": float((result.mask > 0).mean()),  # pixels where the generator's content enters
        "perceptual": result.perceptual,
        "final_latent_loss": result.latent_losses[-1] if result.latent_losses else None,
        "final_tune_loss": result.tune_losses[-1] if result.tune_losses else None,
        "seconds": result.seconds,
        "options": asdict(options),
    }


def preview_sheet(
    photo_ldr: np.ndarray,
    result: InversionResult,
    *,
    stops: tuple[float, ...] = (-3.0, 0.0, 3.0),
    gap: int = 2,  # pixels between panels
    max_side: int = PREVIEW_MAX_SIDE,  # pixels; the sheet's longest side at most
) -> np.ndarray:
    """Input | output at each of ``stops``, each output photographed with the camera found for the photo.

    At 0 stops the output looks like the input (except inside the mask, where the camera clips it
    again); at -3 stops the recovered highlights show. Sized for a screen: when the sheet would be
    longer than ``max_side`` pixels, every panel is downsampled (antialiased; the output in linear
    radiance before it is photographed, the input in display values) so that it is not.
    """
    hdr = torch.from_numpy(result.hdr).permute(2, 0, 1)[None]  # [1, 3, H, W], linear
    photo = photo_tensor(photo_ldr)  # [1, 3, H, W] ldr
    if result.crop is not None:
        top, left, height, width = (result.crop[key] for key in ("top", "left", "height", "width"))
        photo = photo[:, :, top : top + height, left : left + width]
    size = preview_panel_size(tuple(hdr.shape[2:]), panels=len(stops) + 1, gap=gap, max_side=max_side)
    hdr = downsample(hdr, size)
    panels = [downsample(photo, size)[0].permute(1, 2, 0).numpy()]
    for stop in stops:
        camera = dataclasses.replace(result.camera, exposure_stops=torch.tensor([float(stop)]))
        panels.append(cam.render(hdr, camera)[0].permute(1, 2, 0).numpy())
    return tonemap.panel_grid([panels], gap=gap)


def preview_panel_size(image_size: tuple[int, int], *, panels: int, gap: int, max_side: int) -> tuple[int, int]:
    """(height, width) of each of ``panels`` side-by-side panels of an image of ``image_size`` so that
    the sheet's longest side is at most ``max_side`` pixels (the image's own size if it fits)."""
    height, width = image_size
    room = max_side - (panels - 1) * gap  # pixels across for the panels themselves
    if room < panels:
        raise ValueError(f"a preview of {panels} panels needs max_side of at least {panels + (panels - 1) * gap} pixels, got {max_side}")
    scale = min(1.0, max_side / height, room / (panels * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def output_paths(out: Path) -> dict[str, Path]:
    """``OUT.exr`` plus ``OUT.mask.png``, ``OUT.preview.png`` and ``OUT.json`` beside it."""
    if out.suffix.lower() not in (".exr", ".hdr", ".pfm"):
        raise ValueError(f"{out}: the output must be an HDR file (.exr, .hdr or .pfm)")
    stem = out.with_suffix("")
    return {
        "hdr": out,
        "mask": stem.with_name(stem.name + ".mask.png"),
        "preview": stem.with_name(stem.name + ".preview.png"),
        "json": stem.with_name(stem.name + ".json"),
    }
