"""Read and write HDR images (OpenEXR, Radiance RGBE, PFM) and LDR photos, with clear errors.

Arrays are numpy ``float32``, C-contiguous, shape ``[H, W, C]`` with ``C = 3`` (RGB), or ``C = 1``
where a single channel is asked for.  HDR arrays hold linear radiance; LDR arrays hold
display-referred values in [0, 1], exactly ``v / 255`` or ``v / 65535`` of the stored integers
(no colour management: ICC profiles, gamma chunks and Radiance ``PRIMARIES`` are not applied).

Every failure caused by a file or by the array to write raises :class:`ImageIOError`, whose message
names the file, the problem and, where there is one, the fix.  Readers check the image size from
the header against ``max_pixels`` before they decode any pixels.  Writers create the parent
directories and write atomically: to a hidden temporary file in the same directory, which is
synced and then renamed over the target, so a failed write leaves no partial file behind and an
existing file untouched.

Precision of a write-then-read round trip:

- OpenEXR float32 (the default) and PFM are exact, bit for bit.
- OpenEXR half (``half=True``) rounds to nearest, a relative error of at most 2**-11 for
  magnitudes from 2**-14 (about 6.1e-5) up to 65504; smaller magnitudes become half subnormals
  (absolute error at most 2**-25).  Values beyond 65504 would turn into Inf, so writing them
  raises :class:`ImageIOError` instead (write float32 or scale the image).
- Radiance RGBE stores an 8-bit mantissa per channel with an exponent shared by the pixel.  The
  encoder truncates (as Radiance's own ``setcolr`` does) and the decoder reconstructs the middle
  of each quantisation step, ``(m + 0.5) * 2**(E - 136)`` (Radiance's ``colrval``), so every
  channel is within half a step of its value: ``|c' - c| <= 2**-8 * M``, where ``M`` is the
  largest channel of that pixel; the bound is reached, e.g. 1.0 reads back as 1.00390625.
  Black pixels stay exactly 0, a channel that is 0 beside brighter ones reads as half a step.
  Pixels with ``M < 2**-128`` (float32 subnormals only) are stored as black, and RGBE cannot
  hold ``M >= 2**127`` or negative values: writing those raises :class:`ImageIOError`.

Decisions worth knowing:

- Radiance ``EXPOSURE`` (and ``COLORCORR``) header values are not applied: pixels come back as
  stored, as OpenCV, stb_image and imageio return them.  A file whose ``EXPOSURE`` is not 1 is
  logged at INFO; divide by that value to get Radiance's "original" radiance.
- Only the standard Radiance orientation ``-Y H +X W`` is read; other orientations raise rather
  than being guessed.  The rarely seen pre-1991 ("old-style") run-length scanlines are read too.
- PFM: the sign of the scale gives the byte order (negative: little-endian); its magnitude, a unit
  hint, is ignored.  Rows are stored bottom to top (Netpbm's ``pfm(5)``).
- OpenEXR: single-part flat images only.  Channels ``R, G, B`` are used when present (``A`` and any
  other channels are ignored), else a lone ``Y`` (luminance, with an optional ``A``); anything else
  (``Z`` only, layered names such as ``diffuse.R``, subsampled chroma, several parts) raises and
  lists the channels found.  The data window is returned (a warning is logged if it differs from
  the display window).
- Non-finite values on reading (``nonfinite=``): ``"error"`` (default) raises with the counts of
  NaN and Inf pixels; ``"clean"`` sets NaN and -Inf to 0 and +Inf to the largest finite value
  of the image (0 if it has none), with a logged warning of the counts; ``"keep"`` returns the
  data untouched.
- Negative finite values on reading (``negatives=``): ``"keep"`` (default) returns them;
  ``"clamp"`` sets them to 0 with one logged warning naming the file, the number of pixels and
  the minimum, as long as they are small: together (in magnitude) at most ``NEGATIVE_TOLERANCE``
  (1 %) of the sum of the image's positive values, so that clamping changes its total radiance
  by at most that much.  Real HDR captures and renders carry such texels (demosaicing, colour
  conversion of out-of-gamut colours, denoisers; a CC0 HDRI with a minimum of -0.003 is typical).
  More than that is refused: the image is then not linear radiance (a signed, log-encoded or
  difference image) or is damaged, and clamping would hide it.  See :func:`negative_values`.
- LDR photos: alpha is dropped (not composited), palettes expanded, grey replicated to RGB,
  CMYK converted by Pillow, and the EXIF orientation applied.  The first frame of multi-frame
  files is read.  Pillow's warnings are logged with the file name, except its
  decompression-bomb warning (``max_pixels`` is the limit that applies); Pillow's hard limit,
  twice ``PIL.Image.MAX_IMAGE_PIXELS``, still stops larger images with an ImageIOError.
- 16-bit PNGs are decoded here (zlib plus numpy: chunk CRCs checked, all five scanline filters,
  Adam7 interlacing) because Pillow reduces 16-bit colour PNGs to 8 bits and cannot hold them
  in a 16-bit RGB image; the filters are undone along anti-diagonals so that numpy vectorises
  them.  Pillow reads every other photo.  16-bit colour TIFFs are still reduced to 8 bits by
  Pillow; a warning says so (save them as 16-bit PNG to keep full precision).
- LDR writing quantises ``floor(clip(x, 0, 1) * (2**bits - 1) + 0.5)`` (round half up), so an
  8- or 16-bit PNG read and written again is unchanged.

Sources: Ward, "Real Pixels", Graphics Gems II (1991) and the Radiance sources (``color.h``,
``colrops.c``) for RGBE; Netpbm's ``pfm(5)``; the PNG specification (W3C, 2nd ed., 2003),
sections 7, 8 and 9 for chunks, Adam7 and filters; the OpenEXR 3.x Python bindings.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import secrets
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import IO, NamedTuple

import numpy as np
import OpenEXR
from PIL import Image, PngImagePlugin

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "HDR_SUFFIXES",
    "LDR_SUFFIXES",
    "NEGATIVE_TOLERANCE",
    "ImageIOError",
    "NegativeValues",
    "decode_ldr",
    "is_hdr_path",
    "negative_values",
    "read_hdr",
    "read_ldr",
    "read_ldr_size",
    "write_animation",
    "write_atomically",
    "write_hdr",
    "write_ldr",
    "write_text",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
HDR_SUFFIXES = (".exr", ".hdr", ".pic", ".pfm")
LDR_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")

_NONFINITE_POLICIES = ("error", "clean", "keep")
_NEGATIVE_POLICIES = ("keep", "clamp")
# negatives="clamp" clamps negative values that sum (in magnitude) to at most this share of the
# image's positive values, and refuses larger ones (module docstring).
NEGATIVE_TOLERANCE = 0.01
_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")  # JPEG also opens multi-picture (MPO) files
# What Pillow's plugins raise on bad data besides OSError (they do not all convert these).
_PILLOW_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_LUT8 = (np.arange(256) / 255).astype(np.float32)  # exact v / 255, rounded once to float32
_LUT16 = (np.arange(65536) / 65535).astype(np.float32)
_HALF_MAX = 65504.0  # largest finite IEEE 754 half


class ImageIOError(ValueError):
    """A file cannot be read or written; the message names the file, the reason and the fix."""


def _error(path: str | os.PathLike, problem: str, fix: str | None = None) -> ImageIOError:
    message = f"{os.fspath(path)}: {problem}"
    return ImageIOError(f"{message}; {fix}" if fix else message)


def is_hdr_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an HDR image by its extension (any case), see ``HDR_SUFFIXES``."""
    return os.path.splitext(os.fspath(path))[1].lower() in HDR_SUFFIXES


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def read_hdr(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    nonfinite: str = "error",
    negatives: str = "keep",
    keep_single_channel: bool = False,
) -> np.ndarray:
    """Read an OpenEXR, Radiance RGBE (``.hdr``/``.pic``) or PFM file by its extension.

    Returns ``[H, W, 3]`` float32 linear radiance, or ``[H, W, 1]`` for a single-channel file
    when ``keep_single_channel`` is true (otherwise the channel is replicated to RGB).
    ``max_pixels`` (None: no limit) is checked against the header before decoding;
    ``nonfinite`` is ``"error"``, ``"clean"`` or ``"keep"`` and ``negatives`` is ``"keep"`` or
    ``"clamp"`` (see the module docstring).  Commands that show or use radiance read with
    ``negatives="clamp"``.
    """
    if nonfinite not in _NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {_NONFINITE_POLICIES}, got {nonfinite!r}")
    if negatives not in _NEGATIVE_POLICIES:
        raise ValueError(f"negatives must be one of {_NEGATIVE_POLICIES}, got {negatives!r}")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix == ".exr":
        image = _read_exr(path, max_pixels)
    elif suffix in (".hdr", ".pic"):
        image = _read_rgbe(path, max_pixels)
    elif suffix == ".pfm":
        image = _read_pfm(path, max_pixels)
    else:
        raise _error(
            path,
            f"unsupported HDR file extension {suffix!r}",
            f"use one of {', '.join(HDR_SUFFIXES)} (read_ldr reads photos)",
        )
    image = _handle_nonfinite(path, image, nonfinite)
    if negatives == "clamp":
        image = _clamp_negatives(path, image)
    if image.shape[2] == 1 and not keep_single_channel:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image, dtype=np.float32)


