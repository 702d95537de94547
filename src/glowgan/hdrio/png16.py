"""Our own 16-bit PNG codec: Pillow reduces 16-bit colour PNGs to 8 bits and cannot hold them in a
16-bit RGB image, so :mod:`glowgan.hdrio.ldr` decodes and encodes them here.

Decoding is zlib plus numpy: chunk CRCs checked, all five scanline filters, Adam7 interlacing; the
filters are undone along anti-diagonals so that numpy vectorises them.  Encoding chooses each row's
filter as libpng does.

Source: the PNG specification (W3C, 2nd ed., 2003), sections 7, 8 and 9 for chunks, Adam7 and filters.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
from PIL import Image

from glowgan.hdrio.common import _check_size, _error

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel
# Adam7 passes as (x0, y0, dx, dy), PNG spec 8.2.
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def _png_bit_depth(prefix: bytes) -> int | None:
    """Bit depth from the IHDR at the start of a PNG, None if ``prefix`` is not a PNG."""
    if len(prefix) >= 25 and prefix.startswith(_PNG_SIGNATURE) and prefix[12:16] == b"IHDR":
        return prefix[24]
    return None


def _read_png16(path: str, data: bytes, max_pixels: int | None) -> tuple[np.ndarray, int]:
    """Decode a 16-bit PNG (the file's bytes) to uint16 [H, W, 1 or 3] (alpha dropped) plus its EXIF orientation."""
    ihdr = data[16:29]
    width, height, _, colour_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", ihdr
    )
    if colour_type not in _PNG_CHANNELS or compression or filter_method or interlace > 1:
        raise _error(path, "invalid PNG header", "the file is corrupt")
    _check_size(path, width, height, max_pixels)
    idat, exif = [], None
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if pos + 12 + length > len(data):
            break  # truncated chunk: the pixel data checks below say so if it matters
        if kind in (b"IHDR", b"IDAT", b"eXIf"):
            (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
            if zlib.crc32(kind + body) != crc:
                raise _error(
                    path, f"corrupt PNG ({kind.decode()} chunk checksum mismatch)", "re-export it"
                )
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"eXIf":
            exif = body
        elif kind == b"IEND":
            break
        pos += 12 + length

    channels = _PNG_CHANNELS[colour_type]
    bpp = 2 * channels
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    shapes = [(-(-(height - y0) // dy), -(-(width - x0) // dx)) for x0, y0, dx, dy in passes]
    expected = sum(h * (1 + w * bpp) for h, w in shapes if h > 0 and w > 0)
    try:
        stream = zlib.decompressobj().decompress(b"".join(idat), expected)
    except zlib.error as e:
        raise _error(path, f"corrupt PNG image data ({e})", "re-export or remove it") from None
    if len(stream) < expected:
        raise _error(path, "file is truncated (image data ends early)", "re-export or remove it")

    pixels = np.empty((height, width, bpp), np.uint8)
    offset = 0
    for (x0, y0, dx, dy), (h, w) in zip(passes, shapes):
        if h <= 0 or w <= 0:
            continue
        size = h * (1 + w * bpp)
        rows = np.frombuffer(stream, np.uint8, count=size, offset=offset).reshape(h, 1 + w * bpp)
        pixels[y0::dy, x0::dx] = _png_unfilter(path, rows, bpp)
        offset += size
    samples = pixels.view(">u2").astype(np.uint16)  # [H, W, channels]
    samples = samples[:, :, :3] if channels >= 3 else samples[:, :, :1]
    tags = Image.Exif()
    if exif:
        tags.load(exif)
    return samples, tags.get(0x0112, 1)


def _png_unfilter(path: str | os.PathLike, rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo PNG scanline filters: [h, 1 + w*bpp] filtered bytes -> [h, w, bpp] raw bytes.

    Each byte depends on its left, upper and upper-left neighbours, so the pixels of one
    anti-diagonal (x + y = k) depend only on earlier diagonals: H + W - 1 vectorised steps.
    In a zero-padded [h+1, w+1] layout, consecutive pixels of an anti-diagonal lie ``w`` apart.
    """
    h = rows.shape[0]
    w = (rows.shape[1] - 1) // bpp
    kinds = rows[:, 0]
    if int(kinds.max()) > 4:
        raise _error(path, f"corrupt PNG (unknown filter type {int(kinds.max())})", "re-export it")
    raw = rows[:, 1:].reshape(h, w, bpp)
    if not kinds.any():
        return raw
    out = np.zeros((h + 1, w + 1, bpp), np.uint8)
    padded = np.zeros_like(out)
    padded[1:, 1:] = raw
    kind = np.zeros((h + 1, w + 1, 1), np.uint8)
    kind[1:] = kinds[:, None, None]
    out_flat, raw_flat, kind_flat = (a.reshape(-1, a.shape[2]) for a in (out, padded, kind))
    for k in range(h + w - 1):
        y_first, y_last = max(0, k - w + 1), min(h - 1, k)
        start = (y_first + 1) * (w + 1) + (k - y_first + 1)
        stop = start + (y_last - y_first) * w + 1
        here = slice(start, stop, w)
        left = out_flat[start - 1 : stop - 1 : w].astype(np.int16)
        up = out_flat[start - w - 1 : stop - w - 1 : w].astype(np.int16)
        up_left = out_flat[start - w - 2 : stop - w - 2 : w].astype(np.int16)
        f = kind_flat[here]
        predictor = np.select(
            [f == 1, f == 2, f == 3, f == 4],
            [left, up, (left + up) >> 1, _paeth(left, up, up_left)],
            0,
        )
        out_flat[here] = (raw_flat[here] + predictor).astype(np.uint8)
    return out[1:, 1:]


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """PNG Paeth predictor (PNG spec 9.4) on int16 arrays: left a, up b, upper-left c."""
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _encode_png16(samples: np.ndarray) -> bytes:
    """16-bit grey or RGB PNG bytes (adaptive filters, as libpng chooses them) of uint16 pixels."""
    height, width, channels = samples.shape
    bpp = 2 * channels
    rows = samples.astype(">u2").view(np.uint8).reshape(height, width * bpp)
    compressor = zlib.compressobj(6)
    idat = bytearray()
    previous = np.zeros(width * bpp, np.uint8)
    for first in range(0, height, 256):  # bounded memory for big images
        block = rows[first : first + 256]
        idat += compressor.compress(_png_filter(block, previous, bpp).tobytes())
        previous = block[-1]
    idat += compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0 if channels == 1 else 2, 0, 0, 0)
    chunks = [(b"IHDR", ihdr), (b"IDAT", bytes(idat)), (b"IEND", b"")]
    return _PNG_SIGNATURE + b"".join(_png_chunk(kind, body) for kind, body in chunks)


def _png_filter(rows: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """Filter each row with the type whose output has the least sum of |signed bytes|.

    That is libpng's heuristic (PNG spec 12.8); returns [h, 1 + n] uint8 with the type first.
    """
    x = rows.astype(np.int16)
    up = np.concatenate([previous[None].astype(np.int16), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up_left = np.zeros_like(x)
    up_left[:, bpp:] = up[:, :-bpp]
    candidates = np.stack(
        [x, x - left, x - up, x - ((left + up) >> 1), x - _paeth(left, up, up_left)]
    ).astype(np.uint8)
    signed = candidates.view(np.int8).astype(np.int16)
    choice = np.abs(signed).sum(axis=2).argmin(axis=0)
    chosen = candidates[choice, np.arange(len(rows))]
    return np.concatenate([choice.astype(np.uint8)[:, None], chosen], axis=1)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
