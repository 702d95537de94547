"""What a training run records in its folder, beside the loop of :mod:`glowgan.train`.

Each tick closes with one line of ``stats.jsonl`` (and TensorBoard, if installed), FID and KID of
G_ema when due (:class:`FidDuringTraining`), and the white-collapse counter; every ``snapshot_ticks``
ticks a grid of G_ema's images goes to ``grids/``, a G_ema export to ``snapshots/`` and the resumable
state, random streams of every rank included, to ``checkpoint.pt``. Rank 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from glowgan import camera as cam
from glowgan import fileio, hdrio, tonemap
from glowgan.checkpoint import capture_rng, save_checkpoint
from glowgan.config import Config
from glowgan.distributed import Distributed
from glowgan.generate import hdr_from_latents, latents_for_seeds

if TYPE_CHECKING:
    from glowgan.train import TrainState

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
STATS_NAME = "stats.jsonl"
GRID_STOPS = (-4, -2, 0, 2, 4)


@torch.no_grad()
def snapshot_grid(state: TrainState, *, seed: int) -> np.ndarray:
    """Rows: fixed latents; columns: G_ema's HDR through the mean camera at -4..+4 stops, then Reinhard.

    The latents are those of seeds ``seed .. seed+n-1`` (as ``glowgan generate`` would make them); the
    vanilla GAN's LDR output is linearised as in :func:`glowgan.generate.hdr_from_latents`. The
    mean camera is noise-free, so grids of successive snapshots differ only by the generator.
    """
    n = state.config.train.grid_size
    z = latents_for_seeds(range(seed, seed + n), state.G_ema.z_dim)
    hdr = hdr_from_latents(state.G_ema, state.config, z)  # [n, 3, H, W], linear
    mean_camera = dataclasses.replace(
        (state.prior or cam.CameraPrior()).mean(n, device=state.device), read_noise=0.0, shot_noise=0.0
    )
    columns = [cam.render(hdr, mean_camera.shifted(stops)).permute(0, 2, 3, 1).cpu().numpy() for stops in GRID_STOPS]
    hdr_np = hdr.permute(0, 2, 3, 1).cpu().numpy()
    columns.append(np.stack([tonemap.tonemap(h, exposure_stops=tonemap.auto_exposure_stops(h), operator="reinhard") for h in hdr_np]))
    return tonemap.panel_grid([[column[row] for column in columns] for row in range(n)], gap=2, background=1.0)


def forget_ticks_after(stats_path: Path, tick: int) -> None:
    """Drop stats lines logged after the checkpoint a run resumes from (they will be logged again)."""
    fileio.truncate_jsonl(stats_path, lambda record: record["tick"] <= tick)


def record_tick(
    state: TrainState,
    means: dict[str, float],
    *,
    images: int,
    seconds: float,
    run_dir: Path,
    writer: Any,
    dist_info: Distributed,
) -> dict[str, Any]:
    """Close a tick: update the collapse counter, compare replicas, log one stats line (and TensorBoard)."""
    train_cfg = state.config.train
    state.tick += 1
    stats: dict[str, Any] = {
        "tick": state.tick,
        "kimg": state.images / 1000,
        "step": state.step,
        "images_per_s": images / max(seconds, 1e-9),
        "train_time_s": state.elapsed_s,
        **means,
        "skipped_steps": state.skipped_steps,
    }
    for name, scaler in (("G", state.scaler_G), ("D", state.scaler_D)):
        if scaler is not None:  # fp16: the loss scales (a falling one means overflowing gradients)
            stats[f"loss_scale_{name}"] = scaler.get_scale()
    diverged = stats["saturated_fake"] - stats["saturated_real"] > train_cfg.collapse_margin
    state.collapse_ticks = state.collapse_ticks + 1 if diverged else 0
    stats["collapse_ticks"] = state.collapse_ticks
    if dist_info.world > 1:
        stats["replicas_in_sync"] = dist_info.all_equal(state.G) and dist_info.all_equal(state.D)
    if dist_info.main:
        fileio.append_jsonl(run_dir / STATS_NAME, stats)
        if writer is not None:
            for key, value in stats.items():
                if isinstance(value, (int, float)) and key not in ("tick", "kimg"):
                    writer.add_scalar(key, value, global_step=state.images)
            writer.flush()
        if diverged:
            log.warning(
                "fakes are %.0f%% saturated vs %.0f%% of reals (tick %d of %d before stopping): "
                "the white collapse reported for the official code may be starting",
                100 * stats["saturated_fake"],
                100 * stats["saturated_real"],
                state.collapse_ticks,
                train_cfg.collapse_patience,
            )
    return stats


def write_snapshot(state: TrainState, run_dir: Path, dist_info: Distributed, *, checkpoint: bool) -> None:
    """Write the grid, the G_ema export and, with ``checkpoint`` (the caller's choice: the run looks healthy,
    or it ends without one), the resumable checkpoint."""
    rng = _rng_all_ranks(state, dist_info) if checkpoint else []
    if not dist_info.main:
        return
    grid = snapshot_grid(state, seed=state.config.train.seed)
    hdrio.write_ldr(run_dir / "grids" / f"grid-{state.images:09d}img.png", grid)
    export = {"config": state.config.to_dict(), "G_ema": state.G_ema.state_dict(), "progress": {"images": state.images}}
    save_checkpoint(run_dir / "snapshots" / f"snapshot-{state.images:09d}img.pt", export)
    if checkpoint:
        save_checkpoint(run_dir / CHECKPOINT_NAME, state.to_checkpoint(rng))
    else:
        log.warning("not overwriting %s while the run looks collapsed", run_dir / CHECKPOINT_NAME)


def _rng_all_ranks(state: TrainState, dist_info: Distributed) -> list[dict[str, Any]]:
    mine = capture_rng(state.rngs, devices=[state.device])
    if dist_info.world == 1:
        return [mine]
    gathered: list[Any] = [None] * dist_info.world
    dist.all_gather_object(gathered, mine)
    return gathered


def tensorboard_writer(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("TensorBoard logging is off: install it with `pip install glowgan[tensorboard]`")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class FidDuringTraining:
    """FID and KID of G_ema every ``fid_every_kimg`` and at the end, on rank 0 (``glowgan fid``'s protocol).

    The real photos' Inception features are computed once, at the start; each measurement draws the
    same latents, noise and cameras from its own seeded generators, so it leaves the run's random
    streams (and an exact resume) untouched.
    """

    def __init__(self, config: Config, *, data: Path, device: torch.device, dist_info: Distributed) -> None:
        train_cfg = config.train
        self.config = config
        self.every_images = round(train_cfg.fid_every_kimg * 1000)
        self.real = None
        if self.every_images <= 0:
            return
        from glowgan.metrics.fid import FidUnavailable, load_real_set

        def load() -> None:
            try:
                self.real = load_real_set(
                    Path(train_cfg.fid_data) if train_cfg.fid_data else data,
                    resolution=config.model.resolution,
                    count=train_cfg.fid_count,
                    device=device,
                    seed=train_cfg.seed,
                )
            except FidUnavailable as error:
                raise ValueError(f"[train] fid_every_kimg is set, but {error}") from None

        dist_info.from_main(load)  # rank 0 reads and measures; an error stops every rank

    def due(self, tick_start_images: int, images: int, *, done: bool) -> bool:
        """A multiple of ``fid_every_kimg`` was passed in this tick, or training ends with it."""
        if self.real is None:
            return False
        return done or images // self.every_images > tick_start_images // self.every_images

    def measure(self, G_ema: torch.nn.Module) -> dict[str, float]:
        from glowgan.metrics.fid import fid_of_generator

        train_cfg = self.config.train
        result = fid_of_generator(G_ema, self.config, self.real, count=train_cfg.fid_count, seed=train_cfg.seed)
        return {key: float(result[key]) for key in ("fid", "kid", "kid_std")}
