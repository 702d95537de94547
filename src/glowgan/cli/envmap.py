"""``glowgan envmap``: equirectangular HDR environment maps from a panorama model, with a seam check."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "envmap",
        help="generate equirectangular HDR environment maps (2:1 panoramas) and check their wrap-around seam",
        description=(
            "Generate HDR environment maps from a checkpoint of a model trained on equirectangular "
            "panoramas (2:1, ideally with model.circular = true, e.g. preset cpu-32x64 or gpu-128x256). "
            "Each map is written as a linear EXR with a tone-mapped preview and exposure stack; "
            "envmaps.json lists every map's seam score: the step between the last and first column "
            "relative to the 75th percentile of the steps between neighbouring columns (about 1 or less when it wraps "
            "around seamlessly; maps above the threshold are flagged). Light a scene with one using "
            "`glowgan render`."
        ),
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint.pt or snapshot from a run folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--count", type=int, help="number of maps (seeds 0..COUNT-1)")
    which.add_argument("--seeds", help="seeds such as 1,2,5-9")
    which.add_argument(
        "--interpolate",
        metavar="SEED_A,SEED_B",
        help="write a sequence of maps moving smoothly from one seed's map to another's, and a GIF preview",
    )
    parser.add_argument("--frames", type=int, default=30, help="frames of an --interpolate sequence (default: 30)")
    parser.add_argument(
        "--size",
        metavar="HxW",
        help=(
            "output size such as 256x512 (2:1). Default: the generator's own size. Another size is "
            "resampled (bilinear, wrapping around horizontally): it adds no detail"
        ),
    )
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI", help="truncation psi (default: 1, none)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--batch", type=int, default=16, help="maps per forward pass (default: 16)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.set_defaults(func=run_envmap)


def run_envmap(args: argparse.Namespace) -> int:
    from glowgan.checkpoint import load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.cli.common import parse_size
    from glowgan.envmap import SUMMARY_NAME, check_panorama_size, write_envmap_interpolation, write_envmaps
    from glowgan.generate import parse_seeds

    if args.count is not None and args.count < 1:
        raise ValueError("--count must be at least 1")
    if args.batch < 1:
        raise ValueError("--batch must be at least 1")
    size = check_panorama_size(parse_size(args.size, example="256x512")) if args.size is not None else None
    pair = None
    if args.interpolate is not None:
        pair = parse_seeds(args.interpolate)
        if len(pair) != 2:
            raise ValueError(f"--interpolate takes two seeds such as 3,17, got {args.interpolate!r}")
    device = resolve_device(args.device)
    generator, config = load_generator(args.ckpt, device=device)
    if pair is not None:
        summary = write_envmap_interpolation(
            generator, config, *pair, args.out, frames=args.frames, size=size, psi=args.trunc
        )
    else:
        seeds = list(range(args.count)) if args.count is not None else parse_seeds(args.seeds)
        summary = write_envmaps(generator, config, seeds, args.out, size=size, psi=args.trunc, batch=args.batch)
    for record in summary["maps"]:
        flag = "" if record["seamless"] else f"  <- seam above {summary['seam_threshold']:g}: does not wrap around"
        print(f"{record['exr']}: seam score {record['seam_score']:.2f} ({record['seam_stops']:.3f} stops){flag}")
    height, width = summary["size"]
    resampled = ""
    if summary["resampled"]:
        resampled = f", resampled from {summary['generator_size'][0]}x{summary['generator_size'][1]} (no new detail)"
    flagged = sum(not record["seamless"] for record in summary["maps"])
    print(
        f"wrote {len(summary['maps'])} {height}x{width} environment maps to {args.out}{resampled}; "
        f"{flagged} flagged as not seamless; scores in {args.out / SUMMARY_NAME}"
    )
    return 0
