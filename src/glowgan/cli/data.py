"""``glowgan data synth | prepare | stats``: make, prepare and inspect LDR training sets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from glowgan.cli.common import parse_size


def register(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser(
        "data",
        help="make, prepare and inspect LDR training sets",
        description="Make a synthetic LDR photo collection with HDR ground truth, prepare a folder of real "
        "photos for training, or print statistics of a set.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    synth = sub.add_parser(
        "synth",
        help="photograph the procedural HDR world into an LDR training set (with HDR ground truth)",
        description=(
            "Render scenes of the procedural HDR world (linear radiance, the ground truth) and photograph "
            "each like a camera would: meter it, add a random exposure offset, apply a random response "
            "curve, clip and quantise to 8 bits. Writes OUT/ldr/*.png (what training reads), "
            "OUT/hdr/*.exr (ground truth, never read by training) and OUT/manifest.jsonl (each image's "
            "seed and true camera). Running again with the same arguments resumes; a larger --count "
            "extends the set."
        ),
    )
    # checked by the world itself, so --help does not have to import torch
    synth.add_argument("--family", default="sky", help="scene family: sky, window or night (default: sky)")
    synth.add_argument("--count", type=int, default=5000, help="number of images (default: 5000)")
    synth.add_argument("--size", default="32x64", help="HEIGHTxWIDTH in pixels (default: 32x64)")
    synth.add_argument("--seed", type=int, default=0, help="run seed; image i depends only on it and i")
    synth.add_argument("--offset-mean", type=float, help="mean exposure offset from the metered exposure, stops")
    synth.add_argument("--offset-std", type=float, help="spread of the exposure offset, stops (default: 1)")
    synth.add_argument(
        "--crf",
        help="camera response curve(s) of the photos: one family (glowgan, gamma, linear, srgb, filmic, pca) or a "
        "weighted mixture such as 'srgb:2,filmic,glowgan', each photo drawing its own (default: glowgan, the "
        "official GlowGAN curve prior)",
    )
    synth.add_argument("--read-noise", type=float, default=0.0, help="sensor read noise std, linear units (default: 0)")
    synth.add_argument("--shot-noise", type=float, default=0.0, help="sensor shot noise variance per unit signal (default: 0)")
    synth.add_argument(
        "--world-version", type=int, help="version of the procedural world (default: the latest; 1 is the original world)"
    )
    synth.add_argument("--metering", choices=("median", "mean-log"), default="median", help="auto-exposure rule")
    synth.add_argument("--jpeg", type=int, metavar="QUALITY", help="write JPEG at this quality instead of PNG")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.set_defaults(func=run_synth)

    prepare = sub.add_parser(
        "prepare",
        help="centre-crop and resize a folder or zip of photos into a training set",
        description=(
            "Turn a folder (searched recursively) or zip of photos into equally sized 8-bit PNGs in OUT/ldr: "
            "apply the EXIF orientation, centre-crop to the aspect ratio, resize with a Lanczos filter (large "
            "JPEGs are decoded at a reduced scale that still covers the size, which is much faster). "
            "Sides must be powers of two, as training needs. Unreadable, corrupt or too-small files are "
            "skipped and listed with the reason; one bad file never stops the run. Re-running resumes, "
            "even from a moved or copied source: photos are recognised by name, size and time, or by content."
        ),
    )
    prepare.add_argument("source", type=Path, help="folder or .zip of photos")
    prepare.add_argument(
        "--size", type=int, default=256, help="shorter output side in pixels, a power of two (default: 256)"
    )
    prepare.add_argument("--aspect", default="1:1", help="output width:height: 1:1, 2:1 for panoramas, 1:2 (default 1:1)")
    prepare.add_argument(
        "--out", type=Path, required=True, help="output folder, or a .zip file (written once complete)"
    )
    prepare.add_argument(
        "--workers", type=int, help="processes decoding photos (default: the CPU cores available)"
    )
    prepare.set_defaults(func=run_prepare)

    stats = sub.add_parser(
        "stats",
        help="count, size, over/under-exposed pixels and a histogram of a training set",
        description=(
            "Print the image count, size, over- and under-exposed pixel fractions, and a histogram of the "
            "per-image mean intensity (also written as a PNG plot beside the set, or to --plot)."
        ),
    )
    stats.add_argument("data", type=Path, help="a folder or zip of images (a synthetic set's folder works too)")
    stats.add_argument("--plot", type=Path, help="where to write the histogram PNG (default: DATA-stats.png)")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.set_defaults(func=run_stats)


def run_synth(args: argparse.Namespace) -> int:
    import dataclasses

    from glowgan.data.synth import SynthSpec, default_camera, synthesize

    height, width = parse_size(args.size)
    camera = default_camera(args.family, crf=args.crf)
    if args.offset_mean is not None:
        camera = dataclasses.replace(camera, exposure_mean_stops=args.offset_mean)
    if args.offset_std is not None:
        camera = dataclasses.replace(camera, exposure_std_stops=args.offset_std)
    camera = dataclasses.replace(camera, read_noise=args.read_noise, shot_noise=args.shot_noise)
    versions = {} if args.world_version is None else {"world_version": args.world_version}
    spec = SynthSpec(
        family=args.family,
        count=args.count,
        height=height,
        width=width,
        seed=args.seed,
        camera=camera,
        metering=args.metering,
        jpeg_quality=args.jpeg,
        **versions,
    )
    print(synthesize(args.out, spec).summary())
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from glowgan.data.prepare import parse_aspect, prepare_images

    report = prepare_images(
        args.source, args.out, size=args.size, aspect=parse_aspect(args.aspect), workers=args.workers
    )
    print(report.summary())
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from glowgan.data.stats import dataset_stats, default_plot_path, format_stats

    plot = args.plot or default_plot_path(args.data)
    stats = dataset_stats(args.data, plot=plot)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0
