"""Projected discriminator on LDR images (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

D judges ``ldr`` [N, 3, H, W] in [0, 1] through frozen ImageNet features (EfficientNet-lite0, see
glowgan.models.efficientnet) instead of learning its features from scratch:

    ldr -> (optional bilinear resize) -> EfficientNet-lite0 -> 4 feature maps (1/4 ... 1/32)
        -> cross-channel mixing (CCM: a fixed random 1x1 convolution per scale)
        -> cross-scale mixing (CSM: coarse to fine, each coarser map is upsampled bilinearly and
           added to the next finer one, a U-Net-like decoder without learned weights; the channel
           change is a fixed random 1x1 convolution here, our choice for speed)
        -> one small trainable head per scale (spectral-normalised 3x3, 3x3, 1x1 convolutions
           giving patch logits, averaged over the patches) -> summed over the scales.

The multi-scale discriminators and the random projections (CCM, CSM) are the paper's Sec. 3.2. The
mixing weights are random and fixed; they are persistent buffers drawn from a fixed seed, so every
D built with the same sizes mixes the same way and checkpoints carry them. The heads use spectral
normalisation, as the Projected GAN discriminators do.

ImageNet features keep little of the pixel statistics that GlowGAN learns from (how often and how
widely highlights clip), so ``branch="resnet"`` adds the logits of a from-scratch residual
discriminator (glowgan.models.discriminator) on the same input: a highlight-sensitive branch, and
``highlight_head`` the logit of a head on each photo's brightest pixels (glowgan.models.highlights;
with ``shadow_statistics`` its darkest pixels too).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from glowgan.models.discriminator import Discriminator, check_input
from glowgan.models.efficientnet import FEATURE_CHANNELS, efficientnet_lite0_features
from glowgan.models.highlights import optional_head
from glowgan.models.layers import LRELU_SLOPE, pad_x_circular

# Channels after cross-channel mixing, finest scale first. Half of Projected GANs' 64, 128, 256, 512,
# to keep the heads cheap beside the feature network on a CPU.
MIXING_CHANNELS = (32, 64, 128, 256)
# Root mean square of the four EfficientNet-lite0 features on LDR photos: 8.0-9.9, 7.9-9.9, 6.3-8.4 and
# 2.3-2.6 over the procedural world's sky, window and night photos at 32x64 and 64x128 (16 each,
# glowgan.data.synth.photograph with each family's default camera). CCM divides by them, so the
# mixed features start near unit scale, and logits and R1 start near the residual D's scale.
FEATURE_RMS = (8.5, 8.5, 7.0, 2.5)
# The random projections are part of the architecture: one fixed seed for every model.
MIXING_SEED = 2021
# CSM adds two roughly independent maps of equal variance; sqrt(1/2) keeps the variance.
CSM_GAIN = math.sqrt(0.5)
BRANCHES = ("none", "resnet")


class HeadConv(nn.Module):
    """Spectral-normalised convolution with zero or horizontally circular padding.

    The stored weight starts as N(0, 1): spectral normalisation divides it by its largest singular
    value, so its scale only sets Adam's relative step, which then matches the equalised-learning-rate
    layers of the residual D at the same learning rate.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, circular: bool) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.circular = circular and self.pad > 0
        # circular: the horizontal padding is wrapped in forward, the convolution pads only vertically
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=(self.pad, 0) if self.circular else self.pad)
        with torch.no_grad():
            conv.weight.normal_()
            conv.bias.zero_()
        self.conv = spectral_norm(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, H, W]
        return self.conv(pad_x_circular(x, self.pad) if self.circular else x)


class PatchHead(nn.Module):
    """Mixed features of one scale -> one logit per image: mean of the patch logits."""

    def __init__(self, channels: int, *, circular: bool) -> None:
        super().__init__()
        self.conv0 = HeadConv(channels, channels, 3, circular=circular)
        self.conv1 = HeadConv(channels, channels, 3, circular=circular)
        self.out = HeadConv(channels, 1, 1, circular=circular)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, h, w] -> [N, 1]
        x = F.leaky_relu(self.conv0(x), LRELU_SLOPE)
        x = F.leaky_relu(self.conv1(x), LRELU_SLOPE)
        return self.out(x).mean(dim=(2, 3))


def _random_projection(rng: torch.Generator, in_channels: int, out_channels: int) -> torch.Tensor:
    """A fixed random 1x1 convolution [Cout, Cin, 1, 1] that keeps the variance (N(0, 1 / Cin))."""
    return torch.randn(out_channels, in_channels, 1, 1, generator=rng) / math.sqrt(in_channels)


