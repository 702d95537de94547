"""Building blocks shared by the procedural world's scene families (:mod:`glowgan.data.world`).

Small, very bright features (the sun disk and aureole, the moon, lamp heads, lightning) would be lost
or hit-or-miss when point-sampled at 32x64, where a pixel spans 5.6 degrees and the sun 0.5-2.4. They are
therefore rendered *pixel-filtered and energy-conserving*: each is a radial profile (a flat disk with a
soft edge, or a Gaussian lobe) whose width is widened by half a pixel and whose peak radiance is set
analytically so that its integral (its energy, radiance x solid angle or screen area) is the true one
at any resolution. At low resolution the sun becomes a one-or-two-pixel blob of the right total energy
(lower peak, like a real downsampled photo); at high resolution it is a crisp disk of its true radiance.
Large smooth structures are point-sampled; fractal octaves finer than about two pixels are faded out
(band-limiting), so low-resolution renders are not aliased versions of high-resolution ones.

Fractal noise (:func:`fbm`) samples one fixed value-noise lattice, part of the world's definition.
Shapes follow the world's conventions: fields ``[N, H, W]``, images ``[N, 3, H, W]``, per-image
parameters ``[N]`` broadcast with :func:`per_image` and :func:`colour`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from glowgan.metrics.dynamic_range import REC709_WEIGHTS

# The value-noise lattice: a periodic random 2-D grid shared by all scenes, blurred so that bilinear
# interpolation of it is smooth. Scenes differ by random rotations and offsets into it.
NOISE_TABLE_SIZE = 64  # cells per period along each axis
_NOISE_TABLE_BLUR = 1.0  # Gaussian blur of the lattice, in cells
_NOISE_TABLE_SEED = 20231002  # fixed: the lattice is part of the world's definition
# Octave fading: an octave keeps full weight up to this many lattice cells per pixel and is gone at twice it.
NOISE_CELLS_PER_PIXEL = 1.0

# Pixel filter: small bright features are widened by this fraction of a pixel (Gaussian sigma).
PIXEL_SIGMA = 0.5



def per_image(x: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1] for broadcasting against [N, H, W] fields."""
    return x.reshape(-1, 1, 1)


def colour(x: torch.Tensor) -> torch.Tensor:
    """[N, 3] -> [N, 3, 1, 1] for broadcasting against [N, 3, H, W] images."""
    return x.reshape(-1, 3, 1, 1)


def rgb(values: np.ndarray) -> torch.Tensor:
    """A constant colour as a ``[1, 3, 1, 1]`` float32 tensor."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 3, 1, 1)


def unit_luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Scale a linear RGB colour to luminance 1."""
    return linear_rgb / float(np.dot(linear_rgb, REC709_WEIGHTS))  # unit Rec. 709 luminance


