"""Prepare a folder or zip of real photos for training: centre-crop, resize, 8-bit PNG, skip bad files.

Every photo (any depth inside the source) is decoded with :func:`glowgan.hdrio.decode_ldr` (EXIF
orientation applied, grey and palette images expanded to RGB, alpha dropped; JPEGs at the smallest
DCT scale, 1/2, 1/4 or 1/8, that still covers twice the target size, which makes large photos many
times faster to decode), centre-cropped to the target aspect ratio, resized with Lanczos (Pillow, on
float values, in the photo's own display-referred encoding, as photo data sets usually are), and
written as an 8-bit PNG to ``ldr/`` of the output. 16-bit sources are reduced to 8 bits there: the
training set holds 8-bit photos, like the in-the-wild collections GlowGAN learns from. Photos are
prepared by a pool of worker processes (``workers``); each opens a zip source once.

The output is a folder (``OUT/ldr/*.png`` and ``OUT/prepare.json``) or, for an ``OUT`` ending in
``.zip``, a zip with the same layout. A zip is built in a hidden folder beside it
(``.OUT.zip.partial``) and written, atomically, when every photo is done. Training needs
power-of-two sides (``model.resolution``), so other sizes are refused before anything is read.

Files that cannot be used are skipped and listed with the reason, never aborting the run: unreadable,
truncated or mislabelled files (the :class:`~glowgan.hdrio.ImageIOError` message), files that are not
photos by their extension, and photos too small for the target size after cropping (photos are never
upscaled). ``prepare.json`` records the settings, what was prepared and what was skipped; it is
written (atomically) before the first image and again at the end.

Resuming: each PNG carries its source's record in a ``tEXt`` chunk (name relative to the source,
size, modification time or zip CRC, and the SHA-256 of its bytes). Running again with the same
settings into the same output skips every source whose name, size and time match a record, or,
failing that, whose bytes hash to a recorded SHA-256; so a source folder that was moved, copied,
renamed or zipped resumes where it stopped, at the cost of reading it once. New photos are added.
Different settings into the same output are refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import shutil
import signal
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from glowgan import fileio, hdrio

logger = logging.getLogger(__name__)

LDR_FOLDER = "ldr"  # the images' folder in a prepared set, which glowgan.data.dataset reads
REPORT_NAME = "prepare.json"
REPORT_FORMAT = "glowgan-prepare"
REPORT_VERSION = 2  # 2: settings no longer hold the source path; PNGs carry their source's record
SOURCE_KEY = "glowgan-source"  # tEXt key of the source record in every prepared PNG
# JPEGs are decoded at the smallest DCT scale that keeps at least this many times the target size, then
# resized with Lanczos, as Pillow's thumbnail(reducing_gap=2) does. Measured against a full-size decode and
# Lanczos (8-bit levels, mean / max): 4000x3000 photos with fine texture to 256 px, 0.17 / 2 at 2x against
# 0.56 / 5 at 1x; worse at 1x where the 1/8 scale (block means) is barely larger than the target, e.g.
# 800x600 to 64 px, 0.9 / 5 against 3.5 / 18. 2x costs 1.5x the decoding time (71 against 46 ms CPU).
_DRAFT_GAP = 2
_ORPHAN_POLL_S = 0.5  # how often a worker checks that its parent is alive
_MIN_SIDE = 4  # the generator's smallest block; sides must be powers of two from here (config.validate)
_MAX_ASPECT = 8


@dataclass(frozen=True)
class PrepareReport:
    """Outcome of :func:`prepare_images`. ``skipped``: ``(source name, reason)`` pairs."""

    out: Path
    height: int
    width: int
    written: int  # images made by this run
    already_done: int  # sources that an earlier run had prepared (matched by name, size and time, or content)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """What ``glowgan data prepare`` prints: counts and speed, then every skipped file with its reason."""
        rate = f", {self.written / self.seconds:.1f} photos/s" if self.written and self.seconds > 0 else ""
        lines = [
            f"{self.out}: {self.written + self.already_done} images of {self.height}x{self.width} (HxW) "
            f"({self.written} written now, {self.already_done} already there), {len(self.skipped)} files skipped, "
            f"in {self.seconds:.1f} s{rate}"
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


def check_trainable(size: int, aspect: float) -> tuple[int, int]:
    """:func:`output_size`, refusing sizes that ``glowgan train`` cannot use (ValueError saying what can)."""
    height, width = output_size(size, aspect)
    powers = all(side >= _MIN_SIDE and side & (side - 1) == 0 for side in (height, width))
    if not powers or max(height / width, width / height) > _MAX_ASPECT:
        raise ValueError(
            f"size {size} at aspect {aspect:g} gives {height}x{width} (HxW) images, but training needs both sides "
            f"powers of two (4, 8, ..., 256, 512, ...) at most {_MAX_ASPECT}:1 apart; use a power-of-two size "
            "with aspect 1:1, 2:1 (panoramas) or 1:2, e.g. --size 256 --aspect 2:1"
        )
    return height, width


def default_workers() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prepare_images(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = 256,
    aspect: float = 1.0,
    max_pixels: int | None = hdrio.DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareReport:
    """Turn the photos in ``source`` (a folder, searched recursively, or a zip) into a training set.

    ``out``: a folder, or a ``.zip`` file. ``size``: the shorter side of the output in pixels;
    ``aspect``: output width / height (see :func:`parse_aspect`), so ``size=256, aspect=2`` gives
    256x512 (HxW) images; both sides must be powers of two (:func:`check_trainable`).
    ``max_pixels``: larger photos are skipped before decoding (None: no limit). ``workers``:
    processes (None: :func:`default_workers`; 1: this process). Images are named
    ``ldr/<path with / as __>.png`` (e.g. ``trip/img1.jpg`` -> ``trip__img1.jpg.png``); see the
    module docstring.
    """
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    start = time.perf_counter()
    height, width = check_trainable(size, aspect)
    source = Path(source)
    output = _Output(Path(out))
    settings = {"height": height, "width": width, "aspect": aspect}
    sources = _list_sources(source, skip=output.path)
    output.check(settings)
    output.write_report({"settings": settings, "source": str(source.resolve()), "complete": False})
    records = output.records()
    by_stamp = {(r["name"], r["bytes"], r["stamp"]) for r in records}
    todo = [s for s in sources if (s.name, s.size, s.stamp) not in by_stamp]
    done = [s.name for s in sources if (s.name, s.size, s.stamp) in by_stamp]
    skipped: list[tuple[str, str]] = []
    written: list[str] = []
    job = _Job(source, output.folder / LDR_FOLDER, height, width, aspect, max_pixels,
               frozenset(r["sha256"] for r in records))
    with tqdm(total=len(sources), initial=len(done), unit="photo", desc="prepare", disable=not progress) as bar:
        for name, outcome, reason in _run(job, todo, workers):
            bar.update()
            if outcome == "skipped":
                logger.info("skipped %s: %s", name, reason)
                skipped.append((name, reason))
            else:
                (written if outcome == "written" else done).append(name)
    output.finish(
        {
            "settings": settings,
            "source": str(source.resolve()),
            "complete": True,
            "images": sorted(written + done),
            "skipped": [{"name": n, "reason": r} for n, r in sorted(skipped)],
        }
    )
    return PrepareReport(
        out=output.path,
        height=height,
        width=width,
        written=len(written),
        already_done=len(done),
        skipped=sorted(skipped),
        seconds=time.perf_counter() - start,
    )


class _Source(NamedTuple):
    name: str  # relative to the source folder or zip, "/"-separated
    size: int  # bytes
    stamp: str  # "mtime:<ns>" for files, "crc32:<hex>" for zip members


def _list_sources(source: Path, *, skip: Path) -> list[_Source]:
    """All non-hidden files in a folder (recursive) or zip, sorted by name; ``skip`` (the output) is left out."""
    if source.is_dir():
        found = []
        skip = skip.resolve()
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip)
            rel = Path(folder).relative_to(source)
            for name in files:
                path = Path(folder) / name
                if name.startswith(".") or path.resolve() == skip:
                    continue
                stat = path.stat()
                found.append(_Source((rel / name).as_posix(), stat.st_size, f"mtime:{stat.st_mtime_ns}"))
        return sorted(found)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
        return sorted(
            _Source(m.filename, m.file_size, f"crc32:{m.CRC:08x}")
            for m in members
            if not m.filename.startswith("__MACOSX/") and not any(p.startswith(".") for p in m.filename.split("/"))
        )
    if source.exists():
        raise ValueError(f"{source}: not a folder or a zip file; pass a folder of photos or a .zip")
    raise ValueError(f"{source}: no such folder or zip file")


# --------------------------------------------------------------------------------------------
# The work on one photo, in a worker process
# --------------------------------------------------------------------------------------------


class _Job(NamedTuple):
    """What every worker needs to know (sent once per worker)."""

    source: Path
    ldr_dir: Path
    height: int
    width: int
    aspect: float
    max_pixels: int | None
    known: frozenset[str]  # SHA-256 of sources already prepared


class _TooSmall(ValueError):
    """A photo smaller than the target size after cropping (photos are not upscaled)."""


class _Worker:
    """Prepares photos one by one; holds the source zip open."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.archive = zipfile.ZipFile(job.source) if not job.source.is_dir() else None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()

    def prepare(self, item: _Source) -> tuple[str, str, str]:
        """``(name, outcome, reason)``: outcome ``written``, ``done`` (prepared before) or ``skipped``."""
        job = self.job
        if os.path.splitext(item.name)[1].lower() not in hdrio.LDR_SUFFIXES:
            return item.name, "skipped", f"not a photo by its extension (reads {', '.join(hdrio.LDR_SUFFIXES)})"
        try:
            data = self.archive.read(item.name) if self.archive else (job.source / item.name).read_bytes()
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # a damaged zip member, too
            return item.name, "skipped", f"cannot read the file ({getattr(e, 'strerror', None) or e})"
        digest = hashlib.sha256(data).hexdigest()
        if digest in job.known:
            return item.name, "done", ""
        try:
            shown = hdrio.read_ldr_size(io.BytesIO(data), name=item.name)  # (H, W) as displayed
            crop = _centre_crop(shown, job.height, job.width, job.aspect)  # too small: skipped before decoding
            smallest = (_DRAFT_GAP * job.height, _DRAFT_GAP * job.width)
            ldr = hdrio.decode_ldr(data, name=item.name, max_pixels=job.max_pixels, min_size=smallest)
            fitted = _resize(ldr, shown, crop, job.height, job.width)  # [H, W, 3] float32 in [0, 1]
        except hdrio.ImageIOError as e:
            return item.name, "skipped", str(e).removeprefix(f"{item.name}: ")
        except _TooSmall as e:
            return item.name, "skipped", str(e)
        record = {"name": item.name, "bytes": item.size, "stamp": item.stamp, "sha256": digest}
        out = job.ldr_dir / (item.name.replace("/", "__") + ".png")
        # a failure to write (disk full, permissions) stops the run
        hdrio.write_ldr(out, fitted, text={SOURCE_KEY: json.dumps(record, sort_keys=True)})
        return item.name, "written", ""


