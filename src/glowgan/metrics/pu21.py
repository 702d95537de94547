"""PU21: perceptually uniform encoding of absolute luminance, for running SDR metrics on HDR images.

Mantiuk & Azimi, "PU21: A novel perceptually uniform encoding for adapting existing quality metrics
for HDR", Picture Coding Symposium 2021 (doi:10.1109/PCS50896.2021.9477471). The encoding is one
closed-form curve (the reference implementation, gfxdisp/pu21 ``matlab/pu21_encoder.m``)::

    V = p7 * (((p1 + p2 * Y**p4) / (1 + p3 * Y**p4)) ** p5 - p6)

with ``Y`` in absolute units (cd/m², the light a display emits), clamped to the valid range
0.005–10000 cd/m². Four fitted variants exist; the authors recommend ``banding_glare`` (the default
here) and ask that only it be used for reporting; the others are offered for comparison. On the
``banding_glare`` curve 0.005 cd/m² encodes to 0 and a 100 cd/m² SDR white to about 256, so PU values
are on the scale of 8-bit SDR code values and SDR metrics keep their usual constants (peak 256).

Functions accept numpy arrays (computed in float64) or torch tensors (computed in their own dtype,
differentiable away from the clamp).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Valid luminance range of the encoding, cd/m² (reference implementation: L_min, L_max).
PU21_L_MIN = 0.005
PU21_L_MAX = 10000.0

# Peak value used by the reference metrics (pu21_metric.m: psnr(T, R, 256), ssim 'DynamicRange' 256).
PU21_PEAK = 256.0

# Parameters p1..p7 of each variant, as published with the paper (gfxdisp/pu21, pu21_encoder.m,
# "parameters updated on 06/02/2020").
PU21_PARAMETERS: dict[str, tuple[float, ...]] = {
    "banding": (1.070275272, 0.4088273932, 0.153224308, 0.2520326168, 1.063512885, 1.14115047, 521.4527484),
    "banding_glare": (
        0.353487901,
        0.3734658629,
        8.277049286e-05,
        0.9062562627,
        0.09150303166,
        0.9099517204,
        596.3148142,
    ),
    "peaks": (1.043882782, 0.6459495343, 0.3194584211, 0.374025247, 1.114783422, 1.095360363, 384.9217577),
    "peaks_glare": (816.885024, 1479.463946, 0.001253215609, 0.9329636822, 0.06746643971, 1.573435413, 419.6006374),
}
PU21_DEFAULT_VARIANT = "banding_glare"  # the authors' recommendation (gfxdisp/pu21 README)


def _parameters(variant: str) -> tuple[float, ...]:
    try:
        return PU21_PARAMETERS[variant]
    except KeyError:
        raise ValueError(f"PU21 variant {variant!r} is unknown; choose one of {', '.join(PU21_PARAMETERS)}") from None


def _as_float(values: Array) -> Array:
    if isinstance(values, torch.Tensor):
        return values if values.is_floating_point() else values.float()
    return np.asarray(values, dtype=np.float64)


def pu21_encode(luminance_nits: Array, *, variant: str = PU21_DEFAULT_VARIANT) -> Array:
    """Absolute luminance (or linear RGB channel values) in cd/m² -> PU21 values (Mantiuk & Azimi 2021).

    Inputs are clamped to the valid range [0.005, 10000] cd/m² first, as the reference implementation
    does, so black maps to PU(0.005) (0 for ``banding_glare``) and anything brighter than 10000 cd/m²
    to PU(10000) (about 595). Any shape; numpy in float64 or torch in the input's float dtype.
    """
    p1, p2, p3, p4, p5, p6, p7 = _parameters(variant)
    y = _as_float(luminance_nits).clip(PU21_L_MIN, PU21_L_MAX)
    y_p4 = y**p4
    return p7 * (((p1 + p2 * y_p4) / (1.0 + p3 * y_p4)) ** p5 - p6)


def pu21_decode(pu_values: Array, *, variant: str = PU21_DEFAULT_VARIANT) -> Array:
    """Inverse of :func:`pu21_encode`: PU21 values -> luminance in cd/m², in [0.005, 10000].

    Solves the encoding's rational function for ``Y``. Values outside the encoding's range
    [PU(0.005), PU(10000)] are clamped to it first, so the result always lies in the valid range.
    """
    p1, p2, p3, p4, p5, p6, p7 = _parameters(variant)
    v_low = float(pu21_encode(np.float64(PU21_L_MIN), variant=variant))
    v_high = float(pu21_encode(np.float64(PU21_L_MAX), variant=variant))
    ratio = (_as_float(pu_values).clip(v_low, v_high) / p7 + p6) ** (1.0 / p5)
    luminance_p4 = (ratio - p1) / (p2 - p3 * ratio)  # > 0 for ratios from the valid range
    return luminance_p4.clip(0.0, None) ** (1.0 / p4)
