"""``glowgan export``: safetensors and ONNX round trips, the description, and exports that write nothing."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from glowgan import export as export_module
from glowgan.checkpoint import build_generator, save_checkpoint
from glowgan.cli import main
from glowgan.cli import export as export_cli
from glowgan.config import load_config
from glowgan.export import (
    CONFIG_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    SamplingPath,
    export_generator,
    load_exported_generator,
)

TINY = ["model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]


def _checkpoint(path, overrides):
    """A tiny seeded generator with nonzero noise strengths and w_avg (so const noise and psi matter)."""
    config = load_config(preset="cpu-32x64", overrides=[*TINY, *overrides])
    torch.manual_seed(0)
    generator = build_generator(config)
    with torch.no_grad():
        for module in generator.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(0.3)
        generator.mapping.w_avg.normal_()
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict(), "progress": {"images": 6000}})
    return path, generator.eval().requires_grad_(False)


VARIANTS = {
    "square": ["model.resolution=[16, 16]", "model.circular=false"],
    "panorama-circular": ["model.resolution=[16, 32]", "model.circular=true"],
    "vanilla-ldr": ["model.resolution=[8, 16]", "camera.enabled=false"],
    "relu": ["model.resolution=[16, 32]", "model.hdr_activation=relu"],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_safetensors_round_trip_is_exact(variant, tmp_path):
    pytest.importorskip("safetensors", reason="pip install glowgan[export]")
    ckpt, generator = _checkpoint(tmp_path / "g.pt", VARIANTS[variant])
    result = export_generator(ckpt, tmp_path / "export")
    assert result.checks[WEIGHTS_NAME] == {"max_abs_diff": 0.0, "max_rel_diff": 0.0}
    loaded, config = load_exported_generator(tmp_path / "export")
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for psi in (1.0, 0.6):
            assert torch.equal(loaded(z, psi=psi, noise_mode="const"), generator(z, psi=psi, noise_mode="const"))
        noise = [torch.Generator().manual_seed(2) for _ in range(2)]
        assert torch.equal(loaded(z, rng=noise[0]), generator(z, rng=noise[1]))
        # The export's sampling path (what ONNX gets) is the generator with psi as a tensor.
        path = SamplingPath(loaded)(z, torch.tensor([0.6]))
        torch.testing.assert_close(path, generator(z, psi=0.6, noise_mode="const"), rtol=1e-4, atol=1e-5)
    description = json.loads((tmp_path / "export" / CONFIG_NAME).read_text())
    assert description["config"]["model"]["resolution"] == list(generator.img_resolution)
    assert description["output"]["name"] == ("ldr" if variant == "vanilla-ldr" else "hdr")
    assert description["output"]["shape"] == ["batch", 3, *generator.img_resolution]
    assert description["source"]["kimg"] == 6.0 and set(description["files"]) == {WEIGHTS_NAME}
    assert config.model == load_config(preset="cpu-32x64", overrides=[*TINY, *VARIANTS[variant]]).model


def _onnx_ready():
    return all(importlib.util.find_spec(name) for name in ("safetensors", "onnx", "onnxscript", "onnxruntime"))


@pytest.mark.skipif(not _onnx_ready(), reason="ONNX export needs `pip install glowgan[export]`")
def test_onnx_export_matches_the_generator_at_any_batch_size(tmp_path, capsys):
    import onnx
    import onnxruntime

    ckpt, generator = _checkpoint(tmp_path / "g.pt", VARIANTS["panorama-circular"])
    out = tmp_path / "export"
    assert main(["export", "--ckpt", str(ckpt), "--out", str(out), "--onnx"]) == 0
    printed = capsys.readouterr().out
    assert f"{ONNX_NAME}: max difference from the checkpoint" in printed
    description = json.loads((out / CONFIG_NAME).read_text())
    assert description["check"]["results"][ONNX_NAME]["max_rel_diff"] < 1e-4
    assert set(description["files"]) == {WEIGHTS_NAME, ONNX_NAME}
    model = onnx.load(str(out / ONNX_NAME))
    assert [i.name for i in model.graph.input] == ["z", "psi"]
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value, "the batch dimension must be dynamic"
    session = onnxruntime.InferenceSession(str(out / ONNX_NAME), providers=["CPUExecutionProvider"])
    for batch in (1, 2, 5):
        z = torch.randn(batch, 8, generator=torch.Generator().manual_seed(10 + batch))
        for psi in (1.0, 0.5):
            (image,) = session.run(None, {"z": z.numpy(), "psi": np.array([psi], dtype=np.float32)})
            with torch.no_grad():
                reference = generator(z, psi=psi, noise_mode="const").numpy()
            assert image.shape == (batch, 3, 16, 32)
            np.testing.assert_allclose(image, reference, rtol=1e-4, atol=1e-5)


def test_a_failed_check_writes_nothing(tmp_path, monkeypatch):
    safetensors_torch = pytest.importorskip("safetensors.torch", reason="pip install glowgan[export]")
    ckpt, _ = _checkpoint(tmp_path / "g.pt", VARIANTS["square"])
    original = safetensors_torch.load_file

    def corrupted(path, *args, **kwargs):  # a round trip that changed the weights by 1 %
        return {name: tensor * 1.01 for name, tensor in original(path, *args, **kwargs).items()}

    monkeypatch.setattr(safetensors_torch, "load_file", corrupted)
    out = tmp_path / "sub" / "export"
    with pytest.raises(ValueError, match="differs from the checkpoint's generator"):
        export_generator(ckpt, out)
    assert not out.exists() and list((tmp_path / "sub").iterdir()) == []


def test_destination_rules_and_replacing_an_earlier_export(tmp_path, capsys):
    pytest.importorskip("safetensors", reason="pip install glowgan[export]")
    ckpt, _ = _checkpoint(tmp_path / "g.pt", VARIANTS["square"])
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not ours")
    assert main(["export", "--ckpt", str(ckpt), "--out", str(foreign)]) == 2
    assert "not empty and holds no glowgan export" in capsys.readouterr().err
    assert (foreign / "holiday.jpg").read_bytes() == b"not ours"
    out = tmp_path / "export"
    export_generator(ckpt, out)
    (out / WEIGHTS_NAME).write_bytes((out / WEIGHTS_NAME).read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_exported_generator(out)
    export_generator(ckpt, out)  # an earlier export is replaced as a whole
    load_exported_generator(out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_missing_optional_package_is_one_clear_line(tmp_path, monkeypatch, capsys):
    ckpt, _ = _checkpoint(tmp_path / "g.pt", VARIANTS["square"])
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "onnxscript" else real_find_spec(name, *args)

    monkeypatch.setattr(export_module.importlib.util, "find_spec", find_spec)
    assert main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "export"), "--onnx"]) == 2
    err = capsys.readouterr().err
    assert "'onnxscript' is needed" in err and "pip install glowgan[export]" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "export").exists()


def test_cli_default_tolerance_is_the_library_default():
    assert export_cli.DEFAULT_TOLERANCE == export_module.DEFAULT_TOLERANCE
