"""Sample quality per CPU-minute: candidate training setups against the procedural world's ground truth.

Each candidate (a named set of `glowgan train` settings on top of the ``cpu-32x64`` preset) trains for
the same CPU budget with several seeds, and every run is scored the way ``glowgan eval`` scores a
model (``glowgan.report.score_samples``): FID, HDR SWD and exposure-bracket SWD, each divided by its
real-vs-real floor; the median highlight headroom against the *observable* ground truth and the median
shadow span against the full ground truth (DESIGN.md, "What LDR photos can and cannot teach"); and the
suns: how far above the clip the samples that clip < 1 % of their pixels lie, against held-out photos of
the world (``glowgan.itm_levels``), the level that bounds an inverse tone mapping's fill.

Two ways to spend the budget:

- **timed** (the default): each run trains for ``--minutes`` of training time, one run at a time on
  this machine's cores. This is the measurement itself; on a 2-core machine 3 candidates x 3 seeds x
  30 minutes take about 5 hours.
- **replayed**: ``--speeds FILE`` gives each candidate's training speed in images/s on the reference
  machine (written by ``--measure SECONDS`` there). Each run then trains for exactly the images that
  candidate sees in ``--minutes`` there, on any device and several runs at a time (``--parallel``):
  the same budget, replayed on faster hardware. Only timings differ (and float rounding between
  devices); the images seen, the settings and the seeds are the same.

    python benchmarks/quality_per_minute.py --out runs/quality --minutes 30 --seeds 0,1,2
    python benchmarks/quality_per_minute.py --out runs/quality --measure 120        # speeds.json here
    python benchmarks/quality_per_minute.py --out runs/quality --speeds runs/quality/speeds.json \\
        --device cuda --parallel 9 --set train.precision=fp32 --stop-after 8 --no-score --pack OUT/back

A device that returns only a few files gets ``--pack DIR``: each run's newest G_ema snapshot (as its
``checkpoint.pt``: enough to score it), stats, config and log, in a few tar files. Unpack them into
OUT/runs here and score with ``--no-train``.

The world (5,000 sky photos at 32x64, seed 0, as ``benchmarks/report.py`` makes it) is synthesised
into OUT/world unless ``--world`` names one. Finished runs are skipped, so an interrupted benchmark
continues. Writes OUT/results.json (every number) and OUT/results.md (the table), and prints the table.
"""

from __future__ import annotations

import argparse
import json
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORLD_COUNT = 5000
WORLD_SIZE = "32x64"
PRESET = "cpu-32x64"
# Held-out sky scenes whose photos give the truth's suns (those that clip; glowgan.evaluation.held_out_photos).
SUN_SCENES = 100
# The world photographs with exposure offsets of 1 stop around its metering (data.synth.default_camera);
# every candidate's prior matches that spread (DESIGN.md).
WORLD_EXPOSURE_STD_STOPS = 1.0
BASE_SETTINGS = (f"camera.exposure_std_stops={WORLD_EXPOSURE_STD_STOPS}",)
# Projected GANs (Sec. 4) train D with Adam at lr 2e-4 and no R1; the first probe of issue 11 did too.
PROJECTED = ("model.discriminator=projected", "train.d_lr=0.0002", "train.r1_gamma=0")
PROJECTED_EQUAL_LR = ("model.discriminator=projected", "train.d_lr=0.0025", "train.r1_gamma=0")
# a small from-scratch residual D beside the features (the highlight-sensitive branch), 8-bit camera
BRANCH_8BIT = ("model.projected_branch=resnet", "model.d_channel_max=16", "camera.quantize_bits=8")
CANDIDATES: dict[str, tuple[str, ...]] = {
    "resnet": (),
    "resnet-8bit": ("camera.quantize_bits=8",),
    "projected": PROJECTED,
    "projected-8bit": (*PROJECTED, "camera.quantize_bits=8"),
    "projected+resnet-8bit": (*PROJECTED, *BRANCH_8BIT),
    # D's learning rate equal to G's (0.0025): at 2e-4 G outran D and collapsed at 28-32 kimg
    "projected-eqlr": (*PROJECTED_EQUAL_LR,),
    "projected-eqlr+resnet-8bit": (*PROJECTED_EQUAL_LR, *BRANCH_8BIT),
    # the same plus a head on each photo's brightest pixels (glowgan.models.highlights)
    "projected-eqlr+resnet-8bit+highlights": (*PROJECTED_EQUAL_LR, *BRANCH_8BIT, "model.highlight_head=true"),
    "resnet-8bit+highlights": ("camera.quantize_bits=8", "model.highlight_head=true"),
    # the head also on each photo's darkest pixels: the shadows drifted 2.4 stops too deep by 120 kimg
    "projected-eqlr+resnet-8bit+highlights+shadows": (
        *PROJECTED_EQUAL_LR, *BRANCH_8BIT, "model.highlight_head=true", "model.shadow_statistics=true"
    ),
    # the same with the frozen features fed 64x128 upsampled photos: at 32x64 their coarsest map is 1x2
    "projected-eqlr+resnet-8bit+highlights+shadows+features64": (
        *PROJECTED_EQUAL_LR, *BRANCH_8BIT, "model.highlight_head=true", "model.shadow_statistics=true",
        "model.projected_size=64",
    ),
    # ... with the head's logit weighted 3x: at 64x128 the features outweighed its statistics (the shadows drifted)
    "projected-eqlr+resnet-8bit+highlights+shadows+features64+head3": (
        *PROJECTED_EQUAL_LR, *BRANCH_8BIT, "model.highlight_head=true", "model.shadow_statistics=true",
        "model.projected_size=64", "model.head_gain=3",
    ),
}
DEFAULT_CANDIDATES = "resnet,projected,projected-8bit"
# Targets of issue 11 (after 30 CPU-minutes, mean over seeds).
TARGETS = {
    "fid_ratio": 1.5,
    "hdr_swd_ratio": 1.5,
    "bracket_ratio_max": 2.0,
    "headroom_error": 0.3,
    "shadow_error": 0.5,
}


