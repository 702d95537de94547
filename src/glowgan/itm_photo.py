"""The photo's side of inverse tone mapping (:mod:`glowgan.invert`): the photo in, and the HDR result out.

Step 1 of :func:`glowgan.invert.invert_photo` (the photo checked, fitted to the generator's grid by
stretching or a centre crop, and whether its left and right edges are neighbours) and step 4 (the
blend of the generator's content into the linearised photo at the photo's own resolution, under the
soft mask of its saturated pixels), with the resampling both use.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from glowgan import camera as cam
from glowgan.config import Config
from glowgan.envmap import SEAM_THRESHOLD, seam_score
from glowgan.itm_defaults import FILL_COLOURS
from glowgan.itm_levels import clipped_channels
from glowgan.metrics.dynamic_range import REC709_WEIGHTS

log = logging.getLogger(__name__)

# official GlowGAN code: m = clip((max_c I - 0.97) / 0.03, 0, 1); the ramp ends at the clip level 1.
MASK_THRESHOLD = 0.97
# Photos whose aspect ratio differs from the generator's by more than this are worth a warning.
ASPECT_TOLERANCE = 0.05


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


def saturation_mask(ldr: torch.Tensor, *, white: bool = False) -> torch.Tensor:
    """Soft mask of saturated pixels [N, 1, H, W] from ``ldr`` [N, 3, H, W] (official GlowGAN blend): by
    the brightest channel, or with ``white`` by the darkest (pixels saturated in every channel).

    The ramp's width is computed in the image's own precision, so a clipped pixel gets exactly 1.
    """
    ramp = torch.ones((), dtype=ldr.dtype, device=ldr.device) - MASK_THRESHOLD
    return ((clipped_channels(ldr, white=white) - MASK_THRESHOLD) / ramp).clamp(0.0, 1.0)


def downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased resampling of [N, C, H, W] to a smaller (or equal) ``size``."""
    if tuple(image.shape[2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


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


def blend(
    photo_ldr: torch.Tensor,  # [1, 3, H, W] in [0, 1], the photo at full resolution
    generator_hdr: torch.Tensor,  # [1, 3, h, w] linear, already multiplied by the photo's exposure gain
    params: cam.CameraParams,
    *,
    circular: bool = False,
    fill: str = FILL_COLOURS[0],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 4: ``out = m F + (1 - m) f^-1(I)`` at the photo's resolution, under the soft mask ``m`` of the
    photo's saturated pixels, in the channels the photo saturated (above the mask's threshold); returns
    (hdr, m). Where ``m`` is 0, and in every channel the photo did not saturate, the output *is* the
    linearised photo, bit for bit. The fill ``F`` never falls below the linearised photo, whose clipped
    values are lower bounds; its colour is one of FILL_COLOURS:

    - ``generator``: ``F = max(H, f^-1(I))`` per channel, the generator's own colour (the official blend
      takes ``H`` alone);
    - ``photo``: the linearised photo scaled to the generator's luminance, ``f^-1(I) max(1, Y(H) / Y(f^-1(I)))``:
      a fully clipped pixel stays neutral, a partly clipped one keeps the colour the photo shows;
    - ``surround``: the colour of the photo's unclipped surround (:func:`surround_colour`) at the generator's
      luminance (at least the photo's), so a clipped region takes the hue around it;
    - ``white``: ``photo`` where every channel clipped (the photo shows no colour there, and the
      generator's colour at a clipped sun's core is its least reliable: blue or purple fringes), blended by
      the soft mask of those pixels into ``generator`` elsewhere (a bright sky clipped in one or two
      channels keeps the generator's hue).
    """
    if fill not in FILL_COLOURS:
        raise ValueError(f"fill must be one of {FILL_COLOURS}, got {fill!r}")
    linear = cam.crf_inverse(photo_ldr, params)  # [1, 3, H, W], 1 = clip level
    mask = saturation_mask(photo_ldr)  # [1, 1, H, W]
    upsampled = torch.exp2(resize_bilinear(torch.log2(generator_hdr.clamp_min(1e-30)), tuple(photo_ldr.shape[2:]), circular=circular))
    if fill in ("photo", "white"):
        photo_coloured = linear * (luminance(upsampled) / luminance(linear).clamp_min(1e-30)).clamp_min(1.0)
    if fill == "generator":
        filled = upsampled
    elif fill == "photo":
        filled = photo_coloured
    elif fill == "white":
        white = saturation_mask(photo_ldr, white=True)
        filled = white * photo_coloured + (1 - white) * upsampled
    else:
        filled = surround_colour(linear, 1 - mask) * torch.maximum(luminance(upsampled), luminance(linear))
    filled = torch.maximum(filled, linear)
    # a channel the photo did not saturate was measured: it keeps the photo's value (ours; the official blend
    # fills every channel of a saturated pixel, which for photos 4x the generator's size let the upsampled
    # fill brighten the measured channels of a bright sky: docs/itm/README.md)
    saturated = photo_ldr > MASK_THRESHOLD  # [1, 3, H, W]
    return torch.where(saturated, mask * filled + (1 - mask) * linear, linear), mask


def luminance(linear: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luminance [N, 1, H, W] of linear RGB [N, 3, H, W]."""
    weights = torch.as_tensor(REC709_WEIGHTS, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    return (linear * weights).sum(dim=1, keepdim=True)


def surround_colour(linear: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The colour, at unit luminance [N, 3, H, W], of each pixel's nearest surround where ``weight``
    [N, 1, H, W] (in [0, 1]) is high: the weighted colours are pulled down a pyramid of 2x2 means and
    pushed back up, each level's own estimate trusted as far as its pixels' weight reaches (pull-push
    interpolation, Gortler et al. 1996). Where the weight is 1 it is the pixel's own colour; where no
    pixel has weight, neutral."""
    brightness = luminance(linear)
    colour = linear / brightness.clamp_min(1e-30)
    weight = weight * (brightness > 0)  # black pixels have no colour
    levels = [(colour * weight, weight)]
    while min(levels[-1][1].shape[2:]) > 1:
        weighted, total = levels[-1]
        levels.append((F.avg_pool2d(weighted, 2, ceil_mode=True), F.avg_pool2d(total, 2, ceil_mode=True)))
    weighted, total = levels[-1]
    neutral = torch.ones_like(weighted)
    estimate = torch.where(total > 0, weighted / total.clamp_min(1e-30), neutral)
    for weighted, total in reversed(levels[:-1]):
        coarse = F.interpolate(estimate, size=tuple(total.shape[2:]), mode="nearest")
        own = weighted / total.clamp_min(1e-30)
        trust = total.clamp(0.0, 1.0)
        estimate = trust * own + (1 - trust) * coarse
    return estimate
