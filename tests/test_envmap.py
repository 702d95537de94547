import json

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan.checkpoint import build_generator, save_checkpoint
from glowgan.cli import main
from glowgan.cli.common import parse_size
from glowgan.config import load_config
from glowgan.data.world import render_scenes
from glowgan.envmap import (
    SEAM_THRESHOLD,
    check_envmap,
    check_panorama_size,
    read_envmap,
    resample_panorama,
    sample_bilinear,
    seam_score,
    texel_directions,
    texel_solid_angles,
)
from glowgan.generate import hdr_from_latents, latents_for_seeds

TINY = ["model.z_dim=8", "model.w_dim=8", "model.g_channel_base=64", "model.g_channel_max=8"]


def _tiny(resolution, circular):
    config = load_config(
        preset="cpu-32x64", overrides=[*TINY, f"model.resolution={list(resolution)}", f"model.circular={circular}"]
    )
    torch.manual_seed(0)
    return build_generator(config).eval(), config


@pytest.fixture
def circular_ckpt(tmp_path):
    generator, config = _tiny((8, 16), "true")
    path = tmp_path / "g.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict()})
    return path


def test_geometry_follows_the_documented_convention():
    d = texel_directions(2, 4)  # u = 1/8, 3/8, 5/8, 7/8 -> phi = -135, -45, 45, 135 degrees
    assert np.allclose(np.linalg.norm(d, axis=-1), 1)
    assert d[0, 0, 1] > 0 and d[1, 0, 1] < 0, "row 0 is the upper hemisphere (y up)"
    assert d[0, 1, 0] < 0 < d[0, 2, 0] and d[0, 1, 2] > 0 and d[0, 2, 2] > 0, "centre is +z, right of it +x"
    assert np.isclose(np.broadcast_to(texel_solid_angles(8, 16), (8, 16)).sum(), 4 * np.pi)


def test_bilinear_lookup_hits_texels_and_wraps_around():
    rng = np.random.default_rng(0)
    hdr = rng.random((8, 16, 3)).astype(np.float32)
    assert np.allclose(sample_bilinear(hdr, texel_directions(8, 16)), hdr, atol=1e-5)
    theta = np.pi * (np.array([3, 4]) + 0.5) / 8
    seam = np.stack([0 * theta, np.cos(theta), -np.sin(theta)], axis=-1)  # phi = 180 degrees: the wrap
    assert np.allclose(sample_bilinear(hdr, seam), 0.5 * (hdr[3:5, 0] + hdr[3:5, -1]), atol=1e-5)


def test_circular_generator_makes_seamless_panoramas():
    """Same weights, wrap-around on and off: with circular convolutions the step from the last to the
    first column is like any other adjacent-column step (score ~1); without, it is larger on average."""
    circular, config_on = _tiny((32, 64), "true")
    flat, config_off = _tiny((32, 64), "false")
    flat.load_state_dict(circular.state_dict())
    z = latents_for_seeds(range(12), circular.z_dim)
    on = hdr_from_latents(circular, config_on, z).permute(0, 2, 3, 1).numpy()
    off = hdr_from_latents(flat, config_off, z).permute(0, 2, 3, 1).numpy()
    scores_on = np.array([seam_score(image)["score"] for image in on])
    scores_off = np.array([seam_score(image)["score"] for image in off])
    assert scores_on.max() < 2.0 < SEAM_THRESHOLD, scores_on
    assert np.median(scores_off) > 1.5 * np.median(scores_on), (scores_on, scores_off)
    log_on = np.log2(on[0] + 1e-6)
    seam_step = np.abs(log_on[:, 0] - log_on[:, -1]).mean()
    interior_steps = np.abs(np.diff(log_on, axis=1)).mean(axis=(0, 2))
    assert seam_step <= np.percentile(interior_steps, 90), "the last column must continue into the first"


def test_seam_score_flags_maps_that_do_not_wrap():
    skies = render_scenes("sky", [0, 1, 2], height=32, width=64)  # seamless by construction
    windows = render_scenes("window", [0, 1, 2], height=64, width=128)  # perspective views
    assert all(seam_score(sky)["score"] < 1.6 for sky in skies)
    assert all(seam_score(window)["score"] > 2 * SEAM_THRESHOLD for window in windows)
    shifted = np.roll(skies[0], 16, axis=1)  # still seamless at the edges: the score only sees the edges
    assert seam_score(shifted)["score"] < SEAM_THRESHOLD
    cut = np.ascontiguousarray(skies[0][:, 8:-8])  # a crop's edges do not meet
    assert seam_score(cut)["score"] > SEAM_THRESHOLD
    assert seam_score(np.ones((4, 8, 3), dtype=np.float32))["score"] == 0


