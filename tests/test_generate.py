import numpy as np
import pytest
import torch
from PIL import Image

from glowgan import hdrio
from glowgan.checkpoint import build_generator, load_generator, save_checkpoint
from glowgan.cli import main
from glowgan.config import load_config
from glowgan.generate import hdr_from_latents, interpolate_hdr, latents_for_seeds, parse_seeds

TINY = ["model.resolution=[8, 16]", "model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]


@pytest.fixture(params=["on", "off"])
def checkpoint(request, tmp_path):
    enabled = "true" if request.param == "on" else "false"
    config = load_config(preset="cpu-32x64", overrides=[*TINY, f"camera.enabled={enabled}"])
    torch.manual_seed(0)
    generator = build_generator(config)
    path = tmp_path / "g.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict()})
    return path


def test_parse_seeds():
    assert parse_seeds("1,2,5-7") == [1, 2, 5, 6, 7]
    for bad in ("", "a", "5-3", "1,,x"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


def test_generate_writes_valid_exrs_and_previews(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--ckpt", str(checkpoint), "--seeds", "0,3-4", "--out", str(out), "--radiance"]) == 0
    assert "wrote 3 HDR images" in capsys.readouterr().out
    for seed in (0, 3, 4):
        hdr = hdrio.read_hdr(out / f"seed{seed:06d}.exr")
        assert hdr.shape == (8, 16, 3) and np.isfinite(hdr).all() and hdr.min() >= 0 and hdr.max() > 0
        assert hdrio.read_hdr(out / f"seed{seed:06d}.hdr").shape == (8, 16, 3)
        assert hdrio.read_ldr(out / f"seed{seed:06d}-stack.png").shape == (8, 5 * 16 + 4 * 2, 3)
    a, b = hdrio.read_hdr(out / "seed000003.exr"), hdrio.read_hdr(out / "seed000004.exr")
    assert not np.allclose(a, b), "different seeds must give different images"


def test_interpolation_is_smooth_and_ends_at_the_seeds(checkpoint, tmp_path):
    generator, config = load_generator(checkpoint)
    frames = interpolate_hdr(generator, config, 3, 9, frames=12)
    ends = hdr_from_latents(generator, config, latents_for_seeds([3, 9], generator.z_dim)).permute(0, 2, 3, 1).numpy()
    assert np.allclose(frames[0], ends[0], rtol=1e-4, atol=1e-6)
    assert np.allclose(frames[-1], ends[1], rtol=1e-4, atol=1e-6)
    log_frames = np.log2(frames + 1e-6)
    steps = np.abs(np.diff(log_frames, axis=0)).mean(axis=(1, 2, 3))  # mean |change| per step, stops
    total = np.abs(log_frames[-1] - log_frames[0]).mean()
    assert total > 0
    assert steps.max() < 0.35 * total, f"a jump between frames: {steps} vs total {total}"


def test_interpolation_cli_writes_frames_and_gif(checkpoint, tmp_path):
    out = tmp_path / "interp"
    assert main(["generate", "--ckpt", str(checkpoint), "--interpolate", "1,2", "--frames", "5", "--out", str(out)]) == 0
    assert len(list(out.glob("frame-*.exr"))) == 5
    with Image.open(out / "interpolation.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (16, 8)
    assert main(["generate", "--ckpt", str(checkpoint), "--interpolate", "1,2,3", "--out", str(out)]) == 2
