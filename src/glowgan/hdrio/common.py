"""What every reader and writer of :mod:`glowgan.hdrio` shares: the error type, the file-name
suffixes, the size check made before decoding, and atomic writes.

Writers create the parent directories and write atomically (:func:`glowgan.fileio.write_atomically`):
to a hidden temporary file in the same directory, which is synced and then renamed over the target,
so a failed write leaves no partial file behind and an existing file untouched.  An ``OSError``
while writing becomes an :class:`ImageIOError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from glowgan import fileio

DEFAULT_MAX_PIXELS = 100_000_000
HDR_SUFFIXES = (".exr", ".hdr", ".pic", ".pfm")
LDR_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


class ImageIOError(ValueError):
    """A file cannot be read or written; the message names the file, the reason and the fix."""


def _error(path: str | os.PathLike, problem: str, fix: str | None = None) -> ImageIOError:
    message = f"{os.fspath(path)}: {problem}"
    return ImageIOError(f"{message}; {fix}" if fix else message)


def is_hdr_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an HDR image by its extension (any case), see ``HDR_SUFFIXES``."""
    return os.path.splitext(os.fspath(path))[1].lower() in HDR_SUFFIXES


def write_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it to ``path``.

    What every writer here uses; other modules use it for files they write themselves (a zip).

    The temporary name starts with '.' and keeps the real suffix (writers may look at it).  On any
    error the temporary file is removed and an existing ``path`` is left as it was; an ``OSError``
    is raised as an :class:`ImageIOError` naming ``path``.
    """
    try:
        fileio.write_atomically(path, write)
    except OSError as e:
        raise _error(
            path,
            f"cannot write the file ({e.strerror or e})",
            "check that the directory is writable and has space",
        ) from e


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a small text file (e.g. JSON metadata beside an image) atomically, UTF-8."""
    _write_bytes_atomically(path, text.encode("utf-8"))


def _write_bytes_atomically(path: str | os.PathLike, data: bytes) -> None:
    """:func:`write_atomically` of a file holding exactly ``data``."""
    write_atomically(path, lambda tmp: _write_bytes(tmp, data))


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _read_prefix(path: str | os.PathLike, size: int | None) -> bytes:
    """The first ``size`` bytes of the file (fewer if it is shorter; None: all), with clear OS errors."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except FileNotFoundError:
        raise _error(path, "file not found", "check the path") from None
    except IsADirectoryError:
        raise _error(path, "is a directory, not an image file") from None
    except OSError as e:
        raise _error(
            path, f"cannot open the file ({e.strerror})", "check its permissions"
        ) from None


def _check_size(path: str | os.PathLike, width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise _error(path, f"image has zero size ({width}x{height})", "re-export or remove it")
    if max_pixels is not None and width * height > max_pixels:
        raise _error(
            path,
            f"image is too large ({width}x{height} = {width * height} pixels, "
            f"more than max_pixels={max_pixels})",
            "pass a larger max_pixels if the file is trusted",
        )
