"""PFM (exact float32): the sign of the scale gives the byte order (negative: little-endian); its
magnitude, a unit hint, is ignored.  Rows are stored bottom to top (Netpbm's ``pfm(5)``).  Files are
written little-endian, ``PF`` (RGB) or ``Pf`` (one channel).
"""

from __future__ import annotations

import os
import re

import numpy as np

from glowgan.hdrio.common import _check_size, _error, _read_prefix

_PFM_HEADER = re.compile(rb"(PF|Pf)\s+(\d+)\s+(\d+)\s+(\S+)(\r\n|\s)")


def _read_pfm(path: str | os.PathLike, max_pixels: int | None) -> np.ndarray:
    prefix = _read_prefix(path, 256)
    match = _PFM_HEADER.match(prefix)
    if match is None:
        problem = "bad PFM header" if prefix[:2] in (b"PF", b"Pf") else "not a PFM file"
        raise _error(path, problem, "check the file and its extension")
    channels = 3 if match[1] == b"PF" else 1
    width, height = int(match[2]), int(match[3])
    try:
        scale = float(match[4])
    except ValueError:
        scale = 0.0
    if scale == 0 or not np.isfinite(scale):
        scale_text = match[4].decode(errors="replace")
        raise _error(path, f"bad PFM scale {scale_text!r}", "the file is corrupt")
    _check_size(path, width, height, max_pixels)
    expected = width * height * channels * 4
    with open(path, "rb") as f:
        f.seek(match.end())
        data = f.read(expected + 1)
    if len(data) != expected:
        problem = (
            "file is truncated (pixel data ends early)"
            if len(data) < expected
            else "file is longer than its header says (wrong dimensions?)"
        )
        raise _error(path, problem, "re-export or remove it")
    dtype = "<f4" if scale < 0 else ">f4"
    pixels = np.frombuffer(data, dtype).reshape(height, width, channels)
    return np.ascontiguousarray(pixels[::-1], dtype=np.float32)  # rows are stored bottom-up


def _encode_pfm(image: np.ndarray) -> bytes:
    height, width, channels = image.shape
    header = f"{'PF' if channels == 3 else 'Pf'}\n{width} {height}\n-1.0\n".encode("ascii")
    return header + np.ascontiguousarray(image[::-1], dtype="<f4").tobytes()
