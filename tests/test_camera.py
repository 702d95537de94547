import math

import pytest
import torch

from glowgan import crf as curves
from glowgan.camera import (
    CameraParams,
    CameraPrior,
    crf_forward,
    crf_inverse,
    exposure_gain,
    linearize,
    quantize,
    render,
    to_pca,
)

FAMILIES = ("glowgan", "gamma", "linear", "srgb", "filmic", "pca", "srgb,filmic:2,pca,glowgan")


def _params(family: str, n: int, seed: int = 0) -> CameraParams:
    return CameraPrior(crf=family).sample(n, rng=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_inverse_of_forward_is_identity_below_clip(family):
    params = _params(family, 6)
    x = torch.linspace(0.0, 1.0, 2001).repeat(6, 1)  # [N, 2001], includes 0 and the clip point
    roundtrip = crf_inverse(crf_forward(x, params), params)
    # Away from 0 the relative error is float32 round-off; near 0 the pow epsilon floors values.
    assert torch.allclose(roundtrip, x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_of_inverse_is_identity_on_ldr_values(family):
    params = _params(family, 4, seed=3)
    # LDR values from half an 8-bit step up: below that the pow epsilon (which keeps gradients finite at 0)
    # sets the curve's floor, which must itself stay below half an 8-bit step
    y = 0.5 / 255 + (1 - 0.5 / 255) * torch.rand(4, 3, 9, 17, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(crf_forward(crf_inverse(y, params), params), y, atol=2e-6)
    assert (crf_forward(torch.zeros(4, 1), params) < 0.5 / 255).all()


@pytest.mark.parametrize("family", ("glowgan", "gamma", "srgb", "filmic", "pca"))
def test_crf_is_monotonic_maps_ends_and_is_not_linear(family):
    params = _params(family, 8, seed=5)
    x = torch.linspace(0.0, 1.0, 4097).repeat(8, 1)
    y = crf_forward(x, params)
    assert (y[:, 1:] - y[:, :-1] > 0).all()
    assert torch.allclose(y[:, -1], torch.ones(8), atol=1e-6)
    assert (y[:, 0] < 1e-3).all()
    # a real curve: brightens mid-tones (both families are concave on average)
    assert (y[:, 2048] > 0.55).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_render_output_in_unit_range_for_extreme_inputs(family):
    params = _params(family, 4)
    hdr = torch.tensor([0.0, 1e-30, 1e-8, 0.5, 1.0, 1e4, 1e30, float(torch.finfo(torch.float32).max)])
    hdr = hdr.reshape(1, 1, 1, -1).repeat(4, 3, 2, 1)
    ldr = render(hdr, params)
    assert torch.isfinite(ldr).all()
    assert ldr.min() >= 0 and ldr.max() <= 1
    assert torch.equal(ldr[..., -1], torch.ones_like(ldr[..., -1]))


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_finite_at_zero_near_zero_and_clip_point(family):
    params = _params(family, 3)
    stops = params.exposure_stops
    # choose radiances that land exactly at 0, 1e-9, the clip point, and above it after exposure
    exposed_targets = torch.tensor([0.0, 1e-9, 1e-4, 0.5, 1.0, 3.0])
    hdr = (exposed_targets[None, :] / torch.exp2(stops)[:, None]).reshape(3, 1, 1, 6).clone().requires_grad_(True)
    ldr = render(hdr, params)
    ldr.sum().backward()
    assert torch.isfinite(hdr.grad).all()
    assert (hdr.grad[..., -1] == 0).all(), "above the clip point the gradient must vanish"
    assert (hdr.grad[..., 3] > 0).all(), "mid-tones must pass gradient"


def test_gradient_flows_to_camera_parameters():
    params = _params("glowgan", 2)
    for tensor in (params.exposure_stops, params.gamma, params.beta):
        tensor.requires_grad_(True)
    hdr = torch.rand(2, 3, 4, 8) * 0.5
    render(hdr, params).sum().backward()
    for tensor in (params.exposure_stops, params.gamma, params.beta):
        assert torch.isfinite(tensor.grad).all() and (tensor.grad != 0).all()


def test_exposure_is_in_stops():
    params = CameraParams(exposure_stops=torch.tensor([-1.0, 0.0, 2.0]), crf="linear")
    hdr = torch.full((3, 1, 2, 2), 0.2)
    ldr = render(hdr, params)
    assert torch.allclose(ldr[:, 0, 0, 0], torch.tensor([0.1, 0.2, 0.8]))
    assert torch.allclose(exposure_gain(params, hdr).flatten(), torch.tensor([0.5, 1.0, 4.0]))


def test_official_default_prior_statistics():
    prior = CameraPrior()
    assert (prior.exposure_std_stops, prior.gamma_mean, prior.gamma_std, prior.beta_mean, prior.beta_std) == (
        0.5,
        0.9,
        0.1,
        0.6,
        0.1,
    )
    params = prior.sample(200_000, rng=torch.Generator().manual_seed(0))
    gain = torch.exp2(params.exposure_stops)
    # official code: gain = sqrt(2)**e, e ~ N(0, 1)  <=>  log_sqrt2(gain) ~ N(0, 1)
    e = torch.log(gain) / math.log(math.sqrt(2))
    assert abs(e.mean().item()) < 0.01 and abs(e.std().item() - 1.0) < 0.01
    assert abs(params.gamma.mean().item() - 0.9) < 0.002 and abs(params.gamma.std().item() - 0.1) < 0.002
    assert abs(params.beta.mean().item() - 0.6) < 0.002 and abs(params.beta.std().item() - 0.1) < 0.002


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(exposure_mean_stops=1.5, exposure_std_stops=2.0),
        dict(exposure_mean_stops=-3.0, exposure_std_stops=0.25, crf="gamma", gamma_mean=2.4, gamma_std=0.05),
    ],
)
def test_configured_prior_statistics(kwargs):
    prior = CameraPrior(**kwargs)
    params = prior.sample(100_000, rng=torch.Generator().manual_seed(1))
    assert abs(params.exposure_stops.mean().item() - prior.exposure_mean_stops) < 0.03
    assert abs(params.exposure_stops.std().item() - prior.exposure_std_stops) / prior.exposure_std_stops < 0.02
    assert abs(params.gamma.mean().item() - prior.gamma_mean) < 0.01


def test_sampled_parameters_are_clamped_to_valid_ranges():
    prior = CameraPrior(gamma_std=5.0, beta_std=5.0)
    params = prior.sample(10_000, rng=torch.Generator().manual_seed(2))
    assert params.gamma.min() >= 0.3 and params.gamma.max() <= 3.0
    assert params.beta.min() > 0
    x = torch.linspace(0, 1, 257).repeat(10_000, 1)
    assert torch.isfinite(crf_inverse(crf_forward(x, params), params)).all()


def test_sampling_is_reproducible_with_explicit_generator():
    a = CameraPrior().sample(5, rng=torch.Generator().manual_seed(7))
    b = CameraPrior().sample(5, rng=torch.Generator().manual_seed(7))
    c = CameraPrior().sample(5, rng=torch.Generator().manual_seed(8))
    assert torch.equal(a.exposure_stops, b.exposure_stops) and torch.equal(a.gamma, b.gamma)
    assert not torch.equal(a.exposure_stops, c.exposure_stops)


@pytest.mark.parametrize("shape", [(3, 3, 5, 11), (3, 1, 32, 64), (3, 3, 64, 32), (3, 7)])
def test_render_broadcasts_over_any_shape(shape):
    params = _params("glowgan", 3)
    hdr = torch.rand(shape) * 3
    ldr = render(hdr, params)
    assert ldr.shape == hdr.shape
    # each image uses its own camera: rendering images one by one gives the same result
    for i in range(3):
        assert torch.allclose(render(hdr[i : i + 1], params[i]), ldr[i : i + 1])


def test_batch_size_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="camera has 2 images but the batch has 3"):
        render(torch.rand(3, 3, 4, 4), _params("glowgan", 2))


