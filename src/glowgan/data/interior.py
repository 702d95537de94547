"""The ``window`` family of :mod:`glowgan.data.world` (described there): a box room lit through windows.

The room is ray-cast per pixel; window light, sun patches and inter-reflection are analytic. The
family is the same in every world version.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from glowgan.data.procedural import (
    GROUND_ALBEDOS,
    HORIZON_DAY,
    HORIZON_HARMONICS,
    NOISE_TABLE_SIZE,
    SUN_DAY,
    ZENITH_DAY,
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


def draw_window(rng: np.random.Generator) -> dict[str, Any]:
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
    harmonics = np.arange(1, HORIZON_HARMONICS + 1)
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
        "transmission": log_uniform(rng, 0.01, 0.4),  # glazing, blinds, curtains: light into the room
        "bounce": rng.uniform(0.05, 0.5),  # inter-reflection, as a fraction of the window flux per area
        "room_yaw": rng.uniform(-math.pi, math.pi),  # the room's orientation in the world (for the sun)
        "sun_az": sun_az,
        "sun_el": sun_el,
        "sunny": float(rng.random() < 0.6),
        "sun_irradiance": rng.uniform(2.0, 7.0),
        "outside_level": log_uniform(rng, 0.5, 2.0),
        "sky_tint": rng.uniform(0.9, 1.1, size=3),
        "cover": rng.uniform(0.0, 1.0),
        "cloud_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "skyline_base": rng.uniform(-0.1, 0.2),
        "skyline_amp": log_uniform(rng, 0.02, 0.25) * harmonics**-1.0 * rng.standard_normal(HORIZON_HARMONICS),
        "skyline_phase": rng.uniform(0.0, 2.0 * math.pi, size=HORIZON_HARMONICS),
        "skyline_albedo": GROUND_ALBEDOS[rng.integers(len(GROUND_ALBEDOS))] * rng.uniform(0.7, 1.3, size=3),
        "texture_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
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
    level = per_image(p["outside_level"])
    sun_el, sun_az = per_image(p["sun_el"]), per_image(p["sun_az"])
    sx, sy, sz = torch.cos(sun_el) * torch.sin(sun_az), torch.sin(sun_el), torch.cos(sun_el) * torch.cos(sun_az)
    chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
    theta = 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))
    grad = torch.exp(-dy.clamp_min(0.0) / 0.3)
    sunny = per_image(p["sunny"])
    glow = 1.0 + sunny * 1.5 * torch.exp(-theta / 0.3)
    sky = mix(rgb(ZENITH_DAY), rgb(HORIZON_DAY), grad.unsqueeze(1)) * glow.unsqueeze(1)
    # Clouds from noise over (azimuth, elevation): one lattice period per turn, so seamless in azimuth.
    cells = NOISE_TABLE_SIZE / (2.0 * math.pi)  # lattice cells per radian
    off = p["cloud_offset"]
    noise = fbm(
        az * cells + per_image(off[:, 0]),
        el * 2.0 * cells + per_image(off[:, 1]),
        cells_per_pixel=2.0 * cells * pixel,
        octaves=4,
    )
    cover = per_image(p["cover"])
    density = smoothstep(1.0 - 2.2 * cover, 1.5 - 2.2 * cover, noise)
    cloud = (1.2 + 1.0 * sunny * torch.exp(-theta / 0.4)).unsqueeze(1)
    sky = mix(sky, cloud.expand_as(sky), density.unsqueeze(1))
    radius, ratio = _OUTSIDE_SUN_RADIUS, _OUTSIDE_SUN_RATIO
    sun_disk = disk(theta, radius, pixel, torch.tensor(ratio * math.pi * radius**2))
    width, peak = _OUTSIDE_AUREOLE
    aureole = gaussian_lobe(theta, torch.tensor(width), pixel, torch.tensor(peak * 2.0 * math.pi * width**2))
    sun = sunny * (sun_disk + aureole) * torch.exp(-4.0 * density)
    sky = sky + sun.unsqueeze(1) * rgb(SUN_DAY)
    sky = sky * colour(p["sky_tint"])
    # Skyline: trees and buildings across the street, lit by the sun when sunny.
    k = torch.arange(1, HORIZON_HARMONICS + 1, dtype=torch.float32).reshape(1, -1, 1, 1)
    amp = p["skyline_amp"].reshape(n, -1, 1, 1)
    phase = p["skyline_phase"].reshape(n, -1, 1, 1)
    ridge = per_image(p["skyline_base"]) + (amp * torch.sin(k * az.unsqueeze(1) + phase)).sum(dim=1)
    toff = p["texture_offset"]
    tex = fbm(
        az * 4.0 * cells + per_image(toff[:, 0]),
        el * 8.0 * cells + per_image(toff[:, 1]),
        cells_per_pixel=8.0 * cells * pixel,
        octaves=3,
    )
    lit = 0.35 + sunny * per_image(p["sun_irradiance"]) * 0.12 * (1.0 + torch.cos(az - sun_az)) * torch.sin(sun_el)
    land = (lit * torch.exp(0.5 * tex)).unsqueeze(1) * colour(p["skyline_albedo"]) * 1.5
    coverage = ((ridge - el) / pixel + 0.5).clamp(0.0, 1.0)
    return level.unsqueeze(1) * mix(sky, land, coverage.unsqueeze(1))


def render_window(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Interior views ``[N, 3, H, W]`` of a ray-cast box room lit through windows."""
    n = p["yaw"].shape[0]
    room_w, room_h, room_d = (per_image(p["room"][:, i]) for i in range(3))
    ox, oy, oz = (per_image(p["camera"][:, i]) for i in range(3))
    tan_half = torch.tan(0.5 * per_image(p["hfov"]))
    u = ((torch.arange(width) + 0.5) / width * 2.0 - 1.0).reshape(1, 1, width)
    v = (1.0 - (torch.arange(height) + 0.5) / height * 2.0).reshape(1, height, 1)
    px = u * tan_half
    py = v * tan_half * (height / width)
    pixel = 2.0 * tan_half / width  # radians per pixel at the centre (per image)
    # Camera rotation: pitch about x, then yaw about y.
    pitch, yaw = per_image(p["pitch"]), per_image(p["yaw"])
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
    wall = colour(p["wall_albedo"])
    floor = colour(p["floor_albedo"])
    ceiling = per_image(p["ceiling_albedo"]).unsqueeze(1).expand(n, 3, 1, 1)
    face4 = face.unsqueeze(1)
    albedo = torch.where(face4 == _FLOOR, floor, torch.where(face4 == _CEILING, ceiling, wall))
    is_furniture = torch.zeros_like(t, dtype=torch.bool)
    for f in range(_MAX_FURNITURE):
        box = p["furniture"][:, f]
        present = per_image(box[:, 5]) > 0
        blo = (per_image(box[:, 0]), torch.zeros_like(room_w), per_image(box[:, 2]))
        bhi = (per_image(box[:, 1]), per_image(box[:, 4]), per_image(box[:, 3]))
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
        albedo = torch.where(hit.unsqueeze(1), colour(p["furniture_albedo"][:, f]), albedo)
        face = torch.where(hit, -1.0, face)
        is_furniture = is_furniture | hit
    hx, hy, hz = ox + t * dx, oy + t * dy, oz + t * dz
    footprint = pixel * t * ray_len  # world size of a pixel at the hit point

    # Floor texture (planks / tiles) and wall texture from noise, subtle.
    toff = p["texture_offset"]
    tex_a = torch.where(nx.abs() > 0.5, hz, hx)  # wall-aligned texture coordinates
    tex_b = torch.where(ny.abs() > 0.5, hz, hy)
    tex = fbm(
        tex_a * 2.0 + per_image(toff[:, 0]),
        tex_b * 2.0 + per_image(toff[:, 1]),
        cells_per_pixel=2.0 * footprint,
        octaves=4,
    )
    albedo = albedo * torch.exp(0.08 * tex).unsqueeze(1)

    # Windows: coverage of glass (box-filtered panes), light they cast, and sun through them.
    room_yaw = per_image(p["room_yaw"])
    cos_r, sin_r = torch.cos(room_yaw), torch.sin(room_yaw)

    def to_world(x, y, z):
        return x * cos_r + z * sin_r, y, -x * sin_r + z * cos_r

    outside = _exterior(p, to_world(dx, dy, dz), pixel, n)
    sun_el, sun_az = p["sun_el"], p["sun_az"] - p["room_yaw"]  # sun direction in room coordinates
    sx = per_image(torch.cos(sun_el) * torch.sin(sun_az))
    sy = per_image(torch.sin(sun_el))
    sz = per_image(torch.cos(sun_el) * torch.cos(sun_az))
    sky_radiance = per_image(p["outside_level"]) * 1.2  # average radiance seen through a window
    transmission = per_image(p["transmission"])
    glass_total = torch.zeros_like(t)
    irradiance = torch.zeros_like(t)
    sun_in = torch.zeros_like(t)
    flux = torch.zeros_like(room_w)
    panes_x, panes_y = per_image(p["panes"][:, 0]), per_image(p["panes"][:, 1])
    mullion, outer = per_image(p["frame"][:, 0]), per_image(p["frame"][:, 1])
    for w in range(2):
        win = p["windows"][:, w]
        wall_id = per_image(win[:, 0])
        a0, a1, y0, y1 = (per_image(win[:, i]) for i in range(1, 5))
        present = per_image(win[:, 5])
        on_back = wall_id == _BACK
        # Wall coordinates (along, up) of the hit point and of the window centre; window normal into the room.
        along = torch.where(on_back, hx, hz)
        on_wall = (face == wall_id) & ~is_furniture
        inner_a0, inner_a1, inner_y0, inner_y1 = a0 + outer, a1 - outer, y0 + outer, y1 - outer
        pane_w = (inner_a1 - inner_a0) / panes_x
        pane_h = (inner_y1 - inner_y0) / panes_y
        cov_a = pulse_coverage(along - inner_a0, pane_w, 0.5 * mullion, pane_w - 0.5 * mullion, footprint)
        cov_a = cov_a * box_coverage(along, inner_a0, inner_a1, footprint)
        cov_y = pulse_coverage(hy - inner_y0, pane_h, 0.5 * mullion, pane_h - 0.5 * mullion, footprint)
        cov_y = cov_y * box_coverage(hy, inner_y0, inner_y1, footprint)
        frame_cov = box_coverage(along, a0, a1, footprint) * box_coverage(hy, y0, y1, footprint)
        glass = cov_a * cov_y * on_wall * present
        glass_total = glass_total + glass
        # The frame is painted with its own albedo.
        frame_mix = ((frame_cov - cov_a * cov_y) * on_wall * present).clamp(0.0, 1.0).unsqueeze(1)
        albedo = mix(albedo, per_image(p["frame_albedo"]).unsqueeze(1).expand(n, 3, 1, 1), frame_mix)
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
        through = box_coverage(qa, inner_a0, inner_a1, footprint) * box_coverage(qy, inner_y0, inner_y1, footprint)
        cos_s = (nx * sx + ny * sy + nz * sz).clamp_min(0.0)
        sun_in = sun_in + present * (s_out > 0.05) * through * cos_s * ~(on_wall & (glass > 0))
    room_area = 2.0 * (room_w * room_d + room_w * room_h + room_d * room_h)
    ambient = per_image(p["bounce"]) * flux / room_area
    sun_e = per_image(p["sunny"]) * per_image(p["sun_irradiance"]) * per_image(p["outside_level"]) * math.pi
    # Soft contact darkening in the corners of the room (cheap ambient occlusion).
    corner = torch.minimum(torch.minimum(hx + 0.5 * room_w, 0.5 * room_w - hx), torch.minimum(hy, room_h - hy))
    corner = torch.minimum(corner, room_d - hz)
    occlusion = 1.0 - 0.5 * torch.exp(-corner.clamp_min(0.0) / 0.25)
    occlusion = torch.where(is_furniture, 0.4 + 0.6 * (ny > 0), occlusion)
    light = transmission * (irradiance + ambient * occlusion + sun_e * sun_in)
    interior = albedo * (light / math.pi).unsqueeze(1)
    return mix(interior, outside * transmission.sqrt().unsqueeze(1), glass_total.clamp(0.0, 1.0).unsqueeze(1))

