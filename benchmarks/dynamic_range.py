"""How much of the true dynamic range do trained models recover? (issue: GlowGAN model and training)

Samples N HDR images from each checkpoint (a vanilla, camera-off model's LDR output is linearised by
the mean inverse CRF of the default camera prior, as in the paper's comparison) and compares their
per-image dynamic range (log2 of P99.9 / P0.1 luminance, as `glowgan info`) and highlight headroom
(log2 P99.9 / P50) with the ground truth of a synthetic set, full and observable (the ground truth
clipped at the brightest radiance that 1 % of the set's photos leave unclipped; see
`glowgan.report.sets` and DESIGN.md, "What LDR photos can and cannot teach"). The same numbers, and
more, are in the report of `glowgan eval`; this is the quick look.

    python benchmarks/dynamic_range.py --world runs/sky5000 --ckpt glowgan=runs/g/checkpoint.pt \
        --ckpt vanilla=runs/v/checkpoint.pt --count 1000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from glowgan.report import SAMPLE_SEED_BASE
from glowgan.report.sets import image_statistics, load_model, read_world, sample_metered, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="a set written by glowgan data synth")
    parser.add_argument("--ckpt", action="append", default=[], metavar="NAME=PATH", help="a model to compare")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world = read_world(args.world, args.count)
    rows = {"ground truth (full)": world.metered_hdr, "ground truth (observable)": world.observable_hdr()}
    seeds = list(range(SAMPLE_SEED_BASE, SAMPLE_SEED_BASE + args.count))
    for item in args.ckpt:
        name, _, path = item.partition("=")
        rows[name] = sample_metered(load_model(name, Path(path)), seeds, world)
    print(
        f"per-image dynamic range (DR, log2 P99.9/P0.1 of luminance) and highlight headroom (log2 P99.9/P50), "
        f"stops, {args.count} images each"
    )
    print(f"{'':<28}{'DR median':>10}{'DR p10':>8}{'DR p90':>8}{'headroom median':>17}{'p90':>7}")
    results = {}
    for name, hdr in rows.items():
        values = image_statistics(hdr)
        dr, headroom = summary(values["dynamic_range"]), summary(values["headroom"])
        results[name] = {"dynamic_range": dr, "headroom": headroom}
        print(
            f"{name:<28}{dr['median']:>10.2f}{dr['p10']:>8.2f}{dr['p90']:>8.2f}"
            f"{headroom['median']:>17.2f}{headroom['p90']:>7.2f}"
        )
    print(f"ground-truth pixels above the observable level: {100 * world.beyond_observable_fraction():.2f} %")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