_WORKER: _Worker | None = None  # this worker process's own, made by _start_worker


def _start_worker(job: _Job) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops the pool
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    _WORKER = _Worker(job)


def _exit_when_orphaned(parent: int) -> None:
    """End this worker once its parent is gone (killed with SIGKILL, say): the pool's queue would
    otherwise keep it waiting, or writing photos no one collects, forever."""
    while os.getppid() == parent:
        time.sleep(_ORPHAN_POLL_S)
    os._exit(1)


def _prepare_in_worker(item: _Source) -> tuple[str, str, str]:
    assert _WORKER is not None, "called outside a worker process"
    return _WORKER.prepare(item)


def _run(job: _Job, items: list[_Source], workers: int) -> Iterator[tuple[str, str, str]]:
    """Outcomes of preparing ``items``, in order: in this process for one worker, else in a process pool."""
    if workers == 1 or len(items) <= 1:
        worker = _Worker(job)
        try:
            yield from map(worker.prepare, items)
        finally:
            worker.close()
        return
    chunk = max(1, min(8, len(items) // (4 * workers)))
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=_start_worker, initargs=(job,))
    try:
        yield from pool.map(_prepare_in_worker, items, chunksize=chunk)
    finally:  # also on an error or Ctrl-C: drop the photos not yet started
        pool.shutdown(wait=True, cancel_futures=True)


def _centre_crop(shown: tuple[int, int], height: int, width: int, aspect: float) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)``: the centre crop to ``aspect`` of a photo ``shown`` (H, W) pixels large."""
    h, w = shown
    if w > h * aspect:
        crop_h, crop_w = h, max(1, round(h * aspect))
    else:
        crop_h, crop_w = max(1, round(w / aspect)), w
    if crop_h < height or crop_w < width:
        raise _TooSmall(
            f"too small: {h}x{w} (HxW), {crop_h}x{crop_w} after cropping to aspect {aspect:g}, "
            f"needs at least {height}x{width}"
        )
    return (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w


def _resize(
    ldr: np.ndarray, shown: tuple[int, int], crop: tuple[int, int, int, int], height: int, width: int
) -> np.ndarray:
    """The ``crop`` (in the pixels of the photo at its ``shown`` size) of ``ldr``, that photo decoded at
    full size or at 1/k, resized to [height, width, 3] with Lanczos.

    At 1/k the crop's edges fall between pixels: they are passed to Pillow as a fractional box, so
    the result shows exactly the region a full-size decode would, from the pixels around it.
    """
    top, left, crop_h, crop_w = crop
    k = round(shown[0] / ldr.shape[0])  # libjpeg's scale: 1, 2, 4 or 8; sides are rounded up
    assert ldr.shape[:2] == (-(-shown[0] // k), -(-shown[1] // k)), (ldr.shape, shown)
    if k == 1 and (crop_h, crop_w) == (height, width):
        return ldr[top : top + height, left : left + width]
    y0, x0, y1, x1 = top / k, left / k, (top + crop_h) / k, (left + crop_w) / k
    rows, cols = slice(math.floor(y0), math.ceil(y1)), slice(math.floor(x0), math.ceil(x1))
    box = (x0 - cols.start, y0 - rows.start, x1 - cols.start, y1 - rows.start)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(ldr[rows, cols, c])).resize(
                (width, height), Image.Resampling.LANCZOS, box=box
            )
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# The output: a folder, or a zip built in a staging folder
# --------------------------------------------------------------------------------------------


class _Output:
    """Where prepared images go. ``folder`` holds ``ldr/`` and the report: the output itself, or for a
    zip the hidden staging folder ``.NAME.zip.partial`` beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = path.suffix.lower() == ".zip"
        self.folder = path.parent / f".{path.name}.partial" if self.is_zip else path

    def check(self, settings: dict[str, Any]) -> None:
        """Refuse an output that holds something else than a preparation with these settings."""
        if self.is_zip and not self.folder.exists() and self.path.exists():
            _check_report(self.path, _zip_report(self.path), settings)
            return
        report = self.folder / REPORT_NAME
        if report.is_file():
            try:
                old = json.loads(report.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{report}: corrupt ({e}); delete {self.folder} and prepare again") from None
            _check_report(self.folder, old, settings)
        elif self.folder.exists() and any(self.folder.iterdir()):
            raise ValueError(
                f"{self.folder} is not empty and has no {REPORT_NAME}, so it is not a prepared set to resume; "
                "choose a new or empty output folder"
            )

    def write_report(self, body: dict[str, Any]) -> None:
        hdrio.write_text(self.folder / REPORT_NAME, _report_text(body))

    def records(self) -> list[dict[str, Any]]:
        """The source records of the images already prepared here (staging folder first, then an earlier zip)."""
        ldr = self.folder / LDR_FOLDER
        fileio.remove_stale_temporaries(ldr)  # what writers killed mid-write left
        found = {}
        if ldr.is_dir():
            for entry in os.scandir(ldr):
                if entry.name.endswith(".png") and not entry.name.startswith("."):
                    found[entry.name] = _record(entry.path)
        if self.is_zip and self.path.exists():
            with zipfile.ZipFile(self.path) as archive:
                for name in _zip_images(archive):
                    if name not in found:
                        with archive.open(f"{LDR_FOLDER}/{name}") as member:
                            found[name] = _record(member)
        return [record for record in found.values() if record is not None]

    def finish(self, body: dict[str, Any]) -> None:
        """Write the final report; for a zip, write the zip (atomically) and remove the staging folder."""
        if not self.is_zip:
            self.write_report(body)
            return
        ldr = self.folder / LDR_FOLDER
        new = sorted(e.name for e in os.scandir(ldr) if not e.name.startswith(".")) if ldr.is_dir() else []

        def write(tmp: str) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
                for name in new:
                    archive.write(ldr / name, f"{LDR_FOLDER}/{name}")
                if self.path.exists():
                    with zipfile.ZipFile(self.path) as old:
                        for name in sorted(set(_zip_images(old)) - set(new)):
                            info = old.getinfo(f"{LDR_FOLDER}/{name}")
                            archive.writestr(info, old.read(info))
                archive.writestr(REPORT_NAME, _report_text(body))

        hdrio.write_atomically(self.path, write)
        shutil.rmtree(self.folder)


def _check_report(where: Path, old: dict[str, Any], settings: dict[str, Any]) -> None:
    if old.get("format") != REPORT_FORMAT:
        raise ValueError(f"{where} is not a set made by `glowgan data prepare`; choose a new output")
    if old.get("version") != REPORT_VERSION:
        raise ValueError(
            f"{where} was prepared by another version of glowgan (format {old.get('version')}, now "
            f"{REPORT_VERSION}) and cannot be resumed; prepare into a new output"
        )
    if old.get("settings") != settings:
        raise ValueError(
            f"{where} already holds images prepared with other settings ({old.get('settings')}, now {settings}); "
            "use the same settings to resume, or a new output"
        )


def _zip_report(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(REPORT_NAME))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        raise ValueError(
            f"{path} exists and is not a zip made by `glowgan data prepare`; choose a new name or delete it"
        ) from None


def _zip_images(archive: zipfile.ZipFile) -> list[str]:
    """Names (inside ``ldr/``) of the images in a prepared zip."""
    prefix = f"{LDR_FOLDER}/"
    return [n[len(prefix) :] for n in archive.namelist() if n.startswith(prefix) and n.endswith(".png")]


def _record(file: str | os.PathLike | Any) -> dict[str, Any] | None:
    """The source record an image carries, or None (not ours, or unreadable: it is made again)."""
    try:
        with Image.open(file) as picture:
            record = json.loads(picture.info[SOURCE_KEY])
    except (OSError, KeyError, ValueError, SyntaxError):
        return None
    return record if isinstance(record, dict) and {"name", "bytes", "stamp", "sha256"} <= record.keys() else None


def _report_text(body: dict[str, Any]) -> str:
    return json.dumps({"format": REPORT_FORMAT, "version": REPORT_VERSION, **body}, indent=1, sort_keys=True)
