"""A supervised inverse tone mapping baseline: an HDRCNN-style U-Net trained on paired LDR -> HDR data.

Eilertsen, Kronander, Denes, Mantiuk, Unger, "HDR image reconstruction from a single exposure using
deep CNNs", ACM TOG 36(6) (SIGGRAPH Asia 2017). What we keep from the paper:

- an encoder-decoder with skip connections that sees the display-referred photo and predicts
  **log HDR**; the last layer also sees the log of the linearised input (their skip connection from
  the input, in the log domain);
- the output is a **blend** (Sec. 3.1): ``hdr = (1 - a) f^-1(ldr) + a exp(y)`` with the soft mask of
  saturated pixels ``a = max(0, max_c ldr - tau) / (1 - tau)``, ``tau = 0.95``; ``f^-1`` is the mean
  inverse CRF of the camera that took the *training* photos (the paper fixes one inverse camera curve as
  well): the U-Net cannot know a test photo's curve, and applies the one it was trained with;
- the **masked log loss** (their direct loss): ``mean(|a (y - log(H + eps))|**2)`` over pixels and
  channels, ``H`` the true HDR in the photo's exposed units (the clip level is 1).

What is ours and smaller: a 3-level U-Net (two 3x3 convolutions per level, max-pool down, 4x4
transposed convolution up, leaky ReLU 0.2, no normalisation), about 0.6 M parameters at the default
16 base channels, trained on the CPU at 32x64. It is fully convolutional: any size works (inputs are
padded by edge replication to a multiple of ``2**depth`` and the output cropped back).

Training pairs are made on the fly from the procedural world, photographed exactly like a synthetic
set (:func:`glowgan.data.synth.photograph`: median metering, random offset and CRF from the family's
default camera, clipping, 8-bit quantisation); ``UNetConfig.crf`` replaces the default camera's curve
prior, as ``glowgan data synth --crf`` does, and ``UNetConfig.world_version`` picks the version of the world
that renders the scenes (recorded in the checkpoint). A U-Net of one family and curve evaluated on photos of
another is a *cross-domain* baseline; on photos of its own world, an *oracle*
(:mod:`glowgan.baselines.domains`). **Scene seeds start at** ``TRAIN_SEED_BASE`` = 1,000,000
and advance by one per training image (image ``n`` of a run uses scene and camera seed
``TRAIN_SEED_BASE + n``), so seeds below 1,000,000 (the evaluation range 0-199 among them) are never
trained on, and a resumed run continues with the same images it would have seen. This is the kind of
paired supervision that GlowGAN does without.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from glowgan import fileio
from glowgan.baselines.expansion import as_ldr_rgb
from glowgan.camera import CameraPrior, crf_inverse, parse_crf
from glowgan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from glowgan.data import synth, world

logger = logging.getLogger(__name__)

KIND = "itm-unet"  # the "kind" entry of a supervised-baseline checkpoint
CHECKPOINT_NAME = "checkpoint.pt"
STATS_NAME = "stats.jsonl"
TRAIN_SEED_BASE = 1_000_000  # first training scene seed; everything below is reserved for evaluation
BLEND_TAU = 0.95  # Eilertsen et al. 2017, Sec. 3.1: saturation threshold of the blend mask
LOG_EPS = 1.0 / 255.0  # offset inside log(H + eps) of the input skip connection and the loss (one 8-bit step)
LEAKY_SLOPE = 0.2  # Eilertsen et al. 2017: leaky ReLU in the decoder (we use it throughout)


@dataclass(frozen=True)
class UNetConfig:
    """What defines a supervised run: the world it learns, the network and the optimiser.

    ``family``: scene family of the procedural world. ``crf``: the camera curve prior of the training
    photos, one family or a mixture (``"srgb"``, ``"srgb:2,filmic"``; see :func:`glowgan.camera.parse_crf`);
    empty: the family's default camera (the official ``glowgan`` prior), as in checkpoints written before
    the setting existed. ``height``/``width``: training crop size in pixels. ``channels``: base width
    (doubling per level). ``depth``: number of 2x downsamplings. ``batch``: images per step. ``lr``: Adam
    learning rate. ``init_seed``: weight initialisation. ``world_version``: the version of the procedural
    world its scenes are rendered with (:data:`glowgan.data.world.WORLD_VERSIONS`); ``None`` only for a
    checkpoint written before the version was recorded, whose world is unknown (it can be evaluated, not
    resumed).
    """

    family: str = "sky"
    crf: str = ""
    height: int = 32
    width: int = 64
    channels: int = 16
    depth: int = 3
    batch: int = 16
    lr: float = 1e-3
    init_seed: int = 0
    world_version: int | None = world.WORLD_VERSION

    def __post_init__(self) -> None:
        if self.family not in world.FAMILIES:
            raise ValueError(f"unknown scene family {self.family!r}; choose one of {', '.join(world.FAMILIES)}")
        if self.world_version is not None and (
            isinstance(self.world_version, bool) or self.world_version not in world.WORLD_VERSIONS
        ):
            raise ValueError(
                f"unknown world version {self.world_version!r}; choose one of {', '.join(map(str, world.WORLD_VERSIONS))}"
            )
        if self.crf:
            parse_crf(self.crf)  # raises a ValueError that names the bad family or weight
        for name in ("height", "width", "channels", "depth", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str) -> UNetConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise CheckpointError(f"{source}: unknown U-Net settings {sorted(unknown)}; use the glowgan that wrote it")
        return cls(**{"world_version": None, **values})  # written before the world version was recorded: unknown


class UNet(nn.Module):
    """Encoder-decoder with skip connections: photo ``[N, 3, H, W]`` in [0, 1] -> log HDR ``[N, 3, H, W]``.

    ``forward(ldr, log_linear)`` also takes ``log(f^-1(ldr) + eps)``, which the last layer sees
    (Eilertsen et al. 2017's input skip connection). Any ``H, W`` works (padded internally).
    """

    def __init__(self, *, channels: int = 16, depth: int = 3, rng: torch.Generator | None = None) -> None:
        super().__init__()
        widths = [channels * 2**level for level in range(depth + 1)]
        self.depth = depth
        self.encoder = nn.ModuleList([_block(3 if i == 0 else widths[i - 1], widths[i]) for i in range(depth + 1)])
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(widths[i + 1], widths[i], kernel_size=4, stride=2, padding=1) for i in range(depth)]
        )
        self.decoder = nn.ModuleList([_block(2 * widths[i], widths[i]) for i in range(depth)])
        self.head = nn.Conv2d(widths[0] + 3, 3, kernel_size=1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu", generator=rng)
                nn.init.zeros_(module.bias)

    def forward(self, ldr: torch.Tensor, log_linear: torch.Tensor) -> torch.Tensor:
        height, width = ldr.shape[-2:]
        multiple = 2**self.depth
        pad = (0, -width % multiple, 0, -height % multiple)
        x = F.pad(2.0 * ldr - 1.0, pad, mode="replicate")  # [N, 3, H', W'] in [-1, 1]
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for level in reversed(range(self.depth)):
            x = _leaky(self.up[level](x))
            x = self.decoder[level](torch.cat([x, skips[level]], dim=1))
        x = x[..., :height, :width]
        return self.head(torch.cat([x, log_linear], dim=1))  # [N, 3, H, W], log HDR


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(LEAKY_SLOPE),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(LEAKY_SLOPE),
    )


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAKY_SLOPE)


def build_unet(config: UNetConfig) -> UNet:
    return UNet(channels=config.channels, depth=config.depth, rng=torch.Generator().manual_seed(config.init_seed))


def blend_mask(ldr: torch.Tensor, *, tau: float = BLEND_TAU) -> torch.Tensor:
    """Eilertsen et al. 2017, Sec. 3.1: ``max(0, max_c ldr - tau) / (1 - tau)``, ``[N, 1, H, W]`` in [0, 1]."""
    return ((ldr.amax(dim=1, keepdim=True) - tau).clamp_min(0.0) / (1.0 - tau)).clamp_max(1.0)


def training_camera(config: UNetConfig) -> CameraPrior:
    """The camera of the training photos: the family's default camera, with ``config.crf``'s curve prior
    if one is set (:func:`glowgan.data.synth.default_camera`, as ``glowgan data synth --crf`` makes it).
    Its mean inverse curve linearises the U-Net's input, in training and at test time alike."""
    return synth.default_camera(config.family, crf=config.crf or None)


def linearize_mean(ldr: torch.Tensor, prior: CameraPrior | None = None) -> torch.Tensor:
    """``f^-1(ldr)`` with the prior's mean CRF (default: the official prior's), ``[N, 3, H, W]`` -> linear in
    [0, 1] (clip level 1); for a mixture, the mean curve of its most probable family (``CameraPrior.mean``)."""
    return crf_inverse(ldr, (prior or CameraPrior()).mean(ldr.shape[0], device=ldr.device))


def reconstruct(model: UNet, ldr: torch.Tensor, *, camera: CameraPrior) -> torch.Tensor:
    """The blended HDR estimate ``(1 - a) f^-1(ldr) + a exp(y)`` of photos ``[N, 3, H, W]`` (clip level 1);
    ``f^-1`` is the mean inverse curve of ``camera``, the training photos' (:func:`training_camera`)."""
    linear = linearize_mean(ldr, camera)
    log_hdr = model(ldr, torch.log(linear + LOG_EPS))
    alpha = blend_mask(ldr)
    return (1.0 - alpha) * linear + alpha * torch.exp(log_hdr)


def masked_log_loss(model: UNet, ldr: torch.Tensor, hdr: torch.Tensor, *, camera: CameraPrior) -> torch.Tensor:
    """Eilertsen et al. 2017's direct loss: ``mean(|a (y - log(hdr + eps))|**2)`` over pixels and channels;
    the input is linearised with ``camera``'s mean inverse curve (:func:`training_camera`)."""
    linear = linearize_mean(ldr, camera)
    log_hdr = model(ldr, torch.log(linear + LOG_EPS))
    alpha = blend_mask(ldr)
    return (alpha * (log_hdr - torch.log(hdr + LOG_EPS))).square().mean()


def training_batch(config: UNetConfig, images_seen: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch after ``images_seen`` training images: (ldr, hdr), each ``[B, 3, H, W]``; seeds >= TRAIN_SEED_BASE,
    photographed with :func:`training_camera`."""
    if config.world_version is None:
        raise ValueError(
            "this U-Net's world version is unknown (its checkpoint predates the setting), so its training "
            "scenes cannot be continued; train a new one"
        )
    seeds = [TRAIN_SEED_BASE + images_seen + i for i in range(config.batch)]
    ldr, hdr, _ = synth.scene_photos(
        config.family,
        seeds,
        height=config.height,
        width=config.width,
        camera=training_camera(config),
        world_version=config.world_version,
    )
    return torch.from_numpy(ldr).permute(0, 3, 1, 2), torch.from_numpy(hdr).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class TrainReport:
    """Outcome of :func:`train_supervised`."""

    checkpoint: Path
    step: int
    images: int
    first_loss: float | None  # mean loss of the run's first logged interval (this invocation)
    last_loss: float | None  # mean loss of the last logged interval
    seconds: float  # this invocation's training time

    def summary(self) -> str:
        losses = ""
        if self.first_loss is not None and self.last_loss is not None:
            losses = f", loss {self.first_loss:.4f} -> {self.last_loss:.4f}"
        return f"{self.checkpoint}: step {self.step}, {self.images} images{losses} ({self.seconds:.0f} s this run)"


def train_supervised(
    out_dir: str | os.PathLike,
    config: UNetConfig,
    *,
    steps: int | None = None,
    minutes: float | None = None,
    resume: bool = False,
    log_every_s: float = 30.0,
    progress: bool = True,
) -> TrainReport:
    """Train the U-Net into ``out_dir`` (``checkpoint.pt``, ``stats.jsonl``).

    Training stops at ``steps`` steps in total or after ``minutes`` of this call, whichever comes first.

    ``resume`` continues the checkpoint in ``out_dir`` exactly (same images, same weights as an
    uninterrupted run); its settings win, and a ``config`` of another family, curve or size is refused.
    Every ``log_every_s`` seconds (and at the end, or on Ctrl-C) one line with the mean loss goes to
    ``stats.jsonl`` and the checkpoint is saved atomically.
    """
    if steps is None and minutes is None:
        raise ValueError("say how long to train: pass steps or minutes")
    if steps is not None and steps < 1 or minutes is not None and not minutes > 0:
        raise ValueError(f"steps must be >= 1 and minutes > 0, got steps={steps}, minutes={minutes}")
    root = Path(out_dir)
    path = root / CHECKPOINT_NAME
    if root.is_dir():
        fileio.remove_stale_temporaries(root)
    if resume:
        if not path.is_file():
            raise ValueError(f"{root}: no {CHECKPOINT_NAME} to resume; drop --resume to start a new run")
        state = load_state(path)
        saved = UNetConfig.from_dict(state["unet_config"], source=str(path))
        if saved.world_version is None:
            raise ValueError(
                f"{path} predates recording the world version of its scenes, so it cannot be continued "
                "with the same scenes; train a new U-Net in a new folder"
            )
        for name in ("family", "crf", "height", "width", "world_version"):
            if getattr(saved, name) != getattr(config, name):
                raise ValueError(
                    f"{path} was trained with {name}={getattr(saved, name)!r}, not {getattr(config, name)!r}; "
                    "resume with the run's own settings or use a new folder"
                )
        config = saved
    elif path.exists():
        raise ValueError(
            f"{root} already holds a {CHECKPOINT_NAME}; pass --resume to continue it or choose a new folder"
        )
    model = build_unet(config)
    camera = training_camera(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, images = 0, 0
    if resume:
        model.load_state_dict(state["unet"])
        optimizer.load_state_dict(state["opt"])
        step, images = int(state["progress"]["step"]), int(state["progress"]["images"])
    _truncate_stats(root / STATS_NAME, step)
    model.train()
    start = time.perf_counter()
    deadline = None if minutes is None else start + 60.0 * minutes
    last_log, interval_losses, first_loss, last_loss = start, [], None, None

    def flush() -> None:
        nonlocal interval_losses, last_log, first_loss, last_loss
        if interval_losses:
            mean = float(np.mean(interval_losses))
            first_loss = mean if first_loss is None else first_loss
            last_loss = mean
            now = time.perf_counter()
            seconds = now - last_log
            record = {"step": step, "images": images, "loss": mean, "steps": len(interval_losses), "seconds": seconds}
            fileio.append_jsonl(root / STATS_NAME, record, sort_keys=True)
            interval_losses, last_log = [], now
        save_checkpoint(path, _state(model, optimizer, config, step, images))

    total = None if steps is None else max(steps - step, 0)
    desc = f"unet {config.family}" + (f" {config.crf}" if config.crf else "")
    with tqdm(total=total, unit="step", desc=desc, disable=not progress) as bar:
        try:
            while (steps is None or step < steps) and (deadline is None or time.perf_counter() < deadline):
                ldr, hdr = training_batch(config, images)
                loss = masked_log_loss(model, ldr, hdr, camera=camera)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step, images = step + 1, images + config.batch
                interval_losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
                if time.perf_counter() - last_log >= log_every_s:
                    flush()
        finally:
            flush()
    return TrainReport(path, step, images, first_loss, last_loss, time.perf_counter() - start)


def _state(model: UNet, optimizer: torch.optim.Optimizer, config: UNetConfig, step: int, images: int) -> dict[str, Any]:
    return {
        "kind": KIND,
        "unet_config": config.to_dict(),
        "unet": model.state_dict(),
        "opt": optimizer.state_dict(),
        "progress": {"step": step, "images": images},
    }


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a supervised-baseline checkpoint; any other glowgan checkpoint is refused with a clear error."""
    state = load_checkpoint(path)
    if state.get("kind") != KIND:
        what = "a GAN training checkpoint, not a U-Net" if "G_ema" in state else "not a supervised-baseline checkpoint"
        raise CheckpointError(f"{path}: {what}; pass a checkpoint written by `glowgan baseline train-supervised`")
    return state


def load_unet(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> tuple[UNet, UNetConfig]:
    """The trained U-Net of a checkpoint, in eval mode, with its config."""
    state = load_state(path)
    config = UNetConfig.from_dict(state["unet_config"], source=str(path))
    model = build_unet(config)
    try:
        model.load_state_dict(state["unet"])
    except RuntimeError as error:
        problem = str(error).splitlines()[0]
        raise CheckpointError(f"{path}: U-Net weights do not match its settings ({problem})") from None
    return model.to(device).eval().requires_grad_(False), config


class UNetBaseline:
    """A trained U-Net as a baseline: ``baseline(ldr [H, W, 3]) -> hdr [H, W, 3]`` (clip level 1).

    ``config``: its settings (the scene family and curve it was trained on); ``camera``: the training
    photos' camera, whose mean inverse curve linearises every photo it is given."""

    def __init__(self, ckpt: str | os.PathLike, *, device: str | torch.device = "cpu") -> None:
        self.model, self.config = load_unet(ckpt, device=device)
        self.camera = training_camera(self.config)
        self.device = torch.device(device)

    def __call__(self, ldr: np.ndarray) -> np.ndarray:
        photo = torch.from_numpy(as_ldr_rgb(ldr)).permute(2, 0, 1)[None].to(self.device)  # [1, 3, H, W]
        with torch.inference_mode():
            hdr = reconstruct(self.model, photo, camera=self.camera)
        return hdr[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def read_stats(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The lines of a run's ``stats.jsonl`` (a last line cut off by a crash is ignored)."""
    return fileio.read_jsonl(Path(out_dir) / STATS_NAME)


def _truncate_stats(path: Path, step: int) -> None:
    """Drop stats lines written after the checkpoint being resumed (or all of them for a new run), atomically."""
    fileio.truncate_jsonl(path, lambda record: record["step"] <= step)
