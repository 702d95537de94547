"""Images/s of a full GlowGAN training iteration per preset, and the FLOP/s it achieves.

A full iteration is what `glowgan train` does per batch: a D step (G forward, camera, augmentation,
D on fakes and reals, lazy R1 every r1_interval steps, Adam), a G step (G forward, camera,
augmentation, D, backward, Adam) and the EMA update. Reals come from memory, as with a preloaded
data set. FLOPs are counted with torch's FlopCounterMode over one regularised and one plain step and
compared with the machine's float32 matmul peak, measured here with a large matmul.

    python benchmarks/train_speed.py                     # CPU presets
    python benchmarks/train_speed.py --presets gpu-256 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from glowgan.config import load_config, preset_names
from glowgan.distributed import Distributed
from glowgan.train import d_step, g_step, new_state, update_ema


def matmul_peak_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def iteration(state, reals: torch.Tensor, dist_info: Distributed) -> None:
    d_step(state, reals, dist_info)
    g_step(state, reals.shape[0], dist_info)
    update_ema(state, reals.shape[0])
    state.images += reals.shape[0]
    state.step += 1


def measure(preset: str, device: torch.device, seconds: float, overrides: list[str]) -> dict:
    config = load_config(preset=preset, overrides=overrides)
    state = new_state(config, device=device)
    dist_info = Distributed()
    batch = config.train.batch
    reals = torch.rand(batch, 3, *config.model.resolution, device=device)
    interval = config.train.r1_interval
    with FlopCounterMode(display=False) as counter:
        iteration(state, reals, dist_info)  # step 0: regularised
    flops_reg = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        iteration(state, reals, dist_info)
    flops_plain = counter.get_total_flops()
    flops = (flops_reg + (interval - 1) * flops_plain) / interval  # average per iteration
    for _ in range(2):
        iteration(state, reals, dist_info)
    _sync(device)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 2 * interval:
        iteration(state, reals, dist_info)
        steps += 1
    _sync(device)
    elapsed = time.perf_counter() - start
    return {
        "preset": preset,
        "resolution": "x".join(map(str, config.model.resolution)),
        "batch": batch,
        "img_per_s": steps * batch / elapsed,
        "gflops_per_s": flops * steps / elapsed / 1e9,
        "gflop_per_img": flops / batch / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu-32x64,cpu-32x32", help=f"comma-separated, from {preset_names()}")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per preset")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. train.batch=64")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = matmul_peak_gflops(device)
    print(f"device {device}, {torch.get_num_threads()} threads, float32 matmul peak {peak:.0f} GFLOP/s")
    print(f"{'preset':<14} {'size':>8} {'batch':>5} {'img/s':>8} {'GFLOP/s':>8} {'% peak':>7} {'GFLOP/img':>9} {'kimg/30min':>10}")
    for preset in args.presets.split(","):
        row = measure(preset.strip(), device, args.seconds, args.set)
        print(
            f"{row['preset']:<14} {row['resolution']:>8} {row['batch']:>5} {row['img_per_s']:>8.1f} "
            f"{row['gflops_per_s']:>8.1f} {100 * row['gflops_per_s'] / peak:>6.0f}% {row['gflop_per_img']:>9.3f} "
            f"{row['img_per_s'] * 1.8:>10.0f}"
        )


if __name__ == "__main__":
    main()
