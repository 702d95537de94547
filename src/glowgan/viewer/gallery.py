"""Find the images the viewer shows and group the files that glowgan's commands write together.

A gallery is built from image files and folders (searched recursively; hidden files and folders,
such as the temporary files of atomic writes, are skipped). Files that belong together become one
*group*, shown as one card and opened side by side:

- ``glowgan generate``: ``seed000123.exr`` with ``seed000123.png`` (preview) and
  ``seed000123-stack.png`` (exposure stack) -> a "sample".
- ``glowgan itm``: ``NAME.exr`` with ``NAME.mask.png``, ``NAME.preview.png`` and ``NAME.json``
  whose ``"input"`` names the LDR photo -> an "itm" group: the photo beside the HDR result.
- ``glowgan render ENV.exr --out R.exr``: ``R.exr`` with ``R.png`` -> an "hdr" group with its
  preview; when ``R.json`` names the environment map as ``"env"``, a "render" group that shows
  the map beside the render.
- Any other HDR file (with a ``NAME.png`` preview if there is one), and every photo that is not
  part of a group, is a group of its own.

Safety: the page addresses images only by opaque ids (a hash of the resolved path); the server
looks ids up in the gallery and never turns a request into a path. A gallery holds only image
files inside the given folders (symbolic links that lead outside are skipped), the image files
given directly, and the images that a sidecar JSON inside them names (an ITM input photo or an
environment map, which may live elsewhere); these are read only as images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glowgan import hdrio

logger = logging.getLogger(__name__)

INDEX_VERSION = 1
IMAGE_SUFFIXES = hdrio.HDR_SUFFIXES + hdrio.LDR_SUFFIXES
# Files written beside an HDR image NAME.<hdr suffix>, and how the page labels them.
COMPANIONS = (
    ("{stem}.png", "preview"),  # glowgan generate, glowgan render
    ("{stem}.preview.png", "preview"),  # glowgan itm
    ("{stem}.mask.png", "clipped-pixel mask"),  # glowgan itm
    ("{stem}-stack.png", "exposure stack"),  # glowgan generate (generate.write_sample)
    ("{stem}_stack.png", "exposure stack"),
)
# Sidecar JSON keys that name a related image: (key, group type, role of that image, role of the HDR image).
SIDECAR_REFERENCES = (
    ("input", "itm", "LDR input", "HDR result"),  # glowgan itm
    ("env", "render", "environment map", "render"),  # glowgan render
)


@dataclass(frozen=True)
class Gallery:
    """What the viewer shows: ``paths`` maps image ids to files; ``index`` is the page's JSON.

    ``index``: ``{"version", "title", "images": {id: {"name", "path", "kind"}}, "groups": [{"title",
    "type", "main", "compare": [{"id", "role"}], "extras": [{"id", "role"}]}]}``; ``kind`` is
    "hdr" or "ldr", ``compare`` lists the images shown side by side, ``extras`` the related files.
    """

    title: str
    paths: dict[str, Path]
    index: dict


def image_id(path: Path) -> str:
    """Opaque, stable id of an image file: 16 hex digits of the SHA-1 of its resolved path."""
    return hashlib.sha1(os.fsencode(path.resolve())).hexdigest()[:16]


def is_image_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def scan(sources: Sequence[str | os.PathLike]) -> Gallery:
    """Build the gallery of image files and folders ``sources`` (ValueError/OSError for bad ones)."""
    if not sources:
        raise ValueError("nothing to view: give image files (.exr, .hdr, .pfm, .png, .jpg, ...) or folders")
    builder = _Builder()
    for source in map(Path, sources):
        if source.is_dir():
            builder.add_folder(source)
        elif source.is_file():
            if not is_image_path(source):
                raise ValueError(
                    f"{source}: not an image file the viewer reads; give {', '.join(IMAGE_SUFFIXES)} files or a folder"
                )
            builder.add_files(source.parent, [source], display_root=source.parent)
        else:
            raise FileNotFoundError(f"{source}: no such file or folder; give image files or folders to view")
    title = Path(sources[0]).resolve().name if len(sources) == 1 else f"{len(sources)} sources"
    index = {"version": INDEX_VERSION, "title": title, "images": builder.images, "groups": builder.groups}
    return Gallery(title=title, paths=builder.paths, index=index)


class _Builder:
    """Accumulates images and groups while the sources are scanned."""

    def __init__(self) -> None:
        self.paths: dict[str, Path] = {}
        self.images: dict[str, dict] = {}
        self.groups: list[dict] = []

    def add_folder(self, root: Path) -> None:
        real_root = root.resolve()
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            inside = []
            for name in sorted(files):
                path = Path(folder) / name
                if name.startswith(".") or not is_image_path(name) or not path.is_file():
                    continue
                if not path.resolve().is_relative_to(real_root):
                    logger.warning("%s: skipped, it links to a file outside %s", path, root)
                    continue
                inside.append(path)
            self.add_files(Path(folder), inside, display_root=root)

    def add_files(self, folder: Path, files: list[Path], *, display_root: Path) -> None:
        """Group ``files`` (all in ``folder``) and add them; names are shown relative to ``display_root``."""
        by_name = {path.name: path for path in files}
        consumed: set[str] = set()
        entries: list[tuple[str, dict]] = []  # (sort key, group)
        hdr_stems: dict[str, list[Path]] = {}
        for path in files:
            if hdrio.is_hdr_path(path):
                hdr_stems.setdefault(path.stem, []).append(path)
        for stem, versions in hdr_stems.items():
            versions.sort(key=lambda p: hdrio.HDR_SUFFIXES.index(p.suffix.lower()))
            main = versions[0]
            main_id = self._add(main, display_root)
            extras = [{"id": self._add(p, display_root), "role": f"same image ({p.suffix.lower()})"} for p in versions[1:]]
            consumed.update(p.name for p in versions)
            for pattern, role in COMPANIONS:
                name = pattern.format(stem=stem)
                if name in by_name and name not in consumed:
                    extras.append({"id": self._add(by_name[name], display_root), "role": role})
                    consumed.add(name)
            group = {"title": self._display(main, display_root), "type": "hdr", "main": main_id}
            group["compare"] = [{"id": main_id, "role": "HDR"}]
            sidecar = folder / f"{stem}.json"
            references = _sidecar_references(sidecar) if sidecar.is_file() else {}
            for key, group_type, other_role, main_role in SIDECAR_REFERENCES:
                if key in references:
                    other, shown_as = references[key]
                    group["type"] = group_type
                    group["compare"] = [
                        {"id": self._add(other, display_root, shown_as=shown_as), "role": other_role},
                        {"id": main_id, "role": main_role},
                    ]
                    if by_name.get(other.name) is not None and by_name[other.name].resolve() == other.resolve():
                        consumed.add(other.name)  # a photo in the same folder is shown with its result
                    break
            if group["type"] == "hdr" and any(extra["role"] == "exposure stack" for extra in extras):
                group["type"] = "sample"
            group["extras"] = extras
            entries.append((main.name, group))
        for name, path in by_name.items():
            if name in consumed or hdrio.is_hdr_path(path):
                continue
            image = self._add(path, display_root)
            group = {"title": self._display(path, display_root), "type": "ldr", "main": image}
            group.update(compare=[{"id": image, "role": "LDR"}], extras=[])
            entries.append((name, group))
        self.groups.extend(group for _, group in sorted(entries, key=lambda entry: entry[0]))

    def _add(self, path: Path, display_root: Path, *, shown_as: str | None = None) -> str:
        key = image_id(path)
        if key not in self.paths:
            self.paths[key] = path.resolve()
            self.images[key] = {
                "name": path.name,
                "path": shown_as or self._display(path, display_root),
                "kind": "hdr" if hdrio.is_hdr_path(path) else "ldr",
            }
        return key

    @staticmethod
    def _display(path: Path, display_root: Path) -> str:
        try:
            return path.relative_to(display_root).as_posix()
        except ValueError:
            return os.fspath(path)


def _sidecar_references(sidecar: Path) -> dict[str, tuple[Path, str]]:
    """Images a sidecar JSON names, by key: (existing image file, the path as written)."""
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("%s: ignored, not readable JSON (%s)", sidecar, error)
        return {}
    found = {}
    for key, *_ in SIDECAR_REFERENCES:
        value = content.get(key) if isinstance(content, dict) else None
        if not isinstance(value, str) or not is_image_path(value):
            continue
        written = Path(value)
        candidates = [written] if written.is_absolute() else [sidecar.parent / written, Path.cwd() / written]
        existing = [candidate for candidate in candidates if candidate.is_file()]
        if existing:
            found[key] = (existing[0], value)
        else:
            logger.info("%s: %r names %s, which does not exist", sidecar, key, value)
    return found
