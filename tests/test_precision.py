"""Mixed precision and the retired ``train.amp`` switch (GPU paths that a CPU can still check)."""

import logging

import pytest
import torch

from glowgan.checkpoint import CheckpointError, capture_rng, restore_rng
from glowgan.config import Config, load_config
from glowgan.models.generator import Generator
from glowgan.train import micro_batches, resolve_precision


def test_bf16_autocast_keeps_the_log_radiance_sum_in_float32():
    # Highlights 12 stops above mid-grey, small detail on top: bfloat16 holds 12.x in steps of
    # 2**-4 stop (4 % of radiance), so a sum kept in bfloat16 is off by up to 2 % (median 1 %).
    torch.manual_seed(0)
    G = Generator(z_dim=32, w_dim=32, resolution=(16, 32), channel_base=512, channel_max=32)
    with torch.no_grad():
        G.synthesis.torgbs[-1].bias.fill_(12.0)
        for torgb in G.synthesis.torgbs:
            torgb.weight.mul_(0.1)
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    reference = G(z, noise_mode="const")  # [4, 3, 16, 32], float32 throughout
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = G(z, noise_mode="const")
    assert mixed.dtype == torch.float32
    assert reference.min() > 300  # all highlights
    error = (mixed / reference - 1).abs()
    assert error.median() < 2e-3 and error.max() < 1e-2


def test_noise_drawn_beforehand_equals_noise_drawn_in_the_layers():
    torch.manual_seed(0)
    G = Generator(resolution=(8, 16))
    with torch.no_grad():
        for conv in G.synthesis.convs:
            conv.noise_strength.fill_(0.5)
    z = torch.randn(3, G.z_dim)
    inside = G(z, rng=torch.Generator().manual_seed(7))
    noise = G.synthesis.draw_noise(3, rng=torch.Generator().manual_seed(7))
    assert torch.equal(G(z, noise=noise), inside)
    assert not torch.equal(G(z, noise=[n.flip(0) for n in noise]), inside)
    with pytest.raises(ValueError, match="one tensor per conv layer"):
        G(z, noise=noise[:-1])


def test_amp_of_old_configs_and_overrides_maps_to_precision(caplog):
    old = Config().to_dict()
    del old["train"]["precision"], old["train"]["batch_gpu"]
    assert Config.from_dict({**old, "train": {**old["train"], "amp": False}}).train.precision == "fp32"
    assert Config.from_dict({**old, "train": {**old["train"], "amp": True}}).train.precision == "auto"
    with caplog.at_level(logging.WARNING, logger="glowgan.config"):
        config = load_config(base=Config().to_dict(), overrides=["train.amp=false"])
    assert config.train.precision == "fp32" and "train.amp is retired" in caplog.text
    with pytest.raises(ValueError, match="give precision only"):
        load_config(overrides=["train.amp=true", "train.precision=bf16"])
    with pytest.raises(ValueError, match="precision must be one of"):
        load_config(overrides=["train.precision=fp8"])
    with pytest.raises(ValueError, match="batch_gpu must be >= 0"):
        load_config(overrides=["train.batch_gpu=-1"])


def test_auto_precision_is_float32_on_the_cpu():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("n, batch_gpu, sizes", [(8, 0, [8]), (8, 8, [8]), (8, 4, [4, 4]), (8, 3, [3, 3, 2]), (2, 5, [2])])
def test_micro_batches_cover_the_batch_once(n, batch_gpu, sizes):
    parts = micro_batches(n, batch_gpu)
    assert [len(range(n)[part]) for part in parts] == sizes
    assert sorted(i for part in parts for i in range(n)[part]) == list(range(n))


def test_rng_restore_takes_older_formats_and_refuses_another_kind_of_generator():
    generators = {"a": torch.Generator().manual_seed(1)}
    saved = capture_rng(generators, devices=["cpu"])
    assert "cuda" not in saved  # a CPU run touches no GPU
    expected = torch.rand(3, generator=generators["a"])
    # older checkpoints saved every visible GPU's state; restoring on a process without GPUs ignores them
    older = {**saved, "cuda": [torch.zeros(16, dtype=torch.uint8)] * 2}
    assert restore_rng(older, generators, devices=["cpu"]) == []
    assert torch.equal(torch.rand(3, generator=generators["a"]), expected)
    cuda_like = {**saved, "generators": {"a": torch.zeros(16, dtype=torch.uint8)}}  # a philox state
    with pytest.raises(CheckpointError, match="saved from a CUDA generator"):
        restore_rng(cuda_like, generators)
    with pytest.raises(CheckpointError, match="no random state"):
        restore_rng({**saved, "generators": {}}, generators)
