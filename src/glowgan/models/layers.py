"""Building blocks shared by the generator and the discriminator.

Everything here is pure PyTorch and works on non-square images. ``circular=True`` makes a layer
wrap around horizontally (equirectangular panoramas), while the vertical direction keeps zero
padding (replicate for the bilinear filter).

Sources: equalised learning rate (Karras et al. 2018, "Progressive Growing of GANs", Sec. 4.1);
modulation/demodulation (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", StyleGAN2, Sec. 2.2, Eqs. 1-3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# StyleGAN2 (Sec. 2.2 and its official code): leaky ReLU slope 0.2 followed by a gain of sqrt(2)
# keeps the activations' second moment at about 1.
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
# StyleGAN2, Eq. 3: epsilon inside the demodulation square root.
DEMOD_EPS = 1e-8


def channels_for(
    side: int,
    *,
    channel_base: int,
    channel_max: int,
) -> int:
    """Feature channels at a level whose shorter image side is ``side`` pixels.

    StyleGAN2's rule ``min(channel_base // side, channel_max)``; a 2:1 panorama level uses its
    height, so a 32x64 model has the channel counts of a 32x32 one.
    """
    return max(1, min(channel_base // side, channel_max))


def level_resolutions(resolution: tuple[int, int]) -> list[tuple[int, int]]:
    """Resolutions from the base block (shorter side 4) up to ``resolution``, doubling each level.

    (32, 64) -> [(4, 8), (8, 16), (16, 32), (32, 64)]. Both sides must be powers of two >= 4.
    """
    height, width = (int(s) for s in resolution)
    for side in (height, width):
        if side < 4 or side & (side - 1):
            raise ValueError(
                f"resolution {resolution} is not supported: height and width must be powers of "
                "two >= 4, e.g. (32, 64) for a 2:1 panorama or (64, 64)"
            )
    num_levels = int(math.log2(min(height, width))) - 1  # shorter side 4, 8, ..., min side
    return [
        (height >> (num_levels - 1 - i), width >> (num_levels - 1 - i)) for i in range(num_levels)
    ]


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with the variance-preserving gain of StyleGAN2 (slope 0.2, gain sqrt(2))."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def pad_x_circular(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last (horizontal) axis of ``x`` [N, C, H, W] circularly by ``pad`` on each side."""
    return F.pad(x, (pad, pad, 0, 0), mode="circular")


def upsample2x_bilinear(x: torch.Tensor, circular: bool) -> torch.Tensor:
    """Bilinear 2x upsampling, ``[N, C, H, W] -> [N, C, 2H, 2W]``.

    Bilinear 2x upsampling with ``align_corners=False`` is the separable [1, 3, 3, 1] / 4 filter
    that StyleGAN2 uses on its skip connections (Sec. 4.1, Fig. 7). With ``circular=True`` the
    horizontal axis is padded by one wrapped column first, so the filter sees across the seam;
    the two output columns per side that came from the padding are cropped again.
    """
    if not circular:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    y = F.interpolate(pad_x_circular(x, 1), scale_factor=2.0, mode="bilinear", align_corners=False)
    return y[..., 2:-2]