def write_hdr(path: str | os.PathLike, image: np.ndarray, *, half: bool = False) -> None:
    """Write ``image`` (``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]``, finite) atomically.

    ``.exr``: ZIP-compressed float32, or half when ``half`` is true; one channel is written as
    ``Y``.  ``.hdr``/``.pic``: Radiance RGBE (new-style run-length scanlines when the width is in
    [8, 32767], flat otherwise), grey replicated to RGB.  ``.pfm``: little-endian ``PF``/``Pf``.
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in HDR_SUFFIXES:
        raise _error(
            path,
            f"unsupported HDR file extension {suffix!r}",
            f"use one of {', '.join(HDR_SUFFIXES)} (write_ldr writes photos)",
        )
    image = _validated_image(path, image)
    if suffix == ".exr":
        if half:
            _check_half_range(path, image)
        write_atomically(path, lambda tmp: _write_exr(tmp, image, half))
    elif suffix in (".hdr", ".pic"):
        data = _encode_rgbe(path, image)
        write_atomically(path, lambda tmp: _write_bytes(tmp, data))
    else:
        data = _encode_pfm(image)
        write_atomically(path, lambda tmp: _write_bytes(tmp, data))


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
        write_atomically(path, lambda tmp: _write_bytes(tmp, data))
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


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the hidden temporary files that writers killed mid-write left in ``folder``; returns their names.

    Only names of the form :func:`write_atomically` makes (``.NAME.<8 hex digits>.tmpSUFFIX``) are touched.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        if _TEMPORARY_NAME.fullmatch(name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a small text file (e.g. JSON metadata beside an image) atomically, UTF-8."""
    data = text.encode("utf-8")
    write_atomically(path, lambda tmp: _write_bytes(tmp, data))


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


