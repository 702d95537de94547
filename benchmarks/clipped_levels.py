"""How far above the clip level a photo's clipped pixels lie: the procedural world's truth against a
generator's samples (issues 11 and 13).

A photo records a clipped pixel as 1.0 whatever its radiance; inverse tone mapping has to guess that
radiance, and a GlowGAN generator can only fill in what its own images hold. This compares, in stops
above the clip level (log2 of the exposed radiance, all channels of the pixels whose brightest channel
clips):

- the truth: held-out scenes photographed with the family's training camera (``glowgan.evaluation``,
  the photos that ``benchmarks/itm.py`` inverts, those that clip at least 0.2 % of their pixels);
- the generator: its samples photographed through its own camera prior (how its discriminator saw them),
  those that clip as much.

With ``--white`` a pixel counts only when every channel clips, as inverse tone mapping counts it
(``glowgan.itm_levels``: a light far over the clip saturates all three channels, a bright coloured sky
one or two).

Columns: the mean over all clipped pixels; the mean over photos of each photo's mean; the same over the
photos that clip less than 1 % of their pixels (a sun, a lamp); the share of photos that clip more than
3 % (a bright sky, a window).

    python benchmarks/clipped_levels.py --ckpt runs/q3-clean/runs/projected-eqlr+resnet-8bit+highlights-seed0/checkpoint.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from glowgan.checkpoint import load_generator
from glowgan.evaluation import held_out_photos
from glowgan.generate import parse_seeds
from glowgan.itm_levels import ClipLevels

LARGE_CLIP = 0.03  # photos clipping more: a broad bright area


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="GlowGAN checkpoint (camera on)")
    parser.add_argument("--family", default="sky")
    parser.add_argument("--seeds", default="0-99", help="held-out scene seeds (photos that do not clip are skipped)")
    parser.add_argument("--samples", type=int, default=512, help="generator samples (latent seeds from --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--white", action="store_true", help="count a pixel only when every channel clips (as ITM does)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator, config = load_generator(args.ckpt)
    photos = held_out_photos(args.family, parse_seeds(args.seeds), size=generator.img_resolution)
    truth = ClipLevels.of_scenes(np.stack([photo.hdr for photo in photos]), white=args.white)
    sampled = ClipLevels.measure(generator, config, samples=args.samples, seed=args.seed, white=args.white)
    rows = {"truth": summary(truth), "generator": summary(sampled)}
    print(f"{len(truth.shares)} held-out {args.family} photos that clip; {rows['generator']['photos']} of {args.samples} "
          "generator samples that clip as much. Stops above the clip level of the clipped pixels:\n")
    print("| | photos | pixel mean | per-photo mean | photos clipping < 1 % | share clipping > 3 % |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['photos']} | {row['pixel_mean']:.2f} | {row['photo_mean']:.2f} | "
              f"{'–' if row['small_photo_mean'] is None else format(row['small_photo_mean'], '.2f')} | {100 * row['large_share']:.0f} % |")
    if args.json:
        record = {"ckpt": str(args.ckpt), "seeds": args.seeds, "white": args.white, **rows}
        args.json.write_text(json.dumps(record, indent=1) + "\n")


def summary(levels: ClipLevels) -> dict[str, float]:
    """The table's columns from each photo's clipped share and mean level (stops above the clip)."""
    shares, means = levels.shares, levels.levels
    return {
        "photos": len(shares),
        "pixel_mean": float((shares * means).sum() / shares.sum()),  # each photo weighted by its clipped pixels
        "photo_mean": float(means.mean()),
        "small_photo_mean": levels.small_share_level(),
        "large_share": float((shares > LARGE_CLIP).mean()),
    }


if __name__ == "__main__":
    main()
