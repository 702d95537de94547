import numpy as np
import pytest

from glowgan import tonemap
from glowgan.metrics.dynamic_range import dynamic_range_stops, luminance


def test_srgb_encode_matches_standard_points_and_inverts():
    linear = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0, 2.0], dtype=np.float32)
    encoded = tonemap.srgb_encode(linear)
    assert encoded[0] == 0 and encoded[-1] == 1 and encoded[-2] == 1
    assert encoded[1] == pytest.approx(0.04045, abs=1e-5)
    assert encoded[2] == pytest.approx(0.4614, abs=1e-3)  # mid-grey -> ~118/255
    assert np.allclose(tonemap.srgb_decode(encoded[:5]), linear[:5], atol=1e-6)


@pytest.mark.parametrize("operator", tonemap.OPERATORS)
def test_operators_are_monotonic_bounded_and_shape_preserving(operator):
    ramp = np.logspace(-4, 4, 257, dtype=np.float32)
    hdr = np.repeat(ramp[None, :, None], 3, axis=2)  # [1, 257, 3], grey ramp
    ldr = tonemap.tonemap(hdr, operator=operator)
    assert ldr.shape == hdr.shape and ldr.dtype == np.float32
    assert ldr.min() >= 0 and ldr.max() <= 1
    assert (np.diff(ldr[0, :, 1]) >= 0).all()


def test_exposure_in_stops_doubles_linear_values():
    hdr = np.full((2, 2, 3), 0.1, dtype=np.float32)
    brighter = tonemap.srgb_decode(tonemap.tonemap(hdr, exposure_stops=1.0))
    assert np.allclose(brighter, 0.2, atol=1e-5)


def test_reinhard_compresses_highlights_and_keeps_white_point():
    hdr = np.array([[[0.01] * 3, [1.0] * 3, [100.0] * 3]], dtype=np.float32)
    ldr = tonemap.tonemap(hdr, operator="reinhard")
    assert ldr[0, 2, 0] == pytest.approx(1.0, abs=1e-6)  # burns out exactly at the white point
    assert 0.0 < ldr[0, 0, 0] < ldr[0, 1, 0] < 1.0
    clipped = tonemap.tonemap(hdr, operator="clip")
    assert clipped[0, 1, 0] == 1.0 and ldr[0, 1, 0] < 1.0  # 1.0 is not clipped by Reinhard


def test_reinhard_preserves_hue():
    hdr = np.array([[[0.4, 0.2, 0.1]]], dtype=np.float32)
    linear = tonemap.srgb_decode(tonemap.tonemap(hdr, operator="reinhard", white=100.0))
    assert np.allclose(linear[0, 0] / linear[0, 0, 0], [1.0, 0.5, 0.25], atol=1e-4)


def test_filmic_matches_published_curve_at_a_point():
    x = 1.0 * 0.6
    expected = x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)
    out = tonemap.srgb_decode(tonemap.tonemap(np.ones((1, 1, 3), np.float32), operator="filmic"))
    assert out[0, 0, 0] == pytest.approx(expected, rel=1e-4)


def test_nonfinite_values_do_not_poison_display():
    hdr = np.array([[[np.nan, np.inf, -1.0], [0.5, 0.5, 0.5]]], dtype=np.float32)
    for operator in tonemap.OPERATORS:
        assert np.isfinite(tonemap.tonemap(hdr, operator=operator)).all()


def test_auto_exposure_brings_log_average_to_mid_grey():
    rng = np.random.default_rng(0)
    hdr = np.exp(rng.normal(3.0, 2.0, size=(16, 16, 1))).repeat(3, axis=2).astype(np.float32)
    stops = tonemap.auto_exposure_stops(hdr)
    exposed = hdr * 2**stops
    assert np.exp(np.mean(np.log(luminance(exposed)))) == pytest.approx(tonemap.MID_GREY, rel=1e-5)


def test_exposure_stack_layout():
    hdr = np.full((4, 6, 3), 0.25, dtype=np.float32)
    sheet = tonemap.exposure_stack(hdr, [-1, 0, 2], gap=2)
    assert sheet.shape == (4, 3 * 6 + 2 * 2, 3)
    assert np.all(sheet[:, 6:8] == 0)  # black gap
    decoded = tonemap.srgb_decode(sheet)
    assert np.allclose(decoded[0, 0], 0.125, atol=1e-5)
    assert np.allclose(decoded[0, 8], 0.25, atol=1e-5)
    assert np.allclose(decoded[0, 16], 1.0)
    with pytest.raises(ValueError, match="at least one"):
        tonemap.exposure_stack(hdr, [])


def test_unknown_operator_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown tone-mapping operator 'aces'"):
        tonemap.tonemap(np.ones((1, 1, 3), np.float32), operator="aces")


def test_dynamic_range_of_a_synthetic_ramp():
    # luminance log-uniform over 2**-8 .. 2**8 in 100001 steps: P0.1 and P99.9 are known in closed form
    stops = np.linspace(-8, 8, 100_001)
    hdr = np.repeat((2.0**stops)[None, :, None], 3, axis=2).astype(np.float32)
    expected = 16 * (0.999 - 0.001)
    assert dynamic_range_stops(hdr) == pytest.approx(expected, abs=1e-3)


def test_dynamic_range_ignores_zero_and_nonfinite_pixels():
    hdr = np.ones((10, 10, 3), dtype=np.float32)
    hdr[0, :5] = 0
    hdr[1, 0] = np.nan
    hdr[2, :] = 4.0  # 10% of pixels two stops brighter
    assert dynamic_range_stops(hdr) == pytest.approx(2.0, abs=1e-6)
    assert dynamic_range_stops(np.zeros((3, 3, 3), np.float32)) == 0.0


def test_panel_grid_lays_out_rows_and_columns_with_gaps():
    from glowgan.tonemap import panel_grid

    a, b = np.zeros((2, 3, 3), np.float32), np.full((2, 3, 3), 0.5, np.float32)
    sheet = panel_grid([[a, b], [b]], gap=1, background=1.0)
    assert sheet.shape == (5, 7, 3)
    assert (sheet[:2, :3] == 0).all() and (sheet[:2, 4:] == 0.5).all() and (sheet[3:, :3] == 0.5).all()
    assert (sheet[2] == 1).all() and (sheet[:, 3] == 1).all() and (sheet[3:, 4:] == 1).all()
    with pytest.raises(ValueError, match="panel 0,1"):
        panel_grid([[a, np.zeros((3, 3, 3), np.float32)]])
