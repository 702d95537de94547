"""Write the viewer as static files: the same page, with its images converted beside it.

Layout of the output folder::

    index.html, static/          the page (as served by ``glowgan view``)
    index.json                   the gallery (with ``"urls"`` pointing at the files below)
    data/ID.bin, thumbs/ID.png   each image as a viewer payload, and its thumbnail
    index.js, data/ID.js         the same index and payloads wrapped in JavaScript (payloads as base64)

Served by any static web server (``python -m http.server -d OUT``), the page fetches ``index.json``
and ``data/ID.bin``. Browsers refuse ``fetch`` on ``file://`` pages, so opened straight from disk
the page loads ``index.js`` and ``data/ID.js`` with script tags instead, which browsers allow.

The folder is built under a temporary name beside ``out_dir`` and renamed into place when complete,
so an interrupted export leaves no half-written folder; an existing export is replaced, any other
non-empty folder is refused.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from glowgan.viewer import gallery, imagedata
from glowgan.viewer.server import static_files

logger = logging.getLogger(__name__)

STATIC_URLS = {"data": "data/{id}.bin", "thumb": "thumbs/{id}.png", "script": "data/{id}.js"}
EXPORT_MARKER = "glowgan view --static"  # the index's "generator"; marks a folder this module may replace


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    images: int
    errors: dict[str, str]  # display path -> why the image could not be converted


def export_static(sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, progress: bool = True) -> ExportResult:
    """Write the viewer page and the images of ``sources`` into ``out_dir`` (see the module docstring).

    Images that cannot be read are listed with their error in the index (the page shows the error)
    and in the result; they do not stop the export.
    """
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    scanned = gallery.scan(sources)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{secrets.token_hex(4)}"
    errors: dict[str, str] = {}
    try:
        (staging / "static").mkdir(parents=True)
        (staging / "data").mkdir()
        (staging / "thumbs").mkdir()
        for name, content in static_files().items():
            (staging if name == "index.html" else staging / "static").joinpath(name).write_bytes(content)
        index = {**scanned.index, "urls": STATIC_URLS, "generator": EXPORT_MARKER}
        for image_id, path in tqdm(scanned.paths.items(), desc="converting", unit="img", disable=not progress):
            try:
                image, kind = imagedata.read_image(path)
                payload = imagedata.payload_of(image, kind, name=path.name)
                thumbnail = imagedata.thumbnail_of(image, kind)
            except (ValueError, OSError) as error:  # hdrio.ImageIOError is a ValueError
                index["images"][image_id]["error"] = str(error)
                errors[index["images"][image_id]["path"]] = str(error)
                continue
            (staging / "data" / f"{image_id}.bin").write_bytes(payload)
            script = f'glowganStatic.data("{image_id}", "{base64.b64encode(payload).decode("ascii")}");\n'
            (staging / "data" / f"{image_id}.js").write_text(script, encoding="ascii")
            (staging / "thumbs" / f"{image_id}.png").write_bytes(thumbnail)
        text = json.dumps(index, indent=1)
        (staging / "index.json").write_text(text, encoding="utf-8")
        (staging / "index.js").write_text(f"glowganStatic.index({text});\n", encoding="utf-8")
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for shown, error in errors.items():
        logger.warning("%s: not exported: %s", shown, error)
    return ExportResult(out_dir=out_dir, images=len(scanned.paths) - len(errors), errors=errors)


def _check_replaceable(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that is a file, or a non-empty folder that is not an earlier export."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder; choose a new folder for the static viewer")
    if not any(out_dir.iterdir()) or _is_export(out_dir):
        return
    raise FileExistsError(
        f"{out_dir}: folder is not empty and holds no earlier viewer export; choose an empty or new folder"
    )


def _is_export(folder: Path) -> bool:
    try:
        return json.loads((folder / "index.json").read_text(encoding="utf-8")).get("generator") == EXPORT_MARKER
    except (OSError, ValueError, AttributeError):
        return False


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``, replacing an earlier export or an empty folder there."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    retired = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(4)}"
    out_dir.rename(retired)
    try:
        staging.rename(out_dir)
    except OSError:
        retired.rename(out_dir)
        raise
    shutil.rmtree(retired)
