"""``glowgan demo``: the main job on built-in data, end to end, in a few minutes on a laptop CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_FAMILY = "sky"
DEMO_SIZE = (32, 64)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="synthesise a small sky world, train GlowGAN on its LDR photos, write HDR samples",
        description=(
            "The whole method on built-in data: (1) photograph the procedural sky world into an LDR "
            "collection (HDR ground truth kept aside), (2) train GlowGAN on the LDR photos only, "
            "(3) sample HDR panoramas and compare their dynamic range with the ground truth's. "
            "Re-running continues where it stopped."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--count", type=int, default=2000, help="LDR photos to synthesise (default: 2000)")
    parser.add_argument("--kimg", type=float, default=10.0, help="thousands of images to train on (default: 10)")
    parser.add_argument("--samples", type=int, default=8, help="HDR samples to write (default: 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from glowgan.checkpoint import load_generator
    from glowgan.config import load_config
    from glowgan.data.synth import SynthSpec, default_camera, read_manifest, synthesize
    from glowgan.generate import generate_images, sample_hdr_batches
    from glowgan.metrics.dynamic_range import dynamic_range_stops_batch
    from glowgan.train import CHECKPOINT_NAME, TrainingStopped, train

    world_dir, run_dir, samples_dir = args.out / "world", args.out / "run", args.out / "samples"
    print(f"[1/3] photographing the procedural {DEMO_FAMILY} world into {args.count} LDR images")
    world_camera = default_camera(DEMO_FAMILY)
    spec = SynthSpec(family=DEMO_FAMILY, count=args.count, height=DEMO_SIZE[0], width=DEMO_SIZE[1], seed=args.seed,
                     camera=world_camera)
    print(synthesize(world_dir, spec).summary())

    print(f"[2/3] training GlowGAN on the LDR photos for {args.kimg:g} kimg (preset cpu-32x64)")
    # The model's exposure prior matches the world's spread around its metering (DESIGN.md).
    config = load_config(
        preset="cpu-32x64",
        overrides=[
            f"train.total_kimg={args.kimg}",
            f"train.seed={args.seed}",
            f"camera.exposure_std_stops={world_camera.exposure_std_stops}",
        ],
    )
    resume = (run_dir / CHECKPOINT_NAME).exists()
    try:
        train(config, data=world_dir / "ldr", run_dir=run_dir, resume=resume)
    except TrainingStopped as stop:
        print(f"glowgan demo: training stopped: {stop}")
        return 3

    print(f"[3/3] sampling HDR images into {samples_dir}")
    generator, config = load_generator(run_dir / CHECKPOINT_NAME)
    generate_images(generator, config, list(range(args.samples)), samples_dir)
    seeds = list(range(1000, 1256))
    sample_dr = np.concatenate([dynamic_range_stops_batch(h) for _, h in sample_hdr_batches(generator, config, seeds)])
    _, records = read_manifest(world_dir)
    truth_dr = np.array([r["dynamic_range_stops"] for r in records])
    print(
        f"median dynamic range: ground truth {np.median(truth_dr):.1f} stops, GlowGAN samples "
        f"{np.median(sample_dr):.1f} stops ({len(seeds)} samples); grids in {run_dir / 'grids'}"
    )
    return 0