def _handle_nonfinite(path: str | os.PathLike, image: np.ndarray, policy: str) -> np.ndarray:
    """Apply the ``nonfinite`` policy of :func:`read_hdr` to ``image`` ([H, W, C] float32)."""
    if policy == "keep" or (policy == "error" and np.isfinite(image).all()):
        return image
    nan_pixels = int(np.isnan(image).any(axis=2).sum())
    inf_pixels = int(np.isinf(image).any(axis=2).sum())
    if policy == "error":
        raise _error(
            path,
            f"image has {nan_pixels} pixels with NaN and {inf_pixels} pixels with Inf values",
            'pass nonfinite="clean" to replace them (NaN and -Inf by 0, +Inf by the brightest '
            'finite value) or nonfinite="keep" to keep them',
        )
    if nan_pixels == inf_pixels == 0:
        return image
    finite = np.isfinite(image)
    brightest = max(float(image[finite].max()), 0.0) if finite.any() else 0.0
    logger.warning(
        "%s: replaced NaN in %d pixels and Inf in %d pixels", os.fspath(path), nan_pixels, inf_pixels
    )
    return np.nan_to_num(image, nan=0.0, posinf=brightest, neginf=0.0)


class NegativeValues(NamedTuple):
    """Negative finite values of an image: see :func:`negative_values`."""

    pixels: int  # pixels with at least one negative channel
    minimum: float  # the most negative value (0.0 when there is none)
    share: float  # sum of |negative values| / sum of positive values (inf when nothing is positive)

    @property
    def clampable(self) -> bool:
        """Whether ``read_hdr(..., negatives="clamp")`` clamps them (rather than refusing the image)."""
        return self.share <= NEGATIVE_TOLERANCE


