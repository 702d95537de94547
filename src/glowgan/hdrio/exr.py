"""OpenEXR through the OpenEXR 3.x Python bindings.

Single-part flat images only.  Channels ``R, G, B`` are used when present (``A`` and any other
channels are ignored), else a lone ``Y`` (luminance, with an optional ``A``); anything else (``Z``
only, layered names such as ``diffuse.R``, subsampled chroma, several parts) raises and lists the
channels found.  The data window is returned (a warning is logged if it differs from the display
window).  Files are written ZIP-compressed, as float32 (exact) or half (see :mod:`glowgan.hdrio`
for its precision); values beyond the half range raise instead of turning into Inf.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import OpenEXR

from glowgan.hdrio.common import _check_size, _error, _read_prefix

logger = logging.getLogger(__name__)

_HALF_MAX = 65504.0  # largest finite IEEE 754 half


_EXR_MAGIC = b"\x76\x2f\x31\x01"


def _read_exr(path: str | os.PathLike, max_pixels: int | None) -> np.ndarray:
    if _read_prefix(path, 4) != _EXR_MAGIC:
        raise _error(
            path, "not an OpenEXR file (wrong magic number)", "check the file and its extension"
        )
    filename = os.fspath(path)
    try:
        header_file = OpenEXR.File(filename, header_only=True)
        parts = len(header_file.parts)
        header = header_file.header()
    except (RuntimeError, ValueError, OSError) as e:
        raise _error(
            path,
            f"file is truncated or corrupt (OpenEXR cannot read its header: {e})",
            "re-export or remove it",
        ) from None
    if parts != 1:
        raise _error(path, f"multi-part OpenEXR file ({parts} parts)", "export a single-part file")
    kind = header.get("type", OpenEXR.scanlineimage)  # optional in single-part files
    if kind not in (OpenEXR.scanlineimage, OpenEXR.tiledimage):
        raise _error(path, f"unsupported OpenEXR image type ({kind})", "export a flat image")
    low, high = (np.asarray(corner, dtype=np.int64) for corner in header["dataWindow"])
    width, height = int(high[0] - low[0] + 1), int(high[1] - low[1] + 1)
    _check_size(path, width, height, max_pixels)
    names = _exr_channel_names(path, header["channels"])

    try:
        exr = OpenEXR.File(filename, separate_channels=True)
        channels = exr.channels() if len(exr.parts) == 1 else {}
    except (RuntimeError, ValueError, OSError):
        channels = {}
    planes = [channels[name].pixels if name in channels else None for name in names]
    if any(plane is None or plane.shape != (height, width) for plane in planes):
        raise _error(
            path,
            "cannot decode the OpenEXR pixel data (file is truncated or corrupt)",
            "re-export or remove it",
        )
    if not all(
        np.array_equal(a, b) for a, b in zip(header["dataWindow"], header["displayWindow"])
    ):
        logger.warning(
            "%s: OpenEXR data window differs from the display window; returning the data window",
            filename,
        )
    return np.stack([plane.astype(np.float32, copy=False) for plane in planes], axis=2)


def _exr_channel_names(path: str | os.PathLike, channels: list) -> list[str]:
    """The channels to read: ``R, G, B`` if present, else a lone ``Y`` (see module docstring)."""
    found = sorted(channel.name for channel in channels)
    sampling = {channel.name: (channel.xSampling, channel.ySampling) for channel in channels}
    if {"R", "G", "B"} <= set(found):
        names = ["R", "G", "B"]
    elif set(found) - {"A"} == {"Y"}:
        names = ["Y"]
    else:
        raise _error(
            path,
            f"unsupported channel layout: found channels {found}",
            "expected R, G, B (optionally A) or a single Y channel; export a flat RGB EXR",
        )
    if any(sampling[name] != (1, 1) for name in names):
        raise _error(path, "subsampled OpenEXR channels are not supported", "export full RGB")
    return names


def _check_half_range(path: str | os.PathLike, image: np.ndarray) -> None:
    largest = float(np.abs(image).max())
    if largest > _HALF_MAX:
        raise _error(
            path,
            f"values up to {largest:.6g} exceed the half-float range ({_HALF_MAX:g})",
            "write with half=False or scale the image down",
        )


def _write_exr(path: str, image: np.ndarray, half: bool) -> None:
    pixels = image.astype(np.float16) if half else image
    names = ["Y"] if pixels.shape[2] == 1 else ["R", "G", "B"]
    channels = {name: np.ascontiguousarray(pixels[:, :, i]) for i, name in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    try:
        OpenEXR.File(header, channels).write(path)
    except RuntimeError as e:
        raise _error(path, f"OpenEXR could not write the file ({e})") from None