def test_quantization_is_8_bit_with_straight_through_gradient():
    params = CameraPrior(quantize_bits=8).sample(2, rng=torch.Generator().manual_seed(0))
    hdr = (torch.rand(2, 3, 8, 8) * 0.8).requires_grad_(True)
    ldr = render(hdr, params)
    assert torch.allclose(ldr * 255, torch.round(ldr * 255), atol=1e-4)
    ldr.sum().backward()
    unquantized = render(hdr, CameraParams(params.exposure_stops, gamma=params.gamma, beta=params.beta))
    grad_ref = torch.autograd.grad(unquantized.sum(), hdr)[0]
    assert torch.allclose(hdr.grad, grad_ref)
    assert torch.equal(quantize(torch.tensor([0.5 / 255 - 1e-4, 0.5 / 255 + 1e-4]), 8) * 255, torch.tensor([0.0, 1.0]))


def test_sensor_noise_statistics_and_reproducibility():
    prior = CameraPrior(crf="linear", exposure_std_stops=0.0, read_noise=0.01, shot_noise=0.001)
    params = prior.sample(1)
    hdr = torch.full((1, 1, 300, 300), 0.25)
    ldr = render(hdr, params, rng=torch.Generator().manual_seed(0))
    expected_std = math.sqrt(0.01**2 + 0.001 * 0.25)
    assert abs(ldr.std().item() - expected_std) / expected_std < 0.02
    assert abs(ldr.mean().item() - 0.25) < 0.002
    again = render(hdr, params, rng=torch.Generator().manual_seed(0))
    assert torch.equal(ldr, again)


