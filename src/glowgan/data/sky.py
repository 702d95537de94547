"""Version 2 of the ``sky`` family: a physically based clear sky, sun, clouds, haze and ground.

:func:`glowgan.data.world.render_scenes` renders ``sky`` with this module for ``version=2`` (the
default); version 1 (an analytic gradient, a disk and blob clouds) stays in :mod:`glowgan.data.sky_v1`,
unchanged, so older sets remain reproducible. The conventions are those of the world module's
docstring: ``[N, 3, H, W]`` linear radiance >= 0 in scene units, equirectangular geometry, image ``i``
a deterministic function of its seed, everything a function of the view direction (the panorama wraps
around horizontally), small bright features pixel-filtered and energy-conserving. At about 630 lines
it is one physical model kept in one place on purpose: the sky, sun, clouds and ground share the
atmosphere's constants and the sun's attenuation, and split apart they would be read out of order.

What is modelled, and from where:

- **Clear sky**: Preetham, Shirley & Smits 1999, "A Practical Analytic Model for Daylight"
  (SIGGRAPH 99). The Perez et al. 1993 distribution
  ``F(theta, gamma) = (1 + A exp(B / cos theta)) (1 + C exp(D gamma) + E cos^2 gamma)`` for the
  luminance ``Y`` and the chromaticities ``x, y``, with the turbidity-dependent coefficients, the
  zenith luminance (kcd/m^2) and the zenith chromaticities of the paper's Appendix A.2;
  ``value = zenith value * F(theta, gamma) / F(0, theta_s)``; xyY -> XYZ -> linear Rec. 709 (D65).
  Turbidity 2-9 (``2 + 7 u^2``: most skies clear). One scene unit is 10^4 cd/m^2, so the clear zenith
  with a high sun is about 0.5-1.5 units (the world's convention). The model is fitted for a sun
  above the horizon; for twilight (8 % of skies, sun 0.3-6 degrees below the horizon) the sky of a
  sun on the horizon is dimmed by ``exp(elevation / 1.1 degrees)`` (a factor of about 200 from
  sunset to the end of civil twilight, as measured illuminances fall), an extrapolation.
- **Sun**: the extraterrestrial solar illuminance (128 klx, Darula, Kittler & Gueymard 2005) over the
  solid angle of a disk of angular radius 0.2666 degrees gives the disk's luminance outside the
  atmosphere (1.9x10^9 cd/m^2); its colour is a 5772 K Planck spectrum relative to D65 (taken as a
  6504 K one), sampled at the dominant wavelengths of the Rec. 709 primaries (612, 549, 465 nm). It
  is attenuated per channel by Rayleigh scattering, aerosols and ozone as in Preetham et al.'s
  Appendix A.1 (after Iqbal 1983): ``exp(-m (0.008735 lambda^-4.08 + beta lambda^-1.3 + l k_o))``,
  ``beta = 0.04608 T - 0.04586``, ``l = 0.35`` cm, ``k_o`` from Iqbal's table, ``m`` Kasten's 1966
  relative air mass. Two extensions of ours: ozone gets the air mass of a thin shell 22 km up (at most
  about 12, not Kasten's 38 at the horizon), and sunlight reaching clouds (1-8 km up, also from a sun
  just below the horizon, along a ray that dips towards the ground and rises again) crosses only the
  air and aerosol above them (scale heights 8 and 1.2 km). At a high sun and turbidity 2-3 the disk
  is about 10^5 times the zenith sky; it reddens and dims towards the horizon and with haze. Limb darkening: a grey
  Eddington atmosphere, ``T^4(tau) = 3/4 T_eff^4 (tau + 2/3)``, seen through the Eddington-Barbier
  relation ``I_lambda(mu) = B_lambda(T(tau = mu))`` (e.g. Rybicki & Lightman 1979, Ch. 1), which
  gives a limb at 27-37 % of the centre, darker in blue. The disk is pixel-filtered
  with its energy (mean radiance x solid angle) exact at any resolution; the limb profile fades out
  where the disk is smaller than a pixel. A circumsolar aureole (aerosol forward scattering inside the
  few degrees that the Perez fit smooths over) carries 1-8 % of the disk's energy, more with
  turbidity (circumsolar ratios of Buie, Monger & Dey 2003), in two energy-conserving Gaussian lobes.
- **Clouds**: band-limited fractal noise on a cloud plane (1-8 km up) as in version 1, now with an
  optical depth (thin edges, thick cores up to tau 3-60), lit by the sun and the sky: diffuse
  transmission and reflection of a non-absorbing slab in the Eddington two-stream approximation
  (``R = a / (1 + a)``, ``a = 3/4 (1 - g) tau``), sunlight reaching each point attenuated by the cloud
  towards the sun (a second noise sample shifted towards the sun, so the sides facing the sun are
  lit and the far sides in shade), and single forward scattering ``E_sun p_HG(gamma) tau exp(-tau)``
  with a Henyey-Greenstein phase function (g 0.75-0.9), which makes thin edges near the sun shine
  (silver linings). Clouds near the horizon are seen through more haze and fade into the clear sky.
  Clouds up to a few degrees of sun depression stay sunlit (red) in twilight.
- **Haze and ground**: the ground plane seen from a camera 1.5-300 m up (its horizon
  ``sqrt(2 R_earth h)`` away), textured as version 1's (grass, sand, rock, snow, woods), lit by the sun
  (``E cos``, through the clouds' shadows, found where the ray towards the sun crosses the cloud
  plane) and by the sky dome (its irradiance integrated over a fixed 8x16 grid of directions, clouds
  included), and blended into the horizon sky's colour with distance: aerial perspective with the
  meteorological range of the same turbidity (Koschmieder: ``V = 3.912 / extinction``, with the
  sea-level extinction of the Rayleigh and aerosol optical depths over scale heights of 8 and 1.2 km).
  Distant mountains (a periodic silhouette, 2-60 km away) are lit facing or against the sun and hazed
  the same way.

The sky dome's irradiance is a sum over a fixed grid of directions per image, not over the image's
pixels, so it does not depend on the resolution or the rest of the batch.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from glowgan.data.procedural import (
    FOREST_ALBEDO,
    GROUND_ALBEDOS,
    HORIZON_HARMONICS,
    MAX_OCTAVES,
    NOISE_CELLS_PER_PIXEL,
    NOISE_TABLE_SIZE,
    PIXEL_SIGMA,
    colour,
    fbm,
    gaussian_lobe,
    log_uniform,
    mix,
    per_image,
    rgb,
    rotate2d,
    smoothstep,
)
from glowgan.metrics.dynamic_range import REC709_WEIGHTS

_DEG = math.pi / 180.0

# --- units and colour -----------------------------------------------------------------------------
_CD_PER_UNIT = 1e4  # one scene unit of radiance is 10^4 cd/m^2 of luminance (clear zenith, high sun: ~1)
_KCD_TO_UNITS = 1e3 / _CD_PER_UNIT  # Preetham's luminances are in kcd/m^2
# CIE XYZ -> linear Rec. 709 / sRGB primaries, D65 white (IEC 61966-2-1; the inverse of its RGB -> XYZ matrix).
_XYZ_TO_RGB = torch.tensor(
    [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
)
# Dominant wavelengths of the Rec. 709 primaries, in micrometres: where the sun's spectrum is sampled.
_WAVELENGTHS_UM = np.array([0.612, 0.549, 0.465])

# --- Preetham et al. 1999, Appendix A.2 -----------------------------------------------------------
# Perez distribution coefficients, linear in turbidity T: per coefficient, rows Y, x, y of (slope, intercept).
_PEREZ = {
    "A": ((0.1787, -1.4630), (-0.0193, -0.2592), (-0.0167, -0.2608)),
    "B": ((-0.3554, 0.4275), (-0.0665, 0.0008), (-0.0950, 0.0092)),
    "C": ((-0.0227, 5.3251), (-0.0004, 0.2125), (-0.0079, 0.2102)),
    "D": ((0.1206, -2.5771), (-0.0641, -0.8989), (-0.0441, -1.6537)),
    "E": ((-0.0670, 0.3703), (-0.0033, 0.0452), (-0.0109, 0.0529)),
}
# Zenith chromaticities: x_z or y_z = [T^2, T, 1] M [theta_s^3, theta_s^2, theta_s, 1]^T (theta_s in radians).
_ZENITH_X = np.array(
    [[0.00166, -0.00375, 0.00209, 0.0], [-0.02903, 0.06377, -0.03202, 0.00394], [0.11693, -0.21196, 0.06052, 0.25886]]
)
_ZENITH_Y = np.array(
    [[0.00275, -0.00610, 0.00317, 0.0], [-0.04214, 0.08970, -0.04153, 0.00516], [0.15346, -0.26756, 0.06670, 0.26688]]
)
_COS_THETA_MIN = 1e-3  # the Perez gradation term is evaluated at most 89.94 degrees from the zenith
_TWILIGHT_SCALE = 1.1 * _DEG  # sky dimming per e-fold of sun depression below the horizon (extrapolation)

# --- the sun --------------------------------------------------------------------------------------
SUN_RADIUS = 0.2666 * _DEG  # mean angular radius of the solar disk
_SUN_SOLID_ANGLE = math.pi * SUN_RADIUS**2  # small-angle, as the pixel-filtered profiles integrate
_SOLAR_ILLUMINANCE_LX = 128e3  # extraterrestrial solar illuminance constant (Darula, Kittler & Gueymard 2005)
_SUN_LUMINANCE = _SOLAR_ILLUMINANCE_LX / _SUN_SOLID_ANGLE / _CD_PER_UNIT  # outside the atmosphere, scene units
_SUN_T_EFF = 5772.0  # K, the Sun's effective temperature (IAU 2015 nominal value)
_D65_CCT = 6504.0  # K, correlated colour temperature of D65
_PLANCK_C2_UM_K = 14387.77  # second radiation constant hc/k, micrometre kelvin
# Attenuation of the direct sun (Preetham et al. 1999, Appendix A.1, after Iqbal 1983):
_RAYLEIGH = (0.008735, 4.08)  # optical depth at one air mass: 0.008735 lambda^-4.08 (lambda in um)
_ANGSTROM_ALPHA = 1.3  # aerosol optical depth beta lambda^-alpha ...
_ANGSTROM_BETA = (0.04608365822050, -0.04586025928522)  # ... with beta = 0.04608 T - 0.04586
_OZONE_CM = 0.35  # ozone column, cm (NTP)
_OZONE_K = np.array([0.120, 0.085, 0.008])  # absorption coefficients at 610, 550, 465 nm, 1/cm (Iqbal 1983, p. 127)
_OZONE_HEIGHT_KM = 22.0  # height of the ozone layer, taken as a thin shell
_GRAZING_DOUBLING = 0.5 * _DEG  # below the horizon the air mass doubles over about this much depression
# Scale heights (km) that turn zenith optical depths into sea-level extinction for the haze.
_RAYLEIGH_SCALE_HEIGHT_KM = 8.0
_AEROSOL_SCALE_HEIGHT_KM = 1.2
_KOSCHMIEDER = 3.912  # meteorological range = 3.912 / extinction (2 % contrast threshold)
_AUREOLE_WIDTHS = (0.75 * _DEG, 2.5 * _DEG)  # two Gaussian lobes sharing the aureole's energy equally

# --- clouds, ground -------------------------------------------------------------------------------
_CLOUD_EPS = 0.06  # cloud plane coordinates (x, z) / (y + eps), as version 1
_CLOUD_SHIFT_MAX = 1.0  # lattice cells: the sample towards the sun that shades the far sides of clouds
_CLOUD_ROUGHNESS = 0.25  # billows: sunlit sides seen from below at any sun elevation, x cos(elevation)
_CLOUD_HAZE_FACTOR = 3.0  # haze is thinner at cloud level: clouds fade over 3x the ground's visual range
_EARTH_RADIUS_KM = 6371.0
_MOUNTAIN_SLOPE = 45.0 * _DEG  # mountain faces are lit as slopes of this steepness facing the camera
_DOME_RINGS, _DOME_SECTORS = 8, 16  # the fixed direction grid over which the sky's irradiance is summed


def _planck_ratio(temperature: np.ndarray | torch.Tensor, reference: float, wavelength_um):
    """``B_lambda(temperature) / B_lambda(reference)`` of Planck's law (shape-broadcasting, numpy or torch)."""
    lib = torch if isinstance(temperature, torch.Tensor) else np
    x = _PLANCK_C2_UM_K / wavelength_um
    return lib.expm1(x / reference) / lib.expm1(x / temperature)