def test_resampling_wraps_around():
    sky = render_scenes("sky", [4], height=16, width=32)[0]
    up = resample_panorama(sky, 32, 64)
    assert up.shape == (32, 64, 3) and up.min() >= 0
    # Exactly shift-equivariant around the wrap (a clamped resize would not be): roll 1 texel = roll 2.
    assert np.allclose(resample_panorama(np.roll(sky, 1, axis=1), 32, 64), np.roll(up, 2, axis=1), atol=1e-5)
    assert seam_score(up)["score"] < SEAM_THRESHOLD
    down = resample_panorama(sky, 8, 16)
    assert np.isclose(down.mean(), sky.mean(), rtol=0.05)


def test_envmap_cli_writes_maps_and_seam_summary(circular_ckpt, tmp_path, capsys, caplog):
    out = tmp_path / "maps"
    with caplog.at_level("WARNING", logger="glowgan.envmap"):
        assert main(["envmap", "--ckpt", str(circular_ckpt), "--count", "3", "--out", str(out)]) == 0
    assert "wrap-around" not in caplog.text
    printed = capsys.readouterr().out
    assert "seam score" in printed and "wrote 3 8x16 environment maps" in printed
    summary = json.loads((out / "envmaps.json").read_text())
    assert summary["circular"] and not summary["resampled"] and len(summary["maps"]) == 3
    for record in summary["maps"]:
        hdr = hdrio.read_hdr(out / record["exr"])
        assert hdr.shape == (8, 16, 3) and np.isfinite(hdr).all() and hdr.min() >= 0
        assert record["seam_score"] == pytest.approx(seam_score(hdr)["score"], rel=1e-5)
        assert (out / record["exr"]).with_suffix(".png").exists()
    big = tmp_path / "big"
    assert main(["envmap", "--ckpt", str(circular_ckpt), "--seeds", "1", "--size", "16x32", "--out", str(big)]) == 0
    assert "resampled from 8x16" in capsys.readouterr().out
    assert hdrio.read_hdr(big / "envmap000001.exr").shape == (16, 32, 3)


def test_envmap_cli_warns_for_a_non_circular_model(tmp_path, caplog):
    generator, config = _tiny((8, 16), "false")
    path = tmp_path / "flat.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": generator.state_dict()})
    with caplog.at_level("WARNING", logger="glowgan.envmap"):
        assert main(["envmap", "--ckpt", str(path), "--count", "1", "--out", str(tmp_path / "o")]) == 0
    assert "trained without wrap-around convolutions" in caplog.text
    assert json.loads((tmp_path / "o" / "envmaps.json").read_text())["warning"]


def test_envmap_interpolation_changes_smoothly(circular_ckpt, tmp_path):
    out = tmp_path / "interp"
    frames = 9
    args = ["envmap", "--ckpt", str(circular_ckpt), "--interpolate", "1,2", "--frames", str(frames), "--out", str(out)]
    assert main(args) == 0
    hdr = np.stack([hdrio.read_hdr(out / f"frame-{i:04d}.exr") for i in range(frames)])
    log_frames = np.log2(hdr + 1e-6)
    steps = np.abs(np.diff(log_frames, axis=0)).mean(axis=(1, 2, 3))  # mean |change| per step, stops
    total = np.abs(log_frames[-1] - log_frames[0]).mean()
    assert total > 0 and steps.min() > 0
    assert steps.max() < 0.35 * total, f"a jump between frames: {steps} vs total {total}"
    assert steps.max() < 3 * np.median(steps), "steps should be even along the path"
    summary = json.loads((out / "envmaps.json").read_text())
    assert len(summary["maps"]) == frames and all(r["seamless"] for r in summary["maps"])
    assert (out / "interpolation.gif").exists()


def test_bad_inputs_get_clear_errors(circular_ckpt, tmp_path, capsys):
    with pytest.raises(ValueError, match="2:1"):
        check_envmap(np.ones((8, 8, 3), dtype=np.float32), name="square.exr")
    bad = np.ones((8, 16, 3), dtype=np.float32)
    bad[1, 2, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_envmap(bad)
    with pytest.raises(ValueError, match="negative"):
        check_envmap(-np.ones((8, 16, 3), dtype=np.float32))
    with pytest.raises(OSError, match="no such environment map"):
        read_envmap(tmp_path / "missing.exr")
    for size in ("16x16", "big", "1x2"):
        with pytest.raises(ValueError, match="size"):
            check_panorama_size(parse_size(size))
    out = tmp_path / "o"
    assert main(["envmap", "--ckpt", str(circular_ckpt), "--count", "1", "--size", "16x48", "--out", str(out)]) == 2
    assert "2:1" in capsys.readouterr().err and not out.exists()
    square, config = _tiny((8, 8), "true")
    path = tmp_path / "square.pt"
    save_checkpoint(path, {"config": config.to_dict(), "G_ema": square.state_dict()})
    assert main(["envmap", "--ckpt", str(path), "--count", "1", "--out", str(out)]) == 2
    assert "not 2:1 panoramas" in capsys.readouterr().err and not out.exists()
