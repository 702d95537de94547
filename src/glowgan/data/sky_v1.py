"""Version 1 of the ``sky`` family: equirectangular outdoor panoramas from analytic approximations.

:func:`glowgan.data.world.render_scenes` renders ``sky`` with this module for ``version=1``; version 2
(:mod:`glowgan.data.sky`, the default) replaced it, and this one stays unchanged, bit for bit, so sets
made with it remain reproducible. The conventions are those of the world module's docstring.

An analytic sky gradient that changes from day to sunset with the sun's elevation (10 % of suns are
just below the horizon: twilight), a sun disk 0.5-2.4 degrees across and 3x10^3-3x10^5 times brighter
than the zenith sky (the real sun: about 2x10^5) inside a circumsolar aureole (three Gaussian lobes of
1, 3.5 and 10 degrees, peaking 10^1-10^3.5 times the sky) and a broad Mie glow, fractal clouds on a
cloud plane seen in perspective, lit by the sun (brighter towards it) and dimming the sun behind them,
and a darker ground (grass, sand, rock, snow with dark woods in shade) below a mountain / tree-line
silhouette, lit by sun and sky and fading into aerial haze towards the horizon.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from glowgan.data.procedural import (
    FOREST_ALBEDO,
    GROUND_ALBEDOS,
    HORIZON_DAY,
    HORIZON_HARMONICS,
    MAX_OCTAVES,
    NOISE_TABLE_SIZE,
    SUN_DAY,
    ZENITH_DAY,
    colour,
    disk,
    fbm,
    gaussian_lobe,
    log_uniform,
    mix,
    per_image,
    rgb,
    rotate2d,
    smoothstep,
    unit_luminance,
)

# Colours (linear RGB, luminance 1) of the clear sky at dusk (the day colours are shared, in
# glowgan.data.procedural). Chosen by eye to resemble analytic sky models.
_ZENITH_DUSK = unit_luminance(np.array([0.22, 0.28, 0.60]))
_HORIZON_DUSK_AWAY = unit_luminance(np.array([0.60, 0.55, 0.70]))
_HORIZON_DUSK_SUN = unit_luminance(np.array([1.00, 0.48, 0.18]))
_SUN_DUSK = unit_luminance(np.array([1.00, 0.50, 0.20]))
_CLOUD_EPS = 0.06  # cloud plane: coordinates (x, z) / (y + eps); eps bounds the stretch at the horizon
_GROUND_EPS = 0.03


def draw_sky(rng: np.random.Generator) -> dict[str, Any]:
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
    ground = GROUND_ALBEDOS[rng.integers(len(GROUND_ALBEDOS))] * rng.uniform(0.7, 1.3, size=3)
    mountain_amp = log_uniform(rng, 0.01, 0.2)
    harmonics = np.arange(1, HORIZON_HARMONICS + 1)
    horizon_amp = mountain_amp * harmonics**-1.2 * rng.standard_normal(HORIZON_HARMONICS)
    return {
        "sun_az": rng.uniform(-math.pi, math.pi),
        "sun_el": sun_el,
        "dusk": dusk,
        "sun_radius": log_uniform(rng, 0.27, 1.2) * deg,
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
        "cloud_scale": log_uniform(rng, 1.0, 4.0),
        "cloud_depth": rng.uniform(2.0, 8.0),
        "cloud_bright": rng.uniform(0.8, 1.5),
        "cloud_angle": rng.uniform(0.0, 2.0 * math.pi),
        "cloud_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "ground_albedo": ground,
        "ground_scale": log_uniform(rng, 4.0, 16.0),
        "ground_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "forest": rng.uniform(-0.6, 0.5),  # threshold of woods / rocks in shade; higher: fewer
        "forest_albedo": FOREST_ALBEDO * rng.uniform(0.5, 1.5) * rng.uniform(0.8, 1.2, size=3),
        "forest_shade": rng.uniform(0.15, 0.6),  # light under the canopy / open-sky ambient
        "visibility": log_uniform(rng, 30.0, 400.0),  # in camera heights
        "horizon_base": rng.uniform(-0.03, 0.04),
        "horizon_amp": horizon_amp,
        "horizon_phase": rng.uniform(0.0, 2.0 * math.pi, size=HORIZON_HARMONICS),
        "mountain_haze": rng.uniform(0.15, 0.8),
        "mountain_albedo": rng.uniform(0.05, 0.25) * rng.uniform(0.85, 1.15, size=3),
    }


def render_sky(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Equirectangular sky panoramas ``[N, 3, H, W]``; see :mod:`glowgan.data.world` for the geometry."""
    el = (math.pi / 2 - math.pi * (torch.arange(height) + 0.5) / height).reshape(1, height, 1)
    az = (2.0 * math.pi * (torch.arange(width) + 0.5) / width - math.pi).reshape(1, 1, width)
    dx = torch.cos(el) * torch.sin(az)  # [1, H, W]
    dy = torch.sin(el).expand(1, height, width)
    dz = torch.cos(el) * torch.cos(az)
    pixel = max(math.pi / height, 2.0 * math.pi / width)  # angular pixel size (radians)

    sun_el, sun_az = per_image(p["sun_el"]), per_image(p["sun_az"])
    sx, sy, sz = torch.cos(sun_el) * torch.sin(sun_az), torch.sin(sun_el), torch.cos(sun_el) * torch.cos(sun_az)
    chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
    theta = 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))  # [N, H, W] angle to the sun

    dusk = per_image(p["dusk"])
    day_level = torch.where(
        sun_el > 0, 0.25 + 0.75 * torch.sin(sun_el.clamp_min(0)).sqrt(), 0.25 * torch.exp(sun_el / 0.05)
    )
    sun_side = (0.5 + 0.5 * torch.cos(az - sun_az)) ** 2  # [N, 1, W]

    # Clear sky: zenith -> horizon gradient, redder towards the sun at dusk, plus a broad Mie glow.
    grad = torch.exp(-dy.clamp_min(0.0) / per_image(p["horizon_width"]))
    zenith = mix(rgb(ZENITH_DAY), rgb(_ZENITH_DUSK), dusk.unsqueeze(1))  # [N, 3, 1, 1]
    horizon_dusk = mix(rgb(_HORIZON_DUSK_AWAY), rgb(_HORIZON_DUSK_SUN), sun_side.unsqueeze(1))
    horizon = mix(rgb(HORIZON_DAY), horizon_dusk, dusk.unsqueeze(1))  # [N, 3, 1, W]
    mie = 1.0 + per_image(p["mie"]) * torch.exp(-theta / per_image(p["mie_width"]))
    sun_colour = mix(rgb(SUN_DAY), rgb(_SUN_DUSK), dusk.unsqueeze(1))  # [N, 3, 1, 1]
    level = day_level.unsqueeze(1)  # [N, 1, 1, 1], zenith luminance
    warm = 0.6 * torch.exp(-theta / 0.6).unsqueeze(1)  # sky takes on the sun's colour near it
    sky = (
        level
        * colour(p["sky_tint"])
        * mix(zenith, horizon, grad.unsqueeze(1))
        * mix(torch.ones(1, 3, 1, 1), sun_colour, warm)
        * mie.unsqueeze(1)
    )

    # Clouds on a plane above the camera (perspective towards the horizon), lit by sun and sky.
    plane = 1.0 / (dy + _CLOUD_EPS).clamp_min(_CLOUD_EPS * 0.5)
    scale = per_image(p["cloud_scale"])
    cx, cz = rotate2d(p["cloud_angle"], dx * plane * scale, dz * plane * scale)
    off = p["cloud_offset"]
    cells_per_pixel = scale * plane**2 * pixel  # d(plane coordinate)/d(elevation) = 1 / (y + eps)^2
    noise = fbm(
        cx + per_image(off[:, 0]), cz + per_image(off[:, 1]), cells_per_pixel=cells_per_pixel, octaves=MAX_OCTAVES
    )
    cover = per_image(p["cover"])
    threshold = 1.0 - 2.2 * cover
    soft = per_image(p["cloud_soft"])
    density = smoothstep(threshold, threshold + soft, noise) * smoothstep(0.0, 0.1, dy) * (cover > 0)
    thickness = ((noise - threshold) / (2.0 * soft + 0.5)).clamp(0.0, 1.0)
    sun_up = torch.sin(sun_el).clamp_min(0.0)
    sun_light = per_image(p["sun_irradiance"]) * (sun_up.sqrt() + 0.3 * dusk * (sun_el > -0.1))
    phase = 0.2 + 1.8 * torch.exp(-theta / 0.35)
    cloud_lum = per_image(p["cloud_bright"]) * (
        (1.2 - 0.6 * thickness) + 0.3 * sun_light * phase * (1.0 - 0.6 * thickness)
    )
    cloud_colour = mix(mix(torch.ones(1, 3, 1, 1), horizon, 0.3), sun_colour, (0.2 + 0.5 * dusk).unsqueeze(1))
    cloud = level * cloud_lum.unsqueeze(1) * cloud_colour
    sky = mix(sky, cloud, density.unsqueeze(1))
    transmittance = torch.exp(-per_image(p["cloud_depth"]) * density * (0.5 + thickness))

    # Sun: a pixel-filtered disk of the drawn radiance, and three aureole lobes (energy-conserving).
    sun = disk(
        theta,
        per_image(p["sun_radius"]),
        pixel,
        per_image(p["sun_ratio"]) * math.pi * per_image(p["sun_radius"]) ** 2,
    )
    for k in range(3):
        width_k = per_image(p["aureole_width"][:, k])
        peak = per_image(p["aureole"][:, k])
        sun = sun + gaussian_lobe(theta, width_k, pixel, peak * 2.0 * math.pi * width_k**2)
    sky = sky + level * (transmittance * sun).unsqueeze(1) * sun_colour

    # Ground below a periodic silhouette (mountains, tree lines), lit by sun and sky, hazy far away.
    k = torch.arange(1, HORIZON_HARMONICS + 1, dtype=torch.float32).reshape(1, -1, 1)
    band_limit = (k <= width / 4).float()
    ridge = per_image(p["horizon_base"]).squeeze(-1) + (
        band_limit
        * p["horizon_amp"].unsqueeze(-1)
        * torch.sin(k * az.reshape(1, 1, width) + p["horizon_phase"].unsqueeze(-1))
    ).sum(dim=1)  # [N, W], elevation of the silhouette
    ridge = ridge.unsqueeze(1)  # [N, 1, W]
    coverage = ((ridge - el) / (math.pi / height) + 0.5).clamp(0.0, 1.0)  # [N, H, W], ground fraction of pixel

    below = dy.clamp(max=0.0).neg() + _GROUND_EPS  # [1, H, W]
    distance = 1.0 / below
    gscale = per_image(p["ground_scale"])
    goff = p["ground_offset"]
    gx = dx * distance * gscale + per_image(goff[:, 0])
    gz = dz * distance * gscale + per_image(goff[:, 1])
    ground_cpp = gscale * distance**2 * pixel
    tex = fbm(gx, gz, cells_per_pixel=ground_cpp, octaves=4)
    patches = fbm(0.37 * gz + 5.0, 0.37 * gx + 3.0, cells_per_pixel=0.37 * ground_cpp, octaves=3)
    forest = smoothstep(per_image(p["forest"]), per_image(p["forest"]) + 0.4, patches)
    cloud_shadow = 1.0 - 0.8 * cover
    light = per_image(p["ambient"]) + sun_light * sun_up.sqrt() * cloud_shadow
    open_ground = (light * torch.exp(0.35 * tex)).unsqueeze(1) * colour(p["ground_albedo"])
    woods = (per_image(p["ambient"] * p["forest_shade"]) * torch.exp(0.7 * tex)).unsqueeze(1) * colour(
        p["forest_albedo"]
    )
    surface = level * mix(open_ground, woods, forest.unsqueeze(1))
    fog = 1.0 - torch.exp(-distance / per_image(p["visibility"]))
    horizon_colour = (
        level
        * colour(p["sky_tint"])
        * horizon
        * (1.0 + per_image(p["mie"]).unsqueeze(1) * torch.exp(-theta / per_image(p["mie_width"])).unsqueeze(1) * 0.5)
    )
    ground = mix(surface, horizon_colour, fog.unsqueeze(1))

    # Mountain faces above the geometric horizon: lit rock (dark when backlit), hazed towards the horizon.
    towards_sun = ((az - sun_az + math.pi) % (2 * math.pi) - math.pi).abs()  # [N, 1, W], azimuth from the sun
    backlit = 0.4 + 0.6 * torch.exp(-towards_sun / 1.5)
    mountain_light = per_image(p["ambient"]) * 0.8 + sun_light * sun_up.sqrt() * cloud_shadow * (1.0 - backlit) * 1.2
    mountain = level * (mountain_light * torch.exp(0.3 * tex)).unsqueeze(1) * colour(p["mountain_albedo"])
    mountain = mix(mountain, horizon_colour, per_image(p["mountain_haze"]).unsqueeze(1))
    ground = torch.where((dy > 0).unsqueeze(1), mountain, ground)
    return mix(sky, ground, coverage.unsqueeze(1))

