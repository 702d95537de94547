"""Prepare a folder or zip of real photos for training: centre-crop, resize, 8-bit PNG, skip bad files.

Every photo (any depth inside the source) is read with :func:`glowgan.hdrio.read_ldr` (EXIF
orientation applied, grey and palette images expanded to RGB, alpha dropped), centre-cropped to the
target aspect ratio, resized with Lanczos (Pillow, on float values, in the photo's own display-referred
encoding, as photo data sets usually are), and written as an 8-bit PNG to ``OUT/ldr/``. 16-bit sources
are reduced to 8 bits there: the training set holds 8-bit photos, like the in-the-wild collections
GlowGAN learns from.

Files that cannot be used are skipped and listed with the reason, never aborting the run: unreadable,
truncated or mislabelled files (the :class:`~glowgan.hdrio.ImageIOError` message), files that are not
photos by their extension, and photos too small for the target size after cropping (photos are never
upscaled). ``OUT/prepare.json`` records the settings, what was written and what was skipped; it is
written (atomically) before the first image and again at the end. Running again with the same settings
skips photos whose output already exists; different settings into the same folder are refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from glowgan import hdrio
from glowgan.data.dataset import LDR_FOLDER

logger = logging.getLogger(__name__)

REPORT_NAME = "prepare.json"
REPORT_FORMAT = "glowgan-prepare"
REPORT_VERSION = 1


@dataclass(frozen=True)
class PrepareReport:
    """Outcome of :func:`prepare_images`. ``skipped``: ``(source name, reason)`` pairs."""

    out_dir: Path
    height: int
    width: int
    written: int  # images made by this run
    already_done: int  # outputs that existed from an earlier run with the same settings
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """What ``glowgan data prepare`` prints: counts, then every skipped file with its reason."""
        lines = [
            f"{self.out_dir}: {self.written + self.already_done} images of {self.height}x{self.width} (HxW) "
            f"({self.written} written now, {self.already_done} already there), {len(self.skipped)} files skipped, "
            f"in {self.seconds:.1f} s"
        ]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


def parse_aspect(text: str) -> float:
    """Width / height from ``"W:H"`` (e.g. ``"2:1"``) or a number (``"1.5"``)."""
    try:
        if ":" in text:
            w, h = (float(part) for part in text.split(":"))
            value = w / h
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"aspect {text!r} is not W:H (like 2:1) or a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"aspect {text!r} must be positive")
    return value


def output_size(size: int, aspect: float) -> tuple[int, int]:
    """``(height, width)`` whose shorter side is ``size`` and whose width / height is ``aspect``."""
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, got {size}")
    if aspect >= 1:
        return size, max(1, round(size * aspect))
    return max(1, round(size / aspect)), size


def prepare_images(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    size: int = 256,
    aspect: float = 1.0,
    max_pixels: int | None = hdrio.DEFAULT_MAX_PIXELS,
    workers: int = 2,
    progress: bool = True,
) -> PrepareReport:
    """Turn the photos in ``source`` (a folder, searched recursively, or a zip) into a training set.

    ``size``: the shorter side of the output in pixels; ``aspect``: output width / height (see
    :func:`parse_aspect`), so ``size=256, aspect=2`` gives 256x512 (HxW) images. ``max_pixels``:
    larger photos are skipped before decoding (None: no limit). ``workers``: threads. Output
    ``OUT/ldr/<path with / as __>.png`` (e.g. ``trip/img1.jpg`` -> ``trip__img1.jpg.png``), see the
    module docstring.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    start = time.perf_counter()
    height, width = output_size(size, aspect)
    source = Path(source)
    root = Path(out_dir)
    settings = {"height": height, "width": width, "aspect": aspect, "source": str(source.resolve())}
    names = _list_sources(source, skip=root)
    _check_output(root, settings)
    _write_report(root, {"settings": settings, "complete": False})
    skipped: list[tuple[str, str]] = []
    written: list[str] = []
    done: list[str] = []

    def work(name: str) -> tuple[str, str, str]:
        out = root / LDR_FOLDER / (name.replace("/", "__") + ".png")
        if out.is_file():
            return name, "done", ""
        if os.path.splitext(name)[1].lower() not in hdrio.LDR_SUFFIXES:
            return name, "skipped", f"not a photo by its extension (reads {', '.join(hdrio.LDR_SUFFIXES)})"
        with _local_copy(source, name) as path:
            try:
                ldr = hdrio.read_ldr(path, max_pixels=max_pixels)  # [h, w, 3] float32 in [0, 1]
            except hdrio.ImageIOError as e:
                message = str(e)  # starts with the path read, which may be a temporary copy
                return name, "skipped", message.removeprefix(f"{os.fspath(path)}: ")
        try:
            fitted = _crop_and_resize(ldr, height, width, aspect)
        except _TooSmall as e:
            return name, "skipped", str(e)
        hdrio.write_ldr(out, fitted)  # a failure to write (disk full, permissions) stops the run
        return name, "written", ""

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(work, names)
        for name, outcome, reason in tqdm(results, total=len(names), unit="file", desc="prepare", disable=not progress):
            if outcome == "skipped":
                logger.info("skipped %s: %s", name, reason)
                skipped.append((name, reason))
            else:
                (written if outcome == "written" else done).append(name)
    _write_report(
        root,
        {
            "settings": settings,
            "complete": True,
            "images": sorted(written + done),
            "skipped": [{"name": n, "reason": r} for n, r in skipped],
        },
    )
    return PrepareReport(
        out_dir=root,
        height=height,
        width=width,
        written=len(written),
        already_done=len(done),
        skipped=skipped,
        seconds=time.perf_counter() - start,
    )


