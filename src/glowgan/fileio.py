"""Writing files so that a crash never leaves a torn one: atomic writes, stale-temporary cleanup, JSONL logs.

Standard library only, so that torch-free modules (``hdrio``, ``data``) use it as well as training does.

- :func:`write_atomically` writes to a hidden temporary file beside the target, syncs it and renames it
  over the target: readers see the old file or the new one, never half of one. On any error the
  temporary file is removed and the old file is left as it was.
- Every temporary file is named ``.NAME.<8 hex digits>.tmpSUFFIX`` (``SUFFIX``: the target's own, so
  that writers that look at it, Pillow or OpenEXR, still know the format), and
  :func:`remove_stale_temporaries` deletes only names of that form: what a writer killed mid-write left.
- A JSONL log gets one record per line: :func:`append_jsonl` appends and syncs one; :func:`read_jsonl`
  reads the complete lines (text after the last newline is a line cut off by a crash, and ignored);
  :func:`truncate_jsonl` keeps the leading records, atomically, when a run resumes from a checkpoint
  older than its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from typing import Any

__all__ = [
    "append_jsonl",
    "read_jsonl",
    "remove_stale_temporaries",
    "temporary_name",
    "truncate_jsonl",
    "write_atomically",
]

# ".NAME.<8 hex digits>.tmp" plus NAME's suffix, as temporary_name makes them. Eight characters of
# [a-z0-9_] are also matched: what tempfile.mkstemp named the temporaries of older checkpoint and
# stats writers (".checkpoint.pt.k2j_a9xz.tmp"), so that they too are cleaned up.
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-z_]{8}\.tmp(\.[^.]+)?")


def temporary_name(path: str | os.PathLike) -> str:
    """A fresh hidden temporary path beside ``path``: ``DIR/.NAME.<8 hex digits>.tmpSUFFIX``."""
    directory, name = os.path.split(os.fspath(path))
    suffix = os.path.splitext(name)[1]
    return os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp{suffix}")


def write_atomically(
    path: str | os.PathLike,
    write: Callable[[str], None],
    *,
    sync_directory: bool = False,
) -> None:
    """Call ``write(tmp)`` on a new temporary file beside ``path`` (see :func:`temporary_name`), then
    sync it and rename it to ``path``, creating the parent folders.

    The temporary file is created (empty, with the usual permissions) before ``write`` is called.
    ``sync_directory``: also sync the folder after the rename, so that the rename itself survives a
    power cut (checkpoints). Any error, ``OSError`` or other, propagates after the temporary file is
    removed; an existing ``path`` is then untouched.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target)
    tmp = temporary_name(target)
    try:
        if directory:
            os.makedirs(directory, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_directory:
        _fsync(directory or ".")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the temporary files that writers killed mid-write left in ``folder``; returns their names.

    Only files (not folders or links) with hidden names of the form :func:`temporary_name` makes are
    touched; a missing folder has none.
    """
    removed: list[str] = []
    if not os.path.isdir(folder):
        return removed
    with os.scandir(folder) as entries:
        stale = sorted(e.name for e in entries if _TEMPORARY_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False))
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
        removed.append(name)
    return removed


def append_jsonl(path: str | os.PathLike, record: dict[str, Any], *, sort_keys: bool = False) -> None:
    """Append ``record`` as one JSON line to ``path`` (created with its folders) and sync it to disk."""
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=sort_keys) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of the complete lines of ``path`` (none if it is missing); blank lines are skipped."""
    return [json.loads(line) for line in _complete_lines(path) if line.strip()]


def truncate_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Keep the leading records of ``path`` for which ``keep(record)`` is true, up to the first for which
    it is false, and drop that one, all after it and any cut-off last line; returns how many were kept.

    The kept lines stay as they were written, byte for byte; the file is rewritten atomically (with
    its permissions) only when something is dropped. A missing file stays missing.
    """
    if not os.path.isfile(path):
        return 0
    with open(path, encoding="utf-8", newline="") as stream:
        text = stream.read()
    kept: list[str] = []
    for line in _lines(text):
        if line.strip():
            if not keep(json.loads(line)):
                break
            kept.append(line)
    new_text = "".join(line + "\n" for line in kept)
    if new_text != text:
        mode = os.stat(path).st_mode & 0o777
        write_atomically(path, lambda tmp: _write_text(tmp, new_text, mode))
    return len(kept)


def _complete_lines(path: str | os.PathLike) -> list[str]:
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", newline="") as stream:
        return _lines(stream.read())


def _lines(text: str) -> list[str]:
    """The lines of ``text`` ended by a newline, without it; what follows the last newline is unfinished."""
    return text.split("\n")[:-1]


def _write_text(path: str, text: str, mode: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
    os.chmod(path, mode)


def _fsync(path: str) -> None:
    """Flush a file's (or a folder's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
