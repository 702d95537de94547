import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from glowgan import hdrio
from glowgan import train as train_module
from glowgan.checkpoint import load_checkpoint, load_generator
from glowgan.config import load_config
from glowgan.generate import generate_images
from glowgan.train import CHECKPOINT_NAME, TrainingStopped, train

TINY = [
    "model.resolution=[8, 16]",
    "model.z_dim=8",
    "model.w_dim=8",
    "model.g_channel_base=64",
    "model.g_channel_max=8",
    "model.d_channel_base=64",
    "model.d_channel_max=8",
    "train.batch=4",
    "train.tick_kimg=0.008",
    "train.snapshot_ticks=1",
    "train.grid_size=2",
    "train.r1_interval=2",
    "train.threads=1",
]


def tiny_config(*extra: str, kimg: float = 0.016):
    return load_config(preset="cpu-32x64", overrides=[*TINY, f"train.total_kimg={kimg}", *extra])


@pytest.fixture(scope="module")
def ldr_folder(tmp_path_factory) -> Path:
    """24 small LDR 'photos': smooth gradients with a clipped bright blob, as a camera would record."""
    folder = tmp_path_factory.mktemp("ldr")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:8, 0:16] / np.array([8.0, 16.0])[:, None, None]
    for i in range(24):
        base = rng.uniform(0.1, 0.5, size=3) * (1 - 0.5 * yy[..., None])
        blob = np.exp(-((xx - rng.uniform()) ** 2 + (yy - 0.3) ** 2) / 0.01)[..., None] * 2
        hdrio.write_ldr(folder / f"img{i:03d}.png", np.clip(base + blob, 0, 1).astype(np.float32))
    return folder


def _states_equal(a: dict, b: dict) -> bool:
    for key in ("G", "G_ema", "D"):
        for name, tensor in a[key].items():
            if not torch.equal(tensor, b[key][name]):
                return False
    return True


def test_end_to_end_train_checkpoint_and_sample(ldr_folder, tmp_path):
    run = tmp_path / "run"
    ticks = []
    last = train(tiny_config(), data=ldr_folder, run_dir=run, progress=False, on_tick=ticks.append)
    assert last["kimg"] == pytest.approx(0.016) and len(ticks) == 2
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    for key in ("loss_G", "loss_D", "r1", "saturated_fake", "saturated_real", "images_per_s"):
        assert np.isfinite(lines[-1][key]), key
    payload = load_checkpoint(run / CHECKPOINT_NAME)
    assert payload["progress"]["images"] == 16
    # plain tensors and primitives only: loadable with weights_only=True
    torch.load(run / CHECKPOINT_NAME, weights_only=True)
    grids = sorted((run / "grids").glob("*.png"))
    assert grids and hdrio.read_ldr(grids[-1]).shape == (2 * 8 + 2, 6 * 16 + 5 * 2, 3)
    generator, config = load_generator(run / CHECKPOINT_NAME)
    exrs = generate_images(generator, config, [3, 4], tmp_path / "samples", progress=False)
    hdr = hdrio.read_hdr(exrs[0])
    assert hdr.shape == (8, 16, 3) and np.isfinite(hdr).all() and hdr.min() >= 0
    again = generate_images(generator, config, [3], tmp_path / "again", progress=False)
    # the same seed gives the same image, alone or in a batch (up to float rounding of batched matmuls)
    assert np.allclose(hdrio.read_hdr(again[0]), hdr, rtol=1e-5, atol=1e-7)


def test_resume_is_bit_exact(ldr_folder, tmp_path):
    straight = tmp_path / "straight"
    train(tiny_config(kimg=0.032), data=ldr_folder, run_dir=straight, progress=False)
    split = tmp_path / "split"
    train(tiny_config(kimg=0.016), data=ldr_folder, run_dir=split, progress=False)
    halfway = load_checkpoint(split / CHECKPOINT_NAME)
    assert halfway["progress"]["step"] == 4
    train(tiny_config(kimg=0.032), data=ldr_folder, run_dir=split, resume=True, progress=False)
    a, b = load_checkpoint(straight / CHECKPOINT_NAME), load_checkpoint(split / CHECKPOINT_NAME)
    assert a["progress"]["step"] == b["progress"]["step"] == 8
    assert _states_equal(a, b)
    assert not _states_equal(a, halfway), "training must change the weights"
    for key in ("opt_G", "opt_D"):
        for index, slot in a[key]["state"].items():
            assert torch.equal(slot["exp_avg"], b[key]["state"][index]["exp_avg"])


def test_vanilla_baseline_trains_with_ldr_generator(ldr_folder, tmp_path):
    run = tmp_path / "vanilla"
    train(tiny_config("camera.enabled=false"), data=ldr_folder, run_dir=run, progress=False)
    generator, config = load_generator(run / CHECKPOINT_NAME)
    assert generator.output == "ldr" and not config.camera.enabled
    z = torch.randn(3, generator.z_dim)
    ldr = generator(z)
    assert ldr.min() >= 0 and ldr.max() <= 1
    exr = generate_images(generator, config, [0], tmp_path / "s", progress=False)[0]
    assert np.isfinite(hdrio.read_hdr(exr)).all()


def test_starting_over_an_existing_run_is_refused(ldr_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(kimg=0.008), data=ldr_folder, run_dir=run, progress=False)
    before = (run / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny_config(), data=ldr_folder, run_dir=run, progress=False)
    assert (run / CHECKPOINT_NAME).read_bytes() == before


