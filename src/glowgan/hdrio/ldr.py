"""LDR photos: JPEG, PNG (8- and 16-bit), WebP and TIFF in; PNG, JPEG, WebP and GIF animations out.

- Alpha is dropped (not composited), palettes expanded, grey replicated to RGB, CMYK converted by
  Pillow, and the EXIF orientation applied.  The first frame of multi-frame files is read.
  Pillow's warnings are logged with the file name, except its decompression-bomb warning
  (``max_pixels`` is the limit that applies); Pillow's hard limit, twice
  ``PIL.Image.MAX_IMAGE_PIXELS``, still stops larger images with an ImageIOError.
- 16-bit PNGs are decoded by :mod:`glowgan.hdrio.png16`; Pillow reads every other photo.  16-bit
  colour TIFFs are still reduced to 8 bits by Pillow; a warning says so (save them as 16-bit PNG
  to keep full precision).
- Writing quantises ``floor(clip(x, 0, 1) * (2**bits - 1) + 0.5)`` (round half up), so an 8- or
  16-bit PNG read and written again is unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import warnings
from collections.abc import Iterator
from typing import IO

import numpy as np
from PIL import Image, PngImagePlugin

from glowgan.hdrio.common import (
    DEFAULT_MAX_PIXELS,
    _check_size,
    _error,
    _read_prefix,
    _write_bytes_atomically,
    is_hdr_path,
    write_atomically,
)
from glowgan.hdrio.hdr import _validated_image
from glowgan.hdrio.png16 import _PNG_SIGNATURE, _encode_png16, _png_bit_depth, _read_png16

logger = logging.getLogger(__name__)

_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")  # JPEG also opens multi-picture (MPO) files
# What Pillow's plugins raise on bad data besides OSError (they do not all convert these).
_PILLOW_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_LUT8 = (np.arange(256) / 255).astype(np.float32)  # exact v / 255, rounded once to float32
_LUT16 = (np.arange(65536) / 65535).astype(np.float32)


def read_ldr(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read a photo (JPEG, PNG 8/16-bit, WebP, TIFF) as ``[H, W, 3]`` float32 in [0, 1].

    The EXIF orientation is applied, alpha dropped, grey and palette images expanded to RGB;
    8-bit values map to ``v / 255`` and 16-bit values to ``v / 65535`` exactly.  ``max_pixels``
    (None: no limit) is checked before decoding.  ``min_size`` ``(height, width)``: a JPEG may
    then be decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, Pillow's draft mode),
    the smallest scale at which both sides, after orientation, are still at least ``min_size``;
    that is many times faster, and the result is smaller than the file.  Other formats, and
    photos already smaller than twice ``min_size``, are decoded at full size.
    """
    data = _read_prefix(path, None)
    if is_hdr_path(path):
        raise _error(path, "is an HDR image, not a photo", "read it with read_hdr")
    return decode_ldr(data, name=os.fspath(path), max_pixels=max_pixels, min_size=min_size)