def _eddington_temperature(mu):
    """Grey Eddington atmosphere at optical depth ``tau = mu`` (Eddington-Barbier): ``T / T_eff``."""
    return (0.75 * (mu + 2.0 / 3.0)) ** 0.25


def _limb_mean() -> np.ndarray:
    """Disk-averaged limb-darkening profile ``2 int_0^1 I(mu) mu dmu`` per channel (centre = 1)."""
    nodes, weights = np.polynomial.legendre.leggauss(64)
    mu = 0.5 * (nodes + 1.0)
    temperature = _SUN_T_EFF * _eddington_temperature(mu)[:, None]
    centre = _SUN_T_EFF * _eddington_temperature(1.0)
    profile = _planck_ratio(temperature, centre, _WAVELENGTHS_UM[None, :])
    return (weights[:, None] * profile * mu[:, None]).sum(axis=0)  # 2 * (1/2) * sum w f mu


def _sun_colour() -> np.ndarray:
    """Linear Rec. 709 colour of the sun outside the atmosphere, unit luminance: Planck at T_eff over D65."""
    colour = _planck_ratio(np.full(3, _SUN_T_EFF), _D65_CCT, _WAVELENGTHS_UM)
    return colour / float(colour @ REC709_WEIGHTS)


_LIMB_MEAN = _limb_mean()  # about (0.80, 0.78, 0.75): the disk's mean radiance over its centre's
_LIMB_EDGE = _planck_ratio(  # about (0.37, 0.33, 0.27): the limb's radiance over the centre's
    _SUN_T_EFF * _eddington_temperature(0.0), _SUN_T_EFF * _eddington_temperature(1.0), _WAVELENGTHS_UM
)
_SUN_COLOUR = _sun_colour()  # about (1.05, 1.00, 0.91): slightly warmer than D65


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


