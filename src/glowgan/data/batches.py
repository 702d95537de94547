"""Batches of real LDR photos for training, in an order that depends only on (seed, images seen).

The order is an endless sequence of per-epoch permutations, so a resumed run reads exactly the
images an uninterrupted run would have, and each ``torchrun`` process reads its own slice of every
global batch. A data set that fits in ``max_preload_bytes`` is decoded once into a uint8 tensor
(the common case at CPU resolutions: 5,000 images of 32x64 take 30 MB). A larger one is streamed:
a few threads decode the next batches while the current step trains (Pillow's decoders and NumPy
release the GIL), into pinned memory when the device is CUDA, so that copying a batch to the GPU
does not block. Prefetching changes when a batch is decoded, never what it holds.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import torch
from tqdm import tqdm

from glowgan.data.dataset import ImageFolderDataset

DEFAULT_MAX_PRELOAD_BYTES = 4 << 30


@dataclass
class _Pending:
    """A batch being decoded: ``images`` [count, 3, H, W] uint8, filled by ``reads``."""

    first: int
    count: int
    images: torch.Tensor
    reads: list[Future[None]]


class BatchSource:
    """``batch(first, count)``: images at positions ``first .. first+count-1`` of the endless order.

    ``threads`` decode images (default: as many as the CPU cores, at most 4). When streaming,
    ``prefetch`` batches are decoded ahead of the one asked for (0: decode on demand), predicted
    from the last two calls: the same stride (a ``torchrun`` rank asks for ``first + batch`` after
    ``first``), or ``first + count`` after the first call or a jump back. A wrong guess costs decoding
    time only. ``close()`` (or leaving a ``with`` block) stops the threads. ``progress``: show a bar
    while a small set is preloaded into memory.
    """

    def __init__(
        self,
        data: Path | str,
        *,
        resolution: tuple[int, int],
        seed: int,
        device: torch.device | str = "cpu",
        max_preload_bytes: int = DEFAULT_MAX_PRELOAD_BYTES,
        threads: int | None = None,
        prefetch: int = 2,
        progress: bool = True,
    ) -> None:
        self.dataset = ImageFolderDataset(data, resolution=resolution)  # checks the images' size
        height, width = self.dataset.resolution
        self.seed = seed
        self.device = torch.device(device)
        self.prefetch = prefetch
        self._shape = (3, height, width)
        self._pin = self.device.type == "cuda"  # page-locked host memory: the copy to the GPU is asynchronous
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)
        self._pending: deque[_Pending] = deque()
        self._last_first: int | None = None
        pool = ThreadPoolExecutor(max_workers=threads or min(4, os.cpu_count() or 1), thread_name_prefix="glowgan-batches")
        self._pool: ThreadPoolExecutor | None = pool
        self._images: torch.Tensor | None = None
        if len(self.dataset) * 3 * height * width <= max_preload_bytes:
            try:
                self._images = self._preload(pool, progress=progress)  # [N, 3, H, W] uint8
            finally:
                self.close()  # preloaded: the threads have done their work

    def __len__(self) -> int:
        return len(self.dataset)

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the decoding threads (waiting for reads already under way); a preloaded source still serves batches."""
        if self._pool is None:
            return
        for pending in self._pending:
            _cancel(pending)
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def _host(self, count: int) -> torch.Tensor:
        """An uninitialised [count, 3, H, W] uint8 host tensor, pinned for a CUDA device."""
        return torch.empty((count, *self._shape), dtype=torch.uint8, pin_memory=self._pin)

    def _read_into(self, out: torch.Tensor, index: int) -> None:
        """Decode image ``index`` into ``out`` [3, H, W] uint8 (runs on a worker thread)."""
        out.copy_(torch.from_numpy(self.dataset.read_codes(index)).permute(2, 0, 1))

    def _submit(self, pool: ThreadPoolExecutor, first: int, count: int) -> _Pending:
        images = self._host(count)
        index = self.indices(first, count).tolist()
        return _Pending(first, count, images, [pool.submit(self._read_into, images[i], j) for i, j in enumerate(index)])

    def _preload(self, pool: ThreadPoolExecutor, *, progress: bool) -> torch.Tensor:
        images = torch.empty((len(self.dataset), *self._shape), dtype=torch.uint8)
        reads = [pool.submit(self._read_into, images[i], i) for i in range(len(self.dataset))]
        for read in tqdm(reads, desc="loading images", unit="img", leave=False, disable=not progress):
            read.result()
        return images

    def _stream(self, first: int, count: int) -> torch.Tensor:
        """The uint8 batch at ``first``, from the prefetched ones if it is the next; then tops the queue up."""
        pool = self._pool
        if pool is None:
            raise RuntimeError(f"{self.dataset.path}: this BatchSource is closed; make a new one to read more batches")
        while self._pending and (self._pending[0].first, self._pending[0].count) != (first, count):
            _cancel(self._pending.popleft())  # not asked for: the caller jumped
        current = self._pending.popleft() if self._pending else self._submit(pool, first, count)
        stride = first - self._last_first if self._last_first is not None and first > self._last_first else count
        self._last_first = first
        wanted = [(first + stride * ahead, count) for ahead in range(1, self.prefetch + 1)]
        kept = 0
        for pending, (start, size) in zip(self._pending, wanted):
            if (pending.first, pending.count) != (start, size):
                break
            kept += 1
        while len(self._pending) > kept:
            _cancel(self._pending.pop())
        self._pending.extend(self._submit(pool, start, size) for start, size in wanted[kept:])
        for read in current.reads:
            read.result()  # a decoding error (an ImageIOError naming the file) surfaces on the step that needs it
        return current.images

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

    def batch(self, first: int, count: int, *, flip_rng: torch.Generator | None = None) -> torch.Tensor:
        """``ldr`` [count, 3, H, W] float32 in [0, 1] on the device; random x-flips when given a generator."""
        if self._images is not None:
            images = torch.index_select(self._images, 0, self.indices(first, count), out=self._host(count))
        else:
            images = self._stream(first, count)
        ldr = images.to(self.device, non_blocking=True).float().div_(255.0)
        if flip_rng is not None:
            flip = torch.rand(count, generator=flip_rng, device=flip_rng.device) < 0.5
            ldr = torch.where(flip.to(self.device).view(-1, 1, 1, 1), ldr.flip(3), ldr)
        return ldr


def _cancel(pending: _Pending) -> None:
    """Cancel the reads of a batch not yet started (those under way finish into its own buffer)."""
    for read in pending.reads:
        read.cancel()
