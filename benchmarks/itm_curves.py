"""Inverse tone mapping split by the camera curve of the photo (issue: real cameras; DESIGN.md, "Evaluating
honestly"): the model's own curve family, and curves it never assumed.

The same held-out scenes of the procedural world are photographed once per curve family (metering,
the training set's exposure offsets, clipping, 8 bits; `glowgan.evaluation.held_out_photos(camera=)`),
keeping photos whose highlights clip. Methods:

- trivial: the photo through the model prior's mean inverse curve (the "inverse CRF only" baseline);
- masia: Masia et al. 2017 expansion (it too linearises with the model prior's mean curve);
- glowgan: inversion fitting the model prior's curve family (gamma/beta for `glowgan`);
- glowgan-pca: inversion fitting the data-driven `pca` family, started from the model's curve;
- NAME=CKPT: a supervised U-Net, any number of them; each row is named NAME and the gap it crosses to
  each curve's photos (``unet (oracle)``, ``unet (cross: srgb)``; glowgan.baselines.domains), explained
  in a legend under the table.

Inversions use `--steps` + `--tune-steps` (default 300 + 100, pixel loss at 32x64: shorter than the
official 1000 + 350; say so when quoting), `--batch` photos side by side (`glowgan.itm_rows`: each gets
the result it gets alone, up to float rounding; its seconds are its share of its batch's). Besides the ITM scores of `glowgan.evaluation`, the curve
found by each inversion is compared with the photo's true curve: RMSE over [0, 1] (257 points), beside
the RMSE of the model prior's mean curve (what a fixed-CRF inversion assumes).

    python benchmarks/itm_curves.py --ckpt runs/i12/glowgan-prior/checkpoint.pt --count 8 \
        --curves glowgan,srgb,filmic --json docs/itm/curves.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from glowgan import camera as cam
from glowgan import crf as curves
from glowgan.baselines import method_entry
from glowgan.baselines.domains import format_legend, row_names
from glowgan.checkpoint import load_generator
from glowgan.data.synth import default_camera
from glowgan.evaluation import format_table, held_out_photos, summarise
from glowgan.generate import parse_seeds
from glowgan.invert import InversionOptions, clip_levels_for, invert_photos
from glowgan.itm_defaults import BATCH
from glowgan.itm_rows import Inversions, evaluate

GRID = torch.linspace(0.0, 1.0, 257)[None]  # [1, 257] exposed values at which curves are compared


def curve_rmse(found: cam.CameraParams, truth: cam.CameraParams) -> float:
    return curves.rmse(cam.crf_forward(GRID, found.detach().to("cpu"))[0], cam.crf_forward(GRID, truth)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="GlowGAN checkpoint (camera on)")
    parser.add_argument("--family", default="sky")
    parser.add_argument("--seeds", default="0-199", help="held-out scene seeds; photos that do not clip are skipped")
    parser.add_argument("--count", type=int, default=8, help="use the first COUNT photos that clip, per curve")
    parser.add_argument("--curves", default="glowgan,srgb,filmic", help="curve families of the photos")
    parser.add_argument(
        "--methods", default="trivial,masia,glowgan,glowgan-pca", help="also NAME=CKPT for a U-Net (several allowed)"
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tune-steps", type=int, default=100)
    parser.add_argument("--loss", default="pixel", choices=("auto", "lpips", "msssim", "pixel"))
    parser.add_argument(
        "--crf-prior-weight", type=float, default=InversionOptions().crf_prior_weight,
        help="weight of the curve's log-prior in the inversions (default: the library's)",
    )
    parser.add_argument(
        "--clip-level-weight", type=float, default=InversionOptions().clip_level_weight,
        help="weight of the term asking the clipped region for the generator's typical level above the clip (0: off)",
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=f"photos inverted side by side (default {BATCH})")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator, config = load_generator(args.ckpt)
    height, width = generator.img_resolution
    prior_mean = config.camera.prior.mean(1)

    levels = clip_levels_for(generator, config, InversionOptions(clip_level_weight=args.clip_level_weight))  # once

    def inversion(name: str, crf: str | None) -> Inversions:
        options = InversionOptions(
            latent_steps=args.steps,
            tune_steps=args.tune_steps,
            perceptual=args.loss,
            crf=crf,
            crf_prior_weight=args.crf_prior_weight,
            clip_level_weight=args.clip_level_weight,
        )
        return Inversions(
            lambda ldrs: invert_photos(generator, config, ldrs, options=options, clip_levels=levels, progress=False),
            batch=args.batch, fill=options.fill, name=name,
        )

    available = {"glowgan": inversion("glowgan", None), "glowgan-pca": inversion("glowgan-pca", "pca")}
    wanted = args.methods.split(",")
    entries = [method_entry(item, {name: inverted.row() for name, inverted in available.items()}) for item in wanted]
    inversions = {name: inverted for name, inverted in available.items() if name in wanted}

    report: dict[str, dict] = {
        "checkpoint": str(args.ckpt),
        "steps": [args.steps, args.tune_steps],
        "crf_prior_weight": args.crf_prior_weight,
        "curves": {},
    }
    for crf in args.curves.split(","):
        camera = default_camera(args.family).component(crf)
        photos = held_out_photos(args.family, parse_seeds(args.seeds), size=(height, width), camera=camera)[: args.count]
        methods, legend = row_names(entries, family=args.family, camera=camera)
        results = evaluate(methods, photos, inversions)
        summary = summarise(results)
        recovery = {"prior mean (fixed CRF)": [curve_rmse(prior_mean, p.camera) for p in photos]}
        recovery.update({name: [curve_rmse(inverted.result(p.ldr).camera, p.camera) for p in photos]
                         for name, inverted in inversions.items()})
        clipped = float(np.mean([p.clipped.mean() for p in photos]))
        print(f"\n## photos shot with `{crf}` curves: {len(photos)} held-out {args.family} photos at {width}x{height}, "
              f"{100 * clipped:.1f} % of pixels clipped on average")
        print(format_table(summary))
        if legend:
            print(format_legend(legend))
        print("\ncurve recovery, RMSE over [0, 1] against each photo's true curve (mean / median / max):")
        for name, values in recovery.items():
            print(f"  {name:24s} {np.mean(values):.3f} / {np.median(values):.3f} / {np.max(values):.3f}")
        report["curves"][crf] = {
            "photos": [p.seed for p in photos],
            "clipped_fraction": clipped,
            "summary": summary,
            "unets": legend,
            "median_clipped_rmse_stops": {n: float(np.median(r["clipped_rmse_stops"])) for n, r in results.items()},
            "curve_rmse": recovery,
            "per_image": results,
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