def test_linearize_inverts_render_below_clip():
    params = _params("glowgan", 4)
    hdr = torch.rand(4, 3, 6, 10) * 0.5 / torch.exp2(params.exposure_stops).reshape(-1, 1, 1, 1)
    assert torch.allclose(linearize(render(hdr, params), params), hdr, rtol=1e-4, atol=1e-7)


def test_manifest_records_round_trip():
    params = CameraPrior(quantize_bits=8).sample(5, rng=torch.Generator().manual_seed(4))
    again = CameraParams.from_records(params.to_records())
    hdr = torch.rand(5, 3, 4, 4) * 2
    assert torch.equal(render(hdr, params), render(hdr, again))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crf="sigmoid"), "unknown"),
        (dict(exposure_std_stops=-1.0), "exposure_std_stops"),
        (dict(exposure_mean_stops=float("nan")), "exposure_mean_stops"),
        (dict(quantize_bits=0), "quantize_bits"),
        (dict(gamma_mean=0.0), "gamma_mean"),
        (dict(read_noise=float("inf")), "read_noise"),
    ],
)
def test_invalid_prior_is_rejected_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraPrior(**kwargs)


def test_mean_camera_has_prior_means():
    mean = CameraPrior(exposure_mean_stops=1.0).mean(3)
    assert torch.allclose(mean.exposure_stops, torch.ones(3))
    assert torch.allclose(mean.gamma, torch.full((3,), 0.9)) and torch.allclose(mean.beta, torch.full((3,), 0.6))


@pytest.mark.parametrize("family", FAMILIES)
def test_inverse_maps_black_to_exactly_zero(family):
    params = _params(family, 2)
    assert torch.equal(crf_inverse(torch.zeros(2, 3), params), torch.zeros(2, 3))


def test_srgb_matches_the_standard():
    # IEC 61966-2-1: linear 0.5 -> 0.735357, 0.18 -> 0.461356, 0.002 -> 0.02584 (linear segment)
    params = CameraParams(exposure_stops=torch.zeros(1), crf="srgb")
    y = crf_forward(torch.tensor([[0.002, 0.18, 0.5, 1.0]]), params)
    assert torch.allclose(y, torch.tensor([[0.02584, 0.461356, 0.735357, 1.0]]), atol=2e-5)


