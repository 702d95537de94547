"""Side by side: what inverse tone mapping makes of chosen held-out world photos, against their truth.

Two steps, so that any version of the code (a git worktree of an older commit, say) can make the results:

1. ``photos`` writes held-out photos of the procedural world (``glowgan.evaluation.held_out_photos``) as
   8-bit PNGs, ``seed<N>.png``, for ``glowgan itm`` on the folder;
2. ``draw`` renders the same scenes again, reads each labelled folder of results (``seed<N>.exr``, as
   ``glowgan itm FOLDER --out RESULTS`` writes them), aligns each result's exposure to the truth on the
   unclipped pixels as the ITM scores do (``HeldOutPhoto.aligned``), and draws one row per photo: the photo, the truth, the trivial
   baseline (the clipped region left at the clip) and each labelled result, all at ``--stops`` (where a
   clipped sun shows its core), with each result's PU21-PSNR of the clipped region, its bias and its
   peak (stops) printed under it and written to ``--json``.

    python benchmarks/itm_figure.py photos --seeds 58,53,15,30 --out runs/faults/photos
    glowgan itm runs/faults/photos --ckpt runs/report-v3/glowgan/checkpoint.pt --out runs/faults/today
    python benchmarks/itm_figure.py draw --seeds 58,53,15,30 --results today=runs/faults/today \\
        --out docs/itm/faults.png --json docs/itm/faults.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from glowgan import hdrio, tonemap
from glowgan.baselines import get_baseline
from glowgan.evaluation import HeldOutPhoto, held_out_photos, score
from glowgan.generate import parse_seeds
from glowgan.report.figures import image_grid

# The scores printed under each result.
SHOWN = (("pu21_psnr_clipped", "{:.1f} dB"), ("clipped_bias_stops", "bias {:+.2f}"), ("clipped_peak_stops", "peak {:+.2f}"))


def photos_of(args: argparse.Namespace) -> list[HeldOutPhoto]:
    height, width = (int(side) for side in args.size.split("x"))
    seeds = parse_seeds(args.seeds)
    photos = held_out_photos(args.family, seeds, size=(height, width))
    missing = sorted(set(seeds) - {photo.seed for photo in photos})
    if missing:
        raise SystemExit(f"scenes {missing} do not clip at {args.size}: choose other --seeds")
    return photos


def write_photos(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    photos = photos_of(args)
    for photo in photos:
        Image.fromarray(np.round(photo.ldr * 255).astype(np.uint8)).save(args.out / f"seed{photo.seed}.png")
    print(f"wrote {len(photos)} photos to {args.out}")


def draw(args: argparse.Namespace) -> None:
    results = {}
    for item in args.results:
        label, _, folder = item.partition("=")
        if not folder:
            raise SystemExit(f"--results takes LABEL=FOLDER, got {item!r}")
        results[label] = Path(folder)
    trivial = get_baseline("trivial")
    rows, scores = [], {}
    for photo in photos_of(args):
        row = [photo.ldr, tonemap.tonemap(photo.hdr, exposure_stops=args.stops)]
        outputs = {"trivial": trivial(photo.ldr)}
        for label, folder in results.items():
            outputs[label] = hdrio.read_hdr(folder / f"seed{photo.seed}.exr")[..., :3]
        scores[photo.seed] = {"light_stops": photo.light_stops}
        for label, hdr in outputs.items():
            row.append(tonemap.tonemap(photo.aligned(hdr), exposure_stops=args.stops))
            scores[photo.seed][label] = score(hdr, photo)
        rows.append(row)
        line = "  ".join(
            f"{label}: " + ", ".join(form.format(scores[photo.seed][label][key]) for key, form in SHOWN) for label in outputs
        )
        print(f"seed {photo.seed} (truth's peak {photo.light_stops:+.1f} stops over the clip)  {line}")
    columns = ["photo", "truth", "trivial", *results]
    image_grid(args.out, rows, columns, title=f"Inverse tone mapping at {args.stops:+g} stops, aligned to the truth on unclipped pixels")
    print(f"wrote {args.out}")
    if args.json:
        args.json.write_text(json.dumps({"stops": args.stops, "results": {k: str(v) for k, v in results.items()}, "scores": scores}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("photos", "write the held-out photos as PNGs"), ("draw", "draw the results against the truth")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--seeds", required=True, help="held-out scene seeds, e.g. 58,53,15")
        command.add_argument("--family", default="sky")
        command.add_argument("--size", default="32x64", help="HEIGHTxWIDTH of the photos (default 32x64)")
        command.add_argument("--out", type=Path, required=True, help="photos: a folder; draw: the figure (.png)")
    draw_command = commands.choices["draw"]
    draw_command.add_argument("--results", nargs="+", required=True, help="LABEL=FOLDER of seed<N>.exr results, in column order")
    draw_command.add_argument("--stops", type=float, default=-4.0, help="exposure shown, stops (default -4)")
    draw_command.add_argument("--json", type=Path, help="also write every result's scores here")
    args = parser.parse_args()
    if args.command == "photos":
        write_photos(args)
    else:
        draw(args)


if __name__ == "__main__":
    main()
