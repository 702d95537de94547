"""Reproduce the whole evaluation report at CPU scale, from nothing (issue 7).

A sequence of `glowgan` commands, each skipped when its output is already complete, so an
interrupted run continues where it stopped (training runs resume from their last checkpoint):

 1. synthesise the sky world: 5000 images at 32x64 (`glowgan data synth`);
 2. train GlowGAN (camera on, the official exposure prior sigma = 0.5 stop) for 40 kimg;
 3. train the vanilla GAN (camera off) for 40 kimg;
 4. the exposure-prior ablation: sigma = 0.25, 1 and 2 stops, 20 kimg each (sigma = 0.5 is step 2);
 5. the supervised U-Net baseline, 10 minutes (`glowgan baseline train-supervised`);
 6. the fast-ITM encoder of the GlowGAN model, 5 minutes (`glowgan itm-encoder`);
 7. `glowgan eval` with all of them: OUT/report/report.md.

The plan (minutes per stage, estimated for an otherwise idle 2-core machine: the cpu-32x64 preset
trains at ~45-90 img/s end to end, Inception runs at ~8-12 img/s, GlowGAN's inversions run 8 photos
side by side)
is printed before anything starts, and each stage's actual time after it ends.

    python benchmarks/report.py --out runs/report-cpu            # everything, 81 min measured (108 on a busier day)
    python benchmarks/report.py --out runs/report-cpu --dry-run  # the plan only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from glowgan.checkpoint import CheckpointError, load_checkpoint
from glowgan.data.synth import read_manifest

WORLD_COUNT = 5000
WORLD_SIZE = "32x64"
MAIN_KIMG = 40
ABLATION_KIMG = 20
GLOWGAN_SIGMA = 0.5  # the official prior: sqrt(2)**e, e ~ N(0, 1)
ABLATION_SIGMAS = (0.25, 1.0, 2.0)
UNET_MINUTES = 10
ENCODER_MINUTES = 5
# Measured or estimated on an idle 2-core machine (see the module docstring).
TRAIN_IMAGES_PER_S = 60.0  # today's preset: 40-58 img/s measured 2026-11-30, 55-88 on 2026-12-01 (docs/report/README.md)
TRAIN_STARTUP_MINUTES = 1.0
SYNTH_MINUTES = 3.0
EVAL_MINUTES = 30.0  # measured 26.7 on 2026-12-01: samples, SWD and FID (three curves) 22.4, ITM 4.1 (batched)


@dataclass
class Stage:
    name: str
    minutes: float  # estimate
    command: list[str]
    done: bool  # its output is complete: skipped


def _glowgan(*args: str) -> list[str]:
    return [sys.executable, "-m", "glowgan", *args]


def _trained_images(run_dir: Path) -> int | None:
    """Images seen by the run's checkpoint (None: no readable checkpoint)."""
    try:
        return int(load_checkpoint(run_dir / "checkpoint.pt", mmap=True)["progress"]["images"])
    except (CheckpointError, KeyError, TypeError):
        return None


def _train_stage(name: str, run_dir: Path, world: Path, kimg: float, options: list[str]) -> Stage:
    images = _trained_images(run_dir)
    remaining = kimg * 1000 - (images or 0)
    minutes = max(remaining, 0) / TRAIN_IMAGES_PER_S / 60 + TRAIN_STARTUP_MINUTES
    if images is not None:
        command = _glowgan("train", "--resume", str(run_dir), "--kimg", f"{kimg:g}", "--no-progress")
    else:
        if run_dir.exists():
            raise SystemExit(
                f"{run_dir} exists but holds no checkpoint (an interrupted start); delete it and run again"
            )
        command = _glowgan(
            "train",
            "--data",
            str(world / "ldr"),
            "--out",
            str(run_dir),
            "--preset",
            "cpu-32x64",
            "--kimg",
            f"{kimg:g}",
            "--seed",
            "0",
            "--no-progress",
            *options,
        )
    return Stage(name, minutes, command, images is not None and remaining <= 0)


def _world_complete(world: Path) -> bool:
    try:
        return len(read_manifest(world)[1]) >= WORLD_COUNT
    except ValueError:
        return False


