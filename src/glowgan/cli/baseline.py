"""``glowgan baseline``: inverse tone mapping baselines (train the supervised U-Net, apply, evaluate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "baseline",
        help="inverse tone mapping baselines: classical operators and a supervised U-Net",
        description=(
            "Baselines for single-photo inverse tone mapping (one LDR photo in, linear HDR out): the inverse "
            "camera curve (trivial), the expansion operators of Akyuz et al. 2007 and Masia et al. 2009/2017, "
            "and an HDRCNN-style U-Net (Eilertsen et al. 2017) trained on paired photos of the procedural world."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train-supervised",
        help="train the HDRCNN-style U-Net on paired LDR/HDR scenes of the procedural world",
        description=(
            "Train a small U-Net on pairs rendered on the fly (scene seeds from 1,000,000 up, photographed like "
            "`glowgan data synth`). Writes OUT/checkpoint.pt (every 30 s and at the end; Ctrl-C saves too) and "
            "OUT/stats.jsonl (mean loss per interval). --resume continues exactly where the checkpoint stopped. "
            "Trained on the family and curve of the photos it is scored on, the U-Net is an oracle (it had the "
            "test world's own paired data); --family and/or --crf other than theirs make a cross-domain baseline, "
            "e.g. --family window --crf srgb for sky photos of the default camera. Evaluations name its rows by "
            "this gap."
        ),
    )
    train.add_argument(
        "--family",
        default="sky",
        help="scene family of the training photos: sky, window or night (default: sky); another than the test "
        "photos' makes a cross-domain baseline",
    )
    train.add_argument(
        "--crf",
        help="camera response curve(s) of the training photos, as `glowgan data synth --crf`: one family (glowgan, "
        "gamma, linear, srgb, filmic, pca) or a weighted mixture such as 'srgb:2,filmic' (default: the family's "
        "default camera, the glowgan curve prior); the U-Net linearises every input with this camera's mean "
        "inverse curve, so another curve than the test photos' makes a cross-domain baseline",
    )
    train.add_argument(
        "--world-version",
        type=int,
        help="version of the procedural world that renders the training scenes (default: the latest); another "
        "than the test photos' makes a cross-domain baseline where the versions differ (sky)",
    )
    train.add_argument("--size", default="32x64", help="training size HEIGHTxWIDTH (default: 32x64)")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    length = train.add_mutually_exclusive_group(required=True)
    length.add_argument("--minutes", type=float, help="train for this many minutes (this invocation)")
    length.add_argument("--steps", type=int, help="train until this many steps in total")
    train.add_argument("--batch", type=int, default=16, help="images per step (default: 16)")
    train.add_argument("--channels", type=int, default=16, help="base channels of the U-Net (default: 16)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 0.001)")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the checkpoint in --out with its own settings (--family, --crf, --world-version and --size "
        "must match; --batch, --channels, --lr are ignored)",
    )
    train.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's choice)")
    train.set_defaults(func=run_train)

    apply = actions.add_parser(
        "apply",
        help="run one baseline on one photo, write EXR and a tone-mapped PNG",
        description=(
            "Expand one LDR photo to linear HDR with a baseline. Writes OUT (.exr, .hdr or .pfm) and a tone-mapped "
            "preview next to it (same name, .png)."
        ),
    )
    apply.add_argument("photo", type=Path, help="LDR photo (PNG, JPEG, ...)")
    apply.add_argument("--out", type=Path, required=True, help="output HDR file, e.g. out.exr")
    which = apply.add_mutually_exclusive_group(required=True)
    which.add_argument("--method", help="trivial, akyuz, masia or masia2009")
    which.add_argument("--ckpt", type=Path, help="checkpoint of `baseline train-supervised` (the unet baseline)")
    apply.set_defaults(func=run_apply)

    evaluate = actions.add_parser(
        "evaluate",
        help="score baselines on held-out scenes of the procedural world (PU21-PSNR, error in stops)",
        description=(
            "Photograph held-out scenes (camera seed = scene seed) like `glowgan data synth`, keep the photos "
            "that clip, expand each with every baseline, align its exposure on the unclipped pixels, and report "
            "PU21-PSNR (whole image and clipped region), log2(estimate / truth) on the clipped pixels (RMSE and "
            "mean, stops), the RMSE on the unclipped pixels, and seconds per image (see glowgan.evaluation)."
        ),
    )
    evaluate.add_argument("--family", default="sky", help="scene family (default: sky)")
    evaluate.add_argument("--size", default="32x64", help="HEIGHTxWIDTH (default: 32x64)")
    evaluate.add_argument(
        "--world-version", type=int, help="version of the procedural world of the photos (default: the latest)"
    )
    evaluate.add_argument("--seeds", default="0-199", help="held-out scene seeds such as 0-199 (default: 0-199)")
    evaluate.add_argument(
        "--methods", default="trivial,akyuz,masia,masia2009", help="comma-separated baselines (default: all classical)"
    )
    evaluate.add_argument(
        "--ckpt", type=Path, help="also score this U-Net checkpoint (as 'unet (oracle)' or 'unet (cross: ...)')"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from glowgan.baselines.supervised import UNetConfig, train_supervised
    from glowgan.cli.common import parse_size

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    height, width = parse_size(args.size)
    versions = {} if args.world_version is None else {"world_version": args.world_version}
    config = UNetConfig(
        **versions,
        family=args.family,
        crf=args.crf or "",
        height=height,
        width=width,
        channels=args.channels,
        batch=args.batch,
        lr=args.lr,
    )
    report = train_supervised(args.out, config, steps=args.steps, minutes=args.minutes, resume=args.resume)
    print(report.summary())
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from glowgan import hdrio, tonemap
    from glowgan.baselines import apply_to_photo, get_baseline

    if not hdrio.is_hdr_path(args.out):
        raise ValueError(f"--out {args.out}: name an HDR file ending in {', '.join(hdrio.HDR_SUFFIXES)}")
    if not args.photo.is_file():
        raise ValueError(f"{args.photo}: photo not found")
    if args.method == "unet":
        raise ValueError("--method unet needs a checkpoint: pass --ckpt runs/NAME/checkpoint.pt instead")
    baseline = get_baseline("unet", ckpt=args.ckpt) if args.ckpt is not None else get_baseline(args.method)
    hdr = apply_to_photo(baseline, args.photo)
    preview = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    hdrio.write_hdr(args.out, hdr)
    stops = tonemap.auto_exposure_stops(hdr)
    hdrio.write_ldr(preview, tonemap.tonemap(hdr, exposure_stops=stops, operator="reinhard"))
    print(f"wrote {args.out} and {preview}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from glowgan.baselines import get_baseline
    from glowgan.baselines.domains import format_legend, row_names
    from glowgan.cli.common import parse_size
    from glowgan.evaluation import evaluate_methods, format_table, held_out_photos, summarise
    from glowgan.generate import parse_seeds

    height, width = parse_size(args.size)
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    entries = [(name, get_baseline(name), None) for name in names if name != "unet"]
    if args.ckpt is not None:
        unet = get_baseline("unet", ckpt=args.ckpt)
        entries.append(("unet", unet, unet.config))
    if not entries:
        raise ValueError("nothing to evaluate: pass --methods and/or --ckpt")
    versions = {} if args.world_version is None else {"world_version": args.world_version}
    baselines, legend = row_names(entries, family=args.family, **versions)
    photos = held_out_photos(args.family, parse_seeds(args.seeds), size=(height, width), **versions)
    summary = summarise(evaluate_methods(baselines, photos))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.family} {height}x{width}, seeds {args.seeds}: {len(photos)} photos clip")
    print(format_table(summary))
    if legend:
        print(format_legend(legend))
    return 0
