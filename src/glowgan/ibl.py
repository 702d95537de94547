"""Image-based lighting: three spheres (diffuse, glossy, mirror) lit by an equirectangular HDR map.

The scene: a pinhole camera at the origin looks along +z (y up, +x to the right of the image); three
unit spheres stand side by side at depth ``Scene.distance``; every camera ray that misses them shows
the environment map in its direction. Directions and map texels follow :mod:`glowgan.envmap` (y up,
map centre = +z, u = 0.75 = +x; (right, up, forward) is a left-handed frame, so maps are not mirrored).

Shading (no shadows or inter-reflections between spheres: the map is the only light, at infinity):

- **Diffuse** (Lambertian, albedo ``rho``): ``rho / pi * E(n)``, with the irradiance ``E`` from the
  9 spherical-harmonic coefficients of the map (Ramamoorthi & Hanrahan, "An Efficient Representation
  for Irradiance Environment Maps", SIGGRAPH 2001, Eqs. 10-13). The projection integrates each basis
  function exactly over each texel's area (``sin theta dtheta dphi``, :func:`texel_basis_integrals`).
  Order 2 is exact for lighting of angular frequency <= 2 and for a uniformly bright half-sphere (its
  even parts above order 0 vanish); for a point-like sun the error is up to 3/32 = 9.4 % of the sun's
  irradiance at normal incidence (the clamped-cosine kernel truncated after l = 2, at grazing angles;
  the paper's "at most 9 %"; see the tests), which on the side facing away from a low sun is several
  times the sky's own light. So by
  default the radiance of the 256 brightest texels (sun, aureole, lamps) above the 257th's level is
  taken out of the SH projection and summed exactly as small lights (:func:`irradiance`);
  ``exact_texels=0`` gives pure SH.
- **Glossy**: a normalised Phong lobe around the mirror direction ``r``,
  ``L_s(r) = rho_s * int L(w) (s + 1) / (2 pi) max(0, r . w)^s dw`` (the "prefiltered environment map"
  of Heidrich & Seidel 1999 / Kautz & McCool 2000, which ignores the part of the lobe below the
  surface). It is estimated by importance-sampled, stratified Monte Carlo with an explicit random
  generator (pdf = the lobe, so each sample contributes ``L(w)``) on a prefiltered map whose resolution
  follows the lobe width, then looked up bilinearly.
- **Mirror** (reflectance ``rho_m``): ``rho_m * L(r)``, bilinear and wrap-aware
  (:func:`glowgan.envmap.sample_bilinear`).

:func:`render_mitsuba` renders the same scene with Mitsuba 3's path tracer (optional dependency).
Mitsuba's world frame is right-handed and its ``envmap`` emitter maps direction ``d`` to
``u = atan2(d_x, -d_z) / (2 pi)``, ``v = acos(d_y) / pi``; with our x negated (``x_mitsuba = -x``) this
is exactly our mapping, so the map goes in unchanged and the spheres' x coordinates are negated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glowgan import hdrio, tonemap
from glowgan.envmap import check_envmap, sample_bilinear, texel_directions, texel_solid_angles, uv_to_directions
from glowgan.metrics.dynamic_range import luminance

MATERIALS = ("diffuse", "glossy", "mirror")

# Real spherical harmonics normalisation constants, Ramamoorthi & Hanrahan 2001, Eq. 3.
SH_Y00 = 0.282095  # 1/2 sqrt(1/pi)
SH_Y1 = 0.488603  # sqrt(3/(4 pi)):  Y_1-1 = . y, Y_10 = . z, Y_11 = . x
SH_Y2_MIXED = 1.092548  # sqrt(15/(4 pi)): Y_2-2 = . xy, Y_2-1 = . yz, Y_21 = . xz
SH_Y20 = 0.315392  # 1/4 sqrt(5/pi):  Y_20 = . (3 z^2 - 1)
SH_Y22 = 0.546274  # 1/4 sqrt(15/pi): Y_22 = . (x^2 - y^2)
# Irradiance constants, Ramamoorthi & Hanrahan 2001, Eq. 13: products of the paper's clamped-cosine
# coefficients A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4 with the constants above (c1 = A_2 SH_Y22,
# c2 = A_1 SH_Y1 / 2, c3 = 3 A_2 SH_Y20, c4 = A_0 SH_Y00, c5 = A_2 SH_Y20; the tests re-derive them).
SH_C1, SH_C2, SH_C3, SH_C4, SH_C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708

# Finest prefiltered map for the glossy lobe, and how many texels per lobe width (1/sqrt(s) radians).
_GLOSSY_MAX_HEIGHT = 128
_GLOSSY_TEXELS_PER_LOBE = 2.0


@dataclass(frozen=True)
class Scene:
    """The spheres in front of the camera.

    ``materials``: left to right, from :data:`MATERIALS`. ``albedo``: diffuse reflectance.
    ``specular``: glossy reflectance. ``mirror``: mirror reflectance. ``exponent``: Phong exponent of
    the glossy lobe (larger = sharper; the lobe's width is about ``1 / sqrt(exponent)`` radians).
    ``spacing``: distance between sphere centres, in radii. ``distance``: depth of the centres.
    """

    materials: tuple[str, ...] = MATERIALS
    albedo: float = 0.8
    specular: float = 0.8
    mirror: float = 1.0
    exponent: float = 64.0
    spacing: float = 2.5
    distance: float = 6.0

    def __post_init__(self) -> None:
        unknown = [m for m in self.materials if m not in MATERIALS]
        if not self.materials or unknown:
            raise ValueError(f"scene materials must be among {', '.join(MATERIALS)}, got {self.materials}")
        if self.exponent < 0:
            raise ValueError(f"the Phong exponent must be >= 0, got {self.exponent}")
        if self.spacing < 2 or self.distance <= 1:
            raise ValueError(
                "spheres must not overlap (spacing >= 2 radii) and must stay in front of the camera (distance > 1)"
            )

    def centres(self) -> np.ndarray:
        """[n, 3] sphere centres (radius 1), our frame."""
        offsets = (np.arange(len(self.materials)) - (len(self.materials) - 1) / 2) * self.spacing
        return np.stack([offsets, np.zeros_like(offsets), np.full_like(offsets, self.distance)], axis=1)

    def fov_x_degrees(self) -> float:
        """Horizontal field of view that frames all spheres with half a radius to spare."""
        half_extent = (len(self.materials) - 1) / 2 * self.spacing + 1.5
        return math.degrees(2.0 * math.atan(half_extent / self.distance))


# --------------------------------------------------------------------------------------------------
# Spherical-harmonics irradiance (Ramamoorthi & Hanrahan 2001)
# --------------------------------------------------------------------------------------------------


def sh_basis(directions: np.ndarray) -> np.ndarray:
    """The 9 real SH basis functions up to order 2 at unit ``directions`` [..., 3] -> [..., 9].

    Order: Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22 (Ramamoorthi & Hanrahan 2001, Eq. 3), written
    in our (x, y, z). Eq. 13 holds in any orthonormal frame (convolution with the clamped cosine commutes
    with rotations and reflections), so no change of axes is needed.
    """
    x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
    return np.stack(
        [
            np.full_like(x, SH_Y00),
            SH_Y1 * y,
            SH_Y1 * z,
            SH_Y1 * x,
            SH_Y2_MIXED * x * y,
            SH_Y2_MIXED * y * z,
            SH_Y20 * (3.0 * z * z - 1.0),
            SH_Y2_MIXED * x * z,
            SH_Y22 * (x * x - y * y),
        ],
        axis=-1,
    )


# Each basis function as a sum of separable terms (constant, polar factor, azimuthal factor), with
# x = sin t sin p, y = cos t, z = sin t cos p; the factor names are those of _texel_factors.
_SH_TERMS = (
    ((SH_Y00, "1", "1"),),
    ((SH_Y1, "c", "1"),),  # y
    ((SH_Y1, "s", "c"),),  # z
    ((SH_Y1, "s", "s"),),  # x
    ((SH_Y2_MIXED, "sc", "s"),),  # xy
    ((SH_Y2_MIXED, "sc", "c"),),  # yz
    ((3.0 * SH_Y20, "ss", "cc"), (-SH_Y20, "1", "1")),  # 3 z^2 - 1
    ((SH_Y2_MIXED, "ss", "sc"),),  # xz
    ((SH_Y22, "ss", "ss"), (-SH_Y22, "cc", "1")),  # x^2 - y^2
)


def _texel_factors(height: int, width: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Closed-form integrals over each polar band [H] (of sin t times 1, cos t, sin t, sin t cos t,
    sin^2 t, cos^2 t) and each azimuth interval [W] (of 1, sin p, cos p, sin p cos p, sin^2 p, cos^2 p)."""
    t = math.pi * np.arange(height + 1) / height  # polar edges
    p = 2.0 * math.pi * np.arange(width + 1) / width - math.pi  # azimuth edges
    st, ct, sp, cp = np.sin(t), np.cos(t), np.sin(p), np.cos(p)
    band = {
        "1": np.diff(-ct),
        "c": np.diff(st * st / 2.0),
        "s": np.diff((t - st * ct) / 2.0),
        "sc": np.diff(st**3 / 3.0),
        "ss": np.diff(-ct + ct**3 / 3.0),
        "cc": np.diff(-(ct**3) / 3.0),
    }
    arc = {
        "1": np.diff(p),
        "s": np.diff(-cp),
        "c": np.diff(sp),
        "sc": np.diff(sp * sp / 2.0),
        "ss": np.diff((p - sp * cp) / 2.0),
        "cc": np.diff((p + sp * cp) / 2.0),
    }
    return band, arc


def texel_basis_integrals(height: int, width: int) -> np.ndarray:
    """``int Y_lm dOmega`` over each texel of an equirectangular map, exactly: [H, W, 9] float64.

    Every basis function is a polynomial in ``x = sin t sin p``, ``y = cos t``, ``z = sin t cos p``, so
    its integral over a texel (``dOmega = sin t dt dp``) is a sum of products of closed-form integrals
    over the texel's polar band and azimuth interval. Exact integration (rather than the basis at the
    texel centre times the texel's solid angle) makes the projection of a piecewise-constant map exact:
    a constant map has no components above l = 0.
    """
    band, arc = _texel_factors(height, width)
    return np.stack(
        [sum(c * np.outer(band[bt], arc[at]) for c, bt, at in terms) for terms in _SH_TERMS], axis=-1
    )


def sh_coefficients(hdr: np.ndarray) -> np.ndarray:
    """Project map ``hdr`` [H, W, 3] onto the 9 SH basis functions: ``L_lm`` [9, 3] float64 (Eq. 10),
    ``L_lm = int L Y_lm dOmega`` with each texel's radiance constant over the texel
    (:func:`texel_basis_integrals`, applied factor by factor so memory stays at the map's size)."""
    hdr = check_envmap(hdr).astype(np.float64)
    band, arc = _texel_factors(*hdr.shape[:2])
    return np.stack(
        [sum(c * np.einsum("h,hwc,w->c", band[bt], hdr, arc[at]) for c, bt, at in terms) for terms in _SH_TERMS]
    )


def sh_irradiance(coefficients: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Irradiance ``E(n)`` [..., 3] at unit ``normals`` [..., 3] from ``coefficients`` [9, 3] (Eq. 13)."""
    L00, L1m1, L10, L11, L2m2, L2m1, L20, L21, L22 = np.asarray(coefficients, dtype=np.float64)
    x, y, z = (normals[..., i, None] for i in range(3))
    return (
        SH_C1 * L22 * (x * x - y * y)
        + SH_C3 * L20 * z * z
        + SH_C4 * L00
        - SH_C5 * L20
        + 2.0 * SH_C1 * (L2m2 * x * y + L21 * x * z + L2m1 * y * z)
        + 2.0 * SH_C2 * (L11 * x + L1m1 * y + L10 * z)
    )


def split_highlights(hdr: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split map ``hdr`` [H, W, 3] at the luminance ``tau`` of its ``count + 1``-th brightest texel into
    a base map clipped at ``tau`` and the excess above it, carried by at most ``count`` texels.

    Returns (base [H, W, 3] float64, excess directions [k, 3], excess power (radiance x solid angle)
    [k, 3]); ``base + excess = hdr``. The base has no peaks above ``tau``, so low-order SH represent it
    well; a map without highlights (say a constant one) has no excess at all.
    """
    hdr = check_envmap(hdr)
    height, width = hdr.shape[:2]
    flat = hdr.reshape(-1, 3).astype(np.float64)
    count = int(min(max(count, 0), flat.shape[0] - 1))
    lum = luminance(flat)
    tau = np.partition(lum, lum.size - 1 - count)[lum.size - 1 - count]
    chosen = np.flatnonzero(lum > tau)
    keep = tau / lum[chosen]  # the base keeps radiance up to luminance tau, colour unchanged
    base = flat.copy()
    base[chosen] *= keep[:, None]
    rows, cols = np.divmod(chosen, width)
    solid_angles = texel_solid_angles(height, width)[rows]  # [k, 1]
    power = flat[chosen] * (1.0 - keep)[:, None] * solid_angles
    directions = uv_to_directions((cols + 0.5) / width, (rows + 0.5) / height)
    return base.reshape(hdr.shape), directions, power


def irradiance(hdr: np.ndarray, normals: np.ndarray, *, exact_texels: int = 256) -> np.ndarray:
    """Irradiance [..., 3] at unit ``normals`` [..., 3] under map ``hdr``.

    The radiance of the ``exact_texels`` brightest texels above the next one's level (a sun, its
    aureole, lamps; :func:`split_highlights`) is summed exactly as small lights at the texel centres,
    ``sum max(0, n . w) excess dOmega``, and the clipped rest goes through the order-2 SH
    approximation (:func:`sh_irradiance`), which is accurate for such smooth remainders;
    ``exact_texels=0`` is pure SH as in Ramamoorthi & Hanrahan 2001. Pure SH misses by up to 9.4 % of
    a sun's irradiance, which on the side facing away from a low sun is many times the sky's own light.
    """
    rest, directions, power = split_highlights(hdr, exact_texels)
    shape = normals.shape
    flat = normals.reshape(-1, 3)
    result = sh_irradiance(sh_coefficients(rest), flat)
    chunk = max(1, (1 << 22) // max(1, len(directions)))
    for start in range(0, len(flat), chunk):
        cosines = np.clip(flat[start : start + chunk] @ directions.T, 0.0, None)  # [n, k]
        result[start : start + chunk] += cosines @ power
    return result.reshape(shape)


# --------------------------------------------------------------------------------------------------
# Glossy lobe: importance-sampled normalised Phong
# --------------------------------------------------------------------------------------------------


def _orthonormal_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit tangents completing unit ``axis`` [..., 3] to an orthonormal frame (Duff et al.,
    "Building an Orthonormal Basis, Revisited", JCGT 2017, Listing 3)."""
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    sign = np.where(z >= 0, 1.0, -1.0)
    a = -1.0 / (sign + z)
    b = x * y * a
    tangent = np.stack([1.0 + sign * x * x * a, sign * b, -sign * x], axis=-1)
    bitangent = np.stack([b, sign + y * y * a, -y], axis=-1)
    return tangent, bitangent


def phong_lobe_radiance(
    hdr: np.ndarray,
    axes: np.ndarray,
    *,
    exponent: float,
    rng: np.random.Generator,
    samples: int = 256,
    exact_texels: int = 256,
) -> np.ndarray:
    """``int L(w) (s + 1) / (2 pi) max(0, a . w)^s dw`` for unit ``axes`` [N, 3] -> [N, 3] float32.

    Monte Carlo with the lobe as the pdf (Phong importance sampling: ``cos alpha = xi_1^(1/(s+1))``,
    azimuth ``2 pi xi_2``; Lafortune & Willems 1994), so the estimate is the mean radiance of the
    samples. The ``samples`` (rounded down to a square) are stratified on a jittered grid, jittered
    independently per axis from ``rng``. Lookups are bilinear and wrap-aware. The excess radiance of
    the ``exact_texels`` brightest texels is summed exactly instead (:func:`split_highlights`): a sun
    that a few random samples hit or miss would otherwise make wide lobes noisy.
    """
    hdr, bright, power = split_highlights(hdr, exact_texels)
    hdr = hdr.astype(np.float32)
    side = max(1, math.isqrt(samples))
    cells = (np.arange(side * side) // side, np.arange(side * side) % side)
    out = np.empty((len(axes), 3), dtype=np.float32)
    chunk = max(1, (1 << 20) // (side * side))
    for start in range(0, len(axes), chunk):
        axis = axes[start : start + chunk]  # [n, 3]
        n = len(axis)
        xi1 = (cells[0][None, :] + rng.random((n, side * side))) / side  # [n, K]
        xi2 = (cells[1][None, :] + rng.random((n, side * side))) / side
        cos_a = xi1 ** (1.0 / (exponent + 1.0))
        sin_a = np.sqrt(np.clip(1.0 - cos_a * cos_a, 0.0, None))
        phi = 2.0 * math.pi * xi2
        tangent, bitangent = _orthonormal_basis(axis)
        directions = (
            (sin_a * np.cos(phi))[..., None] * tangent[:, None, :]
            + (sin_a * np.sin(phi))[..., None] * bitangent[:, None, :]
            + cos_a[..., None] * axis[:, None, :]
        )  # [n, K, 3]
        lobe = (exponent + 1.0) / (2.0 * math.pi) * np.clip(axis @ bright.T, 0.0, None) ** exponent  # [n, k]
        out[start : start + n] = sample_bilinear(hdr, directions).mean(axis=1) + lobe @ power
    return out


def prefilter_phong(
    hdr: np.ndarray,
    *,
    exponent: float,
    rng: np.random.Generator,
    samples: int = 256,
    exact_texels: int = 256,
) -> np.ndarray:
    """The map convolved with the normalised Phong lobe (:func:`phong_lobe_radiance` at every texel
    centre), at a resolution with about two texels per lobe width (at most the map's own and 128 rows).
    Returns [h, 2h, 3] float32; look it up with :func:`glowgan.envmap.sample_bilinear`."""
    hdr = check_envmap(hdr)
    lobe_width = 1.0 / math.sqrt(max(exponent, 1.0))  # radians, about one standard deviation
    height = math.ceil(_GLOSSY_TEXELS_PER_LOBE * math.pi / lobe_width)
    height = max(4, min(height, hdr.shape[0], _GLOSSY_MAX_HEIGHT))
    axes = texel_directions(height, 2 * height).reshape(-1, 3)
    filtered = phong_lobe_radiance(hdr, axes, exponent=exponent, rng=rng, samples=samples, exact_texels=exact_texels)
    return filtered.reshape(height, 2 * height, 3)


# --------------------------------------------------------------------------------------------------
# The scene
# --------------------------------------------------------------------------------------------------


def camera_rays(height: int, width: int, fov_x_degrees: float, supersample: int = 1) -> np.ndarray:
    """Unit ray directions [height * s, width * s, 3] of a pinhole camera at the origin looking along +z
    (y up, +x right), through ``s x s`` regularly spaced points in each pixel (``s = supersample``)."""
    tan_x = math.tan(math.radians(fov_x_degrees) / 2.0)
    tan_y = tan_x * height / width
    rows, cols = height * supersample, width * supersample
    sx = (2.0 * (np.arange(cols) + 0.5) / cols - 1.0) * tan_x
    sy = (1.0 - 2.0 * (np.arange(rows) + 0.5) / rows) * tan_y
    rays = np.stack(np.broadcast_arrays(sx[None, :], sy[:, None], np.ones((1, 1))), axis=-1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _intersect(rays: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest unit-sphere hit per ray from the origin: (sphere index or -1 [...], distance [...])."""
    best_t = np.full(rays.shape[:-1], np.inf)
    best = np.full(rays.shape[:-1], -1, dtype=np.int64)
    for index, centre in enumerate(centres):
        b = rays @ centre  # ray . centre
        disc = b * b - (centre @ centre - 1.0)
        t = b - np.sqrt(np.clip(disc, 0.0, None))
        hit = (disc >= 0) & (t > 0) & (t < best_t)
        best_t = np.where(hit, t, best_t)
        best = np.where(hit, index, best)
    return best, best_t


def render(
    hdr: np.ndarray,
    *,
    height: int,
    width: int,
    scene: Scene = Scene(),
    rng: np.random.Generator,
    supersample: int = 1,
    glossy_samples: int = 256,
    exact_texels: int = 256,
) -> np.ndarray:
    """Render ``scene`` lit by map ``hdr`` [H, W, 3]: linear HDR image [height, width, 3] float32.

    Each pixel averages ``supersample x supersample`` rays. ``rng`` drives the glossy lobe's Monte
    Carlo prefiltering (only used when the scene has a glossy sphere). ``exact_texels``: the brightest
    texels summed exactly for the diffuse and glossy spheres (:func:`irradiance`,
    :func:`phong_lobe_radiance`; 0 = pure SH irradiance and plain Monte Carlo).
    """
    hdr = check_envmap(hdr)
    if height < 1 or width < 1 or supersample < 1:
        raise ValueError(
            f"render size must be at least 1x1 and supersample at least 1, got {height}x{width}, {supersample}"
        )
    rays = camera_rays(height, width, scene.fov_x_degrees(), supersample)  # [h, w, 3]
    centres = scene.centres()
    hit, t = _intersect(rays, centres)
    image = sample_bilinear(hdr, rays).astype(np.float64)  # background
    filtered = None
    if "glossy" in scene.materials:
        filtered = prefilter_phong(
            hdr, exponent=scene.exponent, rng=rng, samples=glossy_samples, exact_texels=exact_texels
        )
    for index, material in enumerate(scene.materials):
        mask = hit == index
        if not mask.any():
            continue
        d = rays[mask]
        normal = d * t[mask][:, None] - centres[index]
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        reflected = d - 2.0 * np.sum(d * normal, axis=-1, keepdims=True) * normal
        if material == "diffuse":
            lit = irradiance(hdr, normal, exact_texels=exact_texels)
            image[mask] = scene.albedo / math.pi * np.clip(lit, 0.0, None)
        elif material == "glossy":
            image[mask] = scene.specular * sample_bilinear(filtered, reflected)
        else:
            image[mask] = scene.mirror * sample_bilinear(hdr, reflected)
    if supersample > 1:
        image = image.reshape(height, supersample, width, supersample, 3).mean(axis=(1, 3))
    return image.astype(np.float32)


def sphere_masks(height: int, width: int, scene: Scene, *, margin: float = 1.0) -> np.ndarray:
    """[n, height, width] bool: pixels whose whole footprint (``margin`` pixels around the centre ray)
    lies on sphere ``k``; used to compare renderers away from anti-aliased silhouettes."""
    fov = scene.fov_x_degrees()
    centres = scene.centres()
    masks = []
    tan_x = math.tan(math.radians(fov) / 2.0)
    pixel = 2.0 * tan_x / width  # image-plane size of a pixel at z = 1
    rays = camera_rays(height, width, fov)
    for centre in centres:
        # Angle between each ray and the sphere's centre, against the sphere's angular radius.
        cos_angle = rays @ (centre / np.linalg.norm(centre))
        angle = np.arccos(np.clip(cos_angle, -1.0, 1.0))
        radius = math.asin(1.0 / np.linalg.norm(centre))
        masks.append(angle + margin * pixel * math.sqrt(2.0) < radius)
    return np.stack(masks)


# --------------------------------------------------------------------------------------------------
# Mitsuba 3 (optional)
# --------------------------------------------------------------------------------------------------


def mitsuba_available() -> bool:
    """Whether Mitsuba 3 can be imported (``pip install mitsuba``)."""
    try:
        import mitsuba  # noqa: F401
    except ImportError:
        return False
    return True


def render_mitsuba(
    hdr: np.ndarray,
    *,
    height: int,
    width: int,
    scene: Scene = Scene(),
    spp: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """The same scene rendered by Mitsuba 3's path tracer (``scalar_rgb`` variant, CPU).

    Conventions (module docstring): the map is passed unchanged as an ``envmap`` bitmap, and the
    scene is built with x negated. Diffuse and mirror spheres are Mitsuba's ``diffuse`` and
    ``conductor`` (``material = "none"``, reflectance ``mirror``); the glossy sphere is
    only approximated by a Beckmann ``roughconductor`` of matching lobe width
    (``alpha = sqrt(2 / (4 s + 2))``, Walter et al. 2007 Sec. 5.2 with the Phong-to-Blinn factor 4), so
    it is not expected to match. Mitsuba also traces shadows and inter-reflections between spheres,
    which the built-in renderer ignores; compare single spheres. Box pixel filter.
    """
    try:
        import mitsuba as mi
    except ImportError:
        raise ValueError(
            "the mitsuba renderer needs Mitsuba 3: pip install mitsuba (or use --renderer builtin)"
        ) from None
    hdr = check_envmap(hdr)
    mi.set_variant("scalar_rgb")
    transform = mi.ScalarTransform4f
    description: dict = {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 8},
        "sensor": {
            "type": "perspective",
            "fov": scene.fov_x_degrees(),
            "fov_axis": "x",
            "to_world": transform().look_at(origin=[0, 0, 0], target=[0, 0, 1], up=[0, 1, 0]),
            "film": {"type": "hdrfilm", "width": width, "height": height, "rfilter": {"type": "box"}},
            "sampler": {"type": "independent", "sample_count": spp, "seed": seed},
        },
        "light": {"type": "envmap", "bitmap": mi.Bitmap(np.ascontiguousarray(hdr, dtype=np.float32))},
    }
    for index, (material, centre) in enumerate(zip(scene.materials, scene.centres())):
        description[f"sphere{index}"] = {
            "type": "sphere",
            "center": [-float(centre[0]), float(centre[1]), float(centre[2])],
            "radius": 1.0,
            "bsdf": _mitsuba_bsdf(material, scene),
        }
    image = mi.render(mi.load_dict(description))
    return np.asarray(image, dtype=np.float32)[..., :3]


def _mitsuba_bsdf(material: str, scene: Scene) -> dict:
    if material == "diffuse":
        return {"type": "diffuse", "reflectance": {"type": "rgb", "value": [scene.albedo] * 3}}
    if material == "mirror":
        reflectance = {"type": "rgb", "value": [scene.mirror] * 3}
        return {"type": "conductor", "material": "none", "specular_reflectance": reflectance}
    alpha = math.sqrt(2.0 / (4.0 * scene.exponent + 2.0))
    return {
        "type": "roughconductor",
        "material": "none",
        "distribution": "beckmann",
        "alpha": alpha,
        "specular_reflectance": {"type": "rgb", "value": [scene.specular] * 3},
    }


def write_render(path: Path | str, image: np.ndarray) -> dict[str, Path]:
    """Write a render as ``path`` (linear EXR) and the same name with ``.png`` (Reinhard tone mapping at
    the auto exposure of :func:`glowgan.tonemap.auto_exposure_stops`). Both are written atomically."""
    exr = Path(path)
    png = exr.with_suffix(".png")
    preview = tonemap.tonemap(image, exposure_stops=tonemap.auto_exposure_stops(image), operator="reinhard")
    exr.parent.mkdir(parents=True, exist_ok=True)
    hdrio.write_hdr(exr, image)
    hdrio.write_ldr(png, preview)
    return {"exr": exr, "png": png}