class _TooSmall(ValueError):
    """A photo smaller than the target size after cropping (photos are not upscaled)."""


def _list_sources(source: Path, *, skip: Path) -> list[str]:
    """Relative names (``/``-separated) of all non-hidden files in a folder (recursive) or zip, sorted.

    The folder ``skip`` (the output, if it lies inside the source) is left out.
    """
    if source.is_dir():
        names = []
        skip = skip.resolve()
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip)
            rel = Path(folder).relative_to(source)
            names += [(rel / f).as_posix() for f in files if not f.startswith(".")]
        return sorted(names)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [i.filename for i in archive.infolist() if not i.is_dir()]
        return sorted(
            m for m in members if not m.startswith("__MACOSX/") and not any(p.startswith(".") for p in m.split("/"))
        )
    if source.exists():
        raise ValueError(f"{source}: not a folder or a zip file; pass a folder of photos or a .zip")
    raise ValueError(f"{source}: no such folder or zip file")


@contextmanager
def _local_copy(source: Path, name: str) -> Iterator[Path]:
    """A path to read ``name`` from: the file itself, or a temporary copy of a zip member."""
    if source.is_dir():
        yield source / name
        return
    with tempfile.TemporaryDirectory(prefix="glowgan-prepare-") as tmp:
        path = Path(tmp) / os.path.basename(name)
        with zipfile.ZipFile(source) as archive, archive.open(name) as member, open(path, "wb") as f:
            shutil.copyfileobj(member, f)
        yield path


def _crop_and_resize(ldr: np.ndarray, height: int, width: int, aspect: float) -> np.ndarray:
    """Centre-crop ``ldr`` [h, w, 3] to ``aspect`` and resize it to [height, width, 3] with Lanczos."""
    h, w = ldr.shape[:2]
    if w > h * aspect:
        crop_h, crop_w = h, max(1, round(h * aspect))
    else:
        crop_h, crop_w = max(1, round(w / aspect)), w
    if crop_h < height or crop_w < width:
        raise _TooSmall(
            f"too small: {h}x{w} (HxW), {crop_h}x{crop_w} after cropping to aspect {aspect:g}, "
            f"needs at least {height}x{width}"
        )
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = ldr[top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) == (height, width):
        return crop
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(crop[:, :, c])).resize((width, height), Image.Resampling.LANCZOS)
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


def _check_output(root: Path, settings: dict[str, Any]) -> None:
    """Refuse an output folder that holds something else than a preparation with these settings."""
    report = root / REPORT_NAME
    if report.is_file():
        try:
            old = json.loads(report.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{report}: corrupt ({e}); delete {root} and prepare again") from None
        if old.get("format") != REPORT_FORMAT or old.get("settings") != settings:
            raise ValueError(
                f"{root} already holds images prepared with other settings ({old.get('settings')}, now {settings}); "
                "use the same settings to resume, or a new output folder"
            )
    elif root.exists() and any(root.iterdir()):
        raise ValueError(
            f"{root} is not empty and has no {REPORT_NAME}, so it is not a prepared set to resume; "
            "choose a new or empty output folder"
        )


def _write_report(root: Path, body: dict[str, Any]) -> None:
    """Write ``prepare.json`` atomically."""
    report = {"format": REPORT_FORMAT, "version": REPORT_VERSION, **body}
    hdrio.write_text(root / REPORT_NAME, json.dumps(report, indent=1, sort_keys=True))
