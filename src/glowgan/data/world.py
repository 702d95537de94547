"""A procedural HDR world: scene families rendered directly in linear HDR, the ground truth.

GlowGAN (Wang et al., ICCV 2023) learns HDR from LDR photos alone, and in-the-wild photos have no HDR
ground truth, so nobody can measure how much dynamic range a model really recovers. These scene
families are that ground truth: each image is a deterministic function of its seed, rendered in linear
radiance at any resolution, and :mod:`glowgan.data.synth` photographs them into an LDR collection.

Families (``FAMILIES``):

- ``"sky"``: equirectangular outdoor panoramas (2:1, wrapping around horizontally). Version 2 (the
  default) is :mod:`glowgan.data.sky`: a Preetham et al. 1999 clear sky, a physically attenuated,
  limb-darkened sun, optically thick clouds with lit edges and silver linings, aerial perspective
  and a sky-lit ground. Version 1 is :mod:`glowgan.data.sky_v1`: an analytic sky gradient from day
  to sunset, a sun disk inside a circumsolar aureole and a Mie glow, fractal clouds on a cloud plane,
  and a textured ground below a mountain / tree-line silhouette, fading into aerial haze.
- ``"window"`` (:mod:`glowgan.data.interior`): a ray-cast box room (walls, floor, ceiling, box
  furniture) lit through one or two windows (with mullions) that show a bright exterior (sky, clouds,
  skyline, sometimes the sun), with direct sun patches where sunlight falls through a window, window
  light falling off with distance and angle, and a uniform inter-reflection term.
- ``"night"`` (:mod:`glowgan.data.night`): a dark street or skyline: a night sky with light-pollution
  glow, sometimes a moon and a lightning bolt, building silhouettes with grids of lit windows, and
  street lamps whose heads are far brighter than anything around them, with halos and pools of light
  on the ground.

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
- Small, very bright features (sun, moon, lamp heads, lightning) are pixel-filtered and
  energy-conserving, and fractal noise is band-limited, so a low-resolution render is a filtered
  version of a high-resolution one, not an aliased one; :mod:`glowgan.data.procedural` explains how
  and holds the helpers that all families share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from glowgan.data import interior, night, sky, sky_v1

FAMILIES = ("sky", "window", "night")

# A new version whenever a change alters the images a seed renders; synthetic sets record it, so a set
# made with another version is not silently resumed with different scenes. Every version stays
# renderable; WORLD_VERSION, the latest, is the default.
WORLD_VERSIONS = (1, 2)
WORLD_VERSION = 2

# Largest number of pixels rendered at once; bigger requests are split into chunks of whole images
# (results are identical, since every image is rendered independently).
DEFAULT_CHUNK_PIXELS = 1 << 20


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


def same_scenes(family: str, version_a: int, version_b: int) -> bool:
    """Whether world versions ``version_a`` and ``version_b`` render the same ``family`` scenes for a seed."""
    return _family_functions(family, version_a) == _family_functions(family, version_b)


def _stack(draws: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Per-image parameter dicts -> dict of float32 tensors ``[N, ...]``."""
    return {key: torch.from_numpy(np.stack([np.asarray(d[key], dtype=np.float32) for d in draws])) for key in draws[0]}


_FAMILY_FUNCTIONS: dict[str, tuple[Callable[[np.random.Generator], dict[str, Any]], Callable[..., torch.Tensor]]] = {
    "sky": (sky_v1.draw_sky, sky_v1.render_sky),
    "window": (interior.draw_window, interior.render_window),
    "night": (night.draw_night, night.render_night),
}


def _family_functions(
    family: str, version: int
) -> tuple[Callable[[np.random.Generator], dict[str, Any]], Callable[..., torch.Tensor]]:
    """Parameter drawing and rendering of ``family`` in world ``version`` (version 2 differs only in ``sky``)."""
    if version >= 2 and family == "sky":
        return sky.draw_sky, sky.render_sky
    return _FAMILY_FUNCTIONS[family]
