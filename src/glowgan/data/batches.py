"""Batches of real LDR photos for training, in an order that depends only on (seed, images seen).

The order is an endless sequence of per-epoch permutations, so a resumed run reads exactly the
images an uninterrupted run would have, and each ``torchrun`` process reads its own slice of every
global batch. A data set that fits in ``max_preload_bytes`` is decoded once into a uint8 tensor
(the common case at CPU resolutions: 5,000 images of 32x64 take 30 MB); a larger one is read per
batch with a small thread pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from glowgan.data.dataset import ImageFolderDataset

DEFAULT_MAX_PRELOAD_BYTES = 4 << 30


class BatchSource:
    """``batch(first, count)``: images at positions ``first .. first+count-1`` of the endless order."""

    def __init__(
        self,
        data: Path | str,
        *,
        resolution: tuple[int, int],
        seed: int,
        device: torch.device | str = "cpu",
        max_preload_bytes: int = DEFAULT_MAX_PRELOAD_BYTES,
        threads: int = 4,
    ) -> None:
        self.dataset = ImageFolderDataset(data, resolution=resolution)  # checks the images' size
        height, width = self.dataset.resolution
        self.seed = seed
        self.device = torch.device(device)
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._images: torch.Tensor | None = None
        if len(self.dataset) * 3 * height * width <= max_preload_bytes:
            self._images = self._preload()  # [N, 3, H, W] uint8

    def __len__(self) -> int:
        return len(self.dataset)

    def _read_uint8(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.rint(self.dataset[index].numpy() * 255).astype(np.uint8))

    def _preload(self) -> torch.Tensor:
        reads = self._pool.map(self._read_uint8, range(len(self.dataset)))
        images = list(tqdm(reads, total=len(self.dataset), desc="loading images", unit="img", leave=False))
        return torch.stack(images)

    def indices(self, first: int, count: int) -> torch.Tensor:
        """Data-set indices at positions ``first .. first+count-1`` (epoch e is permutation(seed, e))."""
        n = len(self.dataset)
        positions = torch.arange(first, first + count)
        out = torch.empty(count, dtype=torch.long)
        for epoch in positions.div(n, rounding_mode="floor").unique().tolist():
            if epoch != self._epoch:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._order, self._epoch = torch.randperm(n, generator=generator), epoch
            mask = positions.div(n, rounding_mode="floor") == epoch
            out[mask] = self._order[positions[mask] % n]
        return out

    def batch(self, first: int, count: int, *, flip_generator: torch.Generator | None = None) -> torch.Tensor:
        """``ldr`` [count, 3, H, W] float32 in [0, 1] on the device; random x-flips when given a generator."""
        index = self.indices(first, count)
        if self._images is not None:
            images = self._images[index]
        else:
            images = torch.stack(list(self._pool.map(self._read_uint8, index.tolist())))
        ldr = images.to(self.device, non_blocking=True).float().div_(255.0)
        if flip_generator is not None:
            flip = torch.rand(count, generator=flip_generator, device=flip_generator.device) < 0.5
            ldr = torch.where(flip.to(self.device).view(-1, 1, 1, 1), ldr.flip(3), ldr)
        return ldr