def smoothstep(edge0: torch.Tensor | float, edge1: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def gaussian_lobe(
    dist: torch.Tensor, width: torch.Tensor, pixel: float | torch.Tensor, energy: torch.Tensor
) -> torch.Tensor:
    """Pixel-filtered Gaussian lobe with a given integral (2-D, small-angle): radiance at ``dist``.

    The lobe of standard deviation ``width`` is widened by ``PIXEL_SIGMA`` pixels (a Gaussian pixel
    filter) and its peak set to ``energy / (2 pi sigma**2)``, so its integral is ``energy`` at any
    resolution.
    """
    sigma2 = width**2 + (PIXEL_SIGMA * pixel) ** 2
    return energy / (2.0 * math.pi * sigma2) * torch.exp(-0.5 * dist**2 / sigma2)


def disk(dist: torch.Tensor, radius: torch.Tensor, pixel: float | torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Pixel-filtered flat disk with a given integral: 1 inside ``radius``, a Gaussian edge outside.

    The edge has sigma ``PIXEL_SIGMA`` pixels; the integral of the unit profile is
    ``pi r^2 + sqrt(2 pi^3) r s + 2 pi s^2`` (disk, ring and cap of the edge), so the peak is set to
    ``energy`` over that.
    """
    sigma = PIXEL_SIGMA * pixel
    area = math.pi * radius**2 + math.sqrt(2.0 * math.pi**3) * radius * sigma + 2.0 * math.pi * sigma**2
    outside = (dist - radius).clamp_min(0.0)
    return energy / area * torch.exp(-0.5 * (outside / sigma) ** 2)


def box_coverage(pos: torch.Tensor, low: torch.Tensor, high: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """Fraction of a pixel of width ``footprint`` centred at ``pos`` that lies inside [low, high] (box filter)."""
    a = pos - 0.5 * footprint
    b = pos + 0.5 * footprint
    return ((torch.minimum(b, high) - torch.maximum(a, low)).clamp_min(0.0) / footprint).clamp(0.0, 1.0)


def _periodic_pulse_integral(
    x: torch.Tensor, period: torch.Tensor, start: torch.Tensor, stop: torch.Tensor
) -> torch.Tensor:
    """Antiderivative of a periodic pulse that is 1 on [start, stop] (within each period) and 0 elsewhere."""
    cycles = torch.floor(x / period)
    phase = x - cycles * period
    return cycles * (stop - start) + (phase.clamp(start, stop) - start)


def pulse_coverage(
    x: torch.Tensor, period: torch.Tensor, start: torch.Tensor, stop: torch.Tensor, footprint: torch.Tensor
) -> torch.Tensor:
    """Box-filtered periodic pulse (e.g. window panes in a frame, lit windows in a facade)."""
    upper = _periodic_pulse_integral(x + 0.5 * footprint, period, start, stop)
    lower = _periodic_pulse_integral(x - 0.5 * footprint, period, start, stop)
    return ((upper - lower) / footprint).clamp(0.0, 1.0)


@lru_cache(maxsize=1)
def _noise_table() -> torch.Tensor:
    """The periodic value-noise lattice, ``[1, 1, S+1, S+1]``, unit variance, last row/column = first."""
    size = NOISE_TABLE_SIZE
    white = np.random.default_rng(_NOISE_TABLE_SEED).standard_normal((size, size))
    freq = np.fft.fftfreq(size)
    fx, fy = np.meshgrid(freq, freq, indexing="ij")
    transfer = np.exp(-2.0 * (math.pi * _NOISE_TABLE_BLUR) ** 2 * (fx**2 + fy**2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(white) * transfer))
    smooth = (smooth - smooth.mean()) / smooth.std()
    return torch.from_numpy(np.pad(smooth, ((0, 1), (0, 1)), mode="wrap").astype(np.float32))[None, None]


# Fixed per-octave offsets (in cells) decorrelate octaves sampled from the same lattice.
_OCTAVE_SHIFT = torch.tensor([[0.0, 0.0], [11.3, 45.7], [23.9, 17.2], [37.6, 29.8], [52.1, 3.7], [19.4, 55.1]])
MAX_OCTAVES = len(_OCTAVE_SHIFT)


def fbm(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    cells_per_pixel: torch.Tensor | float,
    octaves: int,
    gain: float = 0.5,
) -> torch.Tensor:
    """Band-limited fractal value noise at lattice coordinates ``x, y`` (same shape, e.g. ``[N, H, W]``).

    Periodic with period ``NOISE_TABLE_SIZE`` cells in both coordinates. Octave ``o`` samples the
    lattice at ``2**o`` times the coordinates, with amplitude ``gain**o``. ``cells_per_pixel``
    (broadcastable to ``x``) is how many lattice cells the base octave moves per pixel; each octave
    fades out where it would change faster than about two pixels per feature, so the noise is the
    same large-scale pattern at every resolution, without aliasing.
    """
    shape = x.shape
    size = NOISE_TABLE_SIZE
    cpp = torch.as_tensor(cells_per_pixel, dtype=torch.float32).expand(shape).reshape(-1)
    grids, weights = [], []
    for octave in range(octaves):
        weight = (2.0 - cpp * (2.0**octave / NOISE_CELLS_PER_PIXEL)).clamp(0.0, 1.0)
        if octave > 0 and not bool((weight > 0).any()):
            break
        scale = 2.0**octave
        gx = torch.remainder(x.reshape(-1) * scale + _OCTAVE_SHIFT[octave, 0], size)
        gy = torch.remainder(y.reshape(-1) * scale + _OCTAVE_SHIFT[octave, 1], size)
        grids.append(torch.stack((gx, gy), dim=-1))
        weights.append(weight * gain**octave)
    grid = torch.stack(grids).unsqueeze(0) * (2.0 / size) - 1.0  # [1, O, M, 2]
    samples = F.grid_sample(_noise_table(), grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]
    # Accumulate in octave order: octaves a batch adds for other images have weight 0 here and add exact
    # zeros, so each image's noise does not depend on the rest of the batch.
    total = samples[0] * weights[0]
    for octave in range(1, len(weights)):
        total = total + samples[octave] * weights[octave]
    return total.reshape(shape)


def rotate2d(angle: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate 2-D coordinate fields by per-image angles ``[N]`` (radians)."""
    c, s = torch.cos(per_image(angle)), torch.sin(per_image(angle))
    return c * x - s * y, s * x + c * y


# --------------------------------------------------------------------------------------------------
# Colours and silhouettes shared by several families
# --------------------------------------------------------------------------------------------------

# Colours (linear RGB, luminance 1) of a clear day sky, also seen outside the window family's windows.
# Chosen by eye to resemble analytic sky models.
ZENITH_DAY = unit_luminance(np.array([0.30, 0.50, 1.00]))
HORIZON_DAY = unit_luminance(np.array([0.78, 0.88, 1.00]))
SUN_DAY = unit_luminance(np.array([1.00, 0.96, 0.88]))
# Ground albedos (linear RGB reflectance): grass, dry grass, sand, rock, snow, dark forest.
GROUND_ALBEDOS = np.array(
    [
        [0.06, 0.10, 0.03],
        [0.20, 0.16, 0.08],
        [0.38, 0.31, 0.20],
        [0.14, 0.13, 0.12],
        [0.75, 0.78, 0.82],
        [0.04, 0.06, 0.03],
    ]
)
FOREST_ALBEDO = np.array([0.035, 0.05, 0.025])  # dark vegetation / rock seen in its own shade
HORIZON_HARMONICS = 48  # Fourier terms of the silhouette (periodic in azimuth by construction)