def decode_ldr(
    data: bytes,
    *,
    name: str,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """:func:`read_ldr` of a photo's bytes (e.g. a zip member); ``name`` is what error messages call it."""
    if _png_bit_depth(data[:33]) == 16:
        pixels, orientation = _read_png16(name, data, max_pixels)
    else:
        pixels, orientation = _read_with_pillow(name, data, max_pixels, min_size)
    lut = _LUT16 if pixels.dtype == np.uint16 else _LUT8
    pixels = _apply_orientation(pixels, orientation)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return lut[pixels]


def read_ldr_size(file: str | os.PathLike | IO[bytes], *, name: str | None = None) -> tuple[int, int]:
    """``(height, width)`` of the photo ``file`` (a path or an open binary file) as :func:`read_ldr`
    returns it (EXIF orientation applied), without decoding its pixels.

    ``name`` (default: the path, or the open file's name) is what error messages call the file.
    """
    if hasattr(file, "read"):
        label = name if name is not None else str(getattr(file, "name", "photo"))
    else:
        label = name if name is not None else os.fspath(file)
        _read_prefix(file, 0)  # a missing or unreadable file is reported as such
    with _pillow_warnings_logged(label), _open_picture(label, file) as picture:
        try:
            if picture.format == "PNG" and "exif" not in picture.info:
                orientation = _png_late_orientation(picture.fp)  # Pillow would decode the image to find it
            else:
                orientation = picture.getexif().get(0x0112, 1)
        except _PILLOW_DECODE_ERRORS as e:
            raise _error(label, f"cannot read the image header ({e})", "the file is corrupt or truncated") from None
        width, height = picture.size
    transpose = _ORIENTATIONS.get(orientation, (False, False, False))[0]
    return (width, height) if transpose else (height, width)


def write_ldr(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    quality: int = 95,
    bits: int = 8,
    text: dict[str, str] | None = None,
) -> None:
    """Write a photo atomically: ``.png`` (8- or 16-bit), ``.jpg``/``.jpeg`` or ``.webp``.

    ``image`` is ``[H, W]``, ``[H, W, 1]`` (grey) or ``[H, W, 3]``: floats in [0, 1] (clipped and
    rounded half up), uint8, or uint16 (16-bit PNG only).  ``quality`` (1-100) applies to JPEG
    and WebP; ``bits=16`` writes a 16-bit PNG.  ``text``: key-value pairs stored as ``tEXt``
    chunks before the image data of an 8-bit PNG (Latin-1; read them from ``Image.open(f).info``).
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
    if suffix not in formats:
        raise _error(
            path, f"unsupported photo file extension {suffix!r}", "use .png, .jpg, .jpeg or .webp"
        )
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if bits == 16 and suffix != ".png":
        raise _error(path, "16-bit output needs PNG", "write a .png file or pass bits=8")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in [1, 100], got {quality!r}")
    if text and (suffix != ".png" or bits != 8):
        raise _error(path, "text chunks are written into 8-bit PNGs only", "write an 8-bit .png or drop text")
    pixels = _quantised(path, image, bits)
    if bits == 16:
        data = _encode_png16(pixels)
        _write_bytes_atomically(path, data)
        return
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    options: dict = {"quality": quality} if suffix != ".png" else {}
    if text:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        for key, value in text.items():
            options["pnginfo"].add_text(key, value)
    write_atomically(path, lambda tmp: picture.save(tmp, format=formats[suffix], **options))


def write_animation(path: str | os.PathLike, frames: list[np.ndarray], *, frame_ms: int = 80) -> None:
    """Write display frames ([H, W, 3] floats in [0, 1] or uint8, all one size) as a looping GIF, atomically."""
    if os.path.splitext(os.fspath(path))[1].lower() != ".gif":
        raise _error(path, "animations are written as GIF", "use a .gif file name")
    if not frames:
        raise _error(path, "no frames to write", "pass at least one frame")
    pictures = [Image.fromarray(_quantised(path, frame, 8)[..., :3]) for frame in frames]
    if len({p.size for p in pictures}) != 1:
        raise _error(path, "frames differ in size", "render every frame at the same size")
    write_atomically(
        path,
        lambda tmp: pictures[0].save(
            tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0
        ),
    )


@contextlib.contextmanager
def _pillow_warnings_logged(path: str | os.PathLike) -> Iterator[None]:
    """Route Pillow's warnings to our log, naming the file; its decompression-bomb warning is
    dropped because ``max_pixels`` is the limit that applies."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if not issubclass(warning.category, Image.DecompressionBombWarning):
            logger.warning("%s: %s", os.fspath(path), warning.message)


def _read_with_pillow(
    path: str, data: bytes, max_pixels: int | None, min_size: tuple[int, int] | None
) -> tuple[np.ndarray, int]:
    """Decode with Pillow to uint8 or uint16 [H, W, 1 or 3] plus the EXIF orientation (see read_ldr)."""
    with _pillow_warnings_logged(path):
        with _open_picture(path, io.BytesIO(data)) as picture:
            _check_size(path, picture.width, picture.height, max_pixels)
            if picture.format == "TIFF" and picture.mode in ("RGB", "RGBA", "CMYK"):
                bits = picture.tag_v2.get(0x0102, 8)  # BitsPerSample
                if max(bits if isinstance(bits, tuple) else (bits,)) > 8:
                    logger.warning(
                        "%s: Pillow reads this 16-bit colour TIFF at 8-bit precision; save it "
                        "as a 16-bit PNG to keep full precision",
                        os.fspath(path),
                    )
            try:
                if min_size is not None:
                    _draft(picture, min_size)
                picture.load()
                orientation = picture.getexif().get(0x0112, 1)  # PNG finds eXIf after the data
            except _PILLOW_DECODE_ERRORS as e:
                raise _error(
                    path, f"image data is truncated or corrupt ({e})", "re-export or remove it"
                ) from None
            pixels = _pillow_pixels(path, picture)
    return pixels, orientation


def _open_picture(path: str | os.PathLike, file: str | os.PathLike | IO[bytes]) -> Image.Image:
    """``Image.open`` (which parses the header only) with its failures as ImageIOErrors naming ``path``."""
    try:
        return Image.open(file, formats=_PIL_FORMATS)
    except Image.UnidentifiedImageError:
        raise _error(
            path,
            "not a JPEG, PNG, WebP or TIFF image (Pillow cannot identify it)",
            "check the file or remove it",
        ) from None
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise _error(
            path,
            f"image is too large (more than {limit} pixels, Pillow's own limit)",
            "raise PIL.Image.MAX_IMAGE_PIXELS if the file is trusted",
        ) from None
    except _PILLOW_DECODE_ERRORS as e:
        raise _error(
            path, f"cannot read the image header ({e})", "the file is corrupt or truncated"
        ) from None


def _png_late_orientation(fp: IO[bytes]) -> int:
    """The EXIF orientation of a PNG whose ``eXIf`` chunk, if any, follows the image data: found by
    walking the chunk headers, without decompressing anything (1 when there is none)."""
    fp.seek(len(_PNG_SIGNATURE))
    while len(header := fp.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        if kind == b"eXIf":
            tags = Image.Exif()
            tags.load(fp.read(length))
            return tags.get(0x0112, 1)
        if kind == b"IEND":
            break
        fp.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return 1


def _draft(picture: Image.Image, min_size: tuple[int, int]) -> None:
    """Let a JPEG decode at the smallest DCT scale keeping the oriented size >= ``min_size`` (H, W)."""
    if picture.format not in ("JPEG", "MPO"):
        return
    height, width = min_size
    if _ORIENTATIONS.get(picture.getexif().get(0x0112, 1), (False, False, False))[0]:
        height, width = width, height  # min_size is after orientation; the file is stored transposed
    picture.draft(picture.mode, (max(1, width), max(1, height)))


def _pillow_pixels(path: str | os.PathLike, picture: Image.Image) -> np.ndarray:
    if picture.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(picture).astype(np.uint16)[:, :, None]
    if picture.mode in ("I", "F"):
        raise _error(
            path,
            f"unsupported pixel format (Pillow mode {picture.mode}: 32-bit integer or float)",
            "convert it to an 8- or 16-bit image, or save HDR data as .exr and use read_hdr",
        )
    if picture.mode == "L":
        return np.asarray(picture)[:, :, None]
    if picture.mode == "RGB":
        return np.asarray(picture)
    try:
        return np.asarray(picture.convert("RGB"))
    except ValueError as e:
        raise _error(
            path, f"unsupported pixel format (Pillow mode {picture.mode}: {e})", "convert it to RGB"
        ) from None


# Orientation (EXIF tag 0x0112) -> (transpose, flip rows, flip columns), applied in that order.
_ORIENTATIONS = {
    2: (False, False, True),
    3: (False, True, True),
    4: (False, True, False),
    5: (True, False, False),
    6: (True, False, True),
    7: (True, True, True),
    8: (True, True, False),
}


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored [H, W, C] pixels the way the EXIF orientation says (1 or unknown: as is)."""
    transpose, flip_rows, flip_columns = _ORIENTATIONS.get(orientation, (False, False, False))
    if transpose:
        pixels = pixels.transpose(1, 0, 2)
    if flip_rows:
        pixels = pixels[::-1]
    if flip_columns:
        pixels = pixels[:, ::-1]
    return pixels


def _quantised(path: str | os.PathLike, image: np.ndarray, bits: int) -> np.ndarray:
    """``image`` as uint8/uint16 [H, W, C], C in {1, 3}, for writing ``bits``-bit samples."""
    array = np.asarray(image)
    if array.dtype == np.uint16 and bits == 8:
        raise _error(path, "cannot write uint16 data as 8-bit", "pass bits=16 or a float image")
    if array.dtype in (np.uint8, np.uint16):
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 3) or 0 in array.shape:
            raise _error(
                path,
                f"cannot write an array of shape {tuple(np.shape(image))}",
                "pass [H, W], [H, W, 1] or [H, W, 3]",
            )
        if bits == 16 and array.dtype == np.uint8:
            return array.astype(np.uint16) * 257  # v / 255 == 257 v / 65535
        return array
    if array.dtype.kind != "f":
        raise _error(
            path, f"cannot write an array of dtype {array.dtype}", "pass floats in [0, 1] or uint8"
        )
    values = _validated_image(path, array)
    top = 2**bits - 1
    quantised = np.floor(np.clip(values, 0, 1).astype(np.float64) * top + 0.5)
    return quantised.astype(np.uint8 if bits == 8 else np.uint16)
