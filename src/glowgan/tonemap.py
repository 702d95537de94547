"""Display transforms for previews and plots: linear HDR -> display-referred LDR in [0, 1].

Operators (all take an exposure in stops first, then map to display and sRGB-encode):

- ``"clip"``: clip at 1, like a camera with a linear response.
- ``"reinhard"``: global Reinhard operator on luminance with burn-out white point
  (Reinhard et al., "Photographic Tone Reproduction for Digital Images", SIGGRAPH 2002, Eq. 4);
  the white point is the image's brightest exposed luminance unless given.
- ``"filmic"``: the ACES filmic fit by K. Narkowicz ("ACES Filmic Tone Mapping Curve", 2016):
  ``x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14)`` on ``0.6 x``, per channel.

Arrays are numpy float32 [H, W, 3] (or [..., H, W, 3]); ``hdr`` is linear radiance, ``ldr`` is
sRGB-encoded in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glowgan.metrics.dynamic_range import luminance

OPERATORS = ("clip", "reinhard", "filmic")

MID_GREY = 0.18  # exposure target of `auto_exposure_stops`

# Narkowicz 2016 ACES fit, with his 0.6 pre-scale that maps the curve's white near scene value 1/0.6.
_ACES_PRESCALE = 0.6
_ACES_A, _ACES_B, _ACES_C, _ACES_D, _ACES_E = 2.51, 0.03, 2.43, 0.59, 0.14


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer function of linear values, clipped to [0, 1]."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
    return np.clip(encoded, 0.0, 1.0).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode` on [0, 1]."""
    y = np.clip(encoded, 0.0, 1.0)
    return np.where(y <= 0.04045, y / 12.92, np.power((y + 0.055) / 1.055, 2.4)).astype(np.float32)


def auto_exposure_stops(hdr: np.ndarray, *, target: float = MID_GREY) -> float:
    """Stops that bring the log-average luminance of ``hdr`` to ``target`` (Reinhard 2002, Eq. 1 key)."""
    lum = luminance(hdr)
    lum = lum[np.isfinite(lum) & (lum > 0)]
    if lum.size == 0:
        return 0.0
    log_average = np.exp(np.mean(np.log(lum)))
    return float(np.log2(target / log_average))


def tonemap(
    hdr: np.ndarray,
    *,
    exposure_stops: float = 0.0,
    operator: str = "clip",
    white: float | None = None,
) -> np.ndarray:
    """Map linear ``hdr`` [..., H, W, 3] to sRGB-encoded ``ldr`` in [0, 1] (float32).

    ``white``: Reinhard's burn-out luminance after exposure (default: the brightest pixel).
    """
    if operator not in OPERATORS:
        raise ValueError(f"unknown tone-mapping operator {operator!r}; choose one of {', '.join(OPERATORS)}")
    exposed = np.nan_to_num(np.asarray(hdr, dtype=np.float32), nan=0.0, posinf=np.finfo(np.float32).max)
    exposed = np.clip(exposed, 0.0, None) * np.float32(2.0**exposure_stops)
    if operator == "clip":
        display = exposed
    elif operator == "reinhard":
        lum = luminance(exposed)
        white_lum = float(lum.max()) if white is None else float(white)
        white_lum = max(white_lum, 1e-12)
        mapped = lum * (1.0 + lum / white_lum**2) / (1.0 + lum)
        scale = np.divide(mapped, lum, out=np.zeros_like(lum), where=lum > 0)
        display = exposed * scale[..., None].astype(np.float32)
    else:
        x = exposed.astype(np.float64) * _ACES_PRESCALE  # float64: x**2 must not overflow
        display = x * (_ACES_A * x + _ACES_B) / (x * (_ACES_C * x + _ACES_D) + _ACES_E)
    return srgb_encode(display)


def exposure_stack(
    hdr: np.ndarray,
    stops: Sequence[float] = (-4, -2, 0, 2, 4),
    *,
    operator: str = "clip",
    gap: int = 2,
) -> np.ndarray:
    """Render one HDR image [H, W, 3] at several exposures, side by side: [H, n*W + (n-1)*gap, 3].

    Gaps are black. Exposures are relative to the image as stored (add an offset to ``stops`` to
    centre it, e.g. with :func:`auto_exposure_stops`).
    """
    if len(stops) == 0:
        raise ValueError("exposure_stack needs at least one exposure")
    if hdr.ndim != 3 or hdr.shape[-1] != 3:
        raise ValueError(f"exposure_stack expects one RGB image [H, W, 3], got shape {hdr.shape}")
    return panel_grid([[tonemap(hdr, exposure_stops=float(stop), operator=operator) for stop in stops]], gap=gap)


def panel_grid(rows: Sequence[Sequence[np.ndarray]], *, gap: int = 2, background: float = 0.0) -> np.ndarray:
    """Equally sized display images ``[H, W, 3]`` laid out in rows and columns with ``gap``-pixel gaps
    of ``background``: ``[r*H + (r-1)*gap, c*W + (c-1)*gap, 3]`` float32 (one row gives a strip)."""
    if not rows or not rows[0]:
        raise ValueError("panel_grid needs at least one panel")
    height, width = rows[0][0].shape[:2]
    columns = max(len(row) for row in rows)
    sheet = np.full(
        (len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), background, dtype=np.float32
    )
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            if panel.shape[:2] != (height, width):
                raise ValueError(f"panel_grid: panel {r},{c} is {panel.shape[:2]}, the first is {(height, width)}")
            top, left = r * (height + gap), c * (width + gap)
            sheet[top : top + height, left : left + width] = panel
    return sheet
