"""``glowgan eval``: the evaluation report of GlowGAN against the vanilla GAN, ablations and ITM baselines."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="write the evaluation report (dynamic range, SWD, FID, inverse tone mapping, ablation)",
        description=(
            "Evaluate trained models against the ground truth of a synthetic set (`glowgan data synth`) and write "
            "OUT/report.md, OUT/report.json (every number) and OUT/figures/. Models are named checkpoints: "
            "glowgan (camera on) and vanilla (camera off) are required and compared; any other name is an "
            "ablation row. Sections: dynamic range and headroom against the full and the observable ground truth, "
            "highlight share, HDR and exposure-bracket SWD beside the real-vs-real floor, FID/KID (if the "
            "Inception weights are installed), inverse tone mapping on held-out photos, the ablation table and "
            "computed findings. Deterministic given the seeds; only timings change."
        ),
    )
    parser.add_argument(
        "--world", type=Path, required=True, help="a synthetic set folder written by `glowgan data synth`"
    )
    parser.add_argument(
        "--ckpt",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a named checkpoint; give glowgan=PATH and vanilla=PATH, and optionally more (e.g. sigma1.0=PATH)",
    )
    parser.add_argument(
        "--unet",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="also score this `glowgan baseline train-supervised` checkpoint (name: unet); repeat for several, "
        "e.g. an oracle trained on the world's own photos and a cross-domain one (--family window --crf srgb); "
        "rows say which gap each crosses",
    )
    parser.add_argument(
        "--encoder", type=Path, help="also score fast ITM with this `glowgan itm-encoder` file (for glowgan)"
    )
    parser.add_argument(
        "--count", type=int, default=1000, help="ground-truth images read and samples per model (default 1000)"
    )
    parser.add_argument("--itm-seeds", default="0-199", help="held-out scene seeds such as 0-199 (default 0-199)")
    parser.add_argument("--itm-count", type=int, default=50, help="held-out photos that clip to score (default 50)")
    parser.add_argument(
        "--itm-full-count",
        type=int,
        default=4,
        help="of those, photos for GlowGAN's full recipe (minutes each on a CPU; default 4, 0 skips it)",
    )
    parser.add_argument(
        "--fid-count", type=int, default=500, help="LDR renderings per set for FID/KID (default 500, 0 skips)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the samples, the ground-truth split and the SWD/KID draws"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.set_defaults(func=run_eval)


def parse_models(items: list[str]) -> dict[str, Path]:
    """['glowgan=a.pt', 'vanilla=b.pt'] -> {'glowgan': Path('a.pt'), ...}, refusing malformed or repeated names."""
    models: dict[str, Path] = {}
    for item in items:
        name, equals, path = item.partition("=")
        if not equals or not name or not path:
            raise ValueError(f"--ckpt takes NAME=PATH (e.g. glowgan=runs/g/checkpoint.pt), got {item!r}")
        if name in models:
            raise ValueError(f"--ckpt names {name!r} twice; give each model its own name")
        models[name] = Path(path)
    return models


def parse_unets(items: list[str]) -> list[tuple[str, Path]]:
    """['a.pt', 'unet-b=b.pt'] -> [('unet', Path('a.pt')), ('unet-b', Path('b.pt'))]; a bare PATH is named unet.
    U-Nets of different worlds may share a name: their rows are told apart by the gaps they cross."""
    unets = []
    for item in items:
        name, equals, path = item.partition("=")
        if not equals:
            name, path = "unet", item
        if not name or not path:
            raise ValueError(f"--unet takes PATH or NAME=PATH (e.g. unet-b=runs/u/checkpoint.pt), got {item!r}")
        unets.append((name, Path(path)))
    return unets


def run_eval(args: argparse.Namespace) -> int:
    from glowgan.generate import parse_seeds
    from glowgan.report import MAIN_MODELS, ReportSettings, build_report

    models = parse_models(args.ckpt)
    missing = [name for name in MAIN_MODELS if name not in models]
    if missing:
        raise ValueError(f"give --ckpt {missing[0]}=PATH: the report compares models named glowgan and vanilla")
    unets = parse_unets(args.unet)
    for option, path in [*(("unet", path) for _, path in unets), ("encoder", args.encoder)]:
        if path is not None and not path.is_file():
            raise ValueError(f"--{option} {path}: file not found")
    settings = ReportSettings(
        count=args.count,
        seed=args.seed,
        fid_count=args.fid_count,
        itm_seeds=tuple(parse_seeds(args.itm_seeds)),
        itm_count=args.itm_count,
        itm_full_count=args.itm_full_count,
    )
    report = build_report(
        args.out, world=args.world, models=models, unets=unets, encoder=args.encoder, settings=settings
    )
    for sentence in report["findings"]:
        print(f"- {sentence}")
    print(
        f"wrote {args.out / 'report.md'}, {args.out / 'report.json'} and {len(report['figures'])} figures "
        f"in {report['timing']['total_s'] / 60:.1f} minutes"
    )
    return 0
