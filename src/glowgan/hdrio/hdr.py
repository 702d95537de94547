"""HDR images by their extension: :func:`read_hdr` and :func:`write_hdr`, and the checks every HDR
array passes on its way in (non-finite and negative values) or out (shape, dtype, finiteness).

The formats themselves are in :mod:`glowgan.hdrio.exr`, :mod:`glowgan.hdrio.rgbe` and
:mod:`glowgan.hdrio.pfm`.

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
"""

from __future__ import annotations

import logging
import math
import os
from typing import NamedTuple

import numpy as np

from glowgan.hdrio.common import (
    DEFAULT_MAX_PIXELS,
    HDR_SUFFIXES,
    _error,
    _write_bytes_atomically,
    write_atomically,
)
from glowgan.hdrio.exr import _check_half_range, _read_exr, _write_exr
from glowgan.hdrio.pfm import _encode_pfm, _read_pfm
from glowgan.hdrio.rgbe import _encode_rgbe, _read_rgbe

logger = logging.getLogger(__name__)

_NONFINITE_POLICIES = ("error", "clean", "keep")
_NEGATIVE_POLICIES = ("keep", "clamp")
# negatives="clamp" clamps negative values that sum (in magnitude) to at most this share of the
# image's positive values, and refuses larger ones (module docstring).
NEGATIVE_TOLERANCE = 0.01


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
        _write_bytes_atomically(path, data)
    else:
        data = _encode_pfm(image)
        _write_bytes_atomically(path, data)


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
            'replace them with nonfinite="clean" (on the command line `--nonfinite clean`: NaN and -Inf '
            'become 0, +Inf the brightest finite value) or keep them with nonfinite="keep"',
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