def draw_sky(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one version-2 sky panorama (8 % twilight, 25 % cloudless)."""
    twilight = rng.random() < 0.08
    if twilight:
        sun_el = -rng.uniform(0.3, 6.0) * _DEG
    else:
        sun_el = (0.5 + 69.5 * rng.random() ** 1.4) * _DEG
    clear = rng.random() < 0.25
    cover = 0.0 if clear else float(rng.uniform(0.05, 1.0) ** 1.6)
    harmonics = np.arange(1, HORIZON_HARMONICS + 1)
    mountain_amp = log_uniform(rng, 0.01, 0.2)
    return {
        "sun_az": rng.uniform(-math.pi, math.pi),
        "sun_el": sun_el,
        "turbidity": 2.0 + 7.0 * rng.random() ** 2,  # 2 very clear ... 9 hazy; most skies 2-4
        "cover": cover,
        "cloud_soft": rng.uniform(0.2, 0.7),
        "cloud_scale": log_uniform(rng, 1.0, 4.0),  # lattice cells per cloud height
        "cloud_tau": log_uniform(rng, 3.0, 60.0),  # vertical optical depth of the thickest parts
        "cloud_g": rng.uniform(0.75, 0.9),  # Henyey-Greenstein asymmetry of cloud droplets
        "cloud_height": log_uniform(rng, 1.0, 8.0),  # km above the camera
        "cloud_angle": rng.uniform(0.0, 2.0 * math.pi),
        "cloud_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "camera_height": log_uniform(rng, 1.5, 300.0) * 1e-3,  # km
        "ground_albedo": GROUND_ALBEDOS[rng.integers(len(GROUND_ALBEDOS))] * rng.uniform(0.7, 1.3, size=3),
        "ground_scale": log_uniform(rng, 4.0, 16.0),  # lattice cells per camera height
        "ground_offset": rng.uniform(0.0, NOISE_TABLE_SIZE, size=2),
        "forest": rng.uniform(-0.6, 0.5),  # threshold of woods / rocks in shade; higher: fewer
        "forest_albedo": FOREST_ALBEDO * rng.uniform(0.5, 1.5) * rng.uniform(0.8, 1.2, size=3),
        "forest_shade": rng.uniform(0.15, 0.6),  # sky light under the canopy / in the open
        "horizon_base": rng.uniform(-0.03, 0.04),
        "horizon_amp": mountain_amp * harmonics**-1.2 * rng.standard_normal(HORIZON_HARMONICS),
        "horizon_phase": rng.uniform(0.0, 2.0 * math.pi, size=HORIZON_HARMONICS),
        "mountain_distance": log_uniform(rng, 2.0, 60.0),  # km
        "mountain_albedo": rng.uniform(0.05, 0.25) * rng.uniform(0.85, 1.15, size=3),
    }


# --------------------------------------------------------------------------------------------------
# Clear sky (Preetham et al. 1999) and the sun's light
# --------------------------------------------------------------------------------------------------


class _Atmosphere:
    """Per-image quantities of the clear atmosphere and the sun, all ``[N, ...]`` tensors."""

    def __init__(self, p: dict[str, torch.Tensor]) -> None:
        turbidity = p["turbidity"]
        n = turbidity.shape[0]
        self.sun_el = p["sun_el"]
        self.sun_az = p["sun_az"]
        el = self.sun_el.clamp_min(0.0)  # Preetham's fit needs the sun above the horizon
        self.sun_dir = (torch.cos(el) * torch.sin(self.sun_az), torch.sin(el), torch.cos(el) * torch.cos(self.sun_az))
        true_el = self.sun_el
        self.true_sun_dir = (
            torch.cos(true_el) * torch.sin(self.sun_az),
            torch.sin(true_el),
            torch.cos(true_el) * torch.cos(self.sun_az),
        )
        theta_s = math.pi / 2 - el  # [N]
        # Perez coefficients [N, 3] (components Y, x, y).
        self.coef = {}
        for name, rows in _PEREZ.items():
            slope = torch.tensor([r[0] for r in rows])
            intercept = torch.tensor([r[1] for r in rows])
            self.coef[name] = (turbidity[:, None] * slope + intercept).reshape(n, 3, 1, 1)
        chi = (4.0 / 9.0 - turbidity / 120.0) * (math.pi - 2.0 * theta_s)
        zenith_y = (4.0453 * turbidity - 4.9710) * torch.tan(chi) - 0.2155 * turbidity + 2.4192  # kcd/m^2
        t_powers = torch.stack((turbidity**2, turbidity, torch.ones_like(turbidity)), dim=1)  # [N, 3]
        s_powers = torch.stack((theta_s**3, theta_s**2, theta_s, torch.ones_like(theta_s)), dim=1)  # [N, 4]
        zenith_x = torch.einsum("ni,ij,nj->n", t_powers, torch.tensor(_ZENITH_X, dtype=torch.float32), s_powers)
        zenith_yc = torch.einsum("ni,ij,nj->n", t_powers, torch.tensor(_ZENITH_Y, dtype=torch.float32), s_powers)
        self.zenith = torch.stack((zenith_y, zenith_x, zenith_yc), dim=1).reshape(n, 3, 1, 1)
        self.perez_zenith = self._perez(torch.ones(1, 1, 1, 1), per_image(theta_s).unsqueeze(1))  # F(0, theta_s)
        twilight = torch.exp(self.sun_el.clamp(max=0.0) / _TWILIGHT_SCALE)
        self.sky_scale = per_image(twilight * _KCD_TO_UNITS).unsqueeze(1)  # [N, 1, 1, 1]

        # Direct sun at the ground: mean disk radiance per channel [N, 3] (0 once it has set).
        self.transmittance = self.sun_transmittance(turbidity, self.sun_el, torch.zeros(n))  # [N, 3]
        self.sun_radiance = _SUN_LUMINANCE * rgb(_SUN_COLOUR).reshape(1, 3) * self.transmittance
        visible = smoothstep(-SUN_RADIUS, SUN_RADIUS, self.sun_el)  # the disk sinks below the horizon
        self.sun_irradiance = self.sun_radiance * _SUN_SOLID_ANGLE * visible[:, None]  # normal incidence
        self.aureole = (0.01 * (turbidity - 1.0)).clamp(0.01, 0.08)  # aureole energy / disk energy

        # Haze: sea-level extinction at 549 nm -> meteorological range (km).
        wavelength = float(_WAVELENGTHS_UM[1])
        beta = _ANGSTROM_BETA[0] * turbidity + _ANGSTROM_BETA[1]
        extinction = (
            _RAYLEIGH[0] * wavelength ** -_RAYLEIGH[1] / _RAYLEIGH_SCALE_HEIGHT_KM
            + beta * wavelength**-_ANGSTROM_ALPHA / _AEROSOL_SCALE_HEIGHT_KM
        )
        self.visibility = _KOSCHMIEDER / extinction  # [N] km

    @staticmethod
    def sun_transmittance(turbidity: torch.Tensor, sun_el: torch.Tensor, altitude_km: torch.Tensor) -> torch.Tensor:
        """Transmittance ``[N, 3]`` of the direct sun at elevation ``sun_el`` seen from ``altitude_km``.

        Rayleigh, aerosol (Angstrom) and ozone optical depths times their air masses (Preetham et al.
        1999, Appendix A.1): Kasten's 1966 relative air mass, scaled by the fraction of each species'
        column above the observer (scale heights 8 and 1.2 km); ozone as a thin shell 22 km up (air
        mass at most about 12). A sun below the horizon (seen from a cloud) is reached along a ray that
        dips to the tangent height ``altitude - R el^2 / 2`` and rises again: about twice the column.
        """
        lam = torch.tensor(_WAVELENGTHS_UM, dtype=torch.float32)
        beta = _ANGSTROM_BETA[0] * turbidity + _ANGSTROM_BETA[1]
        up = sun_el.clamp_min(0.0)
        down = sun_el.clamp(max=0.0)
        zenith_deg = 90.0 - up / _DEG
        kasten = 1.0 / (torch.cos(math.pi / 2 - up) + 0.15 * (93.885 - zenith_deg) ** -1.253)
        tangent = (altitude_km - 0.5 * _EARTH_RADIUS_KM * down**2).clamp_min(0.0)
        twice = 2.0 - torch.exp(down / _GRAZING_DOUBLING)
        rayleigh_mass = kasten * torch.exp(-tangent / _RAYLEIGH_SCALE_HEIGHT_KM) * twice
        aerosol_mass = kasten * torch.exp(-tangent / _AEROSOL_SCALE_HEIGHT_KM) * twice
        ozone_mass = twice / torch.sqrt(torch.sin(up) ** 2 + 2.0 * _OZONE_HEIGHT_KM / _EARTH_RADIUS_KM)
        depth = (
            rayleigh_mass[:, None] * _RAYLEIGH[0] * lam ** -_RAYLEIGH[1]
            + aerosol_mass[:, None] * beta[:, None] * lam**-_ANGSTROM_ALPHA
            + ozone_mass[:, None] * _OZONE_CM * torch.tensor(_OZONE_K, dtype=torch.float32)
        )
        return torch.exp(-depth)

    def _perez(self, cos_theta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Perez distribution of (Y, x, y) ``[N, 3, ...]`` for view zenith cosines and sun angles ``[., 1, ...]``."""
        c = self.coef
        gradation = 1.0 + c["A"] * torch.exp(c["B"] / cos_theta.clamp_min(_COS_THETA_MIN))
        indicatrix = 1.0 + c["C"] * torch.exp(c["D"] * gamma) + c["E"] * torch.cos(gamma) ** 2
        return gradation * indicatrix

    def sun_angle(self, dx, dy, dz) -> torch.Tensor:
        """Angle between view directions ``[., H, W]`` and the (clamped) sun, ``[N, H, W]``."""
        sx, sy, sz = (per_image(v) for v in self.sun_dir)
        chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
        return 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))

    def clear_sky(self, dy: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Clear-sky radiance ``[N, 3, H, W]`` (scene units) for directions of height ``dy`` (the cosine of
        the zenith angle) and angle to the sun ``gamma``. Directions below the horizon get the horizon's
        value (Perez's gradation term at ``theta`` of nearly 90 degrees)."""
        ratio = self._perez(dy.unsqueeze(1), gamma.unsqueeze(1)) / self.perez_zenith
        big_y, x, y = (self.zenith * ratio).unbind(dim=1)  # each [N, H, W]
        y = y.clamp_min(1e-4)
        xyz = torch.stack((x / y * big_y, big_y, (1.0 - x - y) / y * big_y), dim=1)
        radiance = torch.einsum("ij,njhw->nihw", _XYZ_TO_RGB, xyz)
        return radiance.clamp_min(0.0) * self.sky_scale


# --------------------------------------------------------------------------------------------------
# Clouds
# --------------------------------------------------------------------------------------------------


def _cloud_depth(
    p: dict[str, torch.Tensor], u: torch.Tensor, v: torch.Tensor, cells_per_pixel, octaves: int
) -> torch.Tensor:
    """Vertical optical depth of the cloud layer at (unrotated) plane coordinates ``u, v`` (lattice cells)."""
    cu, cv = rotate2d(p["cloud_angle"], u, v)
    off = p["cloud_offset"]
    noise = fbm(
        cu + per_image(off[:, 0]), cv + per_image(off[:, 1]), cells_per_pixel=cells_per_pixel, octaves=octaves
    )
    cover = per_image(p["cover"])
    threshold = 1.0 - 2.2 * cover
    soft = per_image(p["cloud_soft"])
    density = smoothstep(threshold, threshold + soft, noise) * (cover > 0)
    core = ((noise - threshold) / (2.0 * soft + 0.5)).clamp(0.0, 1.0)
    return per_image(p["cloud_tau"]) * density * (0.1 + 0.9 * core)


def _henyey_greenstein(cos_angle: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Henyey-Greenstein phase function (per steradian) for scattering angles with cosine ``cos_angle``."""
    return (1.0 - g * g) / (4.0 * math.pi * (1.0 + g * g - 2.0 * g * cos_angle).clamp_min(1e-6) ** 1.5)


class _Sky:
    """The sky dome (clear sky and clouds, without the sun's disk) as a function of direction."""

    def __init__(self, p: dict[str, torch.Tensor], atmosphere: _Atmosphere) -> None:
        self.p = p
        self.atm = atmosphere
        n = p["cover"].shape[0]
        sx, sy, sz = atmosphere.sun_dir
        horizontal = torch.sqrt(sx * sx + sz * sz).clamp_min(1e-6)
        shift = (0.25 * p["cloud_scale"] * torch.cos(atmosphere.sun_el) / sy.clamp_min(0.1)).clamp(
            max=_CLOUD_SHIFT_MAX
        )
        self.shift = (per_image(shift * sx / horizontal), per_image(shift * sz / horizontal))
        # Sunlight at cloud level: clouds see the sun until it is sqrt(2 h / R) below the horizon.
        dip = torch.sqrt(2.0 * p["cloud_height"] / _EARTH_RADIUS_KM)
        lit = smoothstep(-dip - SUN_RADIUS, -dip + SUN_RADIUS, atmosphere.sun_el)
        sun_at_clouds = _Atmosphere.sun_transmittance(p["turbidity"], atmosphere.sun_el, p["cloud_height"])
        self.cloud_sun = _SUN_LUMINANCE * _SUN_SOLID_ANGLE * rgb(_SUN_COLOUR).reshape(1, 3) * sun_at_clouds
        self.cloud_sun = self.cloud_sun * lit[:, None]  # [N, 3] irradiance at normal incidence
        self.ambient = torch.zeros(n, 3)  # clear-sky radiance averaged over the dome, set by the caller

    def __call__(self, dx, dy, dz, pixel: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Along directions ``[., H, W]``: radiance ``[N, 3, H, W]``, the clouds' transmittance ``[N, H, W]``
        and the clear sky alone ``[N, 3, H, W]`` (below the horizon: the horizon's, at the true sun angle)."""
        p, atm = self.p, self.atm
        gamma = atm.sun_angle(dx, dy, dz)
        sky = atm.clear_sky(dy, gamma)
        plane = 1.0 / (dy + _CLOUD_EPS).clamp_min(_CLOUD_EPS * 0.5)
        scale = per_image(p["cloud_scale"])
        u, v = dx * plane * scale, dz * plane * scale
        cells_per_pixel = scale * plane**2 * pixel
        fade = smoothstep(0.0, 0.08, dy)
        depth = _cloud_depth(p, u, v, cells_per_pixel, MAX_OCTAVES) * fade
        toward_sun = _cloud_depth(p, u + self.shift[0], v + self.shift[1], cells_per_pixel, 3) * fade
        slant = 1.15 / (dy.clamp_min(0.0) + 0.15)  # longer paths through the layer towards the horizon
        view_depth = depth * slant
        g = per_image(p["cloud_g"])
        a = 0.75 * (1.0 - g) * depth
        reflect, transmit = a / (1.0 + a), 1.0 / (1.0 + a)
        shade = torch.exp(-(1.0 - g) * toward_sun)  # sunlight reaching this point through the cloud nearer the sun
        sun_up = per_image(torch.sin(atm.sun_el).clamp_min(0.0))
        rough = per_image(_CLOUD_ROUGHNESS * torch.cos(atm.sun_el))
        cos_gamma = torch.cos(gamma)
        side = 1.0 - smoothstep(0.0, 0.5, dy)  # towards the horizon we see the clouds' sides ...
        facing = 0.5 * (1.0 - cos_gamma)  # ... lit when the sun is behind us
        direct = (sun_up * transmit + (rough + side * facing) * reflect) * shade / math.pi
        ambient = 0.3 + 0.7 * transmit
        opacity = 1.0 - torch.exp(-view_depth)
        silver = _henyey_greenstein(cos_gamma, g) * view_depth * torch.exp(-view_depth) * shade
        cloud_light = colour(self.cloud_sun) * (opacity * direct + silver).unsqueeze(1) + colour(
            self.ambient
        ) * (opacity * ambient).unsqueeze(1)
        # Far clouds are seen through haze and fade into the clear sky.
        distance = per_image(p["cloud_height"]) * plane
        seen = torch.exp(-distance / (_CLOUD_HAZE_FACTOR * per_image(atm.visibility)))
        cloudy = sky * (1.0 - opacity).unsqueeze(1) + cloud_light
        transmittance = 1.0 - seen * opacity
        return mix(sky, cloudy, seen.unsqueeze(1)), transmittance, sky


@lru_cache(maxsize=1)
def _patch_std() -> float:
    """Standard deviation of the 3-octave noise of the ground's patches (sampled over one lattice period)."""
    grid = torch.arange(0.0, NOISE_TABLE_SIZE, 0.25)
    x, y = torch.meshgrid(grid, grid + 0.125, indexing="ij")
    return float(fbm(x, y, cells_per_pixel=0.0, octaves=3).std())


def _dome_grid() -> tuple[torch.Tensor, ...]:
    """Directions ``[1, R, S]`` and horizontal-irradiance weights ``cos(zenith) d omega`` of the dome grid."""
    d_el = 0.5 * math.pi / _DOME_RINGS
    d_az = 2.0 * math.pi / _DOME_SECTORS
    el = ((torch.arange(_DOME_RINGS) + 0.5) * d_el).reshape(1, -1, 1)
    az = ((torch.arange(_DOME_SECTORS) + 0.5) * d_az - math.pi).reshape(1, 1, -1)
    dx = (torch.cos(el) * torch.sin(az)).expand(1, _DOME_RINGS, _DOME_SECTORS)
    dy = torch.sin(el).expand(1, _DOME_RINGS, _DOME_SECTORS)
    dz = (torch.cos(el) * torch.cos(az)).expand(1, _DOME_RINGS, _DOME_SECTORS)
    weight = (torch.sin(el) * torch.cos(el) * d_el * d_az).expand(1, _DOME_RINGS, _DOME_SECTORS)
    return dx, dy, dz, weight


# --------------------------------------------------------------------------------------------------
# The panorama
# --------------------------------------------------------------------------------------------------


def _directions(rows: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Elevation ``[1, R, 1]``, azimuth ``[1, 1, W]`` and unit direction fields ``[1, R, W]`` of image rows."""
    el = (math.pi / 2 - math.pi * (rows + 0.5) / height).reshape(1, -1, 1)
    az = (2.0 * math.pi * (torch.arange(width) + 0.5) / width - math.pi).reshape(1, 1, width)
    dx = torch.cos(el) * torch.sin(az)
    dy = torch.sin(el).expand(1, len(rows), width)
    dz = torch.cos(el) * torch.cos(az)
    return el, az, dx, dy, dz


def render_sky(p: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Version-2 sky panoramas ``[N, 3, H, W]``, linear, >= 0 (see the module docstring).

    The sky is rendered only in the rows above the lowest point of the batch's horizons, the ground
    only in the rows below the highest; each pixel is still a function of its own image alone.
    """
    pixel = max(math.pi / height, 2.0 * math.pi / width)  # angular pixel size (radians)
    row_height = math.pi / height
    atm = _Atmosphere(p)
    dome = _Sky(p, atm)

    # The dome's irradiance on a horizontal surface: clear sky first (it lights the clouds), then all of it.
    gx, gy, gz, weight = _dome_grid()
    clear = atm.clear_sky(gy, atm.sun_angle(gx, gy, gz))
    dome.ambient = (clear * weight.unsqueeze(1)).sum(dim=(2, 3)) / math.pi  # [N, 3], radiance of the mean sky
    radiance, cloud_t, _ = dome(gx, gy, gz, 0.5 * math.pi / _DOME_RINGS)
    sky_irradiance = (radiance * weight.unsqueeze(1)).sum(dim=(2, 3))  # [N, 3]
    mean_transmittance = (cloud_t * weight).sum(dim=(1, 2)) / weight.sum()  # [N]
    sun_up = atm.true_sun_dir[1].clamp_min(0.0)  # [N]
    sun_flux = atm.sun_irradiance * sun_up[:, None]  # [N, 3] on a horizontal surface
    # Aerosols and air are lit less under clouds: the haze's brightness follows the light falling on it.
    haze_light = (sky_irradiance + sun_flux * mean_transmittance[:, None]) / (math.pi * dome.ambient + sun_flux)

    # The silhouette of the land (mountains, tree lines): a Fourier series in azimuth, so seamless.
    az_all = (2.0 * math.pi * (torch.arange(width) + 0.5) / width - math.pi).reshape(1, 1, width)
    k = torch.arange(1, HORIZON_HARMONICS + 1, dtype=torch.float32).reshape(1, -1, 1)
    band_limit = (k <= width / 4).float()
    ridge = per_image(p["horizon_base"]).squeeze(-1) + (
        band_limit * p["horizon_amp"].unsqueeze(-1) * torch.sin(k * az_all + p["horizon_phase"].unsqueeze(-1))
    ).sum(dim=1)  # [N, W], elevation of the silhouette
    ridge = ridge.unsqueeze(1)  # [N, 1, W]
    el_rows = math.pi / 2 - math.pi * (torch.arange(height) + 0.5) / height
    sky_rows = int((el_rows > float(ridge.min()) - 0.5 * row_height).sum())  # rows 0 .. sky_rows - 1
    ground_from = int((el_rows >= float(ridge.max()) + 0.5 * row_height).sum())  # rows ground_from .. H - 1
    sky = torch.zeros(ridge.shape[0], 3, height, width)
    ground = torch.zeros_like(sky)
    if sky_rows > 0:
        sky[:, :, :sky_rows] = _render_dome(atm, dome, torch.arange(sky_rows), height, width, pixel)
    if ground_from < height:
        rows = torch.arange(ground_from, height)
        ground[:, :, ground_from:] = _render_ground(
            p, atm, dome, rows, height, width, pixel, sky_irradiance, mean_transmittance, haze_light
        )
    el = el_rows.reshape(1, height, 1)
    coverage = ((ridge - el) / row_height + 0.5).clamp(0.0, 1.0).unsqueeze(1)  # [N, 1, H, W], ground fraction
    return torch.where(coverage >= 1.0, ground, torch.where(coverage <= 0.0, sky, mix(sky, ground, coverage)))


def _render_dome(atm: _Atmosphere, dome: _Sky, rows, height: int, width: int, pixel: float) -> torch.Tensor:
    """The sky (clear sky, clouds, the sun's disk and aureole) in image ``rows``: ``[N, 3, R, W]``."""
    _, _, dx, dy, dz = _directions(rows, height, width)
    sky, transmittance, _ = dome(dx, dy, dz, pixel)
    # Sun: limb-darkened disk and aureole, pixel-filtered, energy-conserving; dimmed by the clouds.
    sx, sy, sz = (per_image(v) for v in atm.true_sun_dir)
    chord = torch.sqrt((dx - sx) ** 2 + (dy - sy) ** 2 + (dz - sz) ** 2)
    theta = 2.0 * torch.asin((0.5 * chord).clamp(max=1.0))  # [N, R, W], angle to the true sun
    disk_energy = atm.sun_irradiance  # [N, 3] = mean radiance x solid angle
    sun = _sun_disk(theta, pixel, disk_energy)
    for width_k in _AUREOLE_WIDTHS:
        lobe_energy = 0.5 * atm.aureole[:, None] * disk_energy
        sun = sun + gaussian_lobe(theta.unsqueeze(1), torch.tensor(width_k), pixel, colour(lobe_energy))
    return sky + sun * transmittance.unsqueeze(1)


def _render_ground(
    p: dict[str, torch.Tensor],
    atm: _Atmosphere,
    dome: _Sky,
    rows,
    height: int,
    width: int,
    pixel: float,
    sky_irradiance: torch.Tensor,
    mean_transmittance: torch.Tensor,
    haze_light: torch.Tensor,
) -> torch.Tensor:
    """The land in image ``rows``: the ground plane below the horizon, mountains above it, ``[N, 3, R, W]``."""
    el, az, dx, dy, dz = _directions(rows, height, width)
    sx, sy, sz = (per_image(v) for v in atm.true_sun_dir)
    sun_up = sy.clamp_min(0.0)  # [N, 1, 1]

    # Light on the ground: the sun (through the clouds' shadows) and the sky dome.
    camera_h = per_image(p["camera_height"])
    horizon_eps = torch.sqrt(camera_h / (2.0 * _EARTH_RADIUS_KM))  # ground distance tops out at sqrt(2 R h)
    below = (-dy).clamp_min(0.0) + horizon_eps  # [N, R, W]
    reach = 1.0 / below  # ground distance in camera heights
    cloud_h = per_image(p["cloud_height"])
    scale = per_image(p["cloud_scale"])
    to_plane = (camera_h / cloud_h) * reach  # ground point, in cloud heights from the camera
    sun_plane = 1.0 / (sy + _CLOUD_EPS).clamp_min(_CLOUD_EPS * 0.5)  # where the sun's ray meets the cloud plane
    shadow_u = (dx * to_plane + sx * sun_plane) * scale
    shadow_v = (dz * to_plane + sz * sun_plane) * scale
    shadow_cpp = scale * (camera_h / cloud_h) * reach**2 * pixel
    shadow_depth = _cloud_depth(p, shadow_u, shadow_v, shadow_cpp, 2)
    shadow = torch.exp(-shadow_depth / sun_up.clamp_min(0.1))
    direct = colour(atm.sun_irradiance * (1.0 + atm.aureole[:, None])) * (sun_up * shadow).unsqueeze(1)
    ambient = colour(sky_irradiance)

    # Textures: ground-plane noise below the horizon, (azimuth, elevation) noise on the mountains above it.
    gscale = per_image(p["ground_scale"])
    goff = p["ground_offset"]
    cells_per_radian = NOISE_TABLE_SIZE / (2.0 * math.pi)  # one lattice period per turn: seamless in azimuth
    above = dy > 0
    tex_u = torch.where(above, az * 4.0 * cells_per_radian, dx * reach * gscale) + per_image(goff[:, 0])
    tex_v = torch.where(above, el * 8.0 * cells_per_radian, dz * reach * gscale) + per_image(goff[:, 1])
    tex_cpp = torch.where(above, 8.0 * cells_per_radian * pixel, gscale * reach**2 * pixel)
    tex = fbm(tex_u, tex_v, cells_per_pixel=tex_cpp, octaves=4)
    ground_u, ground_v = dx * reach * gscale, dz * reach * gscale
    patch_cpp = 0.37 * gscale * reach**2 * pixel
    patches = fbm(0.37 * ground_v + 5.0, 0.37 * ground_u + 3.0, cells_per_pixel=patch_cpp, octaves=3)
    # Far away the patches' noise is band-limited to its mean; their coverage tends to its expected value.
    threshold = per_image(p["forest"]) + 0.2
    expected = 0.5 * torch.erfc(threshold / (math.sqrt(2.0) * _patch_std()))
    resolved = (2.0 - patch_cpp / NOISE_CELLS_PER_PIXEL).clamp(0.0, 1.0)
    forest = mix(expected, smoothstep(threshold - 0.2, threshold + 0.2, patches), resolved)
    open_ground = colour(p["ground_albedo"]) * (ambient + direct) * torch.exp(0.35 * tex).unsqueeze(1)
    woods = (
        colour(p["forest_albedo"])
        * ambient
        * (per_image(p["forest_shade"]) * torch.exp(0.7 * tex)).unsqueeze(1)
    )
    surface = mix(open_ground, woods, forest.unsqueeze(1)) / math.pi

    # Aerial perspective: the clear horizon sky (at the view's angle to the sun), dimmed where clouds shade the air.
    haze = atm.clear_sky(dy.clamp(max=0.0), atm.sun_angle(dx, dy, dz)) * colour(haze_light)
    visibility = per_image(atm.visibility)
    fog = 1.0 - torch.exp(-camera_h * reach / visibility)  # [N, R, W]
    ground = mix(surface, haze, fog.unsqueeze(1))

    # Mountains above the geometric horizon: slopes facing the camera, lit by sun and sky, hazed by distance.
    true_el = per_image(atm.sun_el)
    facing = (
        math.sin(_MOUNTAIN_SLOPE) * torch.sin(true_el)
        - math.cos(_MOUNTAIN_SLOPE) * torch.cos(true_el) * torch.cos(az - per_image(atm.sun_az))
    ).clamp_min(0.0)  # [N, 1, W]
    mountain_light = 0.5 * ambient + colour(atm.sun_irradiance * mean_transmittance[:, None]) * facing.unsqueeze(1)
    mountain = colour(p["mountain_albedo"]) * mountain_light * torch.exp(0.3 * tex).unsqueeze(1) / math.pi
    mountain_seen = torch.exp(-per_image(p["mountain_distance"]) / visibility)
    mountain = mix(haze, mountain, mountain_seen.unsqueeze(1))
    return torch.where(above.unsqueeze(1), mountain, ground)


def _sun_disk(theta: torch.Tensor, pixel: float, energy: torch.Tensor) -> torch.Tensor:
    """The limb-darkened solar disk ``[N, 3, H, W]`` at angles ``theta`` ``[N, H, W]`` from its centre.

    ``energy`` ``[N, 3]``: mean radiance x solid angle. As :func:`glowgan.data.world.disk`, the disk
    gets a Gaussian edge of ``PIXEL_SIGMA`` pixels and its peak is set so that the integral is
    ``energy`` at any resolution; the limb-darkening profile is weighted by ``R^2 / (R^2 + (2 sigma)^2)``,
    so it shows where the disk is resolved and fades out (to a flat disk) where it is not.
    """
    radius = SUN_RADIUS
    sigma = PIXEL_SIGMA * pixel
    resolved = radius**2 / (radius**2 + (2.0 * sigma) ** 2)
    inside = (theta.clamp(max=radius) / radius).unsqueeze(1)
    mu = torch.sqrt((1.0 - inside**2).clamp_min(0.0))
    wavelength = torch.tensor(_WAVELENGTHS_UM, dtype=torch.float32).reshape(1, 3, 1, 1)
    centre = _SUN_T_EFF * _eddington_temperature(1.0)
    limb = _planck_ratio(_SUN_T_EFF * _eddington_temperature(mu), centre, wavelength)
    profile = 1.0 - resolved * (1.0 - limb)
    edge_level = 1.0 - resolved * (1.0 - rgb(_LIMB_EDGE))
    disk_level = 1.0 - resolved * (1.0 - rgb(_LIMB_MEAN))
    area = math.pi * radius**2 * disk_level + edge_level * (
        math.sqrt(2.0 * math.pi**3) * radius * sigma + 2.0 * math.pi * sigma**2
    )
    outside = (theta - radius).clamp_min(0.0).unsqueeze(1)
    return colour(energy) / area * profile * torch.exp(-0.5 * (outside / sigma) ** 2)
