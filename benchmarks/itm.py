"""Inverse tone mapping against ground truth (issue: HDR generation and unsupervised ITM).

Held-out scenes of the procedural world are photographed like the training set (metering, random
exposure offset and CRF, clipping, 8 bits), keeping photos whose highlights clip. Each method turns a
photo back into HDR; scores are PU21-PSNR over the whole image and over the clipped region, after a
least-squares exposure alignment on the unclipped pixels, log-PSNR over the clipped region, and the
light restored: the clipped region's energy and, for sky panoramas, the diffuse irradiance error at the
6 axis normals, in stops (``glowgan.evaluation``, ``glowgan.metrics.light``). When the photos hold both
kinds, two more tables split them: those whose clipped region hides a light (a sun: the truth's clipped
peak at least a stop over the clip) and those without (``glowgan.evaluation.by_light``). Methods:

- trivial: the photo through the camera prior's mean inverse CRF (clipped pixels stay at the clip level);
- glowgan: the full recipe (1000 latent/camera steps + 350 pivotal-tuning steps, LPIPS if installed);
- glowgan-fast: an encoder's prediction followed by 100 + 50 steps (the encoder is trained first if
  --encoder names a file that does not exist yet);

  both invert ``--batch`` photos side by side (``glowgan.invert.invert_photos``, as ``glowgan itm`` on a
  folder does; each photo's result is the one it gets alone), and each photo's seconds are its share of
  its batch's;
- NAME=CKPT: a supervised U-Net (`glowgan baseline train-supervised`), any number of them; each row is
  named NAME and the gap it crosses to these photos, ``unet (oracle)`` when it was trained on the
  photos' own family and curve, ``unet (cross: window, srgb)`` otherwise, explained in a legend under
  the table (glowgan.baselines.domains). Two U-Nets of one world need two names.

    python benchmarks/itm.py --ckpt runs/glowgan30/checkpoint.pt --encoder runs/glowgan30/encoder.pt --count 20 \
        --methods trivial,masia,unet=runs/unet/checkpoint.pt,unet=runs/unet-window-srgb/checkpoint.pt,glowgan,glowgan-fast \
        --json runs/itm.json
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glowgan.baselines import get_baseline, method_entry
from glowgan.baselines.domains import format_legend, row_names
from glowgan.checkpoint import load_generator
from glowgan.encoder import guesser, load_encoder, save_encoder, train_encoder
from glowgan.evaluation import LIGHT_STOPS, by_light, format_table, held_out_photos, summarise
from glowgan.generate import parse_seeds
from glowgan.hdrio import decode_ldr
from glowgan.invert import PIXEL_WEIGHT_0_255, InversionOptions, clip_levels_for, invert_photos
from glowgan.itm_defaults import BATCH, CLIP_LEVEL_WEIGHT, FAST_LATENT_STEPS, FAST_TUNE_STEPS, FILL_COLOURS, LATENT_STEPS, TUNE_STEPS
from glowgan.itm_rows import Inversions, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="GlowGAN checkpoint (camera on)")
    parser.add_argument("--encoder", type=Path, help="encoder for the fast mode (trained and written here if missing)")
    parser.add_argument("--encoder-minutes", type=float, default=10.0)
    parser.add_argument("--family", default="sky")
    parser.add_argument("--seeds", default="0-99", help="held-out scene seeds; photos that do not clip are skipped")
    parser.add_argument("--count", type=int, default=20, help="use the first COUNT photos that clip")
    parser.add_argument("--scale", type=int, default=1, help="photos at this multiple of the generator's resolution")
    parser.add_argument("--loss", default="auto", choices=("auto", "lpips", "msssim", "pixel"))
    parser.add_argument("--methods", default="trivial,glowgan,glowgan-fast", help="also any glowgan.baselines name; NAME=CKPT for a U-Net (several allowed)")
    parser.add_argument(
        "--fills",
        default="",
        help=f"also score these fill colours of the full recipe (from {FILL_COLOURS}; each row re-blends the same "
        "inversions, so its seconds are the blend's alone)",
    )
    parser.add_argument(
        "--clip-level-weight",
        type=float,
        default=CLIP_LEVEL_WEIGHT,
        help="weight of the term asking the clipped region for the generator's typical level above the clip (0: off)",
    )
    parser.add_argument("--steps", type=int, default=LATENT_STEPS, help="latent steps of the full recipe (glowgan)")
    parser.add_argument("--tune-steps", type=int, default=TUNE_STEPS, help="pivotal-tuning steps of the full recipe (glowgan)")
    parser.add_argument(
        "--tune-pixel-weight",
        type=float,
        help=f"weight of pivotal tuning's pixel MSE (default: {PIXEL_WEIGHT_0_255:g} beside a perceptual loss, which "
        "compares codes on 0-255 as the official code does; the latent steps' 1 with the pixel loss alone)",
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=f"photos inverted side by side (default {BATCH})")
    parser.add_argument(
        "--jpeg", type=int, metavar="Q", help="store each photo as a JPEG of this quality first, as cameras and phones do"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator, config = load_generator(args.ckpt)
    height, width = generator.img_resolution
    photos = held_out_photos(args.family, parse_seeds(args.seeds), size=(height * args.scale, width * args.scale))
    photos = photos[: args.count]
    if args.jpeg is not None:  # the truth and the clipped region stay the scene's
        photos = [replace(photo, ldr=jpeg_round_trip(photo.ldr, args.jpeg)) for photo in photos]
    shared = {"perceptual": args.loss, "clip_level_weight": args.clip_level_weight, "tune_pixel_weight": args.tune_pixel_weight}
    full = InversionOptions(latent_steps=args.steps, tune_steps=args.tune_steps, **shared)
    fast = InversionOptions(latent_steps=FAST_LATENT_STEPS, tune_steps=FAST_TUNE_STEPS, **shared)
    if args.batch < 1:
        parser.error(f"--batch must be at least 1, got {args.batch}")
    wanted = args.methods.split(",")
    fills = [fill for fill in args.fills.split(",") if fill]
    for fill in fills:
        if fill not in FILL_COLOURS:
            parser.error(f"--fills: {fill!r} is not one of {FILL_COLOURS}")
    if "glowgan-fast" in wanted and args.encoder is None:
        parser.error("glowgan-fast needs --encoder")
    levels = clip_levels_for(generator, config, full)  # the same for the fast mode, measured once
    methods = {"trivial": get_baseline("trivial")}
    inversions: dict[str, Inversions] = {}  # row name -> the inversions it is timed with
    if "glowgan" in wanted or fills:
        inversions["glowgan"] = Inversions(
            lambda ldrs: invert_photos(generator, config, ldrs, options=full, clip_levels=levels, progress=False),
            batch=args.batch, fill=full.fill, name="glowgan",
        )
        methods["glowgan"] = inversions["glowgan"].row()
        for fill in fills:
            methods[f"glowgan (fill {fill})"] = inversions["glowgan"].row(fill)
            wanted.append(f"glowgan (fill {fill})")
    if "glowgan-fast" in wanted:
        if not args.encoder.exists():
            encoder, record = train_encoder(generator, config, steps=None, minutes=args.encoder_minutes)
            save_encoder(args.encoder, encoder, generator, record)
            print(f"trained an encoder for {record['steps']} steps ({record['seconds']:.0f} s): {args.encoder}")
        encoder = load_encoder(args.encoder, generator)
        inversions["glowgan-fast"] = Inversions(
            lambda ldrs: invert_photos(
                generator, config, ldrs, options=fast, initial=guesser(encoder), clip_levels=levels, progress=False
            ),
            batch=args.batch, fill=fast.fill, name="glowgan-fast",
        )
        methods["glowgan-fast"] = inversions["glowgan-fast"].row()
    entries = [method_entry(item, methods) for item in wanted]
    methods, legend = row_names(entries, family=args.family)
    results = evaluate(methods, photos, inversions)
    summary = summarise(results)
    clipped = sum(p.clipped.mean() for p in photos) / len(photos)
    print(f"\n{len(photos)} held-out {args.family} photos at {width * args.scale}x{height * args.scale}, "
          f"{100 * clipped:.1f} % of pixels clipped on average")
    print(format_table(summary))
    split = by_light(results, photos)
    kinds = {kind: summarise(rows) for kind, rows in split.items()}
    if len(split) > 1:  # a gain on photos with a sun can hide a loss on those without
        for kind, rows in split.items():
            count = len(next(iter(rows.values()))["seconds"])
            bound = "at least" if kind == "with a light" else "under"
            print(f"\n{count} photos {kind} (the truth's clipped peak {bound} {LIGHT_STOPS:g} stop over the clip):")
            print(format_table(kinds[kind]))
    if legend:
        print("\nU-Nets:\n" + format_legend(legend))
    if args.json:
        recipe = {"steps": args.steps, "tune_steps": args.tune_steps, "clip_level_weight": args.clip_level_weight, "jpeg": args.jpeg,
                  "loss": args.loss, "tune_pixel_weight": args.tune_pixel_weight, "batch": args.batch}
        photo_list = [{"seed": photo.seed, "light_stops": photo.light_stops} for photo in photos]
        record = {"summary": summary, "by_light": kinds, "unets": legend, "recipe": recipe, "photos": photo_list, "per_image": results}
        args.json.write_text(json.dumps(record, indent=1))


def jpeg_round_trip(ldr: np.ndarray, quality: int) -> np.ndarray:
    """``ldr`` [H, W, 3] in [0, 1] written as a JPEG of ``quality`` (Pillow's default 4:2:0 chroma) and read back."""
    stored = io.BytesIO()
    Image.fromarray(np.round(ldr * 255).astype(np.uint8)).save(stored, "JPEG", quality=quality)
    return decode_ldr(stored.getvalue(), name=f"photo.jpg (quality {quality})")


if __name__ == "__main__":
    main()
