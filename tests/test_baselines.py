import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan.baselines import get_baseline
from glowgan.baselines.domains import format_legend, gap, row_names
from glowgan.baselines.expansion import (
    DISPLAY_PEAK,
    MASIA_2009_FIT,
    MASIA_2017_FIT,
    akyuz,
    as_ldr_rgb,
    masia,
    trivial,
)
from glowgan.baselines.supervised import (
    TRAIN_SEED_BASE,
    UNetBaseline,
    UNetConfig,
    blend_mask,
    build_unet,
    linearize_mean,
    load_state,
    load_unet,
    masked_log_loss,
    read_stats,
    reconstruct,
    train_supervised,
    training_batch,
    training_camera,
)
from glowgan.camera import CameraPrior, crf_forward
from glowgan.checkpoint import CheckpointError, save_checkpoint
from glowgan.cli import main
from glowgan.data.synth import default_camera, scene_photos

TINY = UNetConfig(family="sky", height=8, width=16, channels=4, depth=2, batch=4, lr=3e-3)
OFFICIAL = CameraPrior()  # the curve every U-Net linearised with before UNetConfig.crf existed


def photo_of(linear: np.ndarray) -> np.ndarray:
    """A photo whose mean-CRF linearisation is ``linear`` [H, W, 3] in [0, 1] (no quantisation)."""
    x = torch.from_numpy(np.asarray(linear, np.float32)).permute(2, 0, 1)[None]
    return crf_forward(x, CameraPrior().mean(1))[0].permute(1, 2, 0).numpy()


def grey(values, shape=None) -> np.ndarray:
    values = np.asarray(values, np.float32)
    return np.repeat(values.reshape(shape or (1, -1))[..., None], 3, axis=2)


# ---------------------------------------------------------------- classical operators