@dataclass(frozen=True)
class Run:
    candidate: str
    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.candidate}/seed{self.seed}"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"


def _glowgan(*args: str) -> list[str]:
    return [sys.executable, "-m", "glowgan", *args]


def _progress(checkpoint: Path) -> dict | None:
    from glowgan.checkpoint import CheckpointError, load_checkpoint

    try:
        return dict(load_checkpoint(checkpoint, mmap=True)["progress"])
    except (CheckpointError, KeyError, TypeError):
        return None


def ensure_world(world: Path) -> None:
    from glowgan.data.synth import read_manifest

    try:
        if len(read_manifest(world)[1]) >= WORLD_COUNT:
            return
    except ValueError:
        pass
    print(f"synthesising the sky world into {world}", flush=True)
    subprocess.run(
        _glowgan("data", "synth", "--family", "sky", "--count", str(WORLD_COUNT), "--size", WORLD_SIZE,
                 "--seed", "0", "--out", str(world)),
        check=True,
    )


def train_command(run: Run, world: Path, *, budget: list[str], device: str, extra: list[str]) -> list[str]:
    settings = [*BASE_SETTINGS, *CANDIDATES[run.candidate], *extra]
    common = [*budget, "--device", device, "--no-progress", *(f"--set={s}" for s in settings)]
    if run.checkpoint.exists():
        return _glowgan("train", "--resume", str(run.folder), *common)
    return _glowgan("train", "--data", str(world / "ldr"), "--out", str(run.folder), "--preset", PRESET,
                    "--seed", str(run.seed), *common)


def measure_speeds(out: Path, world: Path, candidates: list[str], seconds: float, extra: list[str]) -> dict:
    """Training images/s of each candidate here: ``seconds`` of training each, in two interleaved rounds."""
    speeds: dict[str, list[float]] = {name: [] for name in candidates}
    for round_index in range(2):
        for name in candidates:
            folder = out / "speed" / f"{name}-round{round_index}"
            if folder.exists():
                subprocess.run(["rm", "-rf", str(folder)], check=True)
            run = Run(name, 0, folder)
            budget = ["--minutes", f"{seconds / 2 / 60:g}", "--kimg", "100000"]
            subprocess.run(train_command(run, world, budget=budget, device="cpu", extra=extra), check=True,
                           stdout=subprocess.DEVNULL)
            progress = _progress(run.checkpoint)
            speeds[name].append(progress["images"] / progress["elapsed_s"])
            print(f"{name}: {speeds[name][-1]:.1f} img/s (round {round_index + 1})", flush=True)
    return {name: float(np.mean(values)) for name, values in speeds.items()}


def budget_kimg(run: Run, args: argparse.Namespace, speeds: dict | None) -> float | None:
    """The images (in thousands) a replayed run trains for; None for a timed run."""
    return None if speeds is None else args.minutes * 60 * speeds[run.candidate] / 1000


def finished(run: Run, args: argparse.Namespace, speeds: dict | None) -> bool:
    progress = _progress(run.checkpoint) if run.checkpoint.exists() else None
    if progress is None:
        return False
    kimg = budget_kimg(run, args, speeds)
    if kimg is None:
        return progress["elapsed_s"] >= args.minutes * 60 * 0.999
    return progress["images"] >= kimg * 1000 - 32  # training stops at the first whole batch past the budget


