"""A discriminator head on each photo's brightness order statistics: how bright its brightest pixels are.

GlowGAN learns radiance above the clip from *where and how often* photos clip (DESIGN.md, "What LDR
photos can and cannot teach"). Convolutional discriminators average patch evidence over the image and
see a 1-2 pixel sun at 32x64 poorly: on the sky world, fakes of the projected and of the residual D
matched the real photos' share of clipped pixels (1.6-2.6 % against 2.1 %) while 36-52 % of them had no
clipped pixel at all, against 8 % of the real photos (a dark exposure of a scene with a sun still clips
the sun; a fake whose sun is only 2-3 stops above the median does not). This head sees that directly.

Per image it sorts the brightest channel of every pixel (the channel that clips first) and reads the
values at fixed quantiles: 0.1 and 0.25 (how dark the exposure is), then ``1 - 2**-j`` for
``j = 1 .. log2(H*W)``, i.e. the median, the brightest quarter, eighth, ... down to the brightest
pixel. A small MLP (equalised learning rate, like the residual D's epilogue) turns those into one
logit that the discriminator adds to its own. Gradients reach G through the pixels at those ranks,
so a too-dark brightest pixel of a fake is pushed up: its radiance above the camera's clip grows.

The trainer gives the head the photos *before* DiffAugment (``D(augment(x), photo=x)``). Colour
augmentation shifts, scales and saturates every value and so blurs the clip level that the head looks
for, while a dozen order statistics per photo cannot memorise a data set, which is what augmentation
guards against. Measured: a head trained alone to tell the real sky photos from the fakes of the
issue-11 generator reaches 70 % held-out accuracy on plain photos and 60 % on augmented ones (the
share of fakes without a clipped pixel bounds it near 65-70 %).

With ``shadows`` the head also reads the mirror image at the dark end: the darkest channel of every
pixel (the channel that reaches black first) at the quantiles ``2**-j``, from the median down to the
darkest pixel. Nothing else judges that tail per photo either: after 120 kimg of the default, 47-54 %
of the fakes photographed through the prior held a pure black pixel against 7 % of the real sky photos
(5-7 times their share of black pixels), and the generator's shadow span had drifted 2.4 stops too deep
(``docs/training/README.md``).

``gain`` multiplies the head's logit before the discriminator adds it to its own. Adam normalises
gradient sizes, so its weights move at the same rate in their own units whatever the gain, and the
logit the head can build per step grows with it: the gain is the head's weight beside the
convolutional logits, and in effect a learning-rate factor on its output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glowgan.models.layers import EqualLinear

LOW_QUANTILES = (0.1, 0.25)
HIDDEN = 64


def quantile_ranks(pixels: int) -> list[int]:
    """Sorted-order indices (ascending) of the head's quantiles of the brightest channel for an image of
    ``pixels`` pixels."""
    top_levels = [1.0 - 2.0**-j for j in range(1, int(math.log2(pixels)) + 1)]
    return [min(pixels - 1, int(q * pixels)) for q in (*LOW_QUANTILES, *top_levels)]


def shadow_ranks(pixels: int) -> list[int]:
    """Sorted-order indices (ascending) of the darkest channel's quantiles ``2**-j``, the mirror of the
    brightest channel's top levels: the darkest pixel, the 2nd, the 4th, ... darkest, up to the median."""
    return [int(pixels * 2.0**-j) - 1 for j in range(int(math.log2(pixels)), 0, -1)]


class HighlightHead(nn.Module):
    """ldr [N, 3, H, W] in [0, 1] -> logits [N, 1] from the brightest channel's order statistics
    (``highlights``), the darkest channel's (``shadows``), or both."""

    def __init__(
        self, resolution: tuple[int, int], *, highlights: bool = True, shadows: bool = False, gain: float = 1.0
    ) -> None:
        super().__init__()
        if not (highlights or shadows):
            raise ValueError("the head needs the highlight statistics, the shadow statistics, or both")
        if not (math.isfinite(gain) and gain > 0):
            raise ValueError(f"the head's gain must be a finite number > 0, got {gain}")
        self.gain = float(gain)
        pixels = resolution[0] * resolution[1]
        self.register_buffer("ranks", torch.tensor(quantile_ranks(pixels) if highlights else []).long(), persistent=False)
        self.register_buffer("dark_ranks", torch.tensor(shadow_ranks(pixels) if shadows else []).long(), persistent=False)
        self.mlp = nn.Sequential(
            EqualLinear(len(self.ranks) + len(self.dark_ranks), HIDDEN, activation="lrelu"),
            EqualLinear(HIDDEN, HIDDEN, activation="lrelu"),
            EqualLinear(HIDDEN, 1),
        )

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        statistics = []
        if len(self.dark_ranks):
            statistics.append(ldr.amin(dim=1).flatten(1).sort(dim=1).values[:, self.dark_ranks])  # [N, H*W] ascending
        if len(self.ranks):
            statistics.append(ldr.amax(dim=1).flatten(1).sort(dim=1).values[:, self.ranks])
        return self.mlp(torch.cat(statistics, dim=1) * 2.0 - 1.0) * self.gain  # [N, K], [0, 1] -> [-1, 1] as the residual D's input


def optional_head(
    resolution: tuple[int, int], *, highlights: bool, shadows: bool, gain: float = 1.0
) -> HighlightHead | None:
    """The head a discriminator with these settings (``model.highlight_head``, ``model.shadow_statistics``,
    ``model.head_gain``) adds: one reading the statistics asked for, or None when neither is."""
    if not (highlights or shadows):
        return None
    return HighlightHead(resolution, highlights=highlights, shadows=shadows, gain=gain)
