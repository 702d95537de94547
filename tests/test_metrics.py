"""Highlight share, the PU21 encoding and the fidelity metrics built on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from glowgan.metrics.dynamic_range import highlight_share, highlight_share_batch
from glowgan.metrics.fidelity import (
    align_exposure,
    hue_error_degrees,
    psnr_log,
    psnr_pu21,
    ssim_pu21,
    to_display_nits,
)
from glowgan.metrics.pu21 import PU21_L_MAX, PU21_L_MIN, PU21_PARAMETERS, pu21_decode, pu21_encode


def _scene(seed: int, height: int = 24, width: int = 40) -> np.ndarray:
    """A log-normal HDR texture with a small bright highlight, [H, W, 3] relative radiance."""
    rng = np.random.default_rng(seed)
    hdr = rng.lognormal(mean=-1.0, sigma=1.0, size=(height, width, 3))
    hdr[2:5, 3:7] *= 200.0
    return hdr


# ---------------------------------------------------------------------------------------------- highlight share


def test_highlight_share_of_known_images():
    flat = np.ones((10, 20, 3))
    assert highlight_share(flat) == pytest.approx(0.01)  # 2 of 200 pixels, equal luminance
    one_sun = flat.copy()
    one_sun[4, 7] = 198.0  # one pixel carries as much light as the other 199 together (+1 for the 2nd brightest)
    assert highlight_share(one_sun) == pytest.approx((198.0 + 1.0) / (198.0 + 199.0))
    assert highlight_share(np.zeros((4, 4, 3))) == 0.0
    coloured = np.zeros((10, 10, 3))
    coloured[0, 0] = (0.0, 0.0, 1.0)  # luminance weights apply: blue alone
    coloured[5:, :, 1] = 1.0
    expected = 0.7152 / (0.0722 + 50 * 0.7152)  # brightest pixel (1 of 100) is a green one
    assert highlight_share(coloured) == pytest.approx(expected)


def test_highlight_share_batch_matches_single_and_is_exposure_invariant():
    batch = np.stack([_scene(seed) for seed in range(3)])
    shares = highlight_share_batch(batch)
    assert shares.shape == (3,)
    np.testing.assert_allclose(shares, [highlight_share(image) for image in batch])
    np.testing.assert_allclose(highlight_share_batch(batch * 8.0), shares)
    assert np.all((shares > 0.01) & (shares < 1.0))
    with pytest.raises(ValueError, match="fraction"):
        highlight_share(batch[0], fraction=0.0)
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        highlight_share_batch(batch[0])


# ---------------------------------------------------------------------------------------------- PU21


def test_pu21_published_anchor_points():
    # The published banding_glare curve starts at 0 at the bottom of its range (0.005 cd/m²) and puts a
    # 100 cd/m² SDR white near 256, the scale of 8-bit code values (the reference metrics use peak 256).
    assert float(pu21_encode(np.float64(PU21_L_MIN))) == pytest.approx(0.0, abs=1e-3)
    assert float(pu21_encode(np.float64(100.0))) == pytest.approx(256.0, abs=0.5)
    for variant in PU21_PARAMETERS:  # every published variant is offset to start at 0
        assert float(pu21_encode(np.float64(PU21_L_MIN), variant=variant)) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("variant", sorted(PU21_PARAMETERS))
def test_pu21_monotonic_clamped_and_inverted_by_the_reference_decoder(variant):
    luminance = np.logspace(math.log10(PU21_L_MIN), math.log10(PU21_L_MAX), 200)
    encoded = pu21_encode(luminance, variant=variant)
    assert np.all(np.diff(encoded) > 0)
    np.testing.assert_allclose(pu21_decode(encoded, variant=variant), luminance, rtol=1e-9)
    # Outside the valid range the encoding is clamped, as in the reference implementation.
    outside = pu21_encode(np.array([0.0, 1e-4, 2e4, 1e9]), variant=variant)
    np.testing.assert_allclose(outside, [encoded[0], encoded[0], encoded[-1], encoded[-1]])


def test_pu21_torch_matches_numpy_and_is_differentiable():
    luminance = torch.tensor([0.01, 1.0, 100.0, 5000.0], dtype=torch.float64, requires_grad=True)
    encoded = pu21_encode(luminance)
    np.testing.assert_allclose(encoded.detach().numpy(), pu21_encode(luminance.detach().numpy()))
    encoded.sum().backward()
    assert torch.all(luminance.grad > 0)
    with pytest.raises(ValueError, match="banding_glare"):
        pu21_encode(np.ones(2), variant="nope")


# ---------------------------------------------------------------------------------------------- fidelity


def test_to_display_nits_convention():
    hdr = np.array([[[0.0, 0.5, 1.0], [2.0, 50.0, 1e6]]])
    nits = to_display_nits(hdr, white=0.5)
    np.testing.assert_allclose(nits, [[[PU21_L_MIN, 100.0, 200.0], [400.0, PU21_L_MAX, PU21_L_MAX]]])
    with pytest.raises(ValueError, match="white"):
        to_display_nits(hdr, white=0.0)


def test_align_exposure_recovers_a_gain_despite_zeros_and_ignores_the_masked_out_pixels():
    reference = _scene(0)
    test = reference / 5.0
    test[::3, ::2] = 0.0  # dead pixels in the test image
    clipped = np.zeros(reference.shape[:2], dtype=bool)
    clipped[2:5, 3:7] = True
    test[clipped] = 1.0  # a clipped highlight: wrong, and outside the mask
    assert align_exposure(test, reference, ~clipped) == pytest.approx(5.0, rel=1e-9)
    assert align_exposure(test, reference) != pytest.approx(5.0, rel=1e-3)  # the highlight biases it
    with pytest.raises(ValueError, match="positive in both"):
        align_exposure(np.zeros_like(reference), reference)
    with pytest.raises(ValueError, match="mask"):
        align_exposure(test, reference, np.ones((3, 3), dtype=bool))


def test_psnr_variants_order_degradations_and_respect_the_mask():
    reference = to_display_nits(_scene(1), white=1.0)
    rng = np.random.default_rng(5)
    small = reference * np.exp(rng.normal(0.0, 0.05, reference.shape))
    large = reference * np.exp(rng.normal(0.0, 0.3, reference.shape))
    for metric in (psnr_pu21, psnr_log):
        assert metric(reference, reference) == math.inf
        assert metric(small, reference) > metric(large, reference) + 10.0
        assert metric(small, reference) == pytest.approx(metric(reference, small))
    # An error confined to a region is seen by the mask on that region only.
    region = np.zeros(reference.shape[:2], dtype=bool)
    region[10:20, 10:30] = True
    damaged = reference.copy()
    damaged[region] *= 3.0
    assert psnr_pu21(damaged, reference, mask=~region) == math.inf
    assert psnr_pu21(damaged, reference, mask=region) < psnr_pu21(damaged, reference)
    # PU21-PSNR against the definition: peak 256 on PU21-encoded RGB.
    mse = np.mean((pu21_encode(damaged[region]) - pu21_encode(reference[region])) ** 2)
    assert psnr_pu21(damaged, reference, mask=region) == pytest.approx(10 * math.log10(256.0**2 / mse))
    with pytest.raises(ValueError, match="no pixels"):
        psnr_pu21(damaged, reference, mask=np.zeros_like(region))
    with pytest.raises(ValueError, match="shape"):
        psnr_log(damaged[:, :-1], reference)


def test_ssim_pu21_is_one_for_identical_images_and_falls_with_blur_and_noise():
    reference = to_display_nits(_scene(2, 32, 48), white=1.0)
    assert ssim_pu21(reference, reference) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = reference * np.exp(rng.normal(0.0, 0.1, reference.shape))
    noisier = reference * np.exp(rng.normal(0.0, 0.5, reference.shape))
    assert 1.0 > ssim_pu21(noisy, reference) > ssim_pu21(noisier, reference)
    flat = np.full_like(reference, reference.mean())
    assert ssim_pu21(flat, reference) < ssim_pu21(noisier, reference)
    # A global brightness change of 10 % changes the mean term only, and only a little.
    assert 0.95 < ssim_pu21(reference * 1.1, reference) < 1.0


def test_hue_error_is_the_angle_between_colours_whatever_their_brightness():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.1, 5.0, (6, 8, 3))
    assert hue_error_degrees(image, image) == pytest.approx(0.0, abs=1e-6)
    assert hue_error_degrees(7.0 * image, image) == pytest.approx(0.0, abs=1e-6)  # exposure does not count
    white, red = np.ones((1, 2, 3)), np.zeros((1, 2, 3))
    red[..., 0] = 2.0
    assert hue_error_degrees(white, red) == pytest.approx(math.degrees(math.acos(1 / math.sqrt(3))))
    mask = np.array([[True, False]])
    tinted = white.copy()
    tinted[0, 1] = red[0, 1]
    assert hue_error_degrees(tinted, white, mask=mask) == pytest.approx(0.0)
    black = white.copy()
    black[0, 0] = 0.0  # no hue: left out
    assert hue_error_degrees(black, red) == pytest.approx(54.7356, abs=1e-3)