def train_runs(runs: list[Run], world: Path, args: argparse.Namespace, speeds: dict | None) -> None:
    pending: list[tuple[Run, list[str]]] = []
    for run in runs:
        if finished(run, args, speeds):
            continue
        progress = _progress(run.checkpoint) if run.checkpoint.exists() else None
        kimg = budget_kimg(run, args, speeds)
        budget = ["--minutes", f"{args.minutes:g}", "--kimg", "100000"] if kimg is None else ["--kimg", f"{kimg:.3f}"]
        if run.folder.exists() and progress is None:
            subprocess.run(["rm", "-rf", str(run.folder)], check=True)  # an interrupted start
        pending.append((run, train_command(run, world, budget=budget, device=args.device, extra=args.set)))
    env = dict(os.environ)
    if args.parallel > 1:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // args.parallel)))
    active: list[tuple[Run, subprocess.Popen, float]] = []
    deadline = None if args.stop_after is None else time.time() + args.stop_after * 60
    while pending or active:
        if deadline is not None and time.time() > deadline:
            stop_runs(active, pending)
            return
        while pending and len(active) < args.parallel:
            run, command = pending.pop(0)
            run.folder.parent.mkdir(parents=True, exist_ok=True)
            log = open(run.folder.parent / f"{run.folder.name}.log", "a")  # a resumed run keeps the log of its stop
            print(f"training {run.name}: {' '.join(command[3:])}", flush=True)
            active.append((run, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), time.time()))
        time.sleep(1.0)
        for entry in list(active):
            run, process, started = entry
            if process.poll() is None:
                continue
            active.remove(entry)
            state = "done" if process.returncode == 0 else f"FAILED (exit {process.returncode}, see its log)"
            print(f"{run.name}: {state} in {(time.time() - started) / 60:.1f} min", flush=True)


def stop_runs(active: list[tuple[Run, subprocess.Popen, float]], pending: list) -> None:
    """--stop-after: interrupt the active runs as Ctrl-C would (each keeps its last checkpoint), start no more."""
    for run, process, _ in active:
        process.send_signal(signal.SIGINT)
    for run, process, _ in active:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        print(f"{run.name}: stopped at the deadline (--stop-after)", flush=True)
    if pending:
        print(f"not started before the deadline: {', '.join(run.name for run, _ in pending)}", flush=True)


def newest_snapshot(run: Run) -> Path | None:
    snapshots = sorted((run.folder / "snapshots").glob("snapshot-*img.pt"))
    return snapshots[-1] if snapshots else None


# A tar member's header and padding take at most this many bytes beside its data (512 + up to 511).
TAR_MEMBER_OVERHEAD = 1024


