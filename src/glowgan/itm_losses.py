"""The image loss of inverse tone mapping (:mod:`glowgan.invert`, steps 2 and 3): how far a rendering is
from the photo, a perceptual distance (LPIPS-VGG16 or the MS-SSIM fallback of :mod:`glowgan.perceptual`)
plus a pixel MSE, and which perceptual network a generator's size calls for.
"""

from __future__ import annotations

import copy
import functools
import logging

import torch

from glowgan.models.generator import Generator
from glowgan.perceptual import perceptual_loss

log = logging.getLogger(__name__)

# The smallest image LPIPS-VGG16 takes (glowgan.perceptual.MIN_SIZE).
LPIPS_MIN_SIZE = 16
# perceptual="auto" uses LPIPS only for generators at least this size (shorter side). Measured
# (docs/itm/README.md): at 32x64, 300 + 100 steps with the pixel loss alone gained 1.1 dB PU21 on clipped
# regions over the trivial baseline, with LPIPS-VGG16 they lost 0.3 dB, and took 4x longer; at 64x128
# (a 35-kimg CPU generator, 8 photos, the full recipe) the pixel loss scored 8.61 dB there against 7.56
# with LPIPS (7.97 with the official tuning balance), and took 18 s a photo against 100. From 128 pixels
# up, unmeasured, the official LPIPS.
AUTO_LPIPS_MIN_SIZE = 128


class ImageLoss(torch.nn.Module):
    """Distance of LDR images [n, 3, h, w] in [0, 1] to fixed targets [n, 3, h, w], per image [n]:
    perceptual + ``pixel_weight`` x MSE.

    LPIPS features of the targets are computed once.
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

    def reweighted(self, pixel_weight: float) -> ImageLoss:
        """This loss with another pixel weight, sharing the network and the targets' features."""
        other = copy.copy(self)
        other.pixel_weight = pixel_weight
        return other

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        loss = self.pixel_weight * (ldr - self.target_ldr).square().mean(dim=(1, 2, 3))
        if self.target_units is not None:
            loss = loss + self.perceptual.distance_to_features(ldr, self.target_units)
        elif self.perceptual is not None:
            loss = loss + self.perceptual(ldr, self.target_ldr)
        return loss


def perceptual_network(kind: str, generator: Generator) -> torch.nn.Module | None:
    """The perceptual network that inverting ``generator`` with ``InversionOptions.perceptual = kind``
    uses (None: the pixel loss alone), on the generator's device: load it once and pass it to
    :func:`glowgan.invert.invert_photo` for many photos."""
    kind = _resolve_perceptual(kind, generator.img_resolution)
    return None if kind == "pixel" else perceptual_loss(kind).to(generator.mapping.w_avg.device)


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