class ProjectedDiscriminator(nn.Module):
    """ldr [N, 3, H, W] in [0, 1] -> logits [N, 1] through frozen EfficientNet-lite0 features.

    ``projected_size`` is the shorter side the features see: the input is resized bilinearly (and
    differentiably; antialiased when shrinking) to it, keeping the aspect ratio; 0 keeps the native
    size. ``branch="resnet"`` adds a residual D of ``branch_channel_base`` / ``branch_channel_max``
    channels. ``circular`` wraps the heads' (and the branch's) convolutions horizontally; the frozen
    features keep the zero padding they were trained with. Raises
    ``glowgan.models.efficientnet.EfficientNetUnavailable`` when the ImageNet weights are not installed.
    """

    def __init__(
        self,
        *,
        resolution: tuple[int, int] = (32, 64),
        projected_size: int = 0,
        branch: str = "none",
        branch_channel_base: int = 1024,
        branch_channel_max: int = 16,
        mbstd_group: int = 4,
        circular: bool = False,
        highlight_head: bool = False,
        shadow_statistics: bool = False,
        head_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        if projected_size < 0:
            raise ValueError(f"projected_size must be >= 0 (0: the native size), got {projected_size}")
        self.img_resolution = tuple(int(s) for s in resolution)
        height, width = self.img_resolution
        if projected_size:
            scale = projected_size / min(height, width)
            self.feature_resolution = (round(height * scale), round(width * scale))
        else:
            self.feature_resolution = self.img_resolution
        self.features = efficientnet_lite0_features()
        generator = torch.Generator().manual_seed(MIXING_SEED)
        for level, (feature_channels, channels) in enumerate(zip(FEATURE_CHANNELS, MIXING_CHANNELS)):
            projection = _random_projection(generator, feature_channels, channels) / FEATURE_RMS[level]
            self.register_buffer(f"ccm{level}", projection)
        for level in range(len(MIXING_CHANNELS) - 1):  # coarse level + 1 -> level
            self.register_buffer(
                f"csm{level}", _random_projection(generator, MIXING_CHANNELS[level + 1], MIXING_CHANNELS[level])
            )
        self.heads = nn.ModuleList(PatchHead(channels, circular=circular) for channels in MIXING_CHANNELS)
        self.branch = (
            Discriminator(
                resolution=self.img_resolution,
                channel_base=branch_channel_base,
                channel_max=branch_channel_max,
                mbstd_group=mbstd_group,
                circular=circular,
            )
            if branch == "resnet"
            else None
        )
        self.highlights = optional_head(
            self.img_resolution, highlights=highlight_head, shadows=shadow_statistics, gain=head_gain
        )

    def mixed_features(self, ldr: torch.Tensor) -> list[torch.Tensor]:
        """CCM + CSM features, finest first: [N, 32, H'/4, W'/4], ..., [N, 256, H'/32, W'/32]."""
        if self.feature_resolution != self.img_resolution:
            shrink = self.feature_resolution[0] < self.img_resolution[0]
            ldr = F.interpolate(
                ldr, size=self.feature_resolution, mode="bilinear", align_corners=False, antialias=shrink
            )
        features = self.features(ldr)
        mixed = [F.conv2d(f, getattr(self, f"ccm{level}")) for level, f in enumerate(features)]
        for level in range(len(mixed) - 2, -1, -1):  # coarse to fine
            coarse = F.conv2d(mixed[level + 1], getattr(self, f"csm{level}"))  # commutes with the upsampling
            coarse = F.interpolate(coarse, size=mixed[level].shape[2:], mode="bilinear", align_corners=False)
            mixed[level] = (mixed[level] + coarse) * CSM_GAIN
        return mixed

    def forward(self, ldr: torch.Tensor, photo: torch.Tensor | None = None) -> torch.Tensor:
        """ldr [N, 3, H, W] in [0, 1] -> logits [N, 1]; ``photo``: the same photos before augmentation, for
        the highlight head (default: ``ldr``)."""
        check_input(ldr, self.img_resolution)
        logits = sum(head(x) for head, x in zip(self.heads, self.mixed_features(ldr)))
        if self.branch is not None:
            logits = logits + self.branch(ldr)
        if self.highlights is not None:
            logits = logits + self.highlights(ldr if photo is None else photo)
        return logits
