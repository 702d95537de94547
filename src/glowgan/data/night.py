"""The ``night`` family of :mod:`glowgan.data.world` (described there): dark streets and skylines.

Screen-space 2-D scenes whose lamp heads, moon and lightning are far brighter than anything around
them. The family is the same in every world version.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from glowgan.data.procedural import (
    NOISE_TABLE_SIZE,
    PIXEL_SIGMA,
    box_coverage,
    colour,
    disk,
    fbm,
    gaussian_lobe,
    log_uniform,
    mix,
    per_image,
    pulse_coverage,
    rgb,
    smoothstep,
)

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


def draw_night(rng: np.random.Generator) -> dict[str, Any]:
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
            horizon + log_uniform(rng, 0.08, 0.9),
            cell_w,
            cell_w * rng.uniform(1.0, 1.8),
            rng.uniform(0.05, 0.6),
            log_uniform(rng, 0.5, 8.0),
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
        "sky_level": log_uniform(rng, 0.002, 0.03),
        "pollution": rng.uniform(0.5, 6.0),
        "pollution_colour": np.array([1.0, 0.6, 0.35]) * rng.uniform(0.8, 1.2, size=3),
        "sky_colour": np.array([0.25, 0.35, 0.9]) * rng.uniform(0.7, 1.3, size=3),
        "cover": rng.uniform(0.0, 1.0),
        "cloud_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "ground_level": log_uniform(rng, 0.03, 0.3),  # ground radiance / sky level
        "facade_level": log_uniform(rng, 0.01, 0.2),
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
        "flash": log_uniform(rng, 2.0, 30.0),  # sky brightening around the bolt, x sky level
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


def render_night(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Night scenes ``[N, 3, H, W]`` in screen coordinates: y in [-1, 1] (up), x in [-W/H, W/H]."""
    n = p["horizon"].shape[0]
    pixel = 2.0 / height
    x = ((torch.arange(width) + 0.5 - 0.5 * width) * pixel).reshape(1, 1, width)
    y = (1.0 - (torch.arange(height) + 0.5) * pixel).reshape(1, height, 1)
    x, y = x.expand(1, height, width), y.expand(1, height, width)
    horizon = per_image(p["horizon"])
    sky_level = per_image(p["sky_level"])
    above = (y - horizon).clamp_min(0.0)

    # Sky: deep blue with orange light-pollution glow near the horizon, and faint lit clouds.
    glow = per_image(p["pollution"]) * torch.exp(-above / 0.25)
    sky = (
        colour(p["sky_colour"]) * (1.0 + 0.3 * above.unsqueeze(1)).reciprocal()
        + glow.unsqueeze(1) * colour(p["pollution_colour"]) * 0.3
    )
    off = p["cloud_offset"]
    noise = fbm(x * 2.0 + per_image(off[:, 0]), y * 4.0 + per_image(off[:, 1]), cells_per_pixel=4.0 * pixel, octaves=5)
    cover = per_image(p["cover"])
    clouds = smoothstep(1.0 - 2.2 * cover, 1.6 - 2.2 * cover, noise)
    sky = sky * (1.0 + clouds * (0.5 + glow)).unsqueeze(1)
    sky = sky_level.unsqueeze(1) * sky

    # Moon: pixel-filtered disk with a faint halo (energy-conserving at any resolution).
    mx, my = per_image(p["moon_xy"][:, 0]), per_image(p["moon_xy"][:, 1])
    moon_r = per_image(p["moon_radius"])
    moon_d = torch.sqrt((x - mx) ** 2 + (y - my) ** 2)
    moon_radiance = per_image(p["moon_ratio"]) * sky_level
    moon = disk(moon_d, moon_r, pixel, moon_radiance * math.pi * moon_r**2)
    moon = moon + gaussian_lobe(moon_d, 6.0 * moon_r, pixel, 0.05 * moon_radiance * math.pi * moon_r**2)
    sky = sky + (per_image(p["moon"]) * moon * (1.0 - 0.8 * clouds)).unsqueeze(1) * rgb(_MOON_COLOUR)

    # Lightning: a Gaussian line of given energy per unit length, plus a broad flash on the clouds.
    lightning = per_image(p["lightning"])
    distance = torch.full((n, height, width), math.inf)
    for path, segments in ((p["bolt"], _BOLT_SEGMENTS), (p["branch"], _BRANCH_SEGMENTS)):
        for s in range(segments):
            d = _segment_distance(
                x,
                y,
                per_image(path[:, s, 0]),
                per_image(path[:, s, 1]),
                per_image(path[:, s + 1, 0]),
                per_image(path[:, s + 1, 1]),
            )
            distance = torch.minimum(distance, d)
    bolt_w = per_image(p["bolt_width"])
    sigma2 = bolt_w**2 + (PIXEL_SIGMA * pixel) ** 2
    line_energy = per_image(p["bolt_ratio"]) * sky_level * bolt_w * math.sqrt(2.0 * math.pi)  # per unit length
    bolt = line_energy / torch.sqrt(2.0 * math.pi * sigma2) * torch.exp(-0.5 * distance**2 / sigma2)
    flash = per_image(p["flash"]) * sky_level * torch.exp(-distance / 0.3) * (0.3 + clouds)
    sky = sky + (lightning * (bolt + flash)).unsqueeze(1) * rgb(_BOLT_COLOUR)

    # Ground: dark, slightly lit by the sky glow; lamps add pools of light below.
    ground_level = per_image(p["ground_level"]) * sky_level
    below = (horizon - y).clamp_min(0.0)
    depth = 1.0 / (below + 0.05)  # ground-plane coordinates: perspective towards the horizon
    ground_tex = torch.exp(
        0.3
        * fbm(
            x * 6.0 * depth + per_image(off[:, 1]),
            3.0 * depth + per_image(off[:, 0]),
            cells_per_pixel=6.0 * pixel * depth**2,
            octaves=3,
        )
    )
    ground = (ground_level * ground_tex * (1.0 + 0.5 * glow)).unsqueeze(1) * rgb(_GROUND_COLOUR)
    ground_cov = ((horizon - y) / pixel + 0.5).clamp(0.0, 1.0)
    image = mix(sky, ground, ground_cov.unsqueeze(1))

    # Buildings: dark facades with grids of lit windows (box-filtered, so sub-pixel windows keep their energy).
    facade_level = per_image(p["facade_level"]) * sky_level
    for b in range(_MAX_BUILDINGS):
        spec = p["buildings"][:, b]
        x0, x1, top, cell_w, cell_h, lit_prob, level, present = (per_image(spec[:, i]) for i in range(8))
        footprint = torch.full_like(x, pixel)
        cov = box_coverage(x, x0, x1, footprint) * box_coverage(y, horizon - 0.02, top, footprint) * present
        ix = torch.floor((x - x0) / cell_w)
        iy = torch.floor((y - horizon) / cell_h)
        rand = _hash01(ix, iy, per_image(p["window_seed"]) + b)
        lit = (rand < lit_prob).float() * (0.4 + 1.2 * _hash01(iy, ix, per_image(p["window_seed"]) - b))
        panes = pulse_coverage(x - x0, cell_w, 0.2 * cell_w, 0.75 * cell_w, footprint)
        panes = panes * pulse_coverage(y - horizon, cell_h, 0.25 * cell_h, 0.75 * cell_h, footprint)
        panes = panes * box_coverage(y, horizon + 0.5 * cell_h, top - 0.5 * cell_h, footprint)
        windows = (panes * lit * level * sky_level).unsqueeze(1) * colour(p["window_colour"][:, b])
        facade = (facade_level * (1.0 + 0.3 * glow)).unsqueeze(1) * rgb(_FACADE_COLOUR)
        image = mix(image, facade + windows, cov.unsqueeze(1))

    # Street lamps: poles (dark), pools of light on the ground, very bright heads with halos.
    for k in range(_MAX_LAMPS):
        spec = p["lamps"][:, k]
        lx, base_y, pole, head, log_intensity, present = (per_image(spec[:, i]) for i in range(6))
        lamp_colour = colour(p["lamp_colour"][:, k])
        head_y = base_y + pole
        footprint = torch.full_like(x, pixel)
        pole_cov = box_coverage(x, lx - 0.15 * head, lx + 0.15 * head, footprint) * box_coverage(
            y, base_y, head_y, footprint
        )
        image = mix(image, image * 0.2, (pole_cov * present).unsqueeze(1))
        radiance = 10.0**log_intensity * sky_level  # head radiance
        energy = radiance * math.pi * head**2
        # Ground below the lamp: albedo x irradiance / pi, irradiance ~ intensity / height^2 ~ L (r / h)^2.
        pool_rx = 1.2 * pole
        pool_peak = per_image(p["pool"]) * radiance * (head / pole) ** 2
        pool = pool_peak * torch.exp(-0.5 * (((x - lx) / pool_rx) ** 2 + ((y - base_y) / (0.25 * pool_rx)) ** 2))
        pool = pool * (y < horizon)
        dist = torch.sqrt((x - lx) ** 2 + (y - head_y) ** 2)
        light = (
            disk(dist, head, pixel, energy)
            + gaussian_lobe(dist, per_image(p["glow_width"]) * head, pixel, per_image(p["glow"]) * energy)
            + gaussian_lobe(dist, per_image(p["halo_width"]) * head, pixel, per_image(p["halo"]) * energy)
        )
        image = image + (present * (light + pool)).unsqueeze(1) * lamp_colour
    return image


