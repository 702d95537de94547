"""Radiance RGBE (``.hdr``, ``.pic``): an 8-bit mantissa per channel and an exponent shared by the pixel.

- ``EXPOSURE`` (and ``COLORCORR``) header values are not applied: pixels come back as stored, as
  OpenCV, stb_image and imageio return them.  A file whose ``EXPOSURE`` is not 1 is logged at
  INFO; divide by that value to get Radiance's "original" radiance.
- Only the standard Radiance orientation ``-Y H +X W`` is read; other orientations raise rather
  than being guessed.  The rarely seen pre-1991 ("old-style") run-length scanlines are read too.
- The encoder truncates (as Radiance's own ``setcolr`` does) and writes new-style run-length
  scanlines when the width is in [8, 32767], flat ones otherwise; the decoder reconstructs the
  middle of each quantisation step (see :mod:`glowgan.hdrio` for the precision this gives).

Sources: Ward, "Real Pixels", Graphics Gems II (1991) and the Radiance sources (``color.h``,
``colrops.c``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct

import numpy as np

from glowgan.hdrio.common import ImageIOError, _check_size, _error, _read_prefix

logger = logging.getLogger(__name__)

_RGBE_MAX_HEADER_LINES = 1024
_RGBE_MAX_LINE = 4096
_RGBE_MIN_RUN = 4  # shorter runs go into literal packets, as in Radiance's fwritecolrs


def _read_rgbe(path: str | os.PathLike, max_pixels: int | None) -> np.ndarray:
    _read_prefix(path, 0)  # clear errors for a missing or unreadable file
    with open(path, "rb") as f:
        if not f.readline(_RGBE_MAX_LINE).startswith(b"#?"):
            raise _error(
                path,
                "not a Radiance RGBE file (no '#?' signature)",
                "check the file and its extension",
            )
        exposure = 1.0
        for _ in range(_RGBE_MAX_HEADER_LINES):
            line = f.readline(_RGBE_MAX_LINE)
            if not line:
                raise _error(path, "file is truncated (header ends early)", "re-export it")
            if not line.strip():
                break
            key, _, value = line.strip().partition(b"=")
            if key == b"FORMAT" and value != b"32-bit_rle_rgbe":
                raise _error(
                    path,
                    f"unsupported Radiance pixel format {value.decode(errors='replace')!r}",
                    "convert it to 32-bit_rle_rgbe (RGB)",
                )
            if key == b"EXPOSURE":
                with contextlib.suppress(ValueError):
                    exposure *= float(value)
        else:
            raise _error(path, "Radiance header has no end (no blank line)", "the file is corrupt")
        resolution = f.readline(_RGBE_MAX_LINE).decode("ascii", errors="replace").strip()
        match = re.fullmatch(r"([-+][XY]) (\d+) ([-+][XY]) (\d+)", resolution)
        if match is None:
            raise _error(
                path, f"bad Radiance resolution line {resolution!r}", "the file is corrupt"
            )
        if (match[1], match[3]) != ("-Y", "+X"):
            raise _error(
                path,
                f"unsupported Radiance orientation {resolution!r} "
                "(only the standard '-Y height +X width' is read)",
                "re-save it in the standard orientation",
            )
        height, width = int(match[2]), int(match[4])
        _check_size(path, width, height, max_pixels)
        data = f.read()
    if exposure != 1.0:
        logger.info("%s: EXPOSURE=%g is not applied to the pixels", os.fspath(path), exposure)
    return _rgbe_to_float(_decode_rgbe_scanlines(path, data, width, height))


def _rgbe_to_float(rgbe: np.ndarray) -> np.ndarray:
    """[H, W, 4] uint8 RGBE to [H, W, 3] float32, ``(m + 0.5) * 2**(E - 136)``, 0 where E = 0."""
    exponent = rgbe[:, :, 3:].astype(np.int32)
    scale = np.where(exponent > 0, np.ldexp(np.float32(1), exponent - 136), np.float32(0))
    return (rgbe[:, :, :3].astype(np.float32) + np.float32(0.5)) * scale.astype(np.float32)


def _decode_rgbe_scanlines(
    path: str | os.PathLike, data: bytes, width: int, height: int
) -> np.ndarray:
    """Undo the per-scanline run-length encodings (new-style, old-style or flat)."""
    rgbe = np.empty((height, width, 4), np.uint8)
    pos = 0
    for y in range(height):
        if (
            8 <= width <= 0x7FFF
            and data[pos : pos + 2] == b"\x02\x02"
            and len(data) >= pos + 4
            and (data[pos + 2] << 8 | data[pos + 3]) == width
        ):
            pos = _decode_rle_scanline(path, data, pos + 4, rgbe[y], y, height)
        else:
            pos = _decode_flat_scanline(path, data, pos, rgbe[y], y, height)
    return rgbe


def _truncated_at(path: str | os.PathLike, y: int, height: int) -> ImageIOError:
    return _error(
        path,
        f"file is truncated (pixel data ends in scanline {y + 1} of {height})",
        "re-export or remove it",
    )


def _decode_rle_scanline(
    path: str | os.PathLike, data: bytes, pos: int, row: np.ndarray, y: int, height: int
) -> int:
    """New-style scanline: each of the 4 components run-length coded on its own."""
    width = row.shape[0]
    for component in range(4):
        values = bytearray(width)
        x = 0
        while x < width:
            if pos >= len(data):
                raise _truncated_at(path, y, height)
            count = data[pos]
            if count > 128:
                count -= 128
                chunk = data[pos + 1 : pos + 2] * count
                pos += 2
            else:
                chunk = data[pos + 1 : pos + 1 + count]
                pos += 1 + count
            if count == 0 or x + count > width:
                raise _error(
                    path, f"corrupt run-length data in scanline {y + 1}", "re-export or remove it"
                )
            if len(chunk) < count:
                raise _truncated_at(path, y, height)
            values[x : x + count] = chunk
            x += count
        row[:, component] = np.frombuffer(values, np.uint8)
    return pos


def _decode_flat_scanline(
    path: str | os.PathLike, data: bytes, pos: int, row: np.ndarray, y: int, height: int
) -> int:
    """Flat scanline of RGBE pixels, where (1, 1, 1, n) repeats the previous pixel (old-style)."""
    width = row.shape[0]
    chunk = data[pos : pos + 4 * width]
    pixels = np.frombuffer(chunk[: len(chunk) // 4 * 4], np.uint8).reshape(-1, 4)
    repeats = (pixels[:, 0] == 1) & (pixels[:, 1] == 1) & (pixels[:, 2] == 1)
    if len(pixels) == width and not repeats.any():
        row[:] = pixels
        return pos + 4 * width
    x, shift = 0, 0
    while x < width:
        if pos + 4 > len(data):
            raise _truncated_at(path, y, height)
        pixel = data[pos : pos + 4]
        pos += 4
        if pixel[:3] == b"\x01\x01\x01":
            count = pixel[3] << shift
            if x == 0 or x + count > width:
                raise _error(
                    path, f"corrupt run-length data in scanline {y + 1}", "re-export or remove it"
                )
            row[x : x + count] = row[x - 1]
            x += count
            shift += 8
        else:
            row[x] = np.frombuffer(pixel, np.uint8)
            x += 1
            shift = 0
    return pos


def _encode_rgbe(path: str | os.PathLike, image: np.ndarray) -> bytes:
    """Radiance file bytes for a finite float32 [H, W, C] image (C = 1 is written as grey)."""
    height, width, _ = image.shape
    rgb = np.broadcast_to(image, (height, width, 3))
    if float(rgb.min()) < 0:
        raise _error(
            path,
            f"Radiance RGBE cannot store negative values (minimum {float(rgb.min()):.6g})",
            "clip them with np.maximum(image, 0) or write .exr or .pfm",
        )
    largest = rgb.max(axis=2).astype(np.float64)
    fraction, exponent = np.frexp(largest)  # largest = fraction * 2**exponent, fraction in [0.5, 1)
    if int(exponent.max()) > 127:
        raise _error(
            path,
            f"values up to {float(largest.max()):.6g} exceed the Radiance RGBE range (2**127)",
            "scale the image down or write .exr or .pfm",
        )
    stored = (largest > 0) & (exponent >= -127)
    mantissa = np.floor(rgb * np.ldexp(1.0, 8 - exponent)[:, :, None])  # truncate, < 256
    rgbe = np.zeros((height, width, 4), np.uint8)
    rgbe[:, :, :3] = np.where(stored[:, :, None], mantissa, 0)
    rgbe[:, :, 3] = np.where(stored, exponent + 128, 0)
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode("ascii")
    if not 8 <= width <= 0x7FFF:
        return header + rgbe.tobytes()
    start = b"\x02\x02" + struct.pack(">H", width)
    planes = np.ascontiguousarray(rgbe.transpose(0, 2, 1))  # [H, 4, W]
    body = bytearray()
    for y in range(height):
        body += start
        for component in range(4):
            body += _rle_encode(planes[y, component])
    return header + bytes(body)


def _rle_encode(values: np.ndarray) -> bytes:
    """One component of a new-style scanline: runs of >= 4 equal bytes, literals otherwise."""
    starts = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(np.append(starts, len(values)))
    long_runs = lengths >= _RGBE_MIN_RUN
    raw = values.tobytes()
    out = bytearray()
    literal_from = 0
    for start, length in zip(starts[long_runs].tolist(), lengths[long_runs].tolist()):
        _append_literals(out, raw[literal_from:start])
        for offset in range(0, length, 127):
            out += bytes((128 + min(127, length - offset), raw[start]))
        literal_from = start + length
    _append_literals(out, raw[literal_from:])
    return bytes(out)


def _append_literals(out: bytearray, raw: bytes) -> None:
    for offset in range(0, len(raw), 128):
        chunk = raw[offset : offset + 128]
        out += bytes((len(chunk),)) + chunk