def test_filmic_curve_has_a_shoulder():
    """Against a pure display gamma of the same exponent (constant contrast: a straight line in log-log),
    Hable's curve compresses highlights: its log-log slope falls from the shadows to the clip point."""
    filmic = CameraParams(exposure_stops=torch.zeros(1), crf="filmic", gamma=torch.tensor([2.2]))
    gamma = CameraParams(exposure_stops=torch.zeros(1), crf="gamma", gamma=torch.tensor([2.2]))
    x = torch.tensor([[0.01, 0.0101, 0.99, 1.0]])
    yf, yg = crf_forward(x, filmic)[0].log(), crf_forward(x, gamma)[0].log()
    lx = x[0].log()
    slope = lambda y, i: float((y[i + 1] - y[i]) / (lx[i + 1] - lx[i]))  # noqa: E731
    assert slope(yg, 0) == pytest.approx(slope(yg, 2), rel=1e-3)
    assert slope(yf, 2) < 0.5 * slope(yf, 0)
    assert slope(yf, 2) < 0.5 * slope(yg, 2)


def test_pca_family_spans_the_curves_it_was_fitted_to():
    """Projecting sRGB and filmic curves on the basis reconstructs them closely; a curve outside the
    corpus (a steep linear ramp to 1 at 0.25) is approximated only roughly."""
    mean, basis, stds = (t.float() for t in curves.pca_basis())
    grid = torch.linspace(0, 1, curves.PCA_KNOTS)[None]
    for family in ("srgb", "filmic"):
        target = crf_forward(grid, CameraParams(exposure_stops=torch.zeros(1), crf=family))[0]
        coeffs = ((target - mean) @ basis.T)[None]
        fitted = crf_forward(grid, CameraParams(exposure_stops=torch.zeros(1), crf="pca", coeffs=coeffs))[0]
        assert curves.rmse(fitted, target) < 2e-3, family
    ramp = (grid[0] * 4).clamp(max=1)
    fitted = curves.pca_table(((ramp - mean) @ basis.T)[None])[0]
    assert curves.rmse(fitted, ramp) > 0.01
    assert (stds[1:] < stds[:-1]).all()


def test_gradient_flows_to_pca_coefficients_and_display_gamma():
    for family, name in (("pca", "coeffs"), ("filmic", "gamma")):
        params = _params(family, 2)
        tensor = getattr(params, name).requires_grad_(True)
        render(torch.rand(2, 3, 4, 8) * 0.5, params).sum().backward()
        assert torch.isfinite(tensor.grad).all() and (tensor.grad != 0).any(), family


def test_mixture_draws_each_family_at_its_weight_with_its_own_parameters():
    prior = CameraPrior(crf="srgb:2,filmic,glowgan")
    assert prior.mixture == (("srgb", 0.5), ("filmic", 0.25), ("glowgan", 0.25))
    params = prior.sample(20_000, rng=torch.Generator().manual_seed(3))
    families = params.families
    for family, weight in prior.mixture:
        assert abs(families.count(family) / len(families) - weight) < 0.015
    glowgan = torch.tensor([f == "glowgan" for f in families])
    filmic = torch.tensor([f == "filmic" for f in families])
    assert abs(params.gamma[glowgan].mean().item() - 0.9) < 0.01 and abs(params.beta[glowgan].mean().item() - 0.6) < 0.01
    assert abs(params.gamma[filmic].mean().item() - 2.2) < 0.01
    # each image is rendered with its own family: the same as rendering it alone
    hdr = torch.rand(6, 3, 4, 4)
    ldr = render(hdr, params[:6])
    for i in range(6):
        alone = CameraParams(params.exposure_stops[i : i + 1], crf=families[i], gamma=params.gamma[i : i + 1], beta=params.beta[i : i + 1])
        assert torch.allclose(render(hdr[i : i + 1], alone), ldr[i : i + 1], atol=1e-6)


