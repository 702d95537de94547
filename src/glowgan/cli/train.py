"""``glowgan train``: train GlowGAN (or the vanilla LDR GAN) on a folder of LDR photos."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from glowgan.presets import preset_names


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an HDR generator from a folder of LDR photos",
        description=(
            "Train GlowGAN: the generator makes linear HDR images, a random camera (exposure, clipping, "
            "response curve) photographs them, and the discriminator compares those photographs with "
            "your LDR images. --camera off trains the plain LDR GAN baseline with the same code. "
            "Settings come from a preset, then --config FILE, then --set section.key=value. "
            "Several GPUs: torchrun --nproc_per_node N -m glowgan train ...; there rank 0 alone reads and "
            "writes the run folder (checkpoints are handed to the other ranks), while every node reads "
            "--data at the same path."
        ),
        epilog=f"presets: {', '.join(preset_names())}",
    )
    parser.add_argument("--data", type=Path, help="folder or zip of equally sized LDR images (see `glowgan data`)")
    parser.add_argument("--out", type=Path, help="run folder to create (checkpoints, stats, grids)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    parser.add_argument(
        "--resume-if-exists",
        action="store_true",
        help=(
            "continue the run in --out if it holds a checkpoint, else start it: the same command then serves the "
            "first start and every restart (a preempted job, a scheduler's requeue). On a restart the command's "
            "settings apply over the run's saved ones; changing [model], [camera] or the seed is refused"
        ),
    )
    parser.add_argument("--preset", help="named settings to start from (default: cpu-32x64)")
    parser.add_argument("--config", type=Path, help="TOML file overriding the preset")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.batch=64 --set camera.exposure_std_stops=1.0",
    )
    parser.add_argument("--kimg", type=float, help="train until this many thousand images have been seen")
    parser.add_argument("--minutes", type=float, help="also stop after this many minutes of training")
    parser.add_argument("--batch", type=int, help="total batch size over all processes")
    parser.add_argument("--camera", choices=("on", "off"), help="off: the vanilla LDR GAN baseline")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to stats.jsonl)")
    parser.set_defaults(func=run_train)


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.set)
    if args.kimg is not None:
        overrides.append(f"train.total_kimg={args.kimg}")
    if args.minutes is not None:
        overrides.append(f"train.max_minutes={args.minutes}")
    if args.batch is not None:
        overrides.append(f"train.batch={args.batch}")
    if args.camera is not None:
        overrides.append(f"camera.enabled={'true' if args.camera == 'on' else 'false'}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    return overrides


def run_train(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from glowgan.cli.common import resolve_device
    from glowgan.config import Config
    from glowgan.distributed import Distributed
    from glowgan.train import TrainingStopped, train

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(args.device, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        dist_info = Distributed(rank=dist.get_rank(), world=world) if world > 1 else Distributed()
        # rank 0 alone reads the run folder and any --config file: on several nodes they may be on its node only
        resume, run_dir, data, settings = dist_info.from_main(lambda: _plan(args))
        last = train(Config.from_dict(settings), data=data, run_dir=run_dir, resume=resume, device=device,
                     progress=not args.no_progress)
    except TrainingStopped as stop:
        print(f"glowgan train: stopped: {stop}")
        return 3
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    if last and int(os.environ.get("RANK", "0")) == 0:
        print(
            f"trained to {last['kimg']:.1f} kimg in {last['train_time_s'] / 60:.1f} min "
            f"({last['images_per_s']:.0f} img/s at the end); run folder: {run_dir}"
        )
    return 0


def _plan(args: argparse.Namespace) -> tuple[bool, Path, Path, dict]:
    """What to run: (resume?, run folder, data, the settings as a plain dict), from the arguments and the run folder."""
    from glowgan.checkpoint import load_checkpoint
    from glowgan.config import load_config
    from glowgan.train_log import CHECKPOINT_NAME

    if args.resume is not None:
        run_dir = args.resume
        if args.resume_if_exists:
            raise ValueError("give either --resume RUN_DIR or --out RUN_DIR --resume-if-exists, not both")
        if not (run_dir / CHECKPOINT_NAME).is_file():
            raise ValueError(f"{run_dir}: no {CHECKPOINT_NAME} to resume from")
        if args.preset or args.config:
            raise ValueError("--resume continues a run with its own settings; drop --preset/--config")
        # the settings the weights were trained with (mapped, not read: train() loads the weights)
        base = load_checkpoint(run_dir / CHECKPOINT_NAME, mmap=True)["config"]
        config = load_config(base=base, overrides=_overrides(args))
        return True, run_dir, args.data or _saved_data(run_dir), config.to_dict()
    if args.data is None or args.out is None:
        raise ValueError("train needs --data DIR and --out RUN_DIR (or --resume RUN_DIR)")
    preset = args.preset or "cpu-32x64"
    checkpoint = args.out / CHECKPOINT_NAME
    resume = args.resume_if_exists and checkpoint.is_file()
    base = load_checkpoint(checkpoint, mmap=True)["config"] if resume else None
    config = load_config(base=base, preset=preset, config_file=args.config, overrides=_overrides(args))
    return resume, args.out, args.data, config.to_dict()


def _saved_data(run_dir: Path) -> Path:
    """The data folder a run was started with (recorded in its config.json)."""
    try:
        return Path(json.loads((run_dir / "config.json").read_text())["data"])
    except (OSError, ValueError, KeyError):
        raise ValueError(f"{run_dir}: config.json does not say which data the run used; pass --data") from None
