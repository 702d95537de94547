"""Camera response curves (CRFs): exposed, clipped linear values in [0, 1] -> LDR values in [0, 1].

Each family has a forward curve and its exact inverse; :mod:`glowgan.camera` picks the family per image
and broadcasts the per-image parameters (``gamma``, ``beta`` ``[N, 1, ...]``; ``coeffs`` ``[N, K]``).

Families (``FAMILIES``):

- ``"glowgan"``: ``(1 + beta) x**gamma / (x**gamma + beta)``, the official GlowGAN code's curve.
- ``"gamma"``: ``x ** (1 / gamma)``, a display gamma.
- ``"linear"``: ``x``.
- ``"srgb"``: the sRGB transfer function of IEC 61966-2-1 (linear below 0.0031308, then
  ``1.055 x**(1/2.4) - 0.055``), what most JPEGs are encoded with. No parameters.
- ``"filmic"``: Hable's filmic S-curve (J. Hable, "Filmic Tonemapping Operators", 2010: shoulder
  strength 0.15, linear strength 0.50, linear angle 0.10, toe strength 0.20, toe numerator 0.02, toe
  denominator 0.30, linear white point 11.2), with the clip point of the sensor mapped to the white
  point, then a display gamma ``gamma``: ``(H(11.2 x) / H(11.2)) ** (1 / gamma)``. Its toe darkens
  shadows and its shoulder compresses highlights, as film-like in-camera processing does. The inverse
  solves the curve's quadratic.
- ``"pca"``: a data-driven family in the manner of EMoR (Grossberg & Nayar, "Modeling the Space of
  Camera Response Functions", PAMI 2004): a mean curve plus ``PCA_COMPONENTS`` principal components,
  ``f = f0 + sum_k c_k h_k``, tabulated on ``PCA_KNOTS`` points of [0, 1] and interpolated linearly.
  EMoR's own data (fitted to the 201 measured curves of DoRF) is not in any package on the index, so
  the basis is fitted here, at first use and deterministically, to a corpus of curves that spans the
  families above: sRGB, display gammas 1.6-2.8, GlowGAN curves (gamma 0.6-1.2, beta 0.2-1.4), Hable
  filmic curves (white points 4-16, display gammas 2.0-2.4), and the ACES filmic fit (Narkowicz 2015)
  and Reinhard's extended operator (Reinhard et al. 2002, Eq. 4) at white points 2-16, sRGB-encoded.
  Each group weighs the same. A drawn curve is made strictly increasing from 0 to 1 (each segment's
  slope at least 0.005, then rescaled to end at 1), so the piecewise-linear curve has an exact
  piecewise-linear inverse; the table is built and looked up in float64.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

FAMILIES = ("glowgan", "gamma", "linear", "srgb", "filmic", "pca")

# Lower bound applied before fractional powers: keeps x**gamma differentiable (finite gradient) at 0.
POW_EPS = 1e-8

PCA_COMPONENTS = 5
PCA_KNOTS = 1024
# Least slope of a tabulated curve (x and y both span [0, 1]); the flattest curve of the corpus (the ACES
# fit at a white point of 16, near the clip point) has 0.0064. Keeps every drawn curve invertible.
_PCA_MIN_SLOPE = 0.005

# IEC 61966-2-1 (sRGB) transfer function.
_SRGB_LINEAR_LIMIT = 0.0031308
_SRGB_CODE_LIMIT = 0.04045
_SRGB_SLOPE = 12.92

# Hable 2010, the "Uncharted 2" constants: A shoulder strength, B linear strength, C linear angle,
# D toe strength, E toe numerator, F toe denominator, W linear white point.
_HABLE = (0.15, 0.50, 0.10, 0.20, 0.02, 0.30)
_HABLE_WHITE = 11.2


def forward(family: str, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, coeffs: torch.Tensor | None):
    """The curve of ``family`` at ``x`` in [0, 1] (``gamma``/``beta`` broadcast against ``x``)."""
    if family == "linear":
        return x
    if family == "gamma":
        return x.clamp_min(POW_EPS).pow(1.0 / gamma)
    if family == "glowgan":
        powered = x.clamp_min(POW_EPS).pow(gamma)
        return (1.0 + beta) * powered / (powered + beta)  # official code's CRF
    if family == "srgb":
        return srgb_encode(x)
    if family == "filmic":
        return (_hable(x * _HABLE_WHITE) / _hable_white()).clamp(0.0, 1.0).clamp_min(POW_EPS).pow(1.0 / gamma)
    if family == "pca":
        return _table_lookup(pca_table(coeffs), x)
    raise ValueError(f"camera crf {family!r} is unknown; choose one of {', '.join(FAMILIES)}")


def inverse(family: str, y: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, coeffs: torch.Tensor | None):
    """Exact inverse of :func:`forward` for LDR values ``y`` in [0, 1]; an LDR 0 maps to exactly 0."""
    if family == "linear":
        return y
    lit = y > 0  # an LDR 0 is black: exactly 0 linear, not the pow epsilon raised to a power
    if family == "gamma":
        return y.clamp_min(POW_EPS).pow(gamma) * lit
    if family == "glowgan":
        ratio = beta * y / (1.0 + beta - y)  # denominator >= beta > 0 on [0, 1]
        return ratio.clamp_min(POW_EPS).pow(1.0 / gamma).clamp(0.0, 1.0) * lit
    if family == "srgb":
        return srgb_decode(y)
    if family == "filmic":
        target = y.double().clamp_min(POW_EPS).pow(gamma.double()) * _hable_white()
        return (_hable_inverse(target) / _HABLE_WHITE).clamp(0.0, 1.0).to(y.dtype) * lit
    if family == "pca":
        return _table_lookup_inverse(pca_table(coeffs), y) * lit
    raise ValueError(f"camera crf {family!r} is unknown; choose one of {', '.join(FAMILIES)}")


def srgb_encode(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1: linear [0, 1] -> sRGB-encoded [0, 1]."""
    curved = 1.0 + 1.055 * (x.clamp_min(_SRGB_LINEAR_LIMIT).pow(1 / 2.4) - 1.0)  # 1.055 x^(1/2.4) - 0.055; 1 -> 1 exactly
    return torch.where(x <= _SRGB_LINEAR_LIMIT, _SRGB_SLOPE * x, curved)


