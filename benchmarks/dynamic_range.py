"""How much of the true dynamic range do trained models recover? (issue: GlowGAN model and training)

Samples N HDR images from each checkpoint (a vanilla, camera-off model's LDR output is linearised by
the mean inverse CRF of the default camera prior, as in the paper's comparison) and compares their
per-image dynamic range (log2 of P99.9 / P0.1 luminance, as `glowgan info`) with the ground truth of a
synthetic set:

- full: the ground truth as rendered;
- observable: the ground truth clipped at the brightest radiance that the set's photographing leaves
  unclipped in 1% of photos (metered exposure plus the 1st percentile of the exposure offsets). No
  LDR-only method can know radiance above that level (DESIGN.md, "What LDR photos can and cannot
  teach").

    python benchmarks/dynamic_range.py --world runs/sky5000 --ckpt glowgan=runs/g/checkpoint.pt \
        --ckpt vanilla=runs/v/checkpoint.pt --count 1000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from glowgan import hdrio
from glowgan.checkpoint import load_generator
from glowgan.data.synth import read_manifest
from glowgan.generate import sample_hdr_batches
from glowgan.metrics.dynamic_range import dynamic_range_stops, dynamic_range_stops_batch, luminance

OBSERVABLE_QUANTILE = 0.01


def headroom_stops(hdr: np.ndarray) -> float:
    """Highlight headroom: log2(P99.9 / P50) of luminance, how far the bright end reaches above the median."""
    return dynamic_range_stops(hdr, low_percentile=50.0)


def ground_truth(world: Path, count: int) -> dict[str, np.ndarray]:
    _, records = read_manifest(world)
    records = records[:count]
    offsets = np.array([r["offset_stops"] for r in records])
    # brightest exposure offset (most negative: darkest photo) that 1% of photos reach
    darkest_offset = np.quantile(offsets, OBSERVABLE_QUANTILE)
    full, observable, headroom, observable_headroom, saturation = [], [], [], [], []
    for record in records:
        hdr = hdrio.read_hdr(world / record["hdr"])
        clip_level = 2.0 ** -(record["meter_stops"] + darkest_offset)  # radiance reaching 1.0 in that photo
        full.append(dynamic_range_stops(hdr))
        observable.append(dynamic_range_stops(np.minimum(hdr, clip_level)))
        headroom.append(headroom_stops(hdr))
        observable_headroom.append(headroom_stops(np.minimum(hdr, clip_level)))
        saturation.append(float((luminance(hdr) >= clip_level).mean()))
    return {
        "full": (np.array(full), np.array(headroom)),
        "observable": (np.array(observable), np.array(observable_headroom)),
        "beyond_observable": np.array(saturation),
    }


def model_dynamic_range(path: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    generator, config = load_generator(path)
    seeds = list(range(100_000, 100_000 + count))
    ranges, headrooms = [], []
    for _, hdr in sample_hdr_batches(generator, config, seeds, batch=50):
        ranges.append(dynamic_range_stops_batch(hdr))
        headrooms.extend(headroom_stops(image) for image in hdr)
    return np.concatenate(ranges), np.array(headrooms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="a set written by glowgan data synth")
    parser.add_argument("--ckpt", action="append", default=[], metavar="NAME=PATH", help="a model to compare")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    truth = ground_truth(args.world, args.count)
    rows = {"ground truth (full)": truth["full"], "ground truth (observable)": truth["observable"]}
    for item in args.ckpt:
        name, _, path = item.partition("=")
        rows[name] = model_dynamic_range(Path(path), args.count)
    print(f"per-image dynamic range (DR, log2 P99.9/P0.1 of luminance) and highlight headroom (log2 P99.9/P50), "
          f"stops, {args.count} images each")
    print(f"{'':<28}{'DR median':>10}{'DR p10':>8}{'DR p90':>8}{'headroom median':>17}{'p90':>7}")
    summary = {}
    for name, (ranges, headrooms) in rows.items():
        p10, median, p90 = np.percentile(ranges, [10, 50, 90])
        h_median, h_p90 = np.percentile(headrooms, [50, 90])
        summary[name] = {"dr_median": median, "dr_p10": p10, "dr_p90": p90, "headroom_median": h_median, "headroom_p90": h_p90}
        print(f"{name:<28}{median:>10.2f}{p10:>8.2f}{p90:>8.2f}{h_median:>17.2f}{h_p90:>7.2f}")
    print(f"ground-truth pixels above the observable level: {100 * truth['beyond_observable'].mean():.2f} %")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