def test_resolution_mismatch_is_a_clear_error(ldr_folder, tmp_path):
    config = tiny_config("model.resolution=[16, 32]")
    with pytest.raises(ValueError, match=r"images are 8x16 \(HxW\) but 16x32 was asked for"):
        train(config, data=ldr_folder, run_dir=tmp_path / "r", progress=False)


def test_nonfinite_loss_stops_without_poisoning_the_checkpoint(ldr_folder, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(kimg=0.008), data=ldr_folder, run_dir=run, progress=False)
    good = load_checkpoint(run / CHECKPOINT_NAME)
    real_d_step = train_module.d_step

    def poisoned(state, real_ldr, dist_info):
        return real_d_step(state, real_ldr * float("nan"), dist_info)

    monkeypatch.setattr(train_module, "d_step", poisoned)
    with pytest.raises(TrainingStopped, match="non-finite"):
        train(tiny_config(kimg=0.016), data=ldr_folder, run_dir=run, resume=True, progress=False)
    after = load_checkpoint(run / CHECKPOINT_NAME)
    assert _states_equal(good, after)
    assert all(torch.isfinite(t).all() for t in after["D"].values())


def test_nonfinite_steps_can_be_skipped_and_counted(ldr_folder, tmp_path, monkeypatch):
    real_d_step = train_module.d_step
    calls = {"n": 0}

    def sometimes_poisoned(state, real_ldr, dist_info):
        calls["n"] += 1
        return real_d_step(state, real_ldr * float("nan") if calls["n"] == 2 else real_ldr, dist_info)

    monkeypatch.setattr(train_module, "d_step", sometimes_poisoned)
    last = train(tiny_config("train.nonfinite=skip"), data=ldr_folder, run_dir=tmp_path / "r", progress=False)
    assert last["skipped_steps"] == 1
    payload = load_checkpoint(tmp_path / "r" / CHECKPOINT_NAME)
    assert all(torch.isfinite(t).all() for t in payload["D"].values())


def test_white_collapse_is_detected_and_stops(ldr_folder, tmp_path, monkeypatch):
    real_generate = train_module.generate_ldr

    def white(state, n):
        return real_generate(state, n) * 0 + 1  # all white, still connected to G

    monkeypatch.setattr(train_module, "generate_ldr", white)
    ticks = []
    with pytest.raises(TrainingStopped, match="white collapse"):
        train(
            tiny_config("train.collapse_patience=2", kimg=0.04),
            data=ldr_folder,
            run_dir=tmp_path / "r",
            progress=False,
            on_tick=ticks.append,
        )
    assert [t["collapse_ticks"] for t in ticks] == [1, 2]
    assert ticks[-1]["saturated_fake"] == 1.0 and ticks[-1]["saturated_real"] < 0.5
    assert not (tmp_path / "r" / CHECKPOINT_NAME).exists(), "no checkpoint of a collapsed run"


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "glowgan", *args], env=env, **kwargs)


def test_sigkill_leaves_a_usable_checkpoint(ldr_folder, tmp_path):
    run = tmp_path / "run"
    overrides = [f"--set={o}" for o in TINY]
    process = _cli(
        "train", "--data", str(ldr_folder), "--out", str(run), "--kimg", "50", "--no-progress", *overrides,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 60
        while not (run / CHECKPOINT_NAME).exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.time() < deadline, "no checkpoint written within 60 s"
            time.sleep(0.05)
        time.sleep(0.3)  # land the kill at an arbitrary point, possibly mid-write
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    payload = load_checkpoint(run / CHECKPOINT_NAME)
    images = payload["progress"]["images"]
    assert images > 0
    resumed = _cli("train", "--resume", str(run), "--kimg", str((images + 8) / 1000), "--no-progress",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert load_checkpoint(run / CHECKPOINT_NAME)["progress"]["images"] == images + 8
    assert not list(run.glob(".*.tmp")), "stale temporary files must be cleaned up"
    ticks = [json.loads(line)["tick"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert ticks == sorted(set(ticks)), "ticks logged after the checkpoint must not be logged twice"
    assert (run / CHECKPOINT_NAME).stat().st_mode & 0o044, "checkpoints get the usual permissions, not 0600"


def test_two_process_ddp_keeps_replicas_identical(ldr_folder, tmp_path):
    run = tmp_path / "ddp"
    overrides = [f"--set={o}" for o in TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "glowgan", "train", "--data", str(ldr_folder), "--out", str(run), "--kimg", "0.016",
         "--device", "cpu", "--no-progress", *overrides],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert lines and all(line["replicas_in_sync"] for line in lines)
    payload = load_checkpoint(run / CHECKPOINT_NAME)
    assert payload["progress"]["images"] == 16 and len(payload["rng"]) == 2


def test_time_limit_stops_at_the_next_step_and_saves(ldr_folder, tmp_path):
    run = tmp_path / "timed"
    last = train(tiny_config("train.max_minutes=0.00001", kimg=10), data=ldr_folder, run_dir=run, progress=False)
    assert last["step"] == 1
    assert load_checkpoint(run / CHECKPOINT_NAME)["progress"]["images"] == 4


def test_resume_takes_new_learning_rates_and_refuses_a_new_seed(ldr_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(kimg=0.008), data=ldr_folder, run_dir=run, progress=False)
    state = train_module.load_state(run / CHECKPOINT_NAME, device=torch.device("cpu"), rank=0, world=1,
                                    config=tiny_config("train.g_lr=0.001", kimg=0.016))
    assert [g["lr"] for g in state.opt_G.param_groups] == [0.001]
    assert state.opt_G.state, "Adam moments are kept"
    with pytest.raises(ValueError, match="seed"):
        train(tiny_config("train.seed=5", kimg=0.016), data=ldr_folder, run_dir=run, resume=True, progress=False)
