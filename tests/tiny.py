"""What several test files train on: a tiny model's settings and small LDR 'photos' (import tiny)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glowgan import hdrio

# A tiny model at 8x16 with a tick and a checkpoint every 8 images (2 steps of 4); later overrides win.
# The trainer's mechanics are tested with the residual D and R1 (the GPU presets' D; the CPU presets'
# projected D, which has no R1, is trained in test_projected.py).
TINY_TRAIN = [
    "model.resolution=[8, 16]",
    "model.z_dim=8",
    "model.w_dim=8",
    "model.g_channel_base=64",
    "model.g_channel_max=8",
    "model.d_channel_base=64",
    "model.d_channel_max=8",
    "model.discriminator=resnet",
    "train.r1_gamma=0.1",
    "train.batch=4",
    "train.tick_kimg=0.008",
    "train.snapshot_ticks=1",
    "train.grid_size=2",
    "train.r1_interval=2",
    "train.threads=1",
]


def write_blob_photos(folder: Path, count: int, *, height: int, width: int) -> Path:
    """``count`` LDR 'photos' in ``folder``: smooth gradients with a clipped bright blob, as a camera records."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width] / np.array([float(height), float(width)])[:, None, None]
    for i in range(count):
        base = rng.uniform(0.1, 0.5, size=3) * (1 - 0.5 * yy[..., None])
        blob = np.exp(-((xx - rng.uniform()) ** 2 + (yy - 0.3) ** 2) / 0.01)[..., None] * 2
        hdrio.write_ldr(folder / f"img{i:03d}.png", np.clip(base + blob, 0, 1).astype(np.float32))
    return folder