def srgb_decode(y: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1: sRGB-encoded [0, 1] -> linear [0, 1] (exact inverse of :func:`srgb_encode`)."""
    curved = ((y.clamp_min(_SRGB_CODE_LIMIT) - 1.0) / 1.055 + 1.0).pow(2.4)  # ((y + 0.055) / 1.055)^2.4
    return torch.where(y <= _SRGB_CODE_LIMIT, y / _SRGB_SLOPE, curved)


def _hable(s: torch.Tensor | float):
    """Hable's ``(s(As+CB)+DE) / (s(As+B)+DF) - E/F``, put over one denominator so that nothing cancels
    near 0 (float32 keeps its relative precision in the deep shadows)."""
    a, b, c, d, e, f = _HABLE
    return s * (a * (f - e) * s + b * (c * f - e)) / (f * (s * (a * s + b) + d * f))


def _hable_white() -> float:
    return float(_hable(_HABLE_WHITE))


def _hable_inverse(h: torch.Tensor) -> torch.Tensor:
    """Solve ``_hable(s) = h`` for ``s >= 0``: the positive root of ``A(1-v) s^2 + B(C-v) s + D(E-vF) = 0``."""
    a, b, c, d, e, f = _HABLE
    v = h + e / f  # < 1 - ... on the curve's range, so the quadratic term stays positive
    qa = a * (1.0 - v)
    qb = b * (c - v)
    qc = d * (e - v * f)
    root = (qb * qb - 4.0 * qa * qc).clamp_min(0.0).sqrt()
    # qc <= 0 < qa: one root >= 0; written without cancellation for either sign of qb
    stable = torch.where(qb > 0, 2.0 * qc / (-qb - root).clamp_max(-1e-30), (-qb + root) / (2.0 * qa))
    return stable.clamp_min(0.0)


def _table_lookup(table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear curves ``table`` [N, K] on a uniform grid of [0, 1], evaluated at ``x`` [N, ...]."""
    knots = table.shape[1]
    flat = x.reshape(x.shape[0], -1).to(table.dtype).clamp(0.0, 1.0) * (knots - 1)
    low = flat.detach().floor().clamp(max=knots - 2).long()
    frac = flat - low
    y0 = torch.gather(table, 1, low)
    y1 = torch.gather(table, 1, low + 1)
    return (y0 + frac * (y1 - y0)).reshape(x.shape).to(x.dtype)


def _table_lookup_inverse(table: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_table_lookup` for strictly increasing tables, clamped to [0, 1]."""
    knots = table.shape[1]
    flat = y.reshape(y.shape[0], -1).to(table.dtype).clamp(0.0, 1.0).contiguous()
    high = torch.searchsorted(table.detach().contiguous(), flat.detach()).clamp(1, knots - 1)
    y0 = torch.gather(table, 1, high - 1)
    y1 = torch.gather(table, 1, high)
    t = ((flat - y0) / (y1 - y0)).clamp(0.0, 1.0)
    return ((high - 1 + t) / (knots - 1)).reshape(y.shape).to(y.dtype)


def pca_table(coeffs: torch.Tensor) -> torch.Tensor:
    """Coefficients [N, PCA_COMPONENTS] -> strictly increasing tabulated curves [N, PCA_KNOTS] (float64)
    from exactly 0 to exactly 1."""
    mean, basis, _ = pca_basis()
    coeffs = coeffs.to(torch.float64)
    curves = mean.to(coeffs) + coeffs @ basis.to(coeffs)
    steps = curves.diff(dim=1).clamp_min(_PCA_MIN_SLOPE / (PCA_KNOTS - 1))
    table = torch.cat([steps.new_zeros(len(steps), 1), steps.cumsum(dim=1)], dim=1)
    return table / table[:, -1:]


def pca_project(table: torch.Tensor) -> torch.Tensor:
    """Curves tabulated on ``PCA_KNOTS`` points of [0, 1], ``[N, PCA_KNOTS]`` -> the least-squares
    ``pca`` coefficients ``[N, PCA_COMPONENTS]`` (the basis is orthonormal: a projection)."""
    mean, basis, _ = pca_basis()
    return ((table.to(torch.float64) - mean.to(table.device)) @ basis.to(table.device).T).to(table.dtype)


@lru_cache(maxsize=1)
def pca_basis() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean curve [PCA_KNOTS] and components [PCA_COMPONENTS, PCA_KNOTS] (float64), and the coefficient
    std of the corpus per component [PCA_COMPONENTS] (float32; the ``pca`` prior); see the module docstring."""
    grid = np.linspace(0.0, 1.0, PCA_KNOTS)
    groups = _pca_corpus(grid)
    weights = np.concatenate([np.full(len(g), 1.0 / (len(groups) * len(g))) for g in groups])
    curves = np.concatenate(groups)
    mean = weights @ curves
    centred = (curves - mean) * np.sqrt(weights)[:, None]
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:PCA_COMPONENTS]
    # fix each component's sign (SVD leaves it open): its largest entry is positive
    signs = np.sign(basis[np.arange(PCA_COMPONENTS), np.abs(basis).argmax(axis=1)])
    basis = basis * signs[:, None]
    stds = singular[:PCA_COMPONENTS]  # weights sum to 1: these are the weighted coefficient stds
    return torch.from_numpy(mean), torch.from_numpy(basis), torch.from_numpy(stds).float()


def _pca_corpus(grid: np.ndarray) -> list[np.ndarray]:
    """Groups of curves [M, K] on ``grid`` that the ``pca`` family is fitted to (module docstring)."""
    x = torch.tensor(grid, dtype=torch.float64)[None]
    ones = torch.ones(1, 1, dtype=torch.float64)

    def curve(family: str, gamma: float = 1.0, beta: float = 1.0) -> np.ndarray:
        return forward(family, x, gamma * ones, beta * ones, None)[0].numpy()

    def normalised(operator, white: float) -> np.ndarray:
        return srgb_encode(operator(x * white) / operator(torch.tensor(white, dtype=torch.float64)))[0].numpy()

    def aces(s):  # Narkowicz 2015 fit of the ACES filmic curve
        return s * (2.51 * s + 0.03) / (s * (2.43 * s + 0.59) + 0.14)

    whites = (2.0, 4.0, 8.0, 16.0)
    return [
        np.stack([curve("srgb")]),
        np.stack([curve("gamma", g) for g in np.linspace(1.6, 2.8, 13)]),
        np.stack([curve("glowgan", g, b) for g in np.linspace(0.6, 1.2, 7) for b in np.linspace(0.2, 1.4, 7)]),
        np.stack([_hable_curve(x, w, g) for w in (4.0, 6.0, 8.0, _HABLE_WHITE, 16.0) for g in (2.0, 2.2, 2.4)]),
        np.stack([normalised(aces, w) for w in whites]),
        np.stack([normalised(lambda s, w=w: s * (1 + s / w**2) / (1 + s), w) for w in whites]),
    ]


def _hable_curve(x: torch.Tensor, white: float, gamma: float) -> np.ndarray:
    return (_hable(x * white) / float(_hable(white))).clamp(0.0, 1.0).pow(1.0 / gamma)[0].numpy()


def rmse(curve_a: torch.Tensor, curve_b: torch.Tensor) -> float:
    """Root-mean-square difference of two curves sampled on the same grid of [0, 1]."""
    return math.sqrt(float((curve_a.double() - curve_b.double()).square().mean()))
