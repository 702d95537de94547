"""StyleGAN2 residual discriminator on LDR images (StyleGAN2 Sec. 4.1, Fig. 7c).

D judges whatever it is given: in GlowGAN training that is ``augment(camera.render(G(z)))`` for
fakes and augmented LDR photos for reals. Input ``ldr`` is in [0, 1] and is mapped to [-1, 1]
at the network boundary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from glowgan.models.highlights import optional_head
from glowgan.models.layers import (
    LRELU_GAIN,
    EqualConv2d,
    EqualLinear,
    channels_for,
    level_resolutions,
)

# StyleGAN2 residual blocks: (skip + residual) * sqrt(0.5) keeps the variance.
RESIDUAL_GAIN = math.sqrt(0.5)


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Append one feature map holding the minibatch standard deviation (ProGAN Sec. 3).

    ``[N, C, H, W] -> [N, C + 1, H, W]``. As in StyleGAN2, sample ``n`` is in group
    ``n % num_groups``; the per-feature std over the group (biased, eps 1e-8) is averaged over
    channels and pixels and broadcast to the group's samples. Batches not divisible by the group
    size use ``ceil(N / group_size)`` groups of unequal size (every group has >= 2 samples when
    N >= 2, so no sample gets a degenerate zero std); a batch of one gets sqrt(1e-8) ~ 0.
    """
    n = x.shape[0]
    group_size = max(1, min(group_size, n))
    num_groups = -(-n // group_size)
    group_of = torch.arange(n, device=x.device) % num_groups  # [N]
    # float32 even under autocast: in float16 the eps (1e-8) is 0, and a group without variance would
    # give an infinite gradient
    with torch.autocast(device_type=x.device.type, enabled=False):
        member = F.one_hot(group_of, num_groups).float()  # [N, G]
        count = member.sum(dim=0)  # [G]
        flat = x.float().reshape(n, -1)  # [N, C*H*W]
        mean = (member.t() @ flat) / count[:, None]  # [G, CHW]
        dev = flat - member @ mean  # [N, CHW]
        var = (member.t() @ dev.square()) / count[:, None]  # [G, CHW]
        std = torch.sqrt(var + 1e-8).mean(dim=1)  # [G]
        feature = (member @ std).reshape(n, 1, 1, 1).expand(-1, 1, *x.shape[2:])  # [N, 1, H, W]
    return torch.cat([x, feature.to(x.dtype)], dim=1)


def check_input(ldr: torch.Tensor, resolution: tuple[int, int]) -> None:
    """Refuse anything but LDR images [N, 3, H, W] of the discriminator's ``resolution``, saying what to do."""
    if ldr.ndim != 4 or ldr.shape[1] != 3 or tuple(ldr.shape[2:]) != tuple(resolution):
        raise ValueError(
            f"the discriminator expects LDR images of shape [N, 3, {resolution[0]}, {resolution[1]}], got "
            f"{tuple(ldr.shape)}; resize the data or build D with a matching resolution"
        )


class DiscriminatorBlock(nn.Module):
    """Residual block: conv 3x3, conv 3x3 with 2x downsampling, 1x1 skip (StyleGAN2 Fig. 7c).

    StyleGAN2 computes ``(skip(x) + sqrt(2) lrelu(conv1(...))) * sqrt(1/2)``; with the lrelu
    gains deferred to the consumers (see EqualConv2d) this is ``skip'(x) + lrelu(conv1(...))``
    where skip' carries sqrt(1/2) in its weights. ``input_gain`` is x's deferred gain.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        circular: bool,
        input_gain: float,
    ) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(
            in_channels, in_channels, 3, circular=circular, input_gain=input_gain
        )
        self.conv1 = EqualConv2d(
            in_channels, out_channels, 3, down=True, circular=circular, input_gain=LRELU_GAIN
        )
        self.skip = EqualConv2d(
            in_channels,
            out_channels,
            1,
            bias=False,
            activation="linear",
            down=True,
            input_gain=input_gain * RESIDUAL_GAIN,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, H/2, W/2]
        return self.skip(x) + self.conv1(self.conv0(x))


class Discriminator(nn.Module):
    """ldr [N, 3, H, W] in [0, 1] -> logits [N, 1] (StyleGAN2 residual discriminator).

    fromRGB (1x1) at full resolution, residual blocks halving the resolution down to the base
    level (shorter side 4, e.g. 4x8 for 2:1), then the epilogue: minibatch std, 3x3 conv, fully
    connected layer, linear output. ``highlight_head`` adds the logit of a
    :class:`~glowgan.models.highlights.HighlightHead` (each photo's brightest pixels;
    with ``shadow_statistics`` its darkest too).
    """

    def __init__(
        self,
        *,
        resolution: tuple[int, int] = (32, 64),
        channel_base: int = 1024,
        channel_max: int = 64,
        mbstd_group: int = 4,
        circular: bool = False,
        highlight_head: bool = False,
        shadow_statistics: bool = False,
        head_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.img_resolution = tuple(int(s) for s in resolution)
        levels = level_resolutions(self.img_resolution)[::-1]  # full resolution first
        chans = [
            channels_for(min(h, w), channel_base=channel_base, channel_max=channel_max)
            for h, w in levels
        ]
        self.mbstd_group = mbstd_group
        self.from_rgb = EqualConv2d(3, chans[0], 1)
        # from_rgb's lrelu gain is deferred to the first block, later blocks output gain 1.
        self.blocks = nn.Sequential(
            *(
                DiscriminatorBlock(
                    c_in, c_out, circular=circular, input_gain=LRELU_GAIN if i == 0 else 1.0
                )
                for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:]))
            )
        )
        base_h, base_w = levels[-1]
        self.conv = EqualConv2d(
            chans[-1] + 1,
            chans[-1],
            3,
            circular=circular,
            input_gain=1.0 if len(chans) > 1 else LRELU_GAIN,
        )
        self.fc = EqualLinear(
            chans[-1] * base_h * base_w, chans[-1], activation="lrelu", input_gain=LRELU_GAIN
        )
        self.out = EqualLinear(chans[-1], 1)
        self.highlights = optional_head(
            self.img_resolution, highlights=highlight_head, shadows=shadow_statistics, gain=head_gain
        )

    def forward(self, ldr: torch.Tensor, photo: torch.Tensor | None = None) -> torch.Tensor:
        """ldr [N, 3, H, W] in [0, 1] -> logits [N, 1]; ``photo``: the same photos before augmentation, for
        the highlight head (default: ``ldr``)."""
        check_input(ldr, self.img_resolution)
        x = self.from_rgb(ldr * 2.0 - 1.0)  # network boundary: [0, 1] -> [-1, 1]
        x = self.blocks(x)
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        logits = self.out(self.fc(x.flatten(1)))
        if self.highlights is not None:
            logits = logits + self.highlights(ldr if photo is None else photo)
        return logits