def test_trivial_is_exact_inverse_of_mean_crf():
    rng = np.random.default_rng(0)
    linear = rng.uniform(0.0, 1.0, size=(5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(trivial(photo_of(linear)), linear, atol=2e-6)
    clipped = trivial(np.ones((2, 3, 3), np.float32))
    np.testing.assert_array_equal(clipped, 1.0)  # clipped pixels stay at the clip level
    assert trivial(np.zeros((1, 1, 3), np.float32)).max() == 0.0


def test_akyuz_is_linear_scaling_from_black_to_peak():
    linear = grey([0.1, 0.25, 0.55, 1.0])
    out = akyuz(photo_of(linear))  # grey pixels: luminance = value (Rec. 709 weights sum to 1)
    expected = DISPLAY_PEAK * (np.array([0.1, 0.25, 0.55, 1.0]) - 0.1) / 0.9
    np.testing.assert_allclose(out[0, :, 1], expected, rtol=1e-4, atol=1e-3)
    squared = akyuz(photo_of(linear), gamma=2.0, peak=1.0)
    np.testing.assert_allclose(squared[0, 2, 0], (0.45 / 0.9) ** 2, rtol=1e-4)


def test_akyuz_keeps_colour_ratios():
    linear = np.array([[[0.2, 0.4, 0.1], [0.05, 0.05, 0.05], [1.0, 1.0, 1.0]]], np.float32)
    out = akyuz(photo_of(linear))
    np.testing.assert_allclose(out[0, 0] / out[0, 0, 0], [1.0, 2.0, 0.5], rtol=1e-4)


def test_masia_2009_gamma_follows_the_key():
    # 10 % of the pixels at a, 90 % at b: L_min = a, L_max = b, log-average near b, a high key
    a, b = 0.05, 0.6
    values = np.array([a] * 10 + [b] * 90, np.float32)
    log_average = np.mean(np.log(values.astype(np.float64) + 1e-6))
    key = (log_average - math.log(a)) / (math.log(b) - math.log(a))
    gamma = MASIA_2009_FIT[0] * key + MASIA_2009_FIT[1]
    assert gamma > 1.5  # the expected value is an expansion, not the guard
    out = masia(photo_of(grey(values)), regression="2009", peak=1.0)
    np.testing.assert_allclose(out[0, 0, 0], a**gamma, rtol=1e-3)
    np.testing.assert_allclose(out[0, -1, 0], b**gamma, rtol=1e-3)


def test_masia_2009_low_key_falls_back_to_linear():
    values = np.array([0.01] * 50 + [0.02] * 40 + [1.0] * 10, np.float32)  # key below 0.6: the fit gives gamma < 0
    out = masia(photo_of(grey(values)), regression="2009", peak=1.0)
    np.testing.assert_allclose(out[0, :, 0], values, rtol=1e-3)


def test_masia_2017_gamma_and_highlight_expansion():
    values = np.array([0.02] * 20 + [0.18] * 70 + [1.0] * 10, np.float32)
    lum = values.astype(np.float64)
    log_average = np.mean(np.log(lum + 1e-6))
    low, high = np.percentile(lum, [1, 99])
    key = (log_average - math.log(low)) / (math.log(high) - math.log(low))
    c0, c_avg, c_key, c_ov = MASIA_2017_FIT
    gamma = c0 + c_avg * log_average + c_key * key + c_ov * 10.0  # 10 % of the pixels are at 255
    out = masia(photo_of(grey(values)))
    ratio = out[0, -1, 0] / out[0, 50, 0]  # clipped white over mid-grey
    np.testing.assert_allclose(ratio, (1.0 / 0.18) ** gamma, rtol=1e-3)
    assert gamma > 1 and ratio > 1.0 / 0.18  # highlights expanded beyond the linearised photo's ratio
    np.testing.assert_allclose(out.max(), DISPLAY_PEAK, rtol=1e-4)


@pytest.mark.parametrize("name", ["trivial", "akyuz", "masia", "masia2009"])
def test_operators_are_monotone_and_nonnegative(name):
    ramp = grey(np.linspace(0.0, 1.0, 64))
    out = get_baseline(name)(ramp)
    assert out.shape == ramp.shape and out.dtype == np.float32 and out.min() >= 0
    assert np.all(np.diff(out[0, :, 1]) >= 0)


def test_grey_photos_are_expanded_like_rgb_and_bad_photos_are_refused():
    values = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(masia(values), masia(np.repeat(values[..., None], 3, axis=2)))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        trivial(np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        trivial(np.full((2, 2, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="255"):
        as_ldr_rgb(np.zeros((2, 2, 3), np.uint8))


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown baseline 'reinhard'"):
        get_baseline("reinhard")
    with pytest.raises(ValueError, match="akyuz"):
        get_baseline("akyuz", gama=2.0)
    with pytest.raises(ValueError, match="checkpoint"):
        get_baseline("unet")
    assert get_baseline("akyuz", peak=1.0)(np.ones((1, 2, 3), np.float32)).max() == pytest.approx(1.0)


# ---------------------------------------------------------------- supervised U-Net


def test_unet_any_size_and_blend():
    model = build_unet(TINY)
    ldr = torch.rand(2, 3, 11, 23, generator=torch.Generator().manual_seed(0)) * 0.9  # nothing near the clip
    with torch.no_grad():
        hdr = reconstruct(model, ldr, camera=OFFICIAL)
    assert hdr.shape == ldr.shape
    torch.testing.assert_close(hdr, linearize_mean(ldr), rtol=0, atol=0)  # mask 0: the linearised input
    ldr[:, :, 3, 5] = 1.0
    with torch.no_grad():
        hdr = reconstruct(model, ldr, camera=OFFICIAL)
        log_hdr = model(ldr, torch.log(linearize_mean(ldr) + 1.0 / 255.0))
    assert blend_mask(ldr)[0, 0, 3, 5] == 1.0
    torch.testing.assert_close(hdr[:, :, 3, 5], torch.exp(log_hdr[:, :, 3, 5]))


def test_training_pairs_use_training_seeds_and_photographs():
    ldr, hdr = training_batch(TINY, images_seen=8)
    seeds = list(range(TRAIN_SEED_BASE + 8, TRAIN_SEED_BASE + 12))
    expected_ldr, expected_hdr, _ = scene_photos("sky", seeds, height=8, width=16)
    np.testing.assert_array_equal(ldr.permute(0, 2, 3, 1).numpy(), expected_ldr)
    np.testing.assert_array_equal(hdr.permute(0, 2, 3, 1).numpy(), expected_hdr)
    codes = expected_ldr * 255
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)  # 8-bit photos
    unclipped = expected_ldr.max(axis=-1) < 0.9
    assert np.all(expected_hdr[unclipped] < 1.0)  # the clip level of the exposed ground truth is 1


def test_training_lowers_the_loss(tmp_path):
    torch.set_num_threads(1)
    config = UNetConfig(family="sky", height=16, width=32, channels=4, depth=2, batch=8, lr=3e-3)
    ldr, hdr, _ = scene_photos("sky", list(range(16)), height=16, width=32)  # held-out seeds
    ldr, hdr = torch.from_numpy(ldr).permute(0, 3, 1, 2), torch.from_numpy(hdr).permute(0, 3, 1, 2)
    with torch.no_grad():
        before = masked_log_loss(build_unet(config), ldr, hdr, camera=OFFICIAL).item()
    report = train_supervised(tmp_path, config, steps=40, progress=False)
    model, _ = load_unet(report.checkpoint)
    with torch.no_grad():
        after = masked_log_loss(model, ldr, hdr, camera=OFFICIAL).item()
    assert report.step == 40 and report.images == 320
    assert after < 0.75 * before, (before, after)
    stats = read_stats(tmp_path)
    assert stats[-1]["step"] == 40 and all(math.isfinite(s["loss"]) for s in stats)


def test_resume_is_exact(tmp_path):
    torch.set_num_threads(1)
    train_supervised(tmp_path / "once", TINY, steps=6, progress=False)
    train_supervised(tmp_path / "twice", TINY, steps=3, progress=False)
    report = train_supervised(tmp_path / "twice", TINY, steps=6, resume=True, progress=False)
    assert report.step == 6 and report.images == 24
    once, twice = load_state(tmp_path / "once" / "checkpoint.pt"), load_state(report.checkpoint)
    for name, tensor in once["unet"].items():
        assert torch.equal(tensor, twice["unet"][name]), name
    with pytest.raises(ValueError, match="--resume"):
        train_supervised(tmp_path / "once", TINY, steps=8, progress=False)
    with pytest.raises(ValueError, match="height=8"):
        train_supervised(tmp_path / "once", UNetConfig(height=16, width=16), steps=8, resume=True, progress=False)
    with pytest.raises(ValueError, match="no checkpoint.pt"):
        train_supervised(tmp_path / "none", TINY, steps=8, resume=True, progress=False)


def test_wrong_checkpoints_are_refused(tmp_path):
    gan = tmp_path / "gan.pt"
    save_checkpoint(gan, {"config": {}, "G_ema": {}})
    with pytest.raises(CheckpointError, match="GAN training checkpoint"):
        load_unet(gan)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_unet(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_unet(tmp_path / "missing.pt")


# ---------------------------------------------------------------- across a gap: another family or curve


def test_training_photos_follow_the_configured_curve():
    official, srgb = training_batch(TINY, images_seen=0), training_batch(replace(TINY, crf="srgb"), images_seen=0)
    torch.testing.assert_close(srgb[1], official[1], rtol=0, atol=0)  # the same scenes at the same exposures
    assert (srgb[0] - official[0]).abs().mean() > 0.02  # photographed through another curve
    exposed = official[1].clamp(0.0, 1.0)
    mid = (exposed > 0.02) & (exposed < 0.98)
    srgb_camera = training_camera(replace(TINY, crf="srgb"))
    assert srgb_camera.crf == "srgb" and training_camera(TINY) == default_camera("sky")

    def error_stops(camera: CameraPrior) -> torch.Tensor:
        return (torch.log2(linearize_mean(srgb[0], camera)[mid]) - torch.log2(exposed[mid])).abs()

    # the srgb camera's mean (its only) inverse curve undoes its photos up to 8-bit rounding; the official one does not
    assert error_stops(srgb_camera).max() < 0.05
    assert error_stops(training_camera(TINY)).mean() > 0.2


def test_crf_round_trips_through_a_checkpoint_and_linearises_the_input(tmp_path):
    torch.set_num_threads(1)
    config = replace(TINY, family="window", crf="srgb:2,filmic")
    report = train_supervised(tmp_path / "run", config, steps=1, progress=False)
    unet = UNetBaseline(report.checkpoint)
    assert unet.config == config and unet.camera == default_camera("window", crf="srgb:2,filmic")
    ldr, _, _ = scene_photos("sky", [3], height=8, width=16)
    with torch.no_grad():
        expected = reconstruct(unet.model, torch.from_numpy(ldr).permute(0, 3, 1, 2), camera=unet.camera)
        official = reconstruct(unet.model, torch.from_numpy(ldr).permute(0, 3, 1, 2), camera=OFFICIAL)
    np.testing.assert_allclose(unet(ldr[0]), expected[0].permute(1, 2, 0).numpy(), rtol=1e-5, atol=1e-7)
    assert not torch.allclose(expected, official)  # the mixture's most probable family (srgb), not the official curve
    with pytest.raises(ValueError, match="crf='srgb:2,filmic'"):
        train_supervised(tmp_path / "run", replace(config, crf=""), steps=2, resume=True, progress=False)
    with pytest.raises(ValueError, match="'sepia' is unknown"):
        UNetConfig(crf="sepia")


def test_checkpoint_without_crf_loads_as_before(tmp_path):
    torch.set_num_threads(1)
    report = train_supervised(tmp_path / "run", TINY, steps=1, progress=False)
    state = load_state(report.checkpoint)
    del state["unet_config"]["crf"]  # what a checkpoint written before the setting holds
    save_checkpoint(tmp_path / "old.pt", state)
    unet = UNetBaseline(tmp_path / "old.pt")
    assert unet.config == TINY and unet.config.crf == ""
    ldr, _, _ = scene_photos("sky", [3], height=8, width=16)
    with torch.no_grad():
        before = reconstruct(unet.model, torch.from_numpy(ldr).permute(0, 3, 1, 2), camera=OFFICIAL)
    np.testing.assert_allclose(unet(ldr[0]), before[0].permute(1, 2, 0).numpy(), rtol=1e-5, atol=1e-7)


def test_rows_say_oracle_or_cross_domain():
    sky_srgb = default_camera("sky").component("srgb")
    cases = [
        (UNetConfig(), "sky", None, "oracle"),
        (UNetConfig(crf="glowgan"), "sky", None, "oracle"),  # the default camera's own curve, named
        (UNetConfig(crf="srgb"), "sky", None, "cross: srgb"),
        (UNetConfig(crf="srgb"), "sky", sky_srgb, "oracle"),
        (UNetConfig(), "sky", sky_srgb, "cross: glowgan"),
        (UNetConfig(family="window"), "sky", None, "cross: window"),
        (UNetConfig(family="window", crf="srgb"), "sky", None, "cross: window, srgb"),
        (UNetConfig(family="window", crf="srgb"), "window", sky_srgb, "oracle"),  # offsets do not count
    ]
    for config, family, camera, tag in cases:
        found = gap(config, family=family, camera=camera)
        assert (found.tag, found.oracle) == (tag, tag == "oracle"), (config, family, camera)
    cross = UNetConfig(family="window", crf="srgb")
    rows, legend = row_names(
        [("trivial", "t", None), ("unet", "a", UNetConfig()), ("unet", "b", cross)], family="sky"
    )
    assert rows == {"trivial": "t", "unet (oracle)": "a", "unet (cross: window, srgb)": "b"}
    assert legend["unet (oracle)"].endswith("an oracle") and "sky scenes, `glowgan` curves" in legend["unet (oracle)"]
    assert legend["unet (cross: window, srgb)"] == (
        "trained on paired window photos with `srgb` curves, evaluated on sky photos with `glowgan` curves: cross-domain"
    )
    assert format_legend(legend).splitlines()[1].startswith("- unet (cross: window, srgb): trained on paired window")
    with pytest.raises(ValueError, match="its own name"):
        row_names([("unet", "a", UNetConfig()), ("unet", "b", UNetConfig(crf="glowgan"))], family="sky")
    with pytest.raises(ValueError, match="listed twice"):
        row_names([("masia", "a", None), ("masia", "b", None)], family="sky")


def test_rows_say_which_world_version_the_unet_learned():
    """World v1 and v2 render different skies and the same windows: only the sky rows cross a gap; a
    checkpoint that predates the recorded version is neither oracle nor cross-domain."""
    cases = [
        (UNetConfig(world_version=1), "sky", 2, "cross: world v1"),
        (UNetConfig(world_version=1), "sky", 1, "oracle"),
        (UNetConfig(world_version=2), "sky", 1, "cross: world v2"),
        (UNetConfig(world_version=1, crf="srgb"), "sky", 2, "cross: srgb, world v1"),
        (UNetConfig(family="window", world_version=1), "window", 2, "oracle"),
        (UNetConfig(family="window", world_version=1), "sky", 2, "cross: window"),
        (UNetConfig(world_version=None), "sky", 2, "world version unknown"),
        (UNetConfig(world_version=None, family="window"), "sky", 2, "cross: window"),
    ]
    for config, family, version, tag in cases:
        found = gap(config, family=family, world_version=version)
        assert (found.tag, found.oracle) == (tag, tag == "oracle"), (config, family, version)
    _, legend = row_names([("unet", "a", UNetConfig(world_version=1))], family="sky", world_version=2)
    assert legend["unet (cross: world v1)"] == (
        "trained on paired sky photos of world version 1 with `glowgan` curves, evaluated on sky photos of version 2 "
        "with `glowgan` curves: cross-domain"
    )
    _, legend = row_names([("unet", "a", UNetConfig(world_version=None))], family="sky")
    assert "does not record" in legend["unet (world version unknown)"]
    with pytest.raises(ValueError, match="unknown world version 3"):
        UNetConfig(world_version=3)


def test_unet_learns_its_world_version_and_old_checkpoints_are_unknown(tmp_path):
    v1, v2 = (training_batch(UNetConfig(batch=2, height=8, width=16, world_version=v), 0) for v in (1, 2))
    assert not torch.equal(v1[1], v2[1])  # the sky scenes differ: the version reaches the renderer
    train_supervised(tmp_path / "run", UNetConfig(height=8, width=16, batch=2, world_version=1), steps=1, progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    assert load_unet(path)[1].world_version == 1
    with pytest.raises(ValueError, match="world_version=1, not 2"):
        train_supervised(tmp_path / "run", UNetConfig(height=8, width=16, batch=2), steps=2, resume=True, progress=False)
    state = load_state(path)  # as written before the setting existed
    del state["unet_config"]["world_version"]
    save_checkpoint(path, state)
    assert load_unet(path)[1].world_version is None
    with pytest.raises(ValueError, match="predates recording the world version"):
        train_supervised(tmp_path / "run", UNetConfig(height=8, width=16, batch=2), steps=2, resume=True, progress=False)


# ---------------------------------------------------------------- evaluation and CLI


def test_cli_train_apply_evaluate(tmp_path, capsys):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    args = ["baseline", "train-supervised", "--size", "8x16", "--out", str(run)]
    args += ["--steps", "2", "--batch", "2", "--channels", "4"]
    assert main(args) == 0
    assert "step 2" in capsys.readouterr().out
    assert main(["baseline", "train-supervised", "--size", "8x16", "--out", str(run), "--steps", "3", "--resume"]) == 0
    assert load_state(run / "checkpoint.pt")["progress"]["step"] == 3

    photo = tmp_path / "photo.png"
    ldr, _, _ = scene_photos("sky", [3], height=12, width=20)
    hdrio.write_ldr(photo, ldr[0])
    out = tmp_path / "out" / "photo.exr"
    assert main(["baseline", "apply", str(photo), "--ckpt", str(run / "checkpoint.pt"), "--out", str(out)]) == 0
    hdr = hdrio.read_hdr(out)
    assert hdr.shape == (12, 20, 3) and hdr.min() >= 0 and out.with_suffix(".png").is_file()

    grey_photo = tmp_path / "grey.png"
    hdrio.write_ldr(grey_photo, np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5))
    assert main(["baseline", "apply", str(grey_photo), "--method", "masia", "--out", str(tmp_path / "g.exr")]) == 0
    assert hdrio.read_hdr(tmp_path / "g.exr").shape == (4, 5, 3)

    capsys.readouterr()
    evaluate = ["baseline", "evaluate", "--size", "8x16", "--seeds", "0-3", "--json"]
    assert main([*evaluate, "--ckpt", str(run / "checkpoint.pt")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"trivial", "akyuz", "masia", "masia2009", "unet (oracle)"}
    assert all(np.isfinite(row["clipped_rmse_stops"]) for row in scores.values())
    assert main([*evaluate, "--world-version", "1", "--methods", "trivial", "--ckpt", str(run / "checkpoint.pt")]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"trivial", "unet (cross: world v2)"}

    cross = tmp_path / "cross"
    args = ["baseline", "train-supervised", "--family", "window", "--crf", "srgb", "--size", "8x16"]
    assert main([*args, "--out", str(cross), "--steps", "1", "--batch", "2", "--channels", "4"]) == 0
    assert load_state(cross / "checkpoint.pt")["unet_config"]["crf"] == "srgb"
    capsys.readouterr()
    assert main([*evaluate[:-1], "--methods", "trivial", "--ckpt", str(cross / "checkpoint.pt")]) == 0
    text = capsys.readouterr().out
    assert "| unet (cross: window, srgb) |" in text and "evaluated on sky photos with `glowgan` curves" in text
    with pytest.raises(SystemExit):
        main(["baseline", "train-supervised", "--help"])
    assert "cross-domain" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    gan = tmp_path / "gan.pt"
    save_checkpoint(gan, {"config": {}, "G_ema": {}})
    photo = tmp_path / "p.png"
    hdrio.write_ldr(photo, np.full((4, 4, 3), 0.5, np.float32))
    out = tmp_path / "o.exr"
    cases = [
        (["--ckpt", str(gan)], "GAN training checkpoint"),
        (["--method", "reinhard"], "unknown baseline"),
        (["--method", "unet"], "needs a checkpoint"),
    ]
    for extra, message in cases:
        assert main(["baseline", "apply", str(photo), "--out", str(out), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["baseline", "apply", str(tmp_path / "missing.png"), "--method", "akyuz", "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["baseline", "apply", str(photo), "--method", "akyuz", "--out", str(tmp_path / "o.png")]) == 2
    assert "HDR file" in capsys.readouterr().err
    assert not out.exists()
    assert main(["baseline", "train-supervised", "--out", str(tmp_path / "r"), "--steps", "1", "--size", "8"]) == 2
    assert "--size must look like 32x64 (height x width" in capsys.readouterr().err
