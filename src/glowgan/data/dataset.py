"""A lazily read data set of equally sized LDR images: a prepared folder, a synthetic set, or a zip of either.

Layouts it understands (``path``):

- a folder with an ``ldr/`` subfolder (what ``glowgan data prepare`` and ``glowgan data synth``
  write): the images directly inside ``ldr/``; the rest of the folder (``hdr/`` ground truth,
  manifests) is never read;
- a flat folder of images;
- a ``.zip`` file: the images under ``ldr/`` if it has that folder, otherwise all images in it.

Images are ``.png``, ``.jpg``/``.jpeg`` or ``.webp`` files whose names do not start with ``.``
(hidden and temporary files are ignored), in sorted order. All must have the same size as displayed
(EXIF orientation applied, as :func:`glowgan.hdrio.read_ldr` reads them), checked from their headers
when the data set is opened. Items are ``ldr`` tensors ``[3, H, W]`` float32 in [0, 1].

Data loaders: the object pickles without open file handles; each process opens the zip on first use,
so it works with ``torch.utils.data.DataLoader(num_workers > 0)``, and reads are safe from threads.
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glowgan import hdrio
from glowgan.data.prepare import LDR_FOLDER

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def is_image_name(name: str) -> bool:
    """Whether a file name is an image a data set reads (by suffix, not hidden)."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_SUFFIXES


class ImageFolderDataset(torch.utils.data.Dataset):
    """LDR images of one size from a folder or zip (see the module docstring).

    ``resolution``: expected ``(height, width)`` (an int means square); a data set of another size
    raises ``ValueError``. ``xflip``: also serve every image mirrored left-right, doubling the length
    (items ``N .. 2N-1`` are the mirrors of ``0 .. N-1``, as StyleGAN2-ADA's ``--mirror``).
    Attributes: ``resolution`` ``(H, W)``, ``names`` (file names inside the folder or zip), and
    ``root`` (the folder holding ``ldr/``, or None for a zip).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        resolution: int | tuple[int, int] | None = None,
        xflip: bool = False,
    ) -> None:
        self.path = Path(path)
        self.xflip = xflip
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        self._lock = threading.Lock()
        if self.path.is_dir():
            folder = self.path / LDR_FOLDER if (self.path / LDR_FOLDER).is_dir() else self.path
            self._folder: Path | None = folder
            self.root: Path | None = self.path
            self.names = sorted(
                entry.name for entry in os.scandir(folder) if entry.is_file() and is_image_name(entry.name)
            )
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._folder = None
            self.root = None
            self.names = self._zip_names()
        elif self.path.exists():
            raise ValueError(f"{self.path}: not a folder or a zip file; pass a prepared data folder or zip")
        else:
            raise ValueError(f"{self.path}: no such folder or zip file")
        if not self.names:
            where = self._folder if self._folder is not None else self.path
            raise ValueError(
                f"{where}: no images ({', '.join(IMAGE_SUFFIXES)}) found; "
                "make a data set with `glowgan data prepare` or `glowgan data synth`"
            )
        self.resolution = self._common_size()
        if resolution is not None:
            wanted = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
            if wanted != self.resolution:
                raise ValueError(
                    f"{self.path}: images are {self.resolution[0]}x{self.resolution[1]} (HxW) but "
                    f"{wanted[0]}x{wanted[1]} was asked for; prepare the data at that size"
                )

    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    def __getitem__(self, index: int) -> torch.Tensor:
        """``ldr`` [3, H, W] float32 in [0, 1]; mirrored for ``index >= N`` when ``xflip``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a data set of {len(self)} items")
        index %= len(self)
        flip = index >= len(self.names)
        codes = self.read_codes(index - len(self.names) if flip else index)
        if flip:
            codes = codes[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(codes.transpose(2, 0, 1))).float().div_(255.0)

    def read_codes(self, index: int) -> np.ndarray:
        """Image ``index`` (of ``names``) as 8-bit codes ``[H, W, 3]`` uint8, never mirrored."""
        name = self.names[index]
        if self._folder is not None:
            ldr = hdrio.read_ldr(self._folder / name)  # [H, W, 3] float32 in [0, 1]
        else:
            ldr = hdrio.decode_ldr(self._zip_file().read(name), name=self._describe(name))
        codes = np.floor(ldr * 255.0 + 0.5).astype(np.uint8)
        if codes.shape[:2] != self.resolution:
            raise ValueError(
                f"{self._describe(name)}: image is {codes.shape[0]}x{codes.shape[1]} but the data set is "
                f"{self.resolution[0]}x{self.resolution[1]} (its header said otherwise); re-prepare it"
            )
        return codes

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_zip"] = None  # each process opens its own handle
        state["_zip_pid"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _zip_file(self) -> zipfile.ZipFile:
        with self._lock:
            if self._zip is None or self._zip_pid != os.getpid():
                self._zip = zipfile.ZipFile(self.path)
                self._zip_pid = os.getpid()
            return self._zip

    def _zip_names(self) -> list[str]:
        with zipfile.ZipFile(self.path) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
        members = [m for m in members if is_image_name(m) and not m.startswith("__MACOSX/")]
        prefix = f"{LDR_FOLDER}/"
        in_ldr = [m for m in members if m.startswith(prefix) and "/" not in m[len(prefix) :]]
        return sorted(in_ldr or members)

    def _describe(self, name: str) -> str:
        return str(self._folder / name) if self._folder is not None else f"{self.path}:{name}"

    def _common_size(self) -> tuple[int, int]:
        """The displayed (H, W) all images share, from their headers; ValueError naming examples otherwise."""
        sizes: dict[str, tuple[int, int]] = {}
        archive = zipfile.ZipFile(self.path) if self._folder is None else None
        try:
            for name in self.names:  # an unreadable header raises hdrio.ImageIOError naming the file and the fix
                if archive is None:
                    sizes[name] = hdrio.read_ldr_size(self._folder / name)
                else:
                    with archive.open(name) as member:
                        sizes[name] = hdrio.read_ldr_size(member, name=self._describe(name))
        finally:
            if archive is not None:
                archive.close()
        counts = Counter(sizes.values())
        if len(counts) > 1:
            examples = {size: name for name, size in sizes.items()}
            details = "; ".join(
                f"{count} are {h}x{w} (e.g. {examples[(h, w)]})" for (h, w), count in counts.most_common()
            )
            raise ValueError(
                f"{self.path}: images have different sizes ({details}); "
                "make them one size with `glowgan data prepare SRC --size N --out DATA`"
            )
        return next(iter(counts))