def test_mixture_records_and_concatenation_round_trip():
    params = CameraPrior(crf="pca,srgb,glowgan", quantize_bits=8).sample(30, rng=torch.Generator().manual_seed(4))
    assert {"pca", "srgb", "glowgan"} <= set(params.families)
    again = CameraParams.from_records(params.to_records())
    joined = CameraParams.cat([params[:4], params[4:]])
    hdr = torch.rand(30, 3, 4, 4) * 2
    assert torch.equal(render(hdr, params), render(hdr, again))
    assert torch.equal(render(hdr, params), render(hdr, joined))
    assert again.families == params.families == joined.families


def test_single_family_sampling_is_unchanged_by_the_mixture_code():
    """A single family draws exactly what the camera drew before mixtures existed (same stream)."""
    draw = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))
    params = CameraPrior().sample(4, rng=torch.Generator().manual_seed(5))
    assert torch.equal(params.exposure_stops, 0.5 * draw[0])
    assert torch.equal(params.gamma, (0.9 + 0.1 * draw[1]).clamp(0.3, 3.0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crf="srgb,sigmoid"), "unknown"),
        (dict(crf="srgb:0"), "weight"),
        (dict(crf="srgb:x"), "not a number"),
        (dict(crf="srgb,srgb"), "twice"),
        (dict(crf="srgb,,glowgan"), "list like"),
        (dict(crf="srgb,glowgan", gamma_mean=0.9), "mixture"),
        (dict(pca_spread=-1.0), "pca_spread"),
    ],
)
def test_invalid_mixture_is_rejected_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraPrior(**kwargs)


def test_mixture_mean_is_its_most_probable_family():
    mean = CameraPrior(crf="glowgan,filmic:3").mean(2)
    assert mean.crf == "filmic" and torch.allclose(mean.gamma, torch.full((2,), 2.2))


def test_clamp_keeps_each_family_in_its_range_and_shifted_only_moves_exposure():
    prior = CameraPrior(crf="glowgan,filmic,pca")
    params = prior.sample(60, rng=torch.Generator().manual_seed(6))
    wild = CameraParams(
        exposure_stops=params.exposure_stops, crf=params.families, gamma=params.gamma * 50, beta=-params.beta,
        coeffs=params.coeffs * 100,
    )
    clamped = prior.clamp(wild)
    glowgan = torch.tensor([f == "glowgan" for f in params.families])
    assert clamped.gamma[glowgan].max() <= 3.0 and clamped.gamma[~glowgan & ~torch.tensor([f == "pca" for f in params.families])].max() <= 4.0
    assert clamped.beta.min() > 0
    assert (clamped.coeffs.abs() <= 4 * curves.pca_basis()[2] + 1e-6).all()
    assert torch.equal(prior.clamp(params).gamma, params.gamma)  # draws are already in range
    brighter = params.shifted(2.0)
    assert torch.equal(brighter.exposure_stops, params.exposure_stops + 2) and brighter.families == params.families
    assert torch.equal(brighter.gamma, params.gamma)


def test_to_pca_projects_a_curve_onto_the_basis_and_component_gives_any_family():
    srgb = CameraParams(exposure_stops=torch.tensor([0.5]), crf="srgb")
    projected = to_pca(srgb)
    grid = torch.linspace(0, 1, 257)[None]
    assert projected.crf == "pca" and torch.equal(projected.exposure_stops, srgb.exposure_stops)
    assert curves.rmse(crf_forward(grid, projected)[0], crf_forward(grid, srgb)[0]) < 2e-3
    filmic = CameraPrior(exposure_std_stops=2.0).component("filmic")
    assert filmic.crf == "filmic" and filmic.gamma_mean == 2.2 and filmic.exposure_std_stops == 2.0
    with pytest.raises(ValueError, match="unknown"):
        CameraPrior().component("sigmoid")
