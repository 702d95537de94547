"""How fast is the procedural HDR world? End-to-end synthesis and rendering alone, per family and size.

    .venv/bin/python benchmarks/synth_speed.py [--count 5000] [--threads N] [--workers 4]

1. ``glowgan data synth`` end to end: ``--count`` ``sky`` images at 32x64 into a temporary folder
   (render + photograph + PNG + float32 EXR + manifest), with the set's statistics;
2. rendering alone (``world.render_scenes``) per family at 32x64 and 256x512, and photographing alone.

Prints a table. Numbers depend on the machine and on what else runs on it; ``--threads`` sets
``torch.set_num_threads`` (default: PyTorch's choice).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import tempfile
import time

import torch

from glowgan.data import world
from glowgan.data.synth import SynthSpec, default_camera, photograph, synthesize


def _time(fn, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls, seconds (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="images in the end-to-end run (default 5000)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=4, help="file-writing threads of synthesize (default 4)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}"
    )

    with tempfile.TemporaryDirectory(prefix="glowgan-synth-bench-") as tmp:
        spec = SynthSpec(family="sky", count=args.count, height=32, width=64)
        report = synthesize(tmp, spec, workers=args.workers, progress=False)
    print(
        f"\nend to end: {args.count} sky images at 32x64 (PNG + EXR + manifest): {report.seconds:.1f} s "
        f"({1000 * report.seconds / args.count:.2f} ms/image)"
    )
    print(
        f"  over-exposed {100 * report.over_fraction:.2f} %, under-exposed {100 * report.under_fraction:.2f} %, "
        f"median HDR dynamic range {report.dynamic_range_median_stops:.2f} stops"
    )

    print("\n| family | size | render ms/image | photograph ms/image |")
    print("|---|---|---|---|")
    for family in world.FAMILIES:
        for height, width, count in ((32, 64, 512), (256, 512, 16)):
            seeds = list(range(count))
            render_s = _time(functools.partial(world.render_scenes, family, seeds, height=height, width=width))
            hdr = world.render_scenes(family, seeds, height=height, width=width)
            camera = default_camera(family)
            photo_s = _time(functools.partial(photograph, hdr, seeds, camera=camera))
            print(f"| {family} | {height}x{width} | {1000 * render_s / count:.2f} | {1000 * photo_s / count:.2f} |")


if __name__ == "__main__":
    main()