def pack(runs: list[Run], out: Path, *, limit_bytes: int = 15 * 2**20) -> list[Path]:
    """Each run's newest G_ema snapshot (named checkpoint.pt: what scoring reads), stats.jsonl, config.json
    and training log, in tar files of at most ``limit_bytes`` each (a run is never split) -> their paths.

    For a device that sends back a few files: ``tar -xf`` them into OUT/runs here, then ``--no-train``."""
    out.mkdir(parents=True, exist_ok=True)
    parts: list[list[tuple[str, bytes]]] = [[]]
    part_bytes = 0
    for run in runs:
        snapshot = newest_snapshot(run)
        if snapshot is None:
            continue
        files = [(f"{run.folder.name}/checkpoint.pt", snapshot.read_bytes())]
        for name in ("stats.jsonl", "config.json"):
            if (run.folder / name).exists():
                files.append((f"{run.folder.name}/{name}", (run.folder / name).read_bytes()))
        log = run.folder.parent / f"{run.folder.name}.log"
        if log.exists():
            files.append((log.name, log.read_bytes()))
        size = sum(len(data) + TAR_MEMBER_OVERHEAD for _, data in files)
        if parts[-1] and part_bytes + size > limit_bytes:
            parts.append([])
            part_bytes = 0
        parts[-1].extend(files)
        part_bytes += size
    written = []
    for index, files in enumerate(part for part in parts if part):
        path = out / f"runs-{index}.tar"
        with tarfile.open(path, "w") as archive:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), int(time.time())
                archive.addfile(info, io.BytesIO(data))
        written.append(path)
        print(f"packed {path} ({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return written


def score(runs: list[Run], world: Path, args: argparse.Namespace, speeds: dict | None) -> dict:
    """Every run that used its whole budget, scored together (one reference and one floor for all)."""
    from glowgan.report import ReportSettings, score_samples
    from glowgan.report.sets import load_model, read_world
    from glowgan.evaluation import held_out_photos
    from glowgan.itm_levels import ClipLevels

    done = [run for run in runs if finished(run, args, speeds)]
    if not done:
        raise SystemExit("no run has used its whole budget yet; run the benchmark again to continue them")
    # the distances through the world's own camera only: the report's other curves triple the FID time
    settings = ReportSettings(count=args.count, fid_count=args.fid_count, fid_device=args.fid_device,
                              other_curves=tuple(args.other_curves))
    truth = read_world(world, settings.count, progress=False)
    models = {run.name: load_model(run.name, run.checkpoint) for run in done}
    statistics, distances = score_samples(truth, models, settings, progress=False)
    median = {name: {key: float(np.median(values[key])) for key in ("headroom", "shadow_span", "dynamic_range")}
              for name, values in statistics.items()}
    observable_headroom = median["ground truth (observable)"]["headroom"]
    truth_shadow = median["ground truth (full)"]["shadow_span"]
    fid = distances["fid"]
    # the level above the clip of small clipped regions (suns), which bounds an inverse tone mapping's fill
    photos = held_out_photos("sky", range(SUN_SCENES), size=truth.size)
    truth_suns = ClipLevels.of_scenes(np.stack([p.hdr for p in photos])).small_share_level()
    per_run = {}
    for run in done:
        progress = _progress(run.checkpoint)
        bracket = distances["bracket_swd"]
        per_run[run.name] = {
            "candidate": run.candidate,
            "seed": run.seed,
            "kimg": progress["images"] / 1000,
            "train_minutes": progress["elapsed_s"] / 60 if "elapsed_s" in progress else None,  # not in a packed snapshot
            "fid_ratio": fid[run.name]["fid"] / fid["floor"]["fid"] if "floor" in fid else None,
            "hdr_swd_ratio": distances["hdr_swd"][run.name]["mean"] / distances["hdr_swd"]["floor"]["mean"],
            "bracket_ratio": {stop: bracket[run.name][stop] / bracket["floor"][stop]
                              for stop in bracket["floor"] if stop != "mean"},
            "headroom": median[run.name]["headroom"],
            "shadow_span": median[run.name]["shadow_span"],
            "headroom_error": median[run.name]["headroom"] - observable_headroom,
            "shadow_error": median[run.name]["shadow_span"] - truth_shadow,
            "suns_error": _suns(models[run.name]) - truth_suns,
        }
    return {
        "unfinished": [run.name for run in runs if run not in done],
        "truth": {"observable_headroom": observable_headroom, "shadow_span": truth_shadow, "suns": truth_suns,
                  "fid_floor": fid.get("floor", {}).get("fid"), "hdr_swd_floor": distances["hdr_swd"]["floor"]["mean"]},
        "runs": per_run,
        "distances": distances,
    }


def _suns(model) -> float:
    """The model's suns: the mean level above the clip of its samples that clip < 1 % (glowgan.itm_levels)."""
    from glowgan.itm_levels import ClipLevels

    level = ClipLevels.measure(model.generator, model.config).small_share_level()
    return float("nan") if level is None else level


def _mean_spread(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"  # one seed: no spread to show
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def table(results: dict, candidates: list[str]) -> str:
    runs = results["runs"]
    stops = sorted({stop for r in runs.values() for stop in r["bracket_ratio"]}, key=float)
    header = ["candidate", "seeds", "kimg", "FID ÷ floor", "HDR SWD ÷ floor",
              *(f"bracket ÷ floor {stop}" for stop in stops), "headroom − observable", "shadow span − truth",
              "suns − truth"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in candidates:
        rows = [r for r in runs.values() if r["candidate"] == name]
        if not rows:
            continue
        cells = [name, str(len(rows)), f"{np.mean([r['kimg'] for r in rows]):.1f}",
                 _mean_spread([r["fid_ratio"] for r in rows if r["fid_ratio"] is not None]),
                 _mean_spread([r["hdr_swd_ratio"] for r in rows]),
                 *(_mean_spread([r["bracket_ratio"][stop] for r in rows]) for stop in stops),
                 _mean_spread([r["headroom_error"] for r in rows]),
                 _mean_spread([r["shadow_error"] for r in rows]),
                 _mean_spread([r["suns_error"] for r in rows if "suns_error" in r])]
        lines.append("| " + " | ".join(cells) + " |")
    truth = results["truth"]
    lines.append("")
    if results["unfinished"]:
        lines.append(f"Not scored (budget not used up): {', '.join(results['unfinished'])}.")
    lines.append(
        f"Truth: observable headroom {truth['observable_headroom']:.2f} stops, shadow span {truth['shadow_span']:.2f} "
        f"stops, suns {truth.get('suns', float('nan')):.2f} stops above the clip (the mean level of photos clipping "
        f"< 1 %: what bounds an inverse tone mapping's fill; no target). Targets (issue 11): FID and HDR SWD ≤ "
        f"{TARGETS['fid_ratio']}× their floors, every bracket ≤ "
        f"{TARGETS['bracket_ratio_max']}×, headroom within ±{TARGETS['headroom_error']} stops, shadow span within "
        f"±{TARGETS['shadow_error']} stops. Mean ± standard deviation over seeds."
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"), help="benchmark folder")
    parser.add_argument("--world", type=Path, help="a `glowgan data synth` sky set at 32x64 (default: OUT/world)")
    parser.add_argument("--candidates", default=DEFAULT_CANDIDATES,
                        help=f"comma-separated, from {', '.join(CANDIDATES)} (default: {DEFAULT_CANDIDATES})")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (default: 0,1,2)")
    parser.add_argument("--minutes", type=float, default=30.0, help="CPU budget per run in minutes (default 30)")
    parser.add_argument("--measure", type=float, metavar="SECONDS",
                        help="only measure each candidate's images/s here (SECONDS of training each) into OUT/speeds.json")
    parser.add_argument("--speeds", type=Path, help="replay: train each run for the images its candidate sees in "
                        "--minutes at the speeds in this file (from --measure)")
    parser.add_argument("--device", default="cpu", help="training device (replayed budgets only for non-CPU)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (replayed budgets only)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run (e.g. train.precision=fp32 on a GPU)")
    parser.add_argument("--count", type=int, default=1000, help="ground-truth images and samples per run (default 1000)")
    parser.add_argument("--fid-count", type=int, default=500, help="renderings per set for FID (default 500, 0 skips)")
    parser.add_argument("--fid-device", default="cpu", help="device of the Inception network (default cpu)")
    parser.add_argument("--stop-after", type=float, metavar="MINUTES",
                        help="wall-clock limit of the training: interrupt the active runs then (they continue from "
                        "their last checkpoint on the next call), start no more")
    parser.add_argument("--pack", type=Path, metavar="DIR",
                        help="after training, pack every run's newest snapshot, stats and log into DIR/runs-N.tar")
    parser.add_argument("--other-curves", nargs="*", default=[], metavar="CRF",
                        help="also measure the distances through these curve families' mean cameras (as the "
                        "report does with srgb filmic; each one adds the FID time again; default: none)")
    parser.add_argument("--no-score", action="store_true", help="train only")
    parser.add_argument("--no-train", action="store_true", help="score the runs that used their budget, train nothing")
    args = parser.parse_args()

    candidates = [name.strip() for name in args.candidates.split(",") if name.strip()]
    unknown = [name for name in candidates if name not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {unknown}; choose from {', '.join(CANDIDATES)}")
    if args.speeds is None and (args.parallel != 1 or args.device != "cpu"):
        parser.error("timed runs train one at a time on the CPU; give --speeds to replay budgets elsewhere")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    world = args.world or args.out / "world"
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_world(world)

    if args.measure:
        speeds = measure_speeds(args.out, world, candidates, args.measure, args.set)
        (args.out / "speeds.json").write_text(json.dumps(speeds, indent=2) + "\n")
        print(json.dumps(speeds, indent=2))
        return 0
    speeds = None
    if args.speeds is not None:
        speeds = json.loads(args.speeds.read_text())
        missing = [name for name in candidates if name not in speeds]
        if missing:
            parser.error(f"{args.speeds} has no speed for {missing}; measure them with --measure")

    # seed by seed, so that an interrupted benchmark has every candidate at the first seeds
    runs = [Run(name, seed, args.out / "runs" / f"{name}-seed{seed}") for seed in seeds for name in candidates]
    if not args.no_train:
        started = time.time()
        train_runs(runs, world, args, speeds)
        print(f"training done in {(time.time() - started) / 60:.1f} min", flush=True)
    if args.pack is not None:
        pack(runs, args.pack)
    if args.no_score:
        return 0
    started = time.time()
    results = score(runs, world, args, speeds)
    results["budget"] = {"minutes": args.minutes, "speeds": speeds, "device": args.device, "settings": args.set}
    results["score_minutes"] = (time.time() - started) / 60
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = table(results, candidates)
    (args.out / "results.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
