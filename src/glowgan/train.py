"""GlowGAN training: G makes linear HDR, the camera photographs it, D compares with real LDR photos.

One iteration (GlowGAN Sec. 3; StyleGAN2 schedule with lazy R1, Sec. 3.1)::

    D step: ldr_fake = render(G(z), camera ~ prior)          # the only thing D sees of G
            loss = D_loss(D(aug(ldr_real)), D(aug(ldr_fake))) [+ gamma/2 * k * R1 every k steps]
    G step: loss = G_loss(D(aug(render(G(z), camera ~ prior))))
            G_ema <- lerp(G_ema, G), half-life ``ema_kimg``

With ``[camera] enabled = false`` G outputs LDR in [0, 1] and the camera is skipped: the vanilla LDR
GAN baseline, trained by the same code.

Every random draw comes from a named ``torch.Generator`` whose state is checkpointed, and the data
order is a pure function of (seed, images seen), so a resumed run continues bit for bit on CPU.
Several processes (``torchrun``) average gradients with bucketed ``all_reduce`` after each backward
pass (:mod:`glowgan.distributed`); each rank draws its own latents, cameras and augmentations and reads
its own slice of every global batch. Rank 0 alone reads a checkpoint to resume from and hands it to the
others, and alone writes the run folder (:mod:`glowgan.train_log`: stats, grids, snapshots, checkpoint).

Mixed precision (``[train] precision``): the networks run under autocast in bfloat16 or float16
(float16 with one loss scaler per network); the camera, G's toRGB/skip sum/output activation and the
R1 pass stay float32. ``[train] batch_gpu`` splits each process's batch into micro-batches whose
gradients add up to the whole batch's: latents, G's noise and cameras are drawn for the whole batch
first, so the split changes only the augmentation and sensor-noise draws.

Host synchronisation: statistics stay on the device and are read once per tick; each optimiser
step reads one flag (loss and gradients finite on every rank).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from glowgan import camera as cam
from glowgan import fileio, losses
from glowgan.augment import augment
from glowgan.checkpoint import (
    CheckpointError,
    build_discriminator,
    build_generator,
    load_checkpoint,
    restore_rng,
)
from glowgan.config import Config
from glowgan.data.batches import BatchSource
from glowgan.distributed import Distributed
from glowgan.train_log import (
    CHECKPOINT_NAME,
    STATS_NAME,
    FidDuringTraining,
    forget_ticks_after,
    record_tick,
    tensorboard_writer,
    write_snapshot,
)

log = logging.getLogger(__name__)

SATURATED_LDR = 0.99  # an LDR value at or above this counts as clipped white
BLACK_LDR = 0.5 / 255  # a pixel whose channels all lie below this is black (an 8-bit zero)
RNG_NAMES = ("latent", "camera", "noise", "augment")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingStopped(RuntimeError):
    """Training stopped by a guard (non-finite values, white collapse, replicas out of sync)."""


@dataclass
class TrainState:
    """Everything that changes during training; :meth:`to_checkpoint` captures all of it."""

    config: Config
    G: torch.nn.Module
    G_ema: torch.nn.Module
    D: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    rngs: dict[str, torch.Generator]
    device: torch.device
    precision: str = "fp32"  # train.precision resolved for the device: "bf16", "fp16" or "fp32"
    scaler_G: Any = None  # fp16: torch.amp.GradScaler of each network's loss
    scaler_D: Any = None
    images: int = 0  # images seen (global, all ranks)
    step: int = 0  # D/G iterations done
    tick: int = 0
    skipped_steps: int = 0
    collapse_ticks: int = 0
    elapsed_s: float = 0.0

    @property
    def prior(self) -> cam.CameraPrior | None:
        return self.config.camera.prior if self.config.camera.enabled else None

    def to_checkpoint(self, rng_per_rank: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "progress": {
                "images": self.images,
                "step": self.step,
                "tick": self.tick,
                "skipped_steps": self.skipped_steps,
                "collapse_ticks": self.collapse_ticks,
                "elapsed_s": self.elapsed_s,
            },
            "rng": rng_per_rank,
            "scaler_G": self.scaler_G.state_dict() if self.scaler_G is not None else {},
            "scaler_D": self.scaler_D.state_dict() if self.scaler_D is not None else {},
        }


def resolve_precision(precision: str, device: torch.device) -> str:
    """``[train] precision`` on ``device``: "auto" is bf16 on CUDA GPUs with native bfloat16 (compute
    capability 8.0 on, Ampere and later), fp16 on older CUDA GPUs and fp32 elsewhere."""
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp16"


def _grad_scaler(device: torch.device) -> Any:
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type)
    return torch.cuda.amp.GradScaler()  # torch < 2.3


def new_state(config: Config, *, device: torch.device, rank: int = 0) -> TrainState:
    """Fresh networks, optimisers and RNGs (seeded by ``train.seed`` and the rank)."""
    torch.manual_seed(config.train.seed)
    G = build_generator(config).to(device)
    D = build_discriminator(config).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    # Plain Adam for both. StyleGAN2's lazy regularisation (Sec. 3.1) scales D's lr and betas by
    # k/(k+1) because R1 is a separate optimiser step every k steps; here R1 joins the main D step's
    # loss (d_step), so there are no extra steps to correct for.
    betas = config.train.adam_betas
    opt_G = torch.optim.Adam(G.parameters(), lr=config.train.g_lr, betas=betas, eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=config.train.d_lr, betas=betas, eps=1e-8)
    rngs = {}
    for index, name in enumerate(RNG_NAMES):
        rng = torch.Generator(device=device)
        rng.manual_seed(config.train.seed * 1_000_003 + rank * 7919 + index + 1)
        rngs[name] = rng
    precision = resolve_precision(config.train.precision, device)
    fp16 = precision == "fp16"
    return TrainState(
        config=config, G=G, G_ema=G_ema, D=D, opt_G=opt_G, opt_D=opt_D, rngs=rngs, device=device,
        precision=precision, scaler_G=_grad_scaler(device) if fp16 else None,
        scaler_D=_grad_scaler(device) if fp16 else None,
    )


def load_state(path: Path, *, device: torch.device, rank: int, world: int, config: Config | None = None) -> TrainState:
    """Rebuild a :class:`TrainState` from a checkpoint; ``config`` may change the schedule (e.g. total_kimg).

    In a ``torchrun`` job rank 0 alone reads ``path`` and hands the checkpoint to the other ranks, so
    the run folder need only be on rank 0's node.
    """
    # on the CPU: random states must stay CPU tensors; load_state_dict copies weights to the device
    payload = Distributed(rank=rank, world=world).from_main(lambda: load_checkpoint(path, map_location="cpu"))
    saved = Config.from_dict(payload["config"], source=str(path))
    if config is not None and (
        config.model != saved.model or config.camera != saved.camera or config.train.seed != saved.train.seed
    ):
        raise CheckpointError(
            f"{path}: the run was trained with a different [model], [camera] or seed; resume it without "
            "changing those"
        )
    state = new_state(config or saved, device=device, rank=rank)
    for name in ("G", "G_ema", "D"):
        getattr(state, name).load_state_dict(payload[name])
    for name in ("opt_G", "opt_D"):  # keep the moments, take learning rates and betas from the config
        optimizer = getattr(state, name)
        hyper = [{k: group[k] for k in ("lr", "betas")} for group in optimizer.param_groups]
        optimizer.load_state_dict(payload[name])
        for group, values in zip(optimizer.param_groups, hyper):
            group.update(values)
    progress = payload["progress"]
    state.images, state.step, state.tick = progress["images"], progress["step"], progress["tick"]
    state.skipped_steps, state.collapse_ticks = progress["skipped_steps"], progress["collapse_ticks"]
    state.elapsed_s = progress["elapsed_s"]
    for name in ("scaler_G", "scaler_D"):  # fp16 loss scales, when both runs use them
        scaler = getattr(state, name)
        if scaler is not None and payload.get(name):
            scaler.load_state_dict(payload[name])
    rng = payload["rng"]
    reason = f"checkpoint was written by {len(rng)} process(es), resuming with {world}"
    if len(rng) == world:
        try:
            for note in restore_rng(rng[rank], state.rngs, devices=[device]):
                log.warning("%s", note)
            return state
        except CheckpointError as error:
            reason = str(error)
    log.warning(
        "%s: random streams are re-seeded, so the continuation is not bit-identical to an uninterrupted run", reason
    )
    for index, rng in enumerate(state.rngs.values()):
        rng.manual_seed(hash((saved.train.seed, rank, state.step, index)) % 2**62)
    return state


def _autocast(state: TrainState) -> contextlib.AbstractContextManager:
    if state.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=state.device.type, dtype=AUTOCAST_DTYPES[state.precision])


@dataclass
class FakeInputs:
    """What is random about a batch of fakes, but for sensor noise: latents, G's noise, cameras.

    Drawn for a process's whole batch before it is split into micro-batches (``batch_gpu``), so that
    the split changes none of these draws.
    """

    z: torch.Tensor  # [N, z_dim]
    noise: list[torch.Tensor]  # one [N, 1, h, w] per synthesis conv layer
    cameras: cam.CameraParams | None  # None: the vanilla GAN (G outputs LDR)

    def __getitem__(self, part: slice) -> FakeInputs:
        cameras = self.cameras[part] if self.cameras is not None else None
        return FakeInputs(self.z[part], [layer[part] for layer in self.noise], cameras)


def draw_fakes(state: TrainState, n: int) -> FakeInputs:
    """Latents, per-layer noise and cameras (from the prior) for ``n`` fakes, from the run's RNGs."""
    z = torch.randn(n, state.G.z_dim, generator=state.rngs["latent"], device=state.device)
    noise = state.G.synthesis.draw_noise(n, rng=state.rngs["noise"])
    cameras = None
    if state.prior is not None:
        cameras = state.prior.sample(n, rng=state.rngs["camera"], device=state.device)
    return FakeInputs(z, noise, cameras)


