import math

import numpy as np
import pytest

from glowgan.envmap import texel_directions
from glowgan.metrics.light import AXIS_NAMES, axis_irradiance, clipped_energy_stops, clipped_peak_stops, irradiance_error


def test_a_uniform_panorama_gives_pi_l_at_every_axis_normal():
    radiance = 0.7
    assert np.allclose(axis_irradiance(np.full((16, 32, 3), radiance, np.float32)), math.pi * radiance, rtol=1e-5)


def test_a_panorama_lit_only_from_above_gives_zero_below_and_pi_l_above():
    """Upper hemisphere at radiance L: E(+y) = pi L, E(-y) = 0, E at the horizon normals = pi L / 2."""
    hdr = np.zeros((32, 64, 3), np.float32)
    hdr[:16] = 2.0
    energy = dict(zip(AXIS_NAMES, axis_irradiance(hdr)))
    assert energy["+y"] == pytest.approx(2 * math.pi, rel=1e-3)
    assert abs(energy["-y"]) < 1e-3 * energy["+y"]
    for name in ("+x", "-x", "+z", "-z"):
        assert energy[name] == pytest.approx(math.pi, rel=1e-3)
    # a small lamp at the zenith: nothing below the horizon receives its light
    lamp = np.zeros((32, 64, 3), np.float32)
    lamp[0] = 100.0
    lamp_energy = dict(zip(AXIS_NAMES, axis_irradiance(lamp)))
    assert lamp_energy["-y"] == 0.0 and lamp_energy["+y"] > 0


def test_axis_normals_follow_the_envmap_convention():
    """A bright patch in the direction of each axis lights that normal most."""
    directions = texel_directions(32, 64)
    for index, axis in enumerate(np.eye(3).repeat(2, axis=0) * np.array([1, -1] * 3)[:, None]):
        hdr = np.where((directions @ axis > 0.95)[..., None], 50.0, 0.01).repeat(3, axis=2).astype(np.float32)
        assert int(np.argmax(axis_irradiance(hdr))) == index, AXIS_NAMES[index]


def test_a_scaled_restoration_is_off_by_log2_of_the_scale():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.1, 3.0, (16, 32, 3)).astype(np.float32)
    clipped = np.zeros((16, 32), bool)
    clipped[2:5, 10:20] = True
    restored = truth.copy()
    restored[clipped] *= 0.25  # the clipped region has a quarter of its light
    assert clipped_energy_stops(restored, truth, clipped) == pytest.approx(-2.0, abs=1e-6)
    assert clipped_energy_stops(truth, truth, clipped) == pytest.approx(0.0, abs=1e-9)
    error = irradiance_error(3.0 * truth, truth)
    assert error["rms_stops"] == pytest.approx(math.log2(3.0), abs=1e-5)
    assert set(error["per_normal_stops"]) == set(AXIS_NAMES)
    assert all(value == pytest.approx(math.log2(3.0), abs=1e-5) for value in error["per_normal_stops"].values())


def test_the_peak_sees_an_invented_sun_where_the_energy_barely_moves():
    truth = np.full((16, 32, 3), 1.5, np.float32)  # a bright, sunless sky that clips
    clipped = np.zeros((16, 32), bool)
    clipped[:8] = True
    invented = truth.copy()
    invented[3, 12] = 1.5 * 64.0  # one pixel 6 stops brighter: a sun the photo does not have
    assert clipped_peak_stops(invented, truth, clipped) == pytest.approx(6.0, abs=1e-6)
    assert clipped_energy_stops(invented, truth, clipped) == pytest.approx(np.log2(1 + 63 / 256), abs=1e-6)
    assert clipped_peak_stops(truth, truth, clipped) == 0.0
    assert clipped_peak_stops(0.5 * truth, truth, clipped) == pytest.approx(-1.0, abs=1e-6)
    assert clipped_peak_stops(np.zeros_like(truth), truth, clipped) == -np.inf


def test_irradiance_error_sees_which_side_lacks_light_and_ignores_darkness_on_both_sides():
    truth = np.zeros((32, 64, 3), np.float32)
    truth[:16] = 1.0  # lit from above only
    dimmer_sky = truth * 0.5
    error = irradiance_error(dimmer_sky, truth)
    assert error["per_normal_stops"]["+y"] == pytest.approx(-1.0, abs=1e-3)
    assert error["per_normal_stops"]["-y"] == 0.0  # dark in both: floored, not log2(0 / 0)


def test_light_metrics_refuse_mismatched_or_empty_inputs():
    truth = np.ones((16, 32, 3), np.float32)
    with pytest.raises(ValueError, match="empty"):
        clipped_energy_stops(truth, truth, np.zeros((16, 32), bool))
    with pytest.raises(ValueError, match="one image size"):
        clipped_energy_stops(truth[:8], truth, np.ones((16, 32), bool))
    with pytest.raises(ValueError, match="the peak of the clipped region needs"):
        clipped_peak_stops(truth, truth, np.zeros((16, 32), bool))
    with pytest.raises(ValueError, match="black in the clipped region; its peak"):
        clipped_peak_stops(truth, np.zeros_like(truth), np.ones((16, 32), bool))
    with pytest.raises(ValueError, match="2:1"):
        irradiance_error(np.ones((16, 16, 3)), np.ones((16, 16, 3)))
    with pytest.raises(ValueError, match="black"):
        irradiance_error(truth, 0 * truth)
