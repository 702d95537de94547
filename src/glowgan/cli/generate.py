"""``glowgan generate``: HDR images from a trained checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "generate",
        help="sample HDR images (EXR) from a trained generator",
        description=(
            "Sample HDR images from a checkpoint written by `glowgan train`. Each image is written as a "
            "linear EXR (and optionally Radiance .hdr), a tone-mapped PNG preview and an exposure stack. "
            "The same seed always gives the same image."
        ),
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint.pt or snapshot from a run folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--count", type=int, help="number of images (seeds 0..COUNT-1)")
    which.add_argument("--seeds", help="seeds such as 1,2,5-9")
    which.add_argument(
        "--interpolate",
        metavar="SEED_A,SEED_B",
        help="write a sequence of EXR frames moving smoothly from one seed's image to another's, and a GIF preview",
    )
    parser.add_argument("--frames", type=int, default=30, help="frames of an --interpolate sequence (default: 30)")
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI", help="truncation psi (default: 1, none)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--radiance", action="store_true", help="also write Radiance .hdr files")
    parser.add_argument("--batch", type=int, default=16, help="images per forward pass (default: 16)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from glowgan.checkpoint import load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.generate import generate_images, interpolate_hdr, parse_seeds, write_interpolation

    if args.count is not None and args.count < 1:
        raise ValueError("--count must be at least 1")
    if args.batch < 1:
        raise ValueError("--batch must be at least 1")
    device = resolve_device(args.device)
    if args.interpolate is not None:
        pair = parse_seeds(args.interpolate)
        if len(pair) != 2:
            raise ValueError(f"--interpolate takes two seeds such as 3,17, got {args.interpolate!r}")
        generator, config = load_generator(args.ckpt, device=device)
        frames = interpolate_hdr(generator, config, *pair, frames=args.frames, psi=args.trunc)
        paths = write_interpolation(args.out, frames)
        print(f"wrote {args.frames} EXR frames and {paths['gif']}")
        return 0
    seeds = list(range(args.count)) if args.count is not None else parse_seeds(args.seeds)
    generator, config = load_generator(args.ckpt, device=device)
    written = generate_images(generator, config, seeds, args.out, psi=args.trunc, batch=args.batch, radiance=args.radiance)
    print(f"wrote {len(written)} HDR images to {args.out}")
    return 0
