"""Photos per minute of inverse tone mapping, by how many photos are inverted side by side (issue 13).

``glowgan.invert.invert_photos`` runs a batch of photos' optimisations as one: each keeps its own latent,
camera, tuned weights and random stream (the result is the one it gets alone), but every step is one
pass of the generator for all of them. At 32x64 a step at a batch of one is bound by per-operation
overhead, so the time per photo falls with the batch. This inverts the first ``--photos`` held-out sky
photos that clip (validation scenes, seeds 10000+), at each batch size in turn, and reports seconds and
photos per minute, and the milliseconds per photo of a latent step and of a tuning step. The clip levels
are measured once before timing (as a folder run does at load). Run it on an otherwise idle machine.

    python benchmarks/itm_speed.py --ckpt runs/q3-clean/runs/projected-eqlr+resnet-8bit+highlights-seed0/checkpoint.pt \\
        --batches 1,2,4,8,16 --steps 200 --tune-steps 70
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from glowgan.checkpoint import load_generator
from glowgan.evaluation import held_out_photos
from glowgan.invert import InversionOptions, clip_levels_for, invert_photos
from glowgan.itm_losses import perceptual_network
from glowgan.itm_defaults import LATENT_STEPS, TUNE_STEPS

VALIDATION_SEEDS = range(10000, 10400)  # not the benchmark's scenes (benchmarks/itm.py uses 0-99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="GlowGAN checkpoint (camera on)")
    parser.add_argument("--batches", default="1,2,4,8,16", help="batch sizes to time, comma-separated")
    parser.add_argument("--photos", type=int, default=16, help="photos inverted at each batch size (at least the batch)")
    parser.add_argument("--steps", type=int, default=LATENT_STEPS, help="latent steps (time per step is constant: fewer measure faster)")
    parser.add_argument("--tune-steps", type=int, default=TUNE_STEPS, help="pivotal-tuning steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator, config = load_generator(args.ckpt)
    batches = [int(batch) for batch in args.batches.split(",")]
    count = max(args.photos, *batches)
    photos = [photo.ldr for photo in held_out_photos("sky", list(VALIDATION_SEEDS), size=generator.img_resolution)[:count]]
    options = InversionOptions(latent_steps=args.steps, tune_steps=args.tune_steps)
    levels = clip_levels_for(generator, config, options)
    network = perceptual_network(options.perceptual, generator)  # loaded once, as a folder run does
    warm_up = InversionOptions(latent_steps=2, tune_steps=2)
    invert_photos(generator, config, photos[:2], options=warm_up, perceptual=network, clip_levels=levels, progress=False)
    rows = {}
    print(f"{len(photos)} photos, {args.steps} + {args.tune_steps} steps, {args.threads} threads\n")
    print("| batch | s/photo | photos/min | latent ms/photo-step | tuning ms/photo-step |")
    print("|---|---|---|---|---|")
    for batch in batches:
        started = time.perf_counter()
        results = []
        for first in range(0, len(photos), batch):
            results += invert_photos(
                generator, config, photos[first : first + batch], options=options, perceptual=network, clip_levels=levels, progress=False
            )
        seconds = (time.perf_counter() - started) / len(photos)
        latent = sum(result.seconds["latent"] for result in results) / len(results)
        tune = sum(result.seconds["tune"] for result in results) / len(results)
        rows[batch] = {
            "seconds_per_photo": seconds,
            "photos_per_minute": 60 / seconds,
            "latent_ms_per_photo_step": 1000 * latent / max(args.steps, 1),
            "tune_ms_per_photo_step": 1000 * tune / max(args.tune_steps, 1),
        }
        row = rows[batch]
        print(f"| {batch} | {seconds:.2f} | {row['photos_per_minute']:.1f} | {row['latent_ms_per_photo_step']:.2f} | "
              f"{row['tune_ms_per_photo_step']:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"ckpt": str(args.ckpt), "photos": len(photos), "steps": args.steps,
                                         "tune_steps": args.tune_steps, "threads": args.threads, "batches": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
