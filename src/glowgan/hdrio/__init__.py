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

The decisions worth knowing are in the docstrings of the modules, one per seam:
:mod:`~glowgan.hdrio.hdr` (reading and writing HDR images by extension; NaN/Inf and negative values),
:mod:`~glowgan.hdrio.exr`, :mod:`~glowgan.hdrio.rgbe` and :mod:`~glowgan.hdrio.pfm` (the HDR formats),
:mod:`~glowgan.hdrio.ldr` (photos, through Pillow) with :mod:`~glowgan.hdrio.png16` (our 16-bit PNG
codec), and :mod:`~glowgan.hdrio.common` (the error type, size checks and atomic writes they share).
"""

from glowgan.hdrio.common import (
    DEFAULT_MAX_PIXELS,
    HDR_SUFFIXES,
    LDR_SUFFIXES,
    ImageIOError,
    is_hdr_path,
    write_atomically,
    write_text,
)
from glowgan.hdrio.hdr import NEGATIVE_TOLERANCE, NegativeValues, negative_values, read_hdr, write_hdr
from glowgan.hdrio.ldr import decode_ldr, read_ldr, read_ldr_size, write_animation, write_ldr

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
