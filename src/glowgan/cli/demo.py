"""``glowgan demo``: the main job on built-in data, end to end, in a few minutes on a laptop CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_FAMILY = "sky"
DEMO_SIZE = (32, 64)
SUMMARY_COUNT = 500  # ground-truth images and samples compared in the closing summary
SUMMARY_SEED = 1000  # latent seeds of the summary's samples (apart from the written samples 0..N-1)


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
    from glowgan.checkpoint import load_generator
    from glowgan.config import load_config
    from glowgan.data.synth import SynthSpec, default_camera, synthesize
    from glowgan.generate import generate_images
    from glowgan.train import TrainingStopped, train
    from glowgan.train_log import CHECKPOINT_NAME

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
    print(summary(world_dir, run_dir / CHECKPOINT_NAME, truth_count=min(args.count, SUMMARY_COUNT)))
    print(f"snapshot grids (the same latents at -4..+4 stops) in {run_dir / 'grids'}")
    return 0


def summary(world_dir: Path, checkpoint: Path, *, truth_count: int) -> str:
    """What the model recovers, in medians over images: its samples against the observable and the full truth.

    Headroom is log2(P99.9 / P50) of an image's luminance, shadow span log2(P50 / P0.1). The observable
    truth is clipped at the brightest radiance that 1 % of the photos leave unclipped: what LDR photos
    can teach (DESIGN.md); the rest of the full truth is never seen unclipped.
    """
    import numpy as np

    from glowgan.report.sets import image_statistics, load_model, read_world, sample_metered

    truth = read_world(world_dir, truth_count)
    model = load_model("glowgan", checkpoint)
    seeds = range(SUMMARY_SEED, SUMMARY_SEED + truth_count)
    sets = {
        "ground truth, observable": truth.observable_hdr(),
        "ground truth, full": truth.metered_hdr,
        f"GlowGAN, {model.kimg:g} kimg": sample_metered(model, seeds, truth),
    }
    medians = {}
    for name, hdr in sets.items():
        values = image_statistics(hdr)
        headroom, dynamic_range = np.median(values["headroom"]), np.median(values["dynamic_range"])
        medians[name] = (headroom, np.median(values["dynamic_range"] - values["headroom"]), dynamic_range)
    width = max(len(name) for name in sets)
    lines = [f"medians of {truth_count} images, in stops:", f"  {'':{width}}  headroom  shadow span  dynamic range"]
    lines += [f"  {name:{width}}  {h:8.1f}  {s:11.1f}  {d:13.1f}" for name, (h, s, d) in medians.items()]
    observable, full, model_row = (medians[name][0] for name in sets)
    lines.append(
        f"GlowGAN recovers {model_row:.1f} of the {observable:.1f} stops of highlight headroom that the photos show "
        f"({100 * model_row / observable:.0f} %); the full truth reaches {full:.1f} stops, but only above radiance "
        "that 99 % of the photos clip, which no method can learn from LDR photos alone. Longer training moves "
        "the samples towards the observable truth (docs/training/README.md in the source)."
    )
    return "\n".join(lines)