def plan(out: Path, *, fid_count: int, itm_full_count: int) -> list[Stage]:
    world = out / "sky5000"
    stages = [
        Stage(
            "synthesise the sky world",
            SYNTH_MINUTES,
            _glowgan(
                "data",
                "synth",
                "--family",
                "sky",
                "--count",
                str(WORLD_COUNT),
                "--size",
                WORLD_SIZE,
                "--seed",
                "0",
                "--out",
                str(world),
            ),
            _world_complete(world),
        ),
        _train_stage(
            f"train GlowGAN (sigma {GLOWGAN_SIGMA:g}, {MAIN_KIMG} kimg)",
            out / "glowgan",
            world,
            MAIN_KIMG,
            ["--camera", "on", "--set", f"camera.exposure_std_stops={GLOWGAN_SIGMA}"],
        ),
        _train_stage(f"train vanilla ({MAIN_KIMG} kimg)", out / "vanilla", world, MAIN_KIMG, ["--camera", "off"]),
    ]
    for sigma in ABLATION_SIGMAS:
        stages.append(
            _train_stage(
                f"ablation: sigma {sigma:g} ({ABLATION_KIMG} kimg)",
                out / f"sigma{sigma:g}",
                world,
                ABLATION_KIMG,
                ["--camera", "on", "--set", f"camera.exposure_std_stops={sigma}"],
            )
        )
    unet = out / "unet" / "checkpoint.pt"
    stages.append(
        Stage(
            f"U-Net baseline ({UNET_MINUTES} min)",
            UNET_MINUTES + 0.5,
            _glowgan(
                "baseline",
                "train-supervised",
                "--family",
                "sky",
                "--size",
                WORLD_SIZE,
                "--out",
                str(out / "unet"),
                "--minutes",
                str(UNET_MINUTES),
            ),
            unet.is_file(),
        )
    )
    encoder = out / "glowgan" / "encoder.pt"
    stages.append(
        Stage(
            f"ITM encoder ({ENCODER_MINUTES} min)",
            ENCODER_MINUTES + 0.5,
            _glowgan(
                "itm-encoder",
                "--ckpt",
                str(out / "glowgan" / "checkpoint.pt"),
                "--out",
                str(encoder),
                "--minutes",
                str(ENCODER_MINUTES),
            ),
            encoder.is_file(),
        )
    )
    models = [f"glowgan={out / 'glowgan' / 'checkpoint.pt'}", f"vanilla={out / 'vanilla' / 'checkpoint.pt'}"]
    models += [f"sigma{sigma:g}={out / f'sigma{sigma:g}' / 'checkpoint.pt'}" for sigma in ABLATION_SIGMAS]
    report = out / "report"
    stages.append(
        Stage(
            "glowgan eval",
            EVAL_MINUTES,
            _glowgan(
                "eval",
                "--world",
                str(world),
                *[a for m in models for a in ("--ckpt", m)],
                "--unet",
                str(unet),
                "--encoder",
                str(encoder),
                "--count",
                "1000",
                "--itm-count",
                "50",
                "--itm-full-count",
                str(itm_full_count),
                "--fid-count",
                str(fid_count),
                "--out",
                str(report),
            ),
            (report / "report.md").is_file(),
        )
    )
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the world, the runs and the report")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    parser.add_argument("--fid-count", type=int, default=500, help="FID/KID renderings per set (default 500)")
    parser.add_argument(
        "--itm-full-count", type=int, default=4, help="photos for GlowGAN's full ITM recipe (default 4)"
    )
    args = parser.parse_args()
    stages = plan(args.out, fid_count=args.fid_count, itm_full_count=args.itm_full_count)
    todo = sum(stage.minutes for stage in stages if not stage.done)
    print(f"plan ({todo:.0f} minutes estimated on an idle 2-core machine; done stages are skipped):")
    for number, stage in enumerate(stages, 1):
        state = "done, skip" if stage.done else f"~{stage.minutes:.0f} min"
        print(f"{number:>2}. {stage.name:<40} {state}\n      {' '.join(stage.command[1:])}")
    if args.dry_run:
        return
    started = time.perf_counter()
    for number, stage in enumerate(stages, 1):
        if stage.done:
            continue
        print(f"\n== {number}. {stage.name} (estimated {stage.minutes:.0f} min)", flush=True)
        stage_started = time.perf_counter()
        result = subprocess.run(stage.command)
        minutes = (time.perf_counter() - stage_started) / 60
        if result.returncode != 0:
            raise SystemExit(
                f"stage {number} ({stage.name}) failed with exit status {result.returncode} "
                f"after {minutes:.1f} min; fix it and run again to continue"
            )
        print(f"== {number}. {stage.name}: {minutes:.1f} min (estimated {stage.minutes:.0f})", flush=True)
    print(f"\nall done in {(time.perf_counter() - started) / 60:.1f} min: {args.out / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