def negative_values(image: np.ndarray) -> NegativeValues:
    """Count and size the negative finite values of ``image`` ([H, W, C]; NaN and Inf are ignored)."""
    finite = np.where(np.isfinite(image), image, 0.0)
    negative = np.minimum(finite, 0.0)
    pixels = int((negative < 0).any(axis=2).sum())
    if pixels == 0:
        return NegativeValues(0, 0.0, 0.0)
    positive_sum = float(np.maximum(finite, 0.0).sum(dtype=np.float64))
    negative_sum = -float(negative.sum(dtype=np.float64))
    share = negative_sum / positive_sum if positive_sum > 0 else math.inf
    return NegativeValues(pixels, float(negative.min()), share)


def _clamp_negatives(path: str | os.PathLike, image: np.ndarray) -> np.ndarray:
    """``negatives="clamp"`` of :func:`read_hdr`: small negatives to 0 with one warning, large ones refused."""
    found = negative_values(image)
    if found.pixels == 0:
        return image
    if not found.clampable:
        raise _error(
            path,
            f"{found.pixels} pixels have negative values (minimum {found.minimum:.3g}) that together "
            f"amount to {100 * found.share:.3g} % of the image's positive values, more than the "
            f"{100 * NEGATIVE_TOLERANCE:g} % that is clamped at 0 as noise: this is not linear radiance "
            "(a signed, log-encoded or difference image?)",
            "export the image as linear radiance >= 0, or clamp it at 0 with an image tool if the "
            "negatives are only noise",
        )
    logger.warning(
        "%s: clamped negative values at 0 in %d pixels (minimum %.3g, %.2g %% of the image's positive values)",
        os.fspath(path),
        found.pixels,
        found.minimum,
        100 * found.share,
    )
    return np.maximum(image, 0.0)  # NaN stays NaN


def _validated_image(path: str | os.PathLike, image: np.ndarray) -> np.ndarray:
    """``image`` as finite float32 [H, W, C] with C in {1, 3}, or ImageIOError naming ``path``."""
    array = np.asarray(image)
    if array.dtype.kind not in "fiu":
        raise _error(path, f"cannot write an array of dtype {array.dtype}", "pass real numbers")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise _error(
            path,
            f"cannot write an array of shape {tuple(np.shape(image))}",
            "pass [H, W], [H, W, 1] or [H, W, 3]",
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise _error(path, f"cannot write an empty image of shape {tuple(array.shape)}")
    with np.errstate(over="ignore"):
        array = array.astype(np.float32, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise _error(
            path,
            f"image has {bad} non-finite values (NaN, Inf or beyond the float32 range)",
            "replace them before writing, e.g. with np.nan_to_num",
        )
    return array


# What write_atomically names its temporary files: ".NAME.<8 hex digits>.tmp" plus NAME's suffix.
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.[^.]+)?")


def write_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it to ``path``.

    What every writer here uses; other modules use it for files they write themselves (a zip).

    The temporary name starts with '.' and keeps the real suffix (writers may look at it).  On any
    error the temporary file is removed and an existing ``path`` is left as it was.
    """
    target = os.fspath(path)
    directory, name = os.path.split(target)
    suffix = os.path.splitext(name)[1]
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp{suffix}")
    try:
        if directory:
            os.makedirs(directory, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _error(
                path,
                f"cannot write the file ({e.strerror or e})",
                "check that the directory is writable and has space",
            ) from e
        raise


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------------------------
# OpenEXR
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Radiance RGBE (.hdr, .pic)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# PFM
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Photos: Pillow, and our own 16-bit PNG codec
# --------------------------------------------------------------------------------------------


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
