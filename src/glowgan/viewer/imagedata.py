"""The viewer's image payload: a small binary format the page decodes, plus gallery thumbnails.

Layout of one payload (all little-endian)::

    offset  size  field
    0       4     magic b"GGVW"
    4       2     format version (1)
    6       2     sample type: 1 = float16 linear radiance (HDR), 2 = uint8 display-referred (LDR)
    8       4     width (uint32)
    12      4     height (uint32)
    16      4     scale (float32): HDR value = sample * scale (a power of two, mostly 1); LDR: 1, value = code / 255
    20      4     metadata length M (uint32), a multiple of 4
    24      M     metadata: UTF-8 JSON object, padded with spaces
    24+M    ...   samples: height rows, top to bottom, of width RGB triples

HDR pixels are stored as IEEE 754 half floats divided by ``scale``; ``scale`` is the smallest power
of two that keeps the brightest value within the half range (65504), so a power-of-two division
changes no mantissa bits and the relative rounding error stays at most 2**-11 (normal halves).
LDR pixels are quantised like ``glowgan.hdrio.write_ldr`` does: ``floor(clip(x, 0, 1) * 255 + 0.5)``.
The metadata carries the statistics the page shows, computed here on the full-precision pixels with
``glowgan.tonemap`` and ``glowgan.metrics.dynamic_range`` so that the page and the CLI agree.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from glowgan import hdrio, tonemap
from glowgan.metrics.dynamic_range import dynamic_range_stops, luminance

MAGIC = b"GGVW"
VERSION = 1
SAMPLE_FLOAT16 = 1
SAMPLE_UINT8 = 2
HEADER = struct.Struct("<4sHHIIfI")  # magic, version, sample type, width, height, scale, metadata length
HALF_MAX = 65504.0  # largest finite IEEE 754 half
THUMBNAIL_SIZE = 256  # longest side of a gallery thumbnail, in pixels
# The gallery previews HDR images as `glowgan generate` previews its samples: Reinhard at auto exposure.
THUMBNAIL_OPERATOR = "reinhard"


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Read an HDR file (EXR/HDR/PFM) or a photo; returns (``[H, W, 3]`` float32, ``"hdr"`` or ``"ldr"``).

    HDR files are read with NaN/Inf replaced (``nonfinite="clean"``) and small negatives clamped at 0
    (``negatives="clamp"``), each logged by hdrio, so a viewer can show a damaged file; unreadable
    files, and files whose negatives are too large to be noise, raise :class:`glowgan.hdrio.ImageIOError`.
    """
    if hdrio.is_hdr_path(path):
        return hdrio.read_hdr(path, nonfinite="clean", negatives="clamp"), "hdr"
    return hdrio.read_ldr(path), "ldr"


def image_metadata(image: np.ndarray, kind: str) -> dict:
    """Statistics the page shows beside an image ([H, W, 3] float32; ``kind`` "hdr" or "ldr")."""
    meta: dict = {"kind": kind}
    if kind == "hdr":
        lum = luminance(image)  # [H, W] float64
        positive = lum[lum > 0]
        meta.update(
            auto_exposure_stops=tonemap.auto_exposure_stops(image),
            dynamic_range_stops=dynamic_range_stops(image),
            max_luminance=float(lum.max()) if lum.size else 0.0,
            min_positive_luminance=float(positive.min()) if positive.size else 0.0,
        )
    return meta


def encode_image(image: np.ndarray, kind: str, meta: dict | None = None) -> bytes:
    """Encode ``image`` ([H, W, 3]: linear radiance >= 0 for "hdr", [0, 1] for "ldr") as a payload."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the viewer encodes RGB images [H, W, 3], got shape {image.shape}")
    height, width, _ = image.shape
    if kind == "hdr":
        peak = float(image.max()) if image.size else 0.0
        scale = 2.0 ** math.ceil(math.log2(peak / HALF_MAX)) if peak > HALF_MAX else 1.0
        samples = (image / np.float32(scale)).astype("<f2").tobytes()
        sample_type = SAMPLE_FLOAT16
    elif kind == "ldr":
        scale = 1.0
        samples = np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).tobytes()
        sample_type = SAMPLE_UINT8
    else:
        raise ValueError(f"kind must be 'hdr' or 'ldr', got {kind!r}")
    text = json.dumps({"kind": kind, **(meta or {})}, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    header = HEADER.pack(MAGIC, VERSION, sample_type, width, height, scale, len(text))
    return header + text + samples


def decode_image(payload: bytes) -> tuple[np.ndarray, dict]:
    """Inverse of :func:`encode_image`: ([H, W, 3] float32, metadata); LDR comes back as ``code / 255``."""
    if len(payload) < HEADER.size:
        raise ValueError(f"viewer payload too short ({len(payload)} bytes)")
    magic, version, sample_type, width, height, scale, meta_length = HEADER.unpack_from(payload)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a version-{VERSION} viewer payload (magic {magic!r}, version {version})")
    dtype = {SAMPLE_FLOAT16: np.dtype("<f2"), SAMPLE_UINT8: np.dtype(np.uint8)}.get(sample_type)
    if dtype is None:
        raise ValueError(f"unknown sample type {sample_type} in viewer payload")
    start = HEADER.size + meta_length
    expected = start + width * height * 3 * dtype.itemsize
    if len(payload) != expected:
        raise ValueError(f"viewer payload has {len(payload)} bytes, its header says {expected}")
    meta = json.loads(payload[HEADER.size : start].decode("utf-8"))
    samples = np.frombuffer(payload, dtype=dtype, offset=start).reshape(height, width, 3)
    if sample_type == SAMPLE_UINT8:
        return samples.astype(np.float32) / np.float32(255.0), meta
    return samples.astype(np.float32) * np.float32(scale), meta


def image_payload(path: str | os.PathLike) -> bytes:
    """Read ``path`` and encode it, with its statistics and file name, for the page."""
    image, kind = read_image(path)
    return payload_of(image, kind, name=Path(path).name)


def payload_of(image: np.ndarray, kind: str, *, name: str) -> bytes:
    """The page's payload of an image already read with :func:`read_image`."""
    return encode_image(image, kind, {"name": name, **image_metadata(image, kind)})


def thumbnail_png(path: str | os.PathLike, *, size: int = THUMBNAIL_SIZE) -> bytes:
    """A PNG no larger than ``size`` on its longest side: HDR tone-mapped (Reinhard, auto exposure)."""
    return thumbnail_of(*read_image(path), size=size)


def thumbnail_of(image: np.ndarray, kind: str, *, size: int = THUMBNAIL_SIZE) -> bytes:
    """:func:`thumbnail_png` of an image already read with :func:`read_image`."""
    if kind == "hdr":
        stops = tonemap.auto_exposure_stops(image)
        image = tonemap.tonemap(image, exposure_stops=stops, operator=THUMBNAIL_OPERATOR)
    picture = Image.fromarray(np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
