"""A procedural HDR world: scene families rendered directly in linear HDR, the ground truth.

GlowGAN (Wang et al., ICCV 2023) learns HDR from LDR photos alone, and in-the-wild photos have no HDR
ground truth, so nobody can measure how much dynamic range a model really recovers. These scene
families are that ground truth: each image is a deterministic function of its seed, rendered in linear
radiance at any resolution, and :mod:`glowgan.data.synth` photographs them into an LDR collection.

Families (``FAMILIES``):

- ``"sky"``: equirectangular outdoor panoramas (2:1, wrapping around horizontally). Version 2 (the
  default) is :mod:`glowgan.data.sky`: a Preetham et al. 1999 clear sky, a physically attenuated,
  limb-darkened sun, optically thick clouds with lit edges and silver linings, aerial perspective
  and a sky-lit ground. Version 1, described here and rendered by this module: an analytic sky
  gradient that changes from day to sunset with the sun's elevation (10 % of suns are just below the
  horizon: twilight), a sun disk 0.5-2.4 degrees across and 3x10^3-3x10^5 times brighter than the
  zenith sky (the real sun: about 2x10^5) inside a circumsolar aureole (three Gaussian lobes of 1, 3.5
  and 10 degrees, peaking 10^1-10^3.5 times the sky) and a broad Mie glow, fractal clouds on a cloud
  plane seen in perspective, lit by the sun (brighter towards it) and dimming the sun behind them, and
  a darker ground (grass, sand, rock, snow with dark woods in shade) below a mountain / tree-line
  silhouette, lit by sun and sky and fading into aerial haze towards the horizon.
- ``"window"``: a ray-cast box room (walls, floor, ceiling, box furniture) lit through one or two
  windows (with mullions) that show a bright exterior (sky, clouds, skyline, sometimes the sun),
  with direct sun patches where sunlight falls through a window, window light falling off with
  distance and angle, and a uniform inter-reflection term.
- ``"night"``: a dark street or skyline: a night sky with light-pollution glow, sometimes a moon and
  a lightning bolt, building silhouettes with grids of lit windows, and street lamps whose heads are
  far brighter than anything around them, with halos and pools of light on the ground.

Versions (``WORLD_VERSIONS``): a change that alters the images a seed renders becomes a new version,
and the old one stays selectable (``render_scenes(..., version=1)``), bit for bit, so sets made with
it remain reproducible. Version 2 replaced the ``sky`` family; ``window`` and ``night`` are the same in
both versions.

Conventions:

- Radiance is in "scene units": a mid-grey diffuse surface in daylight is roughly 0.2-1, the clear
  zenith sky about 1. Night and interior scenes are correspondingly dimmer. Photographs meter the
  scene anyway (:mod:`glowgan.data.synth`).
- Arrays are ``[N, H, W, 3]`` float32 linear radiance >= 0 (:func:`render_scenes`).
- Image ``i`` depends only on its seed: its parameters come from ``np.random.default_rng(seed)`` and
  the rendering is element-wise per image (no reductions across images or pixels). The same seeds at
  the same size give the same bytes; an image rendered alone or in another batch is the same up to
  float rounding (PyTorch's vectorised and scalar loops may round ``exp``/``sin`` differently, about
  1e-6 relative, depending on where a pixel falls in memory), and usually bit-identical.
- Equirectangular geometry: column centre ``u = (j + 0.5) / W`` maps to azimuth ``2 pi u - pi``
  (column 0 starts at -180 degrees; the image centre looks along +z), row centre ``v = (i + 0.5) / H``
  to elevation ``pi / 2 - pi v`` (row 0 at the zenith); direction ``(cos el sin az, sin el,
  cos el cos az)`` with y up. Everything in ``sky`` is a function of the direction vector (or a periodic
  function of azimuth), so the left and right edges continue each other by construction.

Small, very bright features (the sun disk and aureole, the moon, lamp heads, lightning) would be lost
or hit-or-miss when point-sampled at 32x64, where a pixel spans 5.6 degrees and the sun 0.5-2.4. They are
therefore rendered *pixel-filtered and energy-conserving*: each is a radial profile (a flat disk with a
soft edge, or a Gaussian lobe) whose width is widened by half a pixel and whose peak radiance is set
analytically so that its integral (its energy, radiance x solid angle or screen area) is the true one
at any resolution. At low resolution the sun becomes a one-or-two-pixel blob of the right total energy
(lower peak, like a real downsampled photo); at high resolution it is a crisp disk of its true radiance.
Large smooth structures are point-sampled; fractal octaves finer than about two pixels are faded out
(band-limiting), so low-resolution renders are not aliased versions of high-resolution ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FAMILIES = ("sky", "window", "night")

# A new version whenever a change alters the images a seed renders; synthetic sets record it, so a set
# made with another version is not silently resumed with different scenes. Every version stays
# renderable; WORLD_VERSION, the latest, is the default.
WORLD_VERSIONS = (1, 2)
WORLD_VERSION = 2

# Largest number of pixels rendered at once; bigger requests are split into chunks of whole images
# (results are identical, since every image is rendered independently).
DEFAULT_CHUNK_PIXELS = 1 << 20

# The value-noise lattice: a periodic random 2-D grid shared by all scenes, blurred so that bilinear
# interpolation of it is smooth. Scenes differ by random rotations and offsets into it.
_NOISE_TABLE_SIZE = 64  # cells per period along each axis
_NOISE_TABLE_BLUR = 1.0  # Gaussian blur of the lattice, in cells
_NOISE_TABLE_SEED = 20231002  # fixed: the lattice is part of the world's definition
# Octave fading: an octave keeps full weight up to this many lattice cells per pixel and is gone at twice it.
_NOISE_CELLS_PER_PIXEL = 1.0

# Pixel filter: small bright features are widened by this fraction of a pixel (Gaussian sigma).
_PIXEL_SIGMA = 0.5

# Rec. 709 luminance weights, used to give colours a unit luminance.
_LUMA = (0.2126, 0.7152, 0.0722)


def render_scenes(
    family: str,
    seeds: Sequence[int],
    *,
    height: int,
    width: int,
    version: int = WORLD_VERSION,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
) -> np.ndarray:
    """Render one scene per seed in linear HDR: ``[N, height, width, 3]`` float32, radiance >= 0.

    ``family``: one of :data:`FAMILIES`. ``seeds``: non-negative integers; image ``i`` depends only on
    ``seeds[i]`` and the size (up to float rounding across batch compositions, see the module
    docstring). ``sky`` is an equirectangular panorama and is meant for 2:1 sizes (other sizes stretch
    it); ``window`` and ``night`` are perspective views of any aspect ratio. ``version``: one of
    :data:`WORLD_VERSIONS` (``sky`` differs between them). ``chunk_pixels`` bounds memory: at most that
    many pixels are rendered at once.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown scene family {family!r}; choose one of {', '.join(FAMILIES)}")
    if isinstance(version, bool) or version not in WORLD_VERSIONS:
        raise ValueError(
            f"unknown world version {version!r}; choose one of {', '.join(map(str, WORLD_VERSIONS))}"
        )
    if height < 1 or width < 1:
        raise ValueError(f"image size must be at least 1x1 pixels, got {height}x{width}")
    seeds = [int(seed) for seed in seeds]
    if any(seed < 0 for seed in seeds):
        raise ValueError("scene seeds must be non-negative integers")
    out = np.empty((len(seeds), height, width, 3), dtype=np.float32)
    per_chunk = max(1, chunk_pixels // (height * width))
    draw, render = _family_functions(family, version)
    with torch.inference_mode():
        for start in range(0, len(seeds), per_chunk):
            chunk = seeds[start : start + per_chunk]
            params = _stack([draw(np.random.default_rng(seed)) for seed in chunk])
            hdr = render(params, height, width)  # [n, 3, H, W], linear, >= 0
            out[start : start + len(chunk)] = hdr.clamp_min(0.0).permute(0, 2, 3, 1).numpy()
    return out


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _stack(draws: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Per-image parameter dicts -> dict of float32 tensors ``[N, ...]``."""
    return {key: torch.from_numpy(np.stack([np.asarray(d[key], dtype=np.float32) for d in draws])) for key in draws[0]}


def _per_image(x: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1] for broadcasting against [N, H, W] fields."""
    return x.reshape(-1, 1, 1)


def _colour(x: torch.Tensor) -> torch.Tensor:
    """[N, 3] -> [N, 3, 1, 1] for broadcasting against [N, 3, H, W] images."""
    return x.reshape(-1, 3, 1, 1)


def _rgb(colour: np.ndarray) -> torch.Tensor:
    """A constant colour as a ``[1, 3, 1, 1]`` float32 tensor."""
    return torch.tensor(colour, dtype=torch.float32).reshape(1, 3, 1, 1)


def _unit_luminance(rgb: np.ndarray) -> np.ndarray:
    """Scale a linear RGB colour to luminance 1."""
    return rgb / float(np.dot(rgb, _LUMA))


def _smoothstep(edge0: torch.Tensor | float, edge1: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _gaussian_lobe(
    dist: torch.Tensor, width: torch.Tensor, pixel: float | torch.Tensor, energy: torch.Tensor
) -> torch.Tensor:
    """Pixel-filtered Gaussian lobe with a given integral (2-D, small-angle): radiance at ``dist``.

    The lobe of standard deviation ``width`` is widened by ``_PIXEL_SIGMA`` pixels (a Gaussian pixel
    filter) and its peak set to ``energy / (2 pi sigma**2)``, so its integral is ``energy`` at any
    resolution.
    """
    sigma2 = width**2 + (_PIXEL_SIGMA * pixel) ** 2
    return energy / (2.0 * math.pi * sigma2) * torch.exp(-0.5 * dist**2 / sigma2)


def _disk(dist: torch.Tensor, radius: torch.Tensor, pixel: float | torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Pixel-filtered flat disk with a given integral: 1 inside ``radius``, a Gaussian edge outside.

    The edge has sigma ``_PIXEL_SIGMA`` pixels; the integral of the unit profile is
    ``pi r^2 + sqrt(2 pi^3) r s + 2 pi s^2`` (disk, ring and cap of the edge), so the peak is set to
    ``energy`` over that.
    """
    sigma = _PIXEL_SIGMA * pixel
    area = math.pi * radius**2 + math.sqrt(2.0 * math.pi**3) * radius * sigma + 2.0 * math.pi * sigma**2
    outside = (dist - radius).clamp_min(0.0)
    return energy / area * torch.exp(-0.5 * (outside / sigma) ** 2)


def _box_coverage(pos: torch.Tensor, low: torch.Tensor, high: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
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


def _pulse_coverage(
    x: torch.Tensor, period: torch.Tensor, start: torch.Tensor, stop: torch.Tensor, footprint: torch.Tensor
) -> torch.Tensor:
    """Box-filtered periodic pulse (e.g. window panes in a frame, lit windows in a facade)."""
    upper = _periodic_pulse_integral(x + 0.5 * footprint, period, start, stop)
    lower = _periodic_pulse_integral(x - 0.5 * footprint, period, start, stop)
    return ((upper - lower) / footprint).clamp(0.0, 1.0)


@lru_cache(maxsize=1)
def _noise_table() -> torch.Tensor:
    """The periodic value-noise lattice, ``[1, 1, S+1, S+1]``, unit variance, last row/column = first."""
    size = _NOISE_TABLE_SIZE
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


def _fbm(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    cells_per_pixel: torch.Tensor | float,
    octaves: int,
    gain: float = 0.5,
) -> torch.Tensor:
    """Band-limited fractal value noise at lattice coordinates ``x, y`` (same shape, e.g. ``[N, H, W]``).

    Periodic with period ``_NOISE_TABLE_SIZE`` cells in both coordinates. Octave ``o`` samples the
    lattice at ``2**o`` times the coordinates, with amplitude ``gain**o``. ``cells_per_pixel``
    (broadcastable to ``x``) is how many lattice cells the base octave moves per pixel; each octave
    fades out where it would change faster than about two pixels per feature, so the noise is the
    same large-scale pattern at every resolution, without aliasing.
    """
    shape = x.shape
    size = _NOISE_TABLE_SIZE
    cpp = torch.as_tensor(cells_per_pixel, dtype=torch.float32).expand(shape).reshape(-1)
    grids, weights = [], []
    for octave in range(octaves):
        weight = (2.0 - cpp * (2.0**octave / _NOISE_CELLS_PER_PIXEL)).clamp(0.0, 1.0)
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


def _rotate2d(angle: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate 2-D coordinate fields by per-image angles ``[N]`` (radians)."""
    c, s = torch.cos(_per_image(angle)), torch.sin(_per_image(angle))
    return c * x - s * y, s * x + c * y


# --------------------------------------------------------------------------------------------------
# sky: equirectangular outdoor panoramas
# --------------------------------------------------------------------------------------------------

# Colours (linear RGB, luminance 1) of the clear sky. Chosen by eye to resemble analytic sky models.
_ZENITH_DAY = _unit_luminance(np.array([0.30, 0.50, 1.00]))
_ZENITH_DUSK = _unit_luminance(np.array([0.22, 0.28, 0.60]))
_HORIZON_DAY = _unit_luminance(np.array([0.78, 0.88, 1.00]))
_HORIZON_DUSK_AWAY = _unit_luminance(np.array([0.60, 0.55, 0.70]))
_HORIZON_DUSK_SUN = _unit_luminance(np.array([1.00, 0.48, 0.18]))
_SUN_DAY = _unit_luminance(np.array([1.00, 0.96, 0.88]))
_SUN_DUSK = _unit_luminance(np.array([1.00, 0.50, 0.20]))
# Ground albedos (linear RGB reflectance): grass, dry grass, sand, rock, snow, dark forest.
_GROUND_ALBEDOS = np.array(
    [
        [0.06, 0.10, 0.03],
        [0.20, 0.16, 0.08],
        [0.38, 0.31, 0.20],
        [0.14, 0.13, 0.12],
        [0.75, 0.78, 0.82],
        [0.04, 0.06, 0.03],
    ]
)
_FOREST_ALBEDO = np.array([0.035, 0.05, 0.025])  # dark vegetation / rock seen in its own shade
_HORIZON_HARMONICS = 48  # Fourier terms of the silhouette (periodic in azimuth by construction)
_CLOUD_EPS = 0.06  # cloud plane: coordinates (x, z) / (y + eps); eps bounds the stretch at the horizon
_GROUND_EPS = 0.03


def _draw_sky(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one sky panorama: sun (10 % just below the horizon), sky, clouds (25 % clear), ground."""
    deg = math.pi / 180.0
    twilight = rng.random() < 0.1
    if twilight:
        sun_el = -rng.uniform(0.5, 6.0) * deg
    else:
        sun_el = (0.5 + 64.5 * rng.random() ** 1.4) * deg
    dusk = float(np.clip(1.0 - sun_el / (15.0 * deg), 0.0, 1.0))
    clear = rng.random() < 0.25
    cover = 0.0 if clear else float(rng.uniform(0.05, 1.0) ** 1.6)
    ground = _GROUND_ALBEDOS[rng.integers(len(_GROUND_ALBEDOS))] * rng.uniform(0.7, 1.3, size=3)
    mountain_amp = _log_uniform(rng, 0.01, 0.2)
    harmonics = np.arange(1, _HORIZON_HARMONICS + 1)
    horizon_amp = mountain_amp * harmonics**-1.2 * rng.standard_normal(_HORIZON_HARMONICS)
    return {
        "sun_az": rng.uniform(-math.pi, math.pi),
        "sun_el": sun_el,
        "dusk": dusk,
        "sun_radius": _log_uniform(rng, 0.27, 1.2) * deg,
        "sun_ratio": 10.0 ** rng.uniform(3.5, 5.5),  # disk radiance / zenith sky radiance (real sun: ~2e5)
        "aureole": 10.0 ** rng.uniform([2.5, 2.0, 1.0], [3.5, 3.0, 1.7]),  # lobe peaks / zenith sky
        "aureole_width": np.array([1.0, 3.5, 10.0]) * deg * rng.uniform(0.8, 1.3, size=3),
        "mie": rng.uniform(0.3, 2.0),
        "mie_width": rng.uniform(0.2, 0.5),
        "horizon_width": rng.uniform(0.12, 0.4),
        "sky_tint": rng.uniform(0.9, 1.1, size=3),
        "sun_irradiance": rng.uniform(2.0, 7.0),  # direct sun on a horizontal surface / sky ambient
        "ambient": rng.uniform(0.6, 1.2),
        "cover": cover,
        "cloud_soft": rng.uniform(0.2, 0.7),
        "cloud_scale": _log_uniform(rng, 1.0, 4.0),
        "cloud_depth": rng.uniform(2.0, 8.0),
        "cloud_bright": rng.uniform(0.8, 1.5),
        "cloud_angle": rng.uniform(0.0, 2.0 * math.pi),
        "cloud_offset": rng.uniform(0.0, _NOISE_TABLE_SIZE, size=2),
        "ground_albedo": ground,
        "ground_scale": _log_uniform(rng, 4.0, 16.0),
        "ground_offset": rng.uniform(0.0, _NOISE_TABLE_SIZE, size=2),
        "forest": rng.uniform(-0.6, 0.5),  # threshold of woods / rocks in shade; higher: fewer
        "forest_albedo": _FOREST_ALBEDO * rng.uniform(0.5, 1.5) * rng.uniform(0.8, 1.2, size=3),
        "forest_shade": rng.uniform(0.15, 0.6),  # light under the canopy / open-sky ambient
        "visibility": _log_uniform(rng, 30.0, 400.0),  # in camera heights
        "horizon_base": rng.uniform(-0.03, 0.04),
        "horizon_amp": horizon_amp,
        "horizon_phase": rng.uniform(0.0, 2.0 * math.pi, size=_HORIZON_HARMONICS),
        "mountain_haze": rng.uniform(0.15, 0.8),
        "mountain_albedo": rng.uniform(0.05, 0.25) * rng.uniform(0.85, 1.15, size=3),
    }


def _render_sky(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Equirectangular sky panoramas ``[N, 3, H, W]``; see the module docstring for the geometry."""
    el = (math.pi / 2 - math.pi * (torch.arange(height) + 0.5) / height).reshape(1, height, 1)
    az = (2.0 * math.pi * (torch.arange(width) + 0.5) / width - math.pi).reshape(1, 1, width)
    dx = torch.cos(el) * torch.sin(az)  # [1, H, W]
    dy = torch.sin(el).expand(1, height, width)
    dz = torch.cos(el) * torch.cos(az)
    pixel = max(math.pi / height, 2.0 * math.pi / width)  # angular pixel size (radians)

    sun_el, sun_az = _per_image(p["sun_el"]), _per_image(p["sun_az"])
    sx, sy, sz = torch.cos(sun_el) * torch.sin(sun_az), torch.sin(sun_el), torch.cos(sun_el) * torch.cos(sun_az)
    chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
    theta = 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))  # [N, H, W] angle to the sun

    dusk = _per_image(p["dusk"])
    day_level = torch.where(
        sun_el > 0, 0.25 + 0.75 * torch.sin(sun_el.clamp_min(0)).sqrt(), 0.25 * torch.exp(sun_el / 0.05)
    )
    sun_side = (0.5 + 0.5 * torch.cos(az - sun_az)) ** 2  # [N, 1, W]

    # Clear sky: zenith -> horizon gradient, redder towards the sun at dusk, plus a broad Mie glow.
    grad = torch.exp(-dy.clamp_min(0.0) / _per_image(p["horizon_width"]))
    zenith = _mix(_rgb(_ZENITH_DAY), _rgb(_ZENITH_DUSK), dusk.unsqueeze(1))  # [N, 3, 1, 1]
    horizon_dusk = _mix(_rgb(_HORIZON_DUSK_AWAY), _rgb(_HORIZON_DUSK_SUN), sun_side.unsqueeze(1))
    horizon = _mix(_rgb(_HORIZON_DAY), horizon_dusk, dusk.unsqueeze(1))  # [N, 3, 1, W]
    mie = 1.0 + _per_image(p["mie"]) * torch.exp(-theta / _per_image(p["mie_width"]))
    sun_colour = _mix(_rgb(_SUN_DAY), _rgb(_SUN_DUSK), dusk.unsqueeze(1))  # [N, 3, 1, 1]
    level = day_level.unsqueeze(1)  # [N, 1, 1, 1], zenith luminance
    warm = 0.6 * torch.exp(-theta / 0.6).unsqueeze(1)  # sky takes on the sun's colour near it
    sky = (
        level
        * _colour(p["sky_tint"])
        * _mix(zenith, horizon, grad.unsqueeze(1))
        * _mix(torch.ones(1, 3, 1, 1), sun_colour, warm)
        * mie.unsqueeze(1)
    )

    # Clouds on a plane above the camera (perspective towards the horizon), lit by sun and sky.
    plane = 1.0 / (dy + _CLOUD_EPS).clamp_min(_CLOUD_EPS * 0.5)
    scale = _per_image(p["cloud_scale"])
    cx, cz = _rotate2d(p["cloud_angle"], dx * plane * scale, dz * plane * scale)
    off = p["cloud_offset"]
    cells_per_pixel = scale * plane**2 * pixel  # d(plane coordinate)/d(elevation) = 1 / (y + eps)^2
    fbm = _fbm(
        cx + _per_image(off[:, 0]), cz + _per_image(off[:, 1]), cells_per_pixel=cells_per_pixel, octaves=MAX_OCTAVES
    )
    cover = _per_image(p["cover"])
    threshold = 1.0 - 2.2 * cover
    soft = _per_image(p["cloud_soft"])
    density = _smoothstep(threshold, threshold + soft, fbm) * _smoothstep(0.0, 0.1, dy) * (cover > 0)
    thickness = ((fbm - threshold) / (2.0 * soft + 0.5)).clamp(0.0, 1.0)
    sun_up = torch.sin(sun_el).clamp_min(0.0)
    sun_light = _per_image(p["sun_irradiance"]) * (sun_up.sqrt() + 0.3 * dusk * (sun_el > -0.1))
    phase = 0.2 + 1.8 * torch.exp(-theta / 0.35)
    cloud_lum = _per_image(p["cloud_bright"]) * (
        (1.2 - 0.6 * thickness) + 0.3 * sun_light * phase * (1.0 - 0.6 * thickness)
    )
    cloud_colour = _mix(_mix(torch.ones(1, 3, 1, 1), horizon, 0.3), sun_colour, (0.2 + 0.5 * dusk).unsqueeze(1))
    cloud = level * cloud_lum.unsqueeze(1) * cloud_colour
    sky = _mix(sky, cloud, density.unsqueeze(1))
    transmittance = torch.exp(-_per_image(p["cloud_depth"]) * density * (0.5 + thickness))

    # Sun: a pixel-filtered disk of the drawn radiance, and three aureole lobes (energy-conserving).
    sun = _disk(
        theta,
        _per_image(p["sun_radius"]),
        pixel,
        _per_image(p["sun_ratio"]) * math.pi * _per_image(p["sun_radius"]) ** 2,
    )
    for k in range(3):
        width_k = _per_image(p["aureole_width"][:, k])
        peak = _per_image(p["aureole"][:, k])
        sun = sun + _gaussian_lobe(theta, width_k, pixel, peak * 2.0 * math.pi * width_k**2)
    sky = sky + level * (transmittance * sun).unsqueeze(1) * sun_colour

    # Ground below a periodic silhouette (mountains, tree lines), lit by sun and sky, hazy far away.
    k = torch.arange(1, _HORIZON_HARMONICS + 1, dtype=torch.float32).reshape(1, -1, 1)
    band_limit = (k <= width / 4).float()
    ridge = _per_image(p["horizon_base"]).squeeze(-1) + (
        band_limit
        * p["horizon_amp"].unsqueeze(-1)
        * torch.sin(k * az.reshape(1, 1, width) + p["horizon_phase"].unsqueeze(-1))
    ).sum(dim=1)  # [N, W], elevation of the silhouette
    ridge = ridge.unsqueeze(1)  # [N, 1, W]
    coverage = ((ridge - el) / (math.pi / height) + 0.5).clamp(0.0, 1.0)  # [N, H, W], ground fraction of pixel

    below = dy.clamp(max=0.0).neg() + _GROUND_EPS  # [1, H, W]
    distance = 1.0 / below
    gscale = _per_image(p["ground_scale"])
    goff = p["ground_offset"]
    gx = dx * distance * gscale + _per_image(goff[:, 0])
    gz = dz * distance * gscale + _per_image(goff[:, 1])
    ground_cpp = gscale * distance**2 * pixel
    tex = _fbm(gx, gz, cells_per_pixel=ground_cpp, octaves=4)
    patches = _fbm(0.37 * gz + 5.0, 0.37 * gx + 3.0, cells_per_pixel=0.37 * ground_cpp, octaves=3)
    forest = _smoothstep(_per_image(p["forest"]), _per_image(p["forest"]) + 0.4, patches)
    cloud_shadow = 1.0 - 0.8 * cover
    light = _per_image(p["ambient"]) + sun_light * sun_up.sqrt() * cloud_shadow
    open_ground = (light * torch.exp(0.35 * tex)).unsqueeze(1) * _colour(p["ground_albedo"])
    woods = (_per_image(p["ambient"] * p["forest_shade"]) * torch.exp(0.7 * tex)).unsqueeze(1) * _colour(
        p["forest_albedo"]
    )
    surface = level * _mix(open_ground, woods, forest.unsqueeze(1))
    fog = 1.0 - torch.exp(-distance / _per_image(p["visibility"]))
    horizon_colour = (
        level
        * _colour(p["sky_tint"])
        * horizon
        * (1.0 + _per_image(p["mie"]).unsqueeze(1) * torch.exp(-theta / _per_image(p["mie_width"])).unsqueeze(1) * 0.5)
    )
    ground = _mix(surface, horizon_colour, fog.unsqueeze(1))

    # Mountain faces above the geometric horizon: lit rock (dark when backlit), hazed towards the horizon.
    towards_sun = ((az - sun_az + math.pi) % (2 * math.pi) - math.pi).abs()  # [N, 1, W], azimuth from the sun
    backlit = 0.4 + 0.6 * torch.exp(-towards_sun / 1.5)
    mountain_light = _per_image(p["ambient"]) * 0.8 + sun_light * sun_up.sqrt() * cloud_shadow * (1.0 - backlit) * 1.2
    mountain = level * (mountain_light * torch.exp(0.3 * tex)).unsqueeze(1) * _colour(p["mountain_albedo"])
    mountain = _mix(mountain, horizon_colour, _per_image(p["mountain_haze"]).unsqueeze(1))
    ground = torch.where((dy > 0).unsqueeze(1), mountain, ground)
    return _mix(sky, ground, coverage.unsqueeze(1))


# --------------------------------------------------------------------------------------------------
# window: an interior lit through windows
# --------------------------------------------------------------------------------------------------

_WALL_COLOURS = np.array(
    [[0.85, 0.82, 0.75], [0.80, 0.78, 0.72], [0.70, 0.75, 0.80], [0.85, 0.75, 0.62], [0.55, 0.60, 0.50]]
)
_FLOOR_COLOURS = np.array(
    [[0.35, 0.22, 0.12], [0.22, 0.14, 0.08], [0.50, 0.42, 0.32], [0.30, 0.30, 0.32], [0.12, 0.10, 0.09]]
)
_FURNITURE_COLOURS = np.array(
    [
        [0.30, 0.18, 0.10],
        [0.10, 0.08, 0.07],
        [0.45, 0.45, 0.45],
        [0.15, 0.25, 0.40],
        [0.50, 0.12, 0.10],
        [0.05, 0.05, 0.06],
    ]
)
_MAX_FURNITURE = 4
# The sun seen through a window: radius (radians), disk radiance / zenith sky, and one aureole lobe
# (width in radians, peak / zenith sky); a fixed sun, since the exterior is a small part of the frame.
_OUTSIDE_SUN_RADIUS = 0.5 * math.pi / 180.0
_OUTSIDE_SUN_RATIO = 3e4
_OUTSIDE_AUREOLE = (0.05, 200.0)
# Surfaces of the room box: 0 left wall (x = -w/2), 1 right wall (x = +w/2), 2 floor, 3 ceiling, 4 back wall.
_LEFT, _RIGHT, _FLOOR, _CEILING, _BACK = range(5)


def _draw_window(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one interior: room box, camera, windows, furniture, materials, the outside and its sun."""
    deg = math.pi / 180.0
    room_w = rng.uniform(3.0, 7.0)
    room_h = rng.uniform(2.4, 3.4)
    room_d = rng.uniform(3.5, 8.0)
    # Window 0 on the back wall, window 1 (if any) on a side wall; rectangles in wall coordinates.
    windows = np.zeros((2, 6))  # wall, along_low, along_high, y_low, y_high, present
    for w in range(2):
        wall = _BACK if w == 0 else (_LEFT if rng.random() < 0.5 else _RIGHT)
        extent = room_w if wall == _BACK else room_d
        french = rng.random() < 0.2
        width = min(rng.uniform(0.8, 2.8), 0.8 * extent)
        centre = rng.uniform(-0.5 * extent + 0.6 * width, 0.5 * extent - 0.6 * width)
        if wall != _BACK:
            centre += 0.5 * room_d  # side walls run from z = 0 to z = room_d
        y_low = rng.uniform(0.0, 0.1) if french else rng.uniform(0.6, 1.1)
        y_high = min(room_h - 0.15, rng.uniform(1.9, 2.6))
        windows[w] = [wall, centre - width / 2, centre + width / 2, y_low, y_high, float(w == 0 or rng.random() < 0.4)]
    furniture = np.zeros((_MAX_FURNITURE, 6))  # x0, x1, z0, z1, height, present
    furniture_colour = np.zeros((_MAX_FURNITURE, 3))
    count = rng.integers(0, _MAX_FURNITURE + 1)
    for f in range(_MAX_FURNITURE):
        fw, fd = rng.uniform(0.4, 2.0), rng.uniform(0.4, 1.2)
        against = rng.random() < 0.5  # against a side wall or free-standing
        if against:
            x0 = -room_w / 2 if rng.random() < 0.5 else room_w / 2 - fd
            x1 = x0 + fd
            z0 = rng.uniform(1.5, max(1.6, room_d - fw))
            z1 = min(z0 + fw, room_d)
        else:
            x0 = rng.uniform(-room_w / 2, room_w / 2 - fw)
            x1 = x0 + fw
            z0 = rng.uniform(1.8, max(1.9, room_d - fd))
            z1 = min(z0 + fd, room_d)
        height = rng.uniform(0.4, 2.0) if rng.random() < 0.7 else rng.uniform(0.7, 0.95)
        furniture[f] = [x0, x1, z0, z1, height, float(f < count)]
        furniture_colour[f] = _FURNITURE_COLOURS[rng.integers(len(_FURNITURE_COLOURS))] * rng.uniform(0.6, 1.3, size=3)
    sun_az = rng.uniform(-math.pi, math.pi)
    sun_el = rng.uniform(3.0, 60.0) * deg
    harmonics = np.arange(1, _HORIZON_HARMONICS + 1)
    return {
        "room": np.array([room_w, room_h, room_d]),
        "camera": np.array([rng.uniform(-0.3, 0.3) * room_w, rng.uniform(1.1, 1.7), rng.uniform(0.1, 0.5)]),
        "yaw": rng.uniform(-25.0, 25.0) * deg,
        "pitch": rng.uniform(-10.0, 8.0) * deg,
        "hfov": rng.uniform(60.0, 90.0) * deg,
        "windows": windows,
        "panes": np.array([rng.integers(1, 4), rng.integers(1, 3)], dtype=np.float64),
        "frame": np.array([rng.uniform(0.03, 0.08), rng.uniform(0.05, 0.12)]),  # mullion, outer frame (m)
        "frame_albedo": rng.uniform(0.05, 0.8),
        "wall_albedo": _WALL_COLOURS[rng.integers(len(_WALL_COLOURS))] * rng.uniform(0.5, 1.0),
        "floor_albedo": _FLOOR_COLOURS[rng.integers(len(_FLOOR_COLOURS))] * rng.uniform(0.7, 1.2),
        "ceiling_albedo": rng.uniform(0.6, 0.9),
        "furniture": furniture,
        "furniture_albedo": furniture_colour,
        "transmission": _log_uniform(rng, 0.01, 0.4),  # glazing, blinds, curtains: light into the room
        "bounce": rng.uniform(0.05, 0.5),  # inter-reflection, as a fraction of the window flux per area
        "room_yaw": rng.uniform(-math.pi, math.pi),  # the room's orientation in the world (for the sun)
        "sun_az": sun_az,
        "sun_el": sun_el,
        "sunny": float(rng.random() < 0.6),
        "sun_irradiance": rng.uniform(2.0, 7.0),
        "outside_level": _log_uniform(rng, 0.5, 2.0),
        "sky_tint": rng.uniform(0.9, 1.1, size=3),
        "cover": rng.uniform(0.0, 1.0),
        "cloud_offset": rng.uniform(0.0, _NOISE_TABLE_SIZE, size=2),
        "skyline_base": rng.uniform(-0.1, 0.2),
        "skyline_amp": _log_uniform(rng, 0.02, 0.25) * harmonics**-1.0 * rng.standard_normal(_HORIZON_HARMONICS),
        "skyline_phase": rng.uniform(0.0, 2.0 * math.pi, size=_HORIZON_HARMONICS),
        "skyline_albedo": _GROUND_ALBEDOS[rng.integers(len(_GROUND_ALBEDOS))] * rng.uniform(0.7, 1.3, size=3),
        "texture_offset": rng.uniform(0.0, _NOISE_TABLE_SIZE, size=2),
    }


def _ray_box_exit(ox, oy, oz, dx, dy, dz, low, high):
    """Exit distance of rays starting inside an axis-aligned box, and the index of the exit face."""
    tx = torch.where(dx > 0, (high[0] - ox) / dx, (low[0] - ox) / dx.clamp(max=-1e-9))
    ty = torch.where(dy > 0, (high[1] - oy) / dy, (low[1] - oy) / dy.clamp(max=-1e-9))
    tz = (high[2] - oz) / dz.clamp_min(1e-9)
    t = torch.minimum(torch.minimum(tx, ty), tz)
    face = torch.where(
        t == tz,
        torch.full_like(t, _BACK),
        torch.where(
            t == tx,
            torch.where(dx > 0, torch.full_like(t, _RIGHT), torch.full_like(t, _LEFT)),
            torch.where(dy > 0, torch.full_like(t, _CEILING), torch.full_like(t, _FLOOR)),
        ),
    )
    return t, face


def _exterior(p, dirs, pixel, n) -> torch.Tensor:
    """Radiance of the outside world seen along world directions ``dirs`` (3 x [N, H, W]) -> [N, 3, H, W]."""
    dx, dy, dz = dirs
    norm = torch.sqrt(dx * dx + dy * dy + dz * dz)
    dx, dy, dz = dx / norm, dy / norm, dz / norm
    az = torch.atan2(dx, dz)
    el = torch.asin(dy.clamp(-1.0, 1.0))
    level = _per_image(p["outside_level"])
    sun_el, sun_az = _per_image(p["sun_el"]), _per_image(p["sun_az"])
    sx, sy, sz = torch.cos(sun_el) * torch.sin(sun_az), torch.sin(sun_el), torch.cos(sun_el) * torch.cos(sun_az)
    chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
    theta = 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))
    grad = torch.exp(-dy.clamp_min(0.0) / 0.3)
    sunny = _per_image(p["sunny"])
    glow = 1.0 + sunny * 1.5 * torch.exp(-theta / 0.3)
    sky = _mix(_rgb(_ZENITH_DAY), _rgb(_HORIZON_DAY), grad.unsqueeze(1)) * glow.unsqueeze(1)
    # Clouds from noise over (azimuth, elevation): one lattice period per turn, so seamless in azimuth.
    cells = _NOISE_TABLE_SIZE / (2.0 * math.pi)  # lattice cells per radian
    off = p["cloud_offset"]
    fbm = _fbm(
        az * cells + _per_image(off[:, 0]),
        el * 2.0 * cells + _per_image(off[:, 1]),
        cells_per_pixel=2.0 * cells * pixel,
        octaves=4,
    )
    cover = _per_image(p["cover"])
    density = _smoothstep(1.0 - 2.2 * cover, 1.5 - 2.2 * cover, fbm)
    cloud = (1.2 + 1.0 * sunny * torch.exp(-theta / 0.4)).unsqueeze(1)
    sky = _mix(sky, cloud.expand_as(sky), density.unsqueeze(1))
    radius, ratio = _OUTSIDE_SUN_RADIUS, _OUTSIDE_SUN_RATIO
    disk = _disk(theta, radius, pixel, torch.tensor(ratio * math.pi * radius**2))
    width, peak = _OUTSIDE_AUREOLE
    aureole = _gaussian_lobe(theta, torch.tensor(width), pixel, torch.tensor(peak * 2.0 * math.pi * width**2))
    sun = sunny * (disk + aureole) * torch.exp(-4.0 * density)
    sky = sky + sun.unsqueeze(1) * _rgb(_SUN_DAY)
    sky = sky * _colour(p["sky_tint"])
    # Skyline: trees and buildings across the street, lit by the sun when sunny.
    k = torch.arange(1, _HORIZON_HARMONICS + 1, dtype=torch.float32).reshape(1, -1, 1, 1)
    amp = p["skyline_amp"].reshape(n, -1, 1, 1)
    phase = p["skyline_phase"].reshape(n, -1, 1, 1)
    ridge = _per_image(p["skyline_base"]) + (amp * torch.sin(k * az.unsqueeze(1) + phase)).sum(dim=1)
    toff = p["texture_offset"]
    tex = _fbm(
        az * 4.0 * cells + _per_image(toff[:, 0]),
        el * 8.0 * cells + _per_image(toff[:, 1]),
        cells_per_pixel=8.0 * cells * pixel,
        octaves=3,
    )
    lit = 0.35 + sunny * _per_image(p["sun_irradiance"]) * 0.12 * (1.0 + torch.cos(az - sun_az)) * torch.sin(sun_el)
    land = (lit * torch.exp(0.5 * tex)).unsqueeze(1) * _colour(p["skyline_albedo"]) * 1.5
    coverage = ((ridge - el) / pixel + 0.5).clamp(0.0, 1.0)
    return level.unsqueeze(1) * _mix(sky, land, coverage.unsqueeze(1))


def _render_window(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Interior views ``[N, 3, H, W]`` of a ray-cast box room lit through windows."""
    n = p["yaw"].shape[0]
    room_w, room_h, room_d = (_per_image(p["room"][:, i]) for i in range(3))
    ox, oy, oz = (_per_image(p["camera"][:, i]) for i in range(3))
    tan_half = torch.tan(0.5 * _per_image(p["hfov"]))
    u = ((torch.arange(width) + 0.5) / width * 2.0 - 1.0).reshape(1, 1, width)
    v = (1.0 - (torch.arange(height) + 0.5) / height * 2.0).reshape(1, height, 1)
    px = u * tan_half
    py = v * tan_half * (height / width)
    pixel = 2.0 * tan_half / width  # radians per pixel at the centre (per image)
    # Camera rotation: pitch about x, then yaw about y.
    pitch, yaw = _per_image(p["pitch"]), _per_image(p["yaw"])
    cy_ = py * torch.cos(pitch) + torch.sin(pitch)
    cz_ = -py * torch.sin(pitch) + torch.cos(pitch)
    dx = px * torch.cos(yaw) + cz_ * torch.sin(yaw)
    dz = -px * torch.sin(yaw) + cz_ * torch.cos(yaw)
    dy = cy_.expand_as(dx)
    ray_len = torch.sqrt(dx * dx + dy * dy + dz * dz)
    low = (-0.5 * room_w, torch.zeros_like(room_w), None)
    high = (0.5 * room_w, room_h, room_d)
    t, face = _ray_box_exit(ox, oy, oz, dx, dy, dz, low, high)
    # Surface normals (pointing into the room) and albedo, then furniture boxes in front.
    nx = torch.where(face == _LEFT, 1.0, torch.where(face == _RIGHT, -1.0, 0.0))
    ny = torch.where(face == _FLOOR, 1.0, torch.where(face == _CEILING, -1.0, 0.0))
    nz = torch.where(face == _BACK, -1.0, 0.0)
    wall = _colour(p["wall_albedo"])
    floor = _colour(p["floor_albedo"])
    ceiling = _per_image(p["ceiling_albedo"]).unsqueeze(1).expand(n, 3, 1, 1)
    face4 = face.unsqueeze(1)
    albedo = torch.where(face4 == _FLOOR, floor, torch.where(face4 == _CEILING, ceiling, wall))
    is_furniture = torch.zeros_like(t, dtype=torch.bool)
    for f in range(_MAX_FURNITURE):
        box = p["furniture"][:, f]
        present = _per_image(box[:, 5]) > 0
        blo = (_per_image(box[:, 0]), torch.zeros_like(room_w), _per_image(box[:, 2]))
        bhi = (_per_image(box[:, 1]), _per_image(box[:, 4]), _per_image(box[:, 3]))
        t_near = torch.full_like(t, -math.inf)
        t_far = torch.full_like(t, math.inf)
        axis_near = torch.zeros_like(t)
        for axis, (o, d) in enumerate(((ox, dx), (oy, dy), (oz, dz))):
            inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
            t0 = (blo[axis] - o) * inv
            t1 = (bhi[axis] - o) * inv
            ta, tb = torch.minimum(t0, t1), torch.maximum(t0, t1)
            axis_near = torch.where(ta > t_near, float(axis), axis_near)
            t_near = torch.maximum(t_near, ta)
            t_far = torch.minimum(t_far, tb)
        hit = present & (t_near < t_far) & (t_near > 0) & (t_near < t)
        t = torch.where(hit, t_near, t)
        d_axis = torch.where(axis_near == 0, dx, torch.where(axis_near == 1, dy, dz))
        sign = -torch.sign(d_axis)
        nx = torch.where(hit, torch.where(axis_near == 0, sign, 0.0), nx)
        ny = torch.where(hit, torch.where(axis_near == 1, sign, 0.0), ny)
        nz = torch.where(hit, torch.where(axis_near == 2, sign, 0.0), nz)
        albedo = torch.where(hit.unsqueeze(1), _colour(p["furniture_albedo"][:, f]), albedo)
        face = torch.where(hit, -1.0, face)
        is_furniture = is_furniture | hit
    hx, hy, hz = ox + t * dx, oy + t * dy, oz + t * dz
    footprint = pixel * t * ray_len  # world size of a pixel at the hit point

    # Floor texture (planks / tiles) and wall texture from noise, subtle.
    toff = p["texture_offset"]
    tex_a = torch.where(nx.abs() > 0.5, hz, hx)  # wall-aligned texture coordinates
    tex_b = torch.where(ny.abs() > 0.5, hz, hy)
    tex = _fbm(
        tex_a * 2.0 + _per_image(toff[:, 0]),
        tex_b * 2.0 + _per_image(toff[:, 1]),
        cells_per_pixel=2.0 * footprint,
        octaves=4,
    )
    albedo = albedo * torch.exp(0.08 * tex).unsqueeze(1)

    # Windows: coverage of glass (box-filtered panes), light they cast, and sun through them.
    room_yaw = _per_image(p["room_yaw"])
    cos_r, sin_r = torch.cos(room_yaw), torch.sin(room_yaw)

    def to_world(x, y, z):
        return x * cos_r + z * sin_r, y, -x * sin_r + z * cos_r

    outside = _exterior(p, to_world(dx, dy, dz), pixel, n)
    sun_el, sun_az = p["sun_el"], p["sun_az"] - p["room_yaw"]  # sun direction in room coordinates
    sx = _per_image(torch.cos(sun_el) * torch.sin(sun_az))
    sy = _per_image(torch.sin(sun_el))
    sz = _per_image(torch.cos(sun_el) * torch.cos(sun_az))
    sky_radiance = _per_image(p["outside_level"]) * 1.2  # average radiance seen through a window
    transmission = _per_image(p["transmission"])
    glass_total = torch.zeros_like(t)
    irradiance = torch.zeros_like(t)
    sun_in = torch.zeros_like(t)
    flux = torch.zeros_like(room_w)
    panes_x, panes_y = _per_image(p["panes"][:, 0]), _per_image(p["panes"][:, 1])
    mullion, outer = _per_image(p["frame"][:, 0]), _per_image(p["frame"][:, 1])
    for w in range(2):
        win = p["windows"][:, w]
        wall_id = _per_image(win[:, 0])
        a0, a1, y0, y1 = (_per_image(win[:, i]) for i in range(1, 5))
        present = _per_image(win[:, 5])
        on_back = wall_id == _BACK
        # Wall coordinates (along, up) of the hit point and of the window centre; window normal into the room.
        along = torch.where(on_back, hx, hz)
        on_wall = (face == wall_id) & ~is_furniture
        inner_a0, inner_a1, inner_y0, inner_y1 = a0 + outer, a1 - outer, y0 + outer, y1 - outer
        pane_w = (inner_a1 - inner_a0) / panes_x
        pane_h = (inner_y1 - inner_y0) / panes_y
        cov_a = _pulse_coverage(along - inner_a0, pane_w, 0.5 * mullion, pane_w - 0.5 * mullion, footprint)
        cov_a = cov_a * _box_coverage(along, inner_a0, inner_a1, footprint)
        cov_y = _pulse_coverage(hy - inner_y0, pane_h, 0.5 * mullion, pane_h - 0.5 * mullion, footprint)
        cov_y = cov_y * _box_coverage(hy, inner_y0, inner_y1, footprint)
        frame_cov = _box_coverage(along, a0, a1, footprint) * _box_coverage(hy, y0, y1, footprint)
        glass = cov_a * cov_y * on_wall * present
        glass_total = glass_total + glass
        # The frame is painted with its own albedo.
        frame_mix = ((frame_cov - cov_a * cov_y) * on_wall * present).clamp(0.0, 1.0).unsqueeze(1)
        albedo = _mix(albedo, _per_image(p["frame_albedo"]).unsqueeze(1).expand(n, 3, 1, 1), frame_mix)
        # Window as an area light: E = L A cos_p cos_w / (r^2 + A / 2) (softened near the window).
        area = (a1 - a0) * (y1 - y0)
        wc_a, wc_y = 0.5 * (a0 + a1), 0.5 * (y0 + y1)
        wx = torch.where(on_back, wc_a, torch.where(wall_id == _LEFT, -0.5 * room_w, 0.5 * room_w))
        wz = torch.where(on_back, room_d, wc_a)
        wnx = torch.where(on_back, 0.0, torch.where(wall_id == _LEFT, 1.0, -1.0))
        wnz = torch.where(on_back, -1.0, 0.0)
        rx, ry, rz = wx - hx, wc_y - hy, wz - hz
        r2 = rx * rx + ry * ry + rz * rz
        r = torch.sqrt(r2)
        cos_p = ((nx * rx + ny * ry + nz * rz) / r).clamp_min(0.0)
        cos_w = (-(wnx * rx + wnz * rz) / r).clamp_min(0.0)
        irradiance = irradiance + present * sky_radiance * area * cos_p * cos_w / (r2 + 0.5 * area)
        flux = flux + present * sky_radiance * area
        # Direct sun: does the ray from the hit point towards the sun pass through this window?
        s_out = -(wnx * sx + wnz * sz)  # > 0 when the sun is outside this wall
        plane = torch.where(on_back, room_d - hz, torch.where(wall_id == _LEFT, hx + 0.5 * room_w, 0.5 * room_w - hx))
        t_sun = plane / s_out.clamp_min(1e-6)
        qa = torch.where(on_back, hx + t_sun * sx, hz + t_sun * sz)
        qy = hy + t_sun * sy
        through = _box_coverage(qa, inner_a0, inner_a1, footprint) * _box_coverage(qy, inner_y0, inner_y1, footprint)
        cos_s = (nx * sx + ny * sy + nz * sz).clamp_min(0.0)
        sun_in = sun_in + present * (s_out > 0.05) * through * cos_s * ~(on_wall & (glass > 0))
    room_area = 2.0 * (room_w * room_d + room_w * room_h + room_d * room_h)
    ambient = _per_image(p["bounce"]) * flux / room_area
    sun_e = _per_image(p["sunny"]) * _per_image(p["sun_irradiance"]) * _per_image(p["outside_level"]) * math.pi
    # Soft contact darkening in the corners of the room (cheap ambient occlusion).
    corner = torch.minimum(torch.minimum(hx + 0.5 * room_w, 0.5 * room_w - hx), torch.minimum(hy, room_h - hy))
    corner = torch.minimum(corner, room_d - hz)
    occlusion = 1.0 - 0.5 * torch.exp(-corner.clamp_min(0.0) / 0.25)
    occlusion = torch.where(is_furniture, 0.4 + 0.6 * (ny > 0), occlusion)
    light = transmission * (irradiance + ambient * occlusion + sun_e * sun_in)
    interior = albedo * (light / math.pi).unsqueeze(1)
    return _mix(interior, outside * transmission.sqrt().unsqueeze(1), glass_total.clamp(0.0, 1.0).unsqueeze(1))


# --------------------------------------------------------------------------------------------------
# night: dark streets and skylines with bright lights
# --------------------------------------------------------------------------------------------------

_MAX_BUILDINGS = 10
_MAX_LAMPS = 8
_BOLT_SEGMENTS = 14
_BRANCH_SEGMENTS = 6
_LAMP_COLOURS = np.array([[1.0, 0.62, 0.25], [1.0, 0.85, 0.6], [0.85, 0.92, 1.0], [1.0, 0.45, 0.12]])
_WINDOW_COLOURS = np.array([[1.0, 0.72, 0.4], [1.0, 0.85, 0.65], [0.75, 0.85, 1.0]])
_MOON_COLOUR = np.array([1.0, 0.97, 0.9])
_BOLT_COLOUR = np.array([0.85, 0.9, 1.0])
_GROUND_COLOUR = np.array([0.8, 0.75, 0.7])  # asphalt / paving, relative
_FACADE_COLOUR = np.array([0.6, 0.6, 0.65])


def _draw_night(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one night scene: horizon, sky, buildings, street lamps, moon (40 %), lightning (30 %)."""
    aspect = 2.0  # screen x spans [-aspect, aspect] at most; positions are drawn over that range
    horizon = rng.uniform(-0.55, 0.05)
    buildings = np.zeros((_MAX_BUILDINGS, 8))  # x0, x1, top, cell_w, cell_h, lit_prob, window_level, present
    count = rng.integers(0, _MAX_BUILDINGS + 1)
    for b in range(_MAX_BUILDINGS):
        width = rng.uniform(0.15, 0.8)
        x0 = rng.uniform(-aspect - 0.3, aspect + 0.3 - width)
        cell_w = rng.uniform(0.025, 0.07)
        buildings[b] = [
            x0,
            x0 + width,
            horizon + _log_uniform(rng, 0.08, 0.9),
            cell_w,
            cell_w * rng.uniform(1.0, 1.8),
            rng.uniform(0.05, 0.6),
            _log_uniform(rng, 0.5, 8.0),
            float(b < count),
        ]
    window_colour = _WINDOW_COLOURS[rng.integers(len(_WINDOW_COLOURS), size=_MAX_BUILDINGS)]
    lamps = np.zeros((_MAX_LAMPS, 6))  # x, base_y, height, head_size, log10 intensity, present
    lamp_count = rng.integers(1, _MAX_LAMPS + 1)
    street_x = rng.uniform(-1.0, 1.0)
    for k in range(_MAX_LAMPS):
        depth = rng.random()  # 0 near, 1 far: lamps recede along a street towards the horizon
        base_y = horizon - (1.0 + horizon) * (1.0 - depth) ** 1.5 * rng.uniform(0.5, 1.0)
        scale = (horizon - base_y) + 0.03
        x = street_x + rng.choice([-1.0, 1.0]) * scale * rng.uniform(0.6, 1.6) + rng.normal(0.0, 0.1)
        lamps[k] = [
            x,
            base_y,
            scale * rng.uniform(1.0, 1.6),
            scale * rng.uniform(0.012, 0.03),
            rng.uniform(3.5, 5.0),
            float(k < lamp_count),
        ]
    lamp_colour = _LAMP_COLOURS[rng.integers(len(_LAMP_COLOURS), size=_MAX_LAMPS)]
    # Lightning: a random walk from the top of the frame down to near the horizon, plus one branch.
    bolt = np.zeros((_BOLT_SEGMENTS + 1, 2))
    bolt[0] = [rng.uniform(-1.5, 1.5), 1.1]
    drop = (1.1 - horizon) / _BOLT_SEGMENTS
    for s in range(1, _BOLT_SEGMENTS + 1):
        bolt[s] = bolt[s - 1] + [rng.normal(0.0, 0.08), -drop * rng.uniform(0.6, 1.4)]
    branch = np.zeros((_BRANCH_SEGMENTS + 1, 2))
    branch[0] = bolt[rng.integers(2, _BOLT_SEGMENTS // 2)]
    side = rng.choice([-1.0, 1.0])
    for s in range(1, _BRANCH_SEGMENTS + 1):
        branch[s] = branch[s - 1] + [side * abs(rng.normal(0.05, 0.04)), -drop * rng.uniform(0.4, 1.0)]
    moon = rng.random() < 0.4
    return {
        "horizon": horizon,
        "sky_level": _log_uniform(rng, 0.002, 0.03),
        "pollution": rng.uniform(0.5, 6.0),
        "pollution_colour": np.array([1.0, 0.6, 0.35]) * rng.uniform(0.8, 1.2, size=3),
        "sky_colour": np.array([0.25, 0.35, 0.9]) * rng.uniform(0.7, 1.3, size=3),
        "cover": rng.uniform(0.0, 1.0),
        "cloud_offset": rng.uniform(0.0, _NOISE_TABLE_SIZE, size=2),
        "ground_level": _log_uniform(rng, 0.03, 0.3),  # ground radiance / sky level
        "facade_level": _log_uniform(rng, 0.01, 0.2),
        "buildings": buildings,
        "window_colour": window_colour,
        "window_seed": rng.uniform(0.0, 1000.0),
        "lamps": lamps,
        "lamp_colour": lamp_colour,
        "glow": rng.uniform(0.2, 0.6),  # energy of the glow of the lamp's globe / energy of its core
        "glow_width": rng.uniform(2.0, 3.5),  # in head radii
        "halo": 10.0 ** rng.uniform(-2.0, -1.0),  # energy scattered into a wide halo (haze, lens) / core
        "halo_width": rng.uniform(8.0, 20.0),  # in head radii
        "pool": rng.uniform(0.1, 0.5),  # ground albedo under the lamps
        "moon": float(moon),
        "moon_xy": np.array([rng.uniform(-1.6, 1.6), rng.uniform(0.2, 0.9)]),
        "moon_radius": rng.uniform(0.012, 0.03),
        "moon_ratio": 10.0 ** rng.uniform(3.0, 4.3),  # moon radiance / sky level
        "lightning": float(rng.random() < 0.3),
        "bolt": bolt,
        "branch": branch,
        "bolt_width": rng.uniform(0.002, 0.006),
        "bolt_ratio": 10.0 ** rng.uniform(3.5, 5.0),  # bolt core radiance / sky level (at its true width)
        "flash": _log_uniform(rng, 2.0, 30.0),  # sky brightening around the bolt, x sky level
    }


def _segment_distance(x, y, ax, ay, bx, by):
    """Distance from points (x, y) to segments a-b (per-image endpoints ``[N, 1, 1]``)."""
    ex, ey = bx - ax, by - ay
    length2 = (ex * ex + ey * ey).clamp_min(1e-12)
    h = (((x - ax) * ex + (y - ay) * ey) / length2).clamp(0.0, 1.0)
    return torch.sqrt((x - ax - h * ex) ** 2 + (y - ay - h * ey) ** 2)


def _hash01(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """A deterministic pseudo-random number in [0, 1) per integer-valued triple (sine hash)."""
    value = torch.sin(a * 127.1 + b * 311.7 + c * 74.7) * 43758.5453
    return value - torch.floor(value)


def _render_night(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Night scenes ``[N, 3, H, W]`` in screen coordinates: y in [-1, 1] (up), x in [-W/H, W/H]."""
    n = p["horizon"].shape[0]
    pixel = 2.0 / height
    x = ((torch.arange(width) + 0.5 - 0.5 * width) * pixel).reshape(1, 1, width)
    y = (1.0 - (torch.arange(height) + 0.5) * pixel).reshape(1, height, 1)
    x, y = x.expand(1, height, width), y.expand(1, height, width)
    horizon = _per_image(p["horizon"])
    sky_level = _per_image(p["sky_level"])
    above = (y - horizon).clamp_min(0.0)

    # Sky: deep blue with orange light-pollution glow near the horizon, and faint lit clouds.
    glow = _per_image(p["pollution"]) * torch.exp(-above / 0.25)
    sky = (
        _colour(p["sky_colour"]) * (1.0 + 0.3 * above.unsqueeze(1)).reciprocal()
        + glow.unsqueeze(1) * _colour(p["pollution_colour"]) * 0.3
    )
    off = p["cloud_offset"]
    fbm = _fbm(x * 2.0 + _per_image(off[:, 0]), y * 4.0 + _per_image(off[:, 1]), cells_per_pixel=4.0 * pixel, octaves=5)
    cover = _per_image(p["cover"])
    clouds = _smoothstep(1.0 - 2.2 * cover, 1.6 - 2.2 * cover, fbm)
    sky = sky * (1.0 + clouds * (0.5 + glow)).unsqueeze(1)
    sky = sky_level.unsqueeze(1) * sky

    # Moon: pixel-filtered disk with a faint halo (energy-conserving at any resolution).
    mx, my = _per_image(p["moon_xy"][:, 0]), _per_image(p["moon_xy"][:, 1])
    moon_r = _per_image(p["moon_radius"])
    moon_d = torch.sqrt((x - mx) ** 2 + (y - my) ** 2)
    moon_radiance = _per_image(p["moon_ratio"]) * sky_level
    moon = _disk(moon_d, moon_r, pixel, moon_radiance * math.pi * moon_r**2)
    moon = moon + _gaussian_lobe(moon_d, 6.0 * moon_r, pixel, 0.05 * moon_radiance * math.pi * moon_r**2)
    sky = sky + (_per_image(p["moon"]) * moon * (1.0 - 0.8 * clouds)).unsqueeze(1) * _rgb(_MOON_COLOUR)

    # Lightning: a Gaussian line of given energy per unit length, plus a broad flash on the clouds.
    lightning = _per_image(p["lightning"])
    distance = torch.full((n, height, width), math.inf)
    for path, segments in ((p["bolt"], _BOLT_SEGMENTS), (p["branch"], _BRANCH_SEGMENTS)):
        for s in range(segments):
            d = _segment_distance(
                x,
                y,
                _per_image(path[:, s, 0]),
                _per_image(path[:, s, 1]),
                _per_image(path[:, s + 1, 0]),
                _per_image(path[:, s + 1, 1]),
            )
            distance = torch.minimum(distance, d)
    bolt_w = _per_image(p["bolt_width"])
    sigma2 = bolt_w**2 + (_PIXEL_SIGMA * pixel) ** 2
    line_energy = _per_image(p["bolt_ratio"]) * sky_level * bolt_w * math.sqrt(2.0 * math.pi)  # per unit length
    bolt = line_energy / torch.sqrt(2.0 * math.pi * sigma2) * torch.exp(-0.5 * distance**2 / sigma2)
    flash = _per_image(p["flash"]) * sky_level * torch.exp(-distance / 0.3) * (0.3 + clouds)
    sky = sky + (lightning * (bolt + flash)).unsqueeze(1) * _rgb(_BOLT_COLOUR)

    # Ground: dark, slightly lit by the sky glow; lamps add pools of light below.
    ground_level = _per_image(p["ground_level"]) * sky_level
    below = (horizon - y).clamp_min(0.0)
    depth = 1.0 / (below + 0.05)  # ground-plane coordinates: perspective towards the horizon
    ground_tex = torch.exp(
        0.3
        * _fbm(
            x * 6.0 * depth + _per_image(off[:, 1]),
            3.0 * depth + _per_image(off[:, 0]),
            cells_per_pixel=6.0 * pixel * depth**2,
            octaves=3,
        )
    )
    ground = (ground_level * ground_tex * (1.0 + 0.5 * glow)).unsqueeze(1) * _rgb(_GROUND_COLOUR)
    ground_cov = ((horizon - y) / pixel + 0.5).clamp(0.0, 1.0)
    image = _mix(sky, ground, ground_cov.unsqueeze(1))

    # Buildings: dark facades with grids of lit windows (box-filtered, so sub-pixel windows keep their energy).
    facade_level = _per_image(p["facade_level"]) * sky_level
    for b in range(_MAX_BUILDINGS):
        spec = p["buildings"][:, b]
        x0, x1, top, cell_w, cell_h, lit_prob, level, present = (_per_image(spec[:, i]) for i in range(8))
        footprint = torch.full_like(x, pixel)
        cov = _box_coverage(x, x0, x1, footprint) * _box_coverage(y, horizon - 0.02, top, footprint) * present
        ix = torch.floor((x - x0) / cell_w)
        iy = torch.floor((y - horizon) / cell_h)
        rand = _hash01(ix, iy, _per_image(p["window_seed"]) + b)
        lit = (rand < lit_prob).float() * (0.4 + 1.2 * _hash01(iy, ix, _per_image(p["window_seed"]) - b))
        panes = _pulse_coverage(x - x0, cell_w, 0.2 * cell_w, 0.75 * cell_w, footprint)
        panes = panes * _pulse_coverage(y - horizon, cell_h, 0.25 * cell_h, 0.75 * cell_h, footprint)
        panes = panes * _box_coverage(y, horizon + 0.5 * cell_h, top - 0.5 * cell_h, footprint)
        windows = (panes * lit * level * sky_level).unsqueeze(1) * _colour(p["window_colour"][:, b])
        facade = (facade_level * (1.0 + 0.3 * glow)).unsqueeze(1) * _rgb(_FACADE_COLOUR)
        image = _mix(image, facade + windows, cov.unsqueeze(1))

    # Street lamps: poles (dark), pools of light on the ground, very bright heads with halos.
    for k in range(_MAX_LAMPS):
        spec = p["lamps"][:, k]
        lx, base_y, pole, head, log_intensity, present = (_per_image(spec[:, i]) for i in range(6))
        colour = _colour(p["lamp_colour"][:, k])
        head_y = base_y + pole
        footprint = torch.full_like(x, pixel)
        pole_cov = _box_coverage(x, lx - 0.15 * head, lx + 0.15 * head, footprint) * _box_coverage(
            y, base_y, head_y, footprint
        )
        image = _mix(image, image * 0.2, (pole_cov * present).unsqueeze(1))
        radiance = 10.0**log_intensity * sky_level  # head radiance
        energy = radiance * math.pi * head**2
        # Ground below the lamp: albedo x irradiance / pi, irradiance ~ intensity / height^2 ~ L (r / h)^2.
        pool_rx = 1.2 * pole
        pool_peak = _per_image(p["pool"]) * radiance * (head / pole) ** 2
        pool = pool_peak * torch.exp(-0.5 * (((x - lx) / pool_rx) ** 2 + ((y - base_y) / (0.25 * pool_rx)) ** 2))
        pool = pool * (y < horizon)
        dist = torch.sqrt((x - lx) ** 2 + (y - head_y) ** 2)
        light = (
            _disk(dist, head, pixel, energy)
            + _gaussian_lobe(dist, _per_image(p["glow_width"]) * head, pixel, _per_image(p["glow"]) * energy)
            + _gaussian_lobe(dist, _per_image(p["halo_width"]) * head, pixel, _per_image(p["halo"]) * energy)
        )
        image = image + (present * (light + pool)).unsqueeze(1) * colour
    return image


_FAMILY_FUNCTIONS: dict[str, tuple[Callable[[np.random.Generator], dict[str, Any]], Callable[..., torch.Tensor]]] = {
    "sky": (_draw_sky, _render_sky),
    "window": (_draw_window, _render_window),
    "night": (_draw_night, _render_night),
}


def _family_functions(
    family: str, version: int
) -> tuple[Callable[[np.random.Generator], dict[str, Any]], Callable[..., torch.Tensor]]:
    """Parameter drawing and rendering of ``family`` in world ``version`` (version 2 differs only in ``sky``)."""
    if version >= 2 and family == "sky":
        from glowgan.data import sky  # imported here: sky.py builds on this module's helpers

        return sky.draw_sky, sky.render_sky
    return _FAMILY_FUNCTIONS[family]