def generate_ldr(state: TrainState, fakes: FakeInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Fake photographs for D, ``render(G(z), camera)`` (or G's LDR output for the vanilla GAN), and each one's w.

    Returns ``ldr`` [N, 3, H, W] float32 and ``w`` [N, w_dim] (for G's running ``w_avg``).
    """
    with _autocast(state):
        ws = state.G.mapping(fakes.z)  # [N, num_ws, w_dim]
        image = state.G.synthesis(ws, noise=fakes.noise)  # [N, 3, H, W] float32
    if fakes.cameras is None:
        return image, ws[:, 0]  # ldr in [0, 1]
    return cam.render(image, fakes.cameras, rng=state.rngs["camera"]), ws[:, 0]


def micro_batches(n: int, batch_gpu: int) -> list[slice]:
    """A local batch of ``n`` split into micro-batches of at most ``batch_gpu`` images (0: not split).

    Strided, sample i going to micro-batch ``i % count``: D's minibatch-std groups are strided alike,
    so each micro-batch holds whole groups of the unsplit batch whenever the group size divides it.
    """
    count = min(n, -(-n // batch_gpu)) if batch_gpu > 0 else 1
    return [slice(k, None, count) for k in range(count)]


def _augment(state: TrainState, ldr: torch.Tensor) -> torch.Tensor:
    policy = state.config.train.augment
    if not policy:
        return ldr
    return augment(ldr, policy=policy, rng=state.rngs["augment"], circular_x=state.config.model.circular)


def _judge(state: TrainState, ldr: torch.Tensor) -> torch.Tensor:
    """D's logits [N, 1] for photos ``ldr``: D sees them augmented, its highlight head (if any) as they are."""
    return state.D(_augment(state, ldr), photo=ldr).float()


def _d_loss(state: TrainState, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if state.config.train.loss == "hinge":
        return losses.d_hinge_loss(real_logits, fake_logits)
    return losses.d_logistic_loss(real_logits, fake_logits)


def _g_loss(state: TrainState, fake_logits: torch.Tensor) -> torch.Tensor:
    if state.config.train.loss == "hinge":
        return losses.g_hinge_loss(fake_logits)
    return losses.g_nonsaturating_loss(fake_logits)


def _grads_finite(module: torch.nn.Module) -> torch.Tensor:
    """Whether all of ``module``'s gradients are finite: a 0-d bool tensor from one fused norm, no sync.

    (A gradient whose norm overflows float32, about 1.8e19, counts as non-finite too.)
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.ones((), dtype=torch.bool)
    return torch.stack(torch._foreach_norm(grads)).isfinite().all()


def _accumulate(stats: dict[str, torch.Tensor], weight: float, **values: torch.Tensor) -> None:
    """Add ``weight`` times each value (a micro-batch's mean) to ``stats``: the whole batch's means."""
    for key, value in values.items():
        value = value.detach() * weight
        stats[key] = stats[key] + value if key in stats else value


def _backward(loss: torch.Tensor, scaler: Any) -> None:
    (scaler.scale(loss) if scaler is not None else loss).backward()


def _optimizer_step(
    optimizer: torch.optim.Optimizer,
    module: torch.nn.Module,
    scaler: Any,
    loss_finite: torch.Tensor,
    dist_info: Distributed,
) -> bool:
    """Average the gradients over the ranks, then step if the loss was finite on every rank (and the
    gradients are finite). With a float16 loss scaler, overflowing gradients are the scaler's to
    handle: it skips that step and lowers the scale. Returns whether the step counts as finite."""
    dist_info.average_gradients(module)
    if scaler is None:
        ok = dist_info.all_true(loss_finite & _grads_finite(module).to(loss_finite.device))
        if ok:
            optimizer.step()
        return ok
    scaler.unscale_(optimizer)
    ok = dist_info.all_true(loss_finite)
    if ok:
        scaler.step(optimizer)
    scaler.update()
    return ok


def d_step(state: TrainState, real_ldr: torch.Tensor, dist_info: Distributed) -> dict[str, Any]:
    """One discriminator update (with lazy R1 on every ``r1_interval``-th step), in micro-batches of
    ``batch_gpu``. Returns its statistics as 0-d tensors on the device, and "finite" (bool)."""
    train = state.config.train
    state.G.requires_grad_(False)
    state.D.requires_grad_(True)
    n = real_ldr.shape[0]
    regularise = train.r1_gamma > 0 and state.step % train.r1_interval == 0
    fakes = draw_fakes(state, n)
    w_seen = torch.empty(n, state.G.w_dim, device=state.device)
    stats: dict[str, Any] = {}
    loss_finite = torch.ones((), dtype=torch.bool, device=state.device)
    state.opt_D.zero_grad(set_to_none=True)
    for part in micro_batches(n, train.batch_gpu):
        with torch.no_grad():
            fake_ldr, w = generate_ldr(state, fakes[part])
        w_seen[part] = w.float()
        real = real_ldr[part].detach().requires_grad_(regularise)
        weight = real.shape[0] / n
        with _autocast(state):
            fake_logits = _judge(state, fake_ldr)
        if regularise:  # R1 in float32 from the same forward pass
            real_logits = _judge(state, real)
        else:
            with _autocast(state):
                real_logits = _judge(state, real)
        loss = _d_loss(state, real_logits, fake_logits)
        _accumulate(
            stats,
            weight,
            loss_D=loss,
            logits_real=real_logits.mean(),
            logits_fake=fake_logits.mean(),
            saturated_fake=(fake_ldr >= SATURATED_LDR).float().mean(),
            saturated_real=(real >= SATURATED_LDR).float().mean(),
            # share of photos without a single clipped pixel: where a sun's headroom shows (models.highlights)
            unclipped_fake=(fake_ldr.flatten(1).amax(1) < SATURATED_LDR).float().mean(),
            unclipped_real=(real.flatten(1).amax(1) < SATURATED_LDR).float().mean(),
            # share of photos with a black pixel: where too deep shadows show (models.highlights, shadows)
            black_fake=(fake_ldr.amax(1).flatten(1).amin(1) < BLACK_LDR).float().mean(),
            black_real=(real.amax(1).flatten(1).amin(1) < BLACK_LDR).float().mean(),
        )
        if regularise:
            penalty = losses.r1_penalty(real_logits, real)  # the micro-batch's mean
            loss = loss + penalty * (train.r1_gamma / 2 * train.r1_interval)
            _accumulate(stats, weight, r1=penalty)
        loss_finite &= torch.isfinite(loss)
        _backward(loss * weight, state.scaler_D)
    if state.G.training:
        state.G.mapping.track(w_seen)
    stats["finite"] = _optimizer_step(state.opt_D, state.D, state.scaler_D, loss_finite, dist_info)
    return stats


def g_step(state: TrainState, batch: int, dist_info: Distributed) -> dict[str, Any]:
    """One generator update through the camera and D, in micro-batches of ``batch_gpu``.

    Returns its statistics as 0-d tensors on the device, and "finite" (bool).
    """
    state.G.requires_grad_(True)
    state.D.requires_grad_(False)
    fakes = draw_fakes(state, batch)
    w_seen = torch.empty(batch, state.G.w_dim, device=state.device)
    stats: dict[str, Any] = {}
    loss_finite = torch.ones((), dtype=torch.bool, device=state.device)
    state.opt_G.zero_grad(set_to_none=True)
    for part in micro_batches(batch, state.config.train.batch_gpu):
        fake_ldr, w = generate_ldr(state, fakes[part])
        w_seen[part] = w.detach().float()
        with _autocast(state):
            fake_logits = _judge(state, fake_ldr)
        loss = _g_loss(state, fake_logits)
        weight = fake_ldr.shape[0] / batch
        _accumulate(stats, weight, loss_G=loss)
        loss_finite &= torch.isfinite(loss)
        _backward(loss * weight, state.scaler_G)
    if state.G.training:
        state.G.mapping.track(w_seen)
    dist_info.average_w_avg(state.G)
    stats["finite"] = _optimizer_step(state.opt_G, state.G, state.scaler_G, loss_finite, dist_info)
    return stats


@torch.no_grad()
def update_ema(state: TrainState, batch_global: int) -> None:
    """G_ema <- lerp(G, G_ema, beta) with beta from a half-life in images (StyleGAN2-ADA's schedule)."""
    train = state.config.train
    half_life = train.ema_kimg * 1000
    if train.ema_rampup is not None:
        half_life = min(half_life, state.images * train.ema_rampup)
    beta = 0.5 ** (batch_global / max(half_life, 1e-8))
    ema = list(state.G_ema.parameters())
    torch._foreach_copy_(ema, torch._foreach_lerp([p.detach() for p in state.G.parameters()], ema, beta))
    torch._foreach_copy_(list(state.G_ema.buffers()), list(state.G.buffers()))




def train(
    config: Config,
    *,
    data: Path,
    run_dir: Path,
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_tick: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run in ``run_dir`` on the LDR images in ``data``; returns the last tick's stats.

    ``run_dir`` receives ``checkpoint.pt`` (latest complete state, for ``resume``), ``stats.jsonl``
    (one line per tick), ``grids/`` (snapshot grids), ``snapshots/`` (G_ema exports) and, if
    TensorBoard is installed, ``tensorboard/``. In a ``torchrun`` job only rank 0 reads or writes
    ``run_dir``; every rank reads ``data``.
    """
    device = torch.device(device)
    dist_info = Distributed(
        rank=dist.get_rank() if dist.is_initialized() else 0,
        world=dist.get_world_size() if dist.is_initialized() else 1,
    )
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    if device.type == "cuda":
        if device.index is not None:
            torch.cuda.set_device(device)  # what torch creates on "cuda" (collectives too) goes to this GPU
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if dist_info.main:
        for folder in (run_dir, run_dir / "snapshots", run_dir / "grids"):
            fileio.remove_stale_temporaries(folder)
    if resume:
        state = load_state(checkpoint_path, device=device, rank=dist_info.rank, world=dist_info.world, config=config)
    else:
        if dist_info.from_main(checkpoint_path.exists):
            raise ValueError(f"{run_dir} already holds a run; resume it with --resume or choose another --out")
        state = new_state(config, device=device, rank=dist_info.rank)
    if dist_info.main:  # ticks logged after the checkpoint (all of them when starting afresh) will come again
        forget_ticks_after(run_dir / STATS_NAME, state.tick)
    for module in (state.G, state.G_ema, state.D):
        dist_info.broadcast_module(module)

    train_cfg = config.train
    if train_cfg.batch % dist_info.world:
        raise ValueError(f"[train] batch {train_cfg.batch} must be divisible by the number of processes {dist_info.world}")
    local_batch = train_cfg.batch // dist_info.world
    source = BatchSource(
        data,
        resolution=config.model.resolution,
        seed=train_cfg.seed,
        device=device,
        progress=progress and dist_info.main,
    )
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"data": str(data), **config.to_dict()}, indent=2))
        log.info("training on %d images of %dx%d from %s", len(source), *config.model.resolution, data)
        log.info(
            "%s on %s, %d process(es), %d micro-batch(es) of up to %d images per process",
            state.precision, device, dist_info.world, len(micro_batches(local_batch, train_cfg.batch_gpu)),
            train_cfg.batch_gpu or local_batch,
        )
    writer = tensorboard_writer(run_dir) if dist_info.main else None
    fid = FidDuringTraining(config, data=data, device=device, dist_info=dist_info)

    # whole batches: training stops at the first batch boundary at or after total_kimg
    total_images = math.ceil(round(train_cfg.total_kimg * 1000) / train_cfg.batch) * train_cfg.batch
    tick_images = max(int(train_cfg.tick_kimg * 1000), train_cfg.batch)
    bar = tqdm(
        total=total_images,
        initial=min(state.images, total_images),
        unit="img",
        unit_scale=True,
        disable=not (progress and dist_info.main),
        dynamic_ncols=True,
    )
    sums: dict[str, torch.Tensor] = {}  # on the device, read once per tick
    counts: dict[str, int] = {}
    tick_start_images, tick_start_time = state.images, time.perf_counter()
    last: dict[str, Any] = {}
    try:
        while state.images < total_images:
            start = time.perf_counter()
            first = state.images + dist_info.rank * local_batch
            real_ldr = source.batch(first, local_batch, flip_rng=state.rngs["augment"] if train_cfg.xflip else None)
            d_stats = d_step(state, real_ldr, dist_info)
            g_stats = g_step(state, local_batch, dist_info)
            d_ok, g_ok = d_stats.pop("finite"), g_stats.pop("finite")
            ok = d_ok and g_ok
            if not ok:
                state.skipped_steps += 1
                if train_cfg.nonfinite == "stop" or state.skipped_steps > train_cfg.max_skipped_steps:
                    raise TrainingStopped(
                        f"non-finite loss or gradient at step {state.step} ({state.images} images); the last "
                        f"complete checkpoint {checkpoint_path} is untouched. Lower the learning rates or "
                        "raise [train] r1_gamma, then resume"
                    )
                log.warning("skipped step %d: non-finite loss or gradient", state.step)
            update_ema(state, train_cfg.batch)
            state.images += train_cfg.batch
            state.step += 1
            state.elapsed_s += time.perf_counter() - start
            for key, value in {**d_stats, **g_stats}.items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            bar.update(train_cfg.batch)

            done = state.images >= total_images
            if train_cfg.max_minutes > 0 and not done:  # any rank out of time stops them all
                in_time = state.elapsed_s < train_cfg.max_minutes * 60
                done = not dist_info.all_true(torch.tensor(in_time, device=device if dist_info.world > 1 else "cpu"))
            if state.images - tick_start_images >= tick_images or done:
                means = dist_info.mean({k: sums[k] / counts[k] for k in sums}, device)
                bar.set_postfix(G=f"{means['loss_G']:.2f}", D=f"{means['loss_D']:.2f}", refresh=False)
                seconds = time.perf_counter() - tick_start_time
                if fid.due(tick_start_images, state.images, done=done):  # outside the tick's time and img/s
                    means.update(fid.measure(state.G_ema))
                last = record_tick(state, means, images=state.images - tick_start_images, seconds=seconds,
                                   run_dir=run_dir, writer=writer, dist_info=dist_info)
                if on_tick is not None:
                    on_tick(last)
                _check_guards(state, last, checkpoint_path)
                if state.tick % train_cfg.snapshot_ticks == 0 or done:
                    # A run that looks collapsed keeps its last good checkpoint; one that ends without any
                    # (a short run that never looked healthy) writes its state all the same, with the warning.
                    keep = state.collapse_ticks == 0 or (done and not dist_info.from_main(checkpoint_path.exists))
                    write_snapshot(state, run_dir, dist_info, checkpoint=keep)
                sums, counts = {}, {}
                tick_start_images, tick_start_time = state.images, time.perf_counter()
                if done:
                    break
    finally:
        bar.close()
        source.close()
        if writer is not None:
            writer.close()
    return last



def _check_guards(state: TrainState, stats: dict[str, Any], checkpoint_path: Path) -> None:
    """Stop the run (on every rank alike) when replicas differ, the white collapse lasts too long, or a
    float16 loss scale has fallen below 1 (its gradients keep overflowing: every step is being skipped)."""
    if not stats.get("replicas_in_sync", True):
        raise TrainingStopped("replicas of the networks differ between processes; stopping")
    for name in ("G", "D"):
        if stats.get(f"loss_scale_{name}", 1.0) < 1.0:
            raise TrainingStopped(
                f"float16 loss scale of {name} fell to {stats[f'loss_scale_{name}']:.3g}: its gradients overflow "
                f"float16 in every step. Resume from {checkpoint_path} with --set train.precision=bf16 (on GPUs "
                "that have it) or fp32"
            )
    patience = state.config.train.collapse_patience
    if patience and state.collapse_ticks >= patience:
        raise TrainingStopped(
            f"white collapse: generated photos stayed much more saturated than real ones for "
            f"{state.collapse_ticks} ticks; stopped at {state.images} images. The last good "
            f"checkpoint is {checkpoint_path}"
        )