def downsample2x_box(x: torch.Tensor) -> torch.Tensor:
    """2x2 box-filter downsampling, ``[N, C, H, W] -> [N, C, H/2, W/2]``.

    Written as a depthwise strided convolution: 2.5-3x faster than ``avg_pool2d`` forward and
    backward on this CPU. Needs no padding, so it is seamless for circular images too.
    """
    channels = x.shape[1]
    kernel = torch.full((channels, 1, 2, 2), 0.25, device=x.device, dtype=x.dtype)
    return F.conv2d(x, kernel, stride=2, groups=channels)


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate (Karras et al. 2018, Sec. 4.1).

    Weights are stored as N(0, 1) / lr_multiplier and scaled at run time by
    lr_multiplier / sqrt(in_features); the bias is stored divided by lr_multiplier. With Adam this
    makes every layer learn at the same relative speed, and ``lr_multiplier`` slows a layer down
    (StyleGAN2 uses 0.01 in the mapping network, StyleGAN Sec. C). ``activation="lrelu"`` applies
    the full StyleGAN2 activation including its gain (the tensors here are tiny).
    ``input_gain`` is a constant factor of the input folded into the weights (see EqualConv2d).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: str = "linear",
        input_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_multiplier))
        self.weight_gain = input_gain * lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in] -> [N, out]
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)
        return lrelu(x) if self.activation == "lrelu" else x


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate, optional 2x box downsampling before it.

    Used by the discriminator (StyleGAN2 residual D, Fig. 7c). Downsampling is a 2x2 box filter
    followed by the convolution at the lower resolution: faster than a strided 3x3 or 4x4
    convolution on this CPU and low-pass filtered like StyleGAN2's FIR downsampler.

    ``activation="lrelu"`` returns ``leaky_relu(x)`` *without* StyleGAN2's sqrt(2) gain: every
    consumer folds that constant into its own weights through ``input_gain`` instead, which
    saves a full-resolution multiply forward and backward (about 2.5 ms per 32x32x64 map here).
    1x1 convolutions run as batched matrix products (faster than mkldnn for 3 input channels).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: str = "lrelu",
        down: bool = False,
        circular: bool = False,
        input_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = input_gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.pad = kernel_size // 2
        self.activation = activation
        self.down = down
        self.circular = circular

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, H', W']
        if self.down:
            x = downsample2x_box(x)
        weight = self.weight * self.weight_gain
        if self.pad == 0:
            n, c, h, w = x.shape
            weight = weight.flatten(1)[None].expand(n, -1, -1)  # [N, Cout, Cin]
            x = x.reshape(n, c, h * w)
            if self.bias is None:
                x = torch.bmm(weight, x)
            else:
                x = torch.baddbmm(self.bias[None, :, None], weight, x)
            x = x.reshape(n, -1, h, w)
        elif self.circular:
            x = F.conv2d(pad_x_circular(x, self.pad), weight, self.bias, padding=(self.pad, 0))
        else:
            x = F.conv2d(x, weight, self.bias, padding=self.pad)
        return F.leaky_relu(x, LRELU_SLOPE) if self.activation == "lrelu" else x


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated 3x3 convolution with weight demodulation, noise, bias and lrelu.

    Implemented by modulating the activations instead of the weights: StyleGAN2 Eq. 1 scales the
    input channels of the weights per sample, ``w'_ijk = s_i w_ijk``, which equals scaling the
    input activations by ``s_i`` and convolving with the shared weight. Demodulation (Eq. 3)
    multiplies output channel ``j`` by ``d_j = 1 / sqrt(sum_ik (s_i w_ijk)^2 + eps)``, computed
    from ``s^2 @ sum_k w^2`` without ever forming per-sample weights. This keeps one batched
    convolution instead of a grouped per-sample one (2x faster on CPU, see DESIGN.md).

    Deferred scaling: the layer computes ``sqrt(2) lrelu(d y + noise + bias)`` (StyleGAN2) as
    ``a = lrelu(y + noise / d + bias / d)`` with ``scale = sqrt(2) d`` per sample and channel,
    exact because ``d > 0`` and leaky ReLU is positively homogeneous. It returns ``(a, scale)``
    and the consumer (the next layer's modulation, a toRGB) multiplies ``scale`` into its own
    per-sample styles, which are [N, C] vectors. That saves two full-resolution passes forward
    and backward per layer. ``x_scale`` is the incoming scale (``None`` for 1).

    With ``up=True`` the layer doubles the resolution with a 4x4 transposed convolution of
    stride 2 (each output pixel sees a 2x2 tap subset, so demodulation divides the tap energy
    by 4). It is initialised as nearest-neighbour upsampling followed by a random 3x3 kernel,
    the resize-convolution that avoids checkerboard patterns (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts"), and is free to learn from there. On this CPU it is about 2x
    faster than bilinear upsampling + 3x3 convolution at 2.25x fewer FLOPs.

    Noise: StyleGAN Sec. 3.2, per-pixel N(0, 1) noise times a learned per-layer strength
    (initialised to 0), added after demodulation. ``noise_mode="const"`` uses a fixed buffer;
    ``"random"`` adds ``noise``, drawn beforehand for every layer at once by
    ``SynthesisNetwork.draw_noise`` (so that splitting a batch into micro-batches changes nothing).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: tuple[int, int],
        *,
        up: bool = False,
        circular: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.up = up
        self.circular = circular
        if up:
            # conv_transpose2d layout [Cin, Cout, 4, 4]: a 3x3 kernel convolved with the 2x2 box
            # of nearest-neighbour upsampling, rescaled to unit variance (equalised lr).
            kernel3 = torch.randn(in_channels * out_channels, 1, 3, 3)
            kernel4 = F.conv_transpose2d(kernel3, torch.ones(1, 1, 2, 2))
            kernel4 = kernel4 / kernel4.std()
            self.weight = nn.Parameter(kernel4.reshape(in_channels, out_channels, 4, 4))
            self.weight_gain = 1.0 / math.sqrt(in_channels * 4)  # 2x2 taps per output pixel
        else:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.weight_gain = 1.0 / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, *resolution))
        self.resolution = tuple(resolution)

    def demodulation(self, weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """StyleGAN2 Eq. 3 for activation modulation: ``[N, Cin] -> [N, Cout]`` coefficients."""
        if self.up:
            energy = weight.square().sum(dim=(2, 3)) / 4.0  # [Cin, Cout]
        else:
            energy = weight.square().sum(dim=(2, 3)).t()  # [Cin, Cout]
        return torch.rsqrt(styles.square() @ energy + DEMOD_EPS)

    def forward(
        self,
        x: torch.Tensor,  # [N, Cin, h, w]; the activation is x * x_scale
        x_scale: torch.Tensor | None,  # [N, Cin] or None
        w: torch.Tensor,  # [N, w_dim]
        noise_mode: str,
        noise: torch.Tensor | None = None,  # [N, 1, H, W], N(0, 1), drawn by the caller: noise_mode "random" only
    ) -> tuple[torch.Tensor, torch.Tensor]:  # [N, Cout, H, W] and its scale [N, Cout]
        styles = self.affine(w)  # [N, Cin]
        weight = self.weight * self.weight_gain
        demod = self.demodulation(weight, styles)  # [N, Cout]
        modulation = styles if x_scale is None else styles * x_scale
        x = x * modulation[:, :, None, None]
        if self.up:
            if self.circular:
                x = F.conv_transpose2d(pad_x_circular(x, 1), weight, stride=2, padding=(1, 3))
            else:
                x = F.conv_transpose2d(x, weight, stride=2, padding=1)
        elif self.circular:
            x = F.conv2d(pad_x_circular(x, 1), weight, padding=(1, 0))
        else:
            x = F.conv2d(x, weight, padding=1)
        inv_demod = (1.0 / demod)[:, :, None, None]  # [N, Cout, 1, 1]
        if noise_mode == "random":
            if noise is None:
                raise ValueError("noise_mode 'random' needs the noise drawn by the caller (SynthesisNetwork.draw_noise)")
            x = x.addcmul_(noise.to(x.device, x.dtype), inv_demod * self.noise_strength)
        elif noise_mode == "const":
            x = torch.addcmul(x, self.noise_const, inv_demod * self.noise_strength)  # out of place: vmap batches it
        x = x.add_(inv_demod * self.bias[None, :, None, None])
        return F.leaky_relu(x, LRELU_SLOPE), demod * LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to 3 channels without demodulation (StyleGAN2 Fig. 7b, tRGB).

    A 1x1 convolution with per-sample input scaling is a batched matrix product with per-sample
    weights ``[N, 3, C] @ [N, C, H*W]``; the input's deferred ``x_scale`` (see ModulatedConv2d)
    is folded into those tiny weights for free.
    """

    def __init__(self, in_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, in_channels))
        self.bias = nn.Parameter(torch.zeros(3))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(
        self,
        x: torch.Tensor,  # [N, C, H, W]; the activation is x * x_scale
        x_scale: torch.Tensor,  # [N, C]
        w: torch.Tensor,  # [N, w_dim]
    ) -> torch.Tensor:  # [N, 3, H, W]
        styles = self.affine(w) * (x_scale * self.weight_gain)  # [N, C]
        weight = self.weight[None] * styles[:, None, :]  # [N, 3, C]
        n, c, h, w_ = x.shape
        y = torch.baddbmm(self.bias[None, :, None], weight, x.reshape(n, c, h * w_))
        return y.reshape(n, 3, h, w_)
