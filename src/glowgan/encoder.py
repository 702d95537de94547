"""Fast inverse tone mapping: an encoder that predicts a photo's latent and camera in one pass.

Training pairs are free: draw ``z``, let the generator make HDR, photograph it with a camera drawn
from the model's own prior (``camera.render``), and ask the encoder to recover ``w`` and the camera
from the photograph. In-the-wild photos are not needed, and nothing of the HDR ground truth is used.
The prediction is the starting point of a short optimisation (``invert.invert_photo(initial=...)``),
in the spirit of encoder-initialised GAN inversion (Zhu et al. 2020, "In-domain GAN inversion";
Tov et al. 2021, e4e), which needs far fewer steps than starting from the mean latent.

Targets are normalised so that every output has unit scale: ``(w - w_avg) / (spread / sqrt(w_dim))``,
exposure and CRF parameters by the prior's mean and spread.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from glowgan import camera as cam
from glowgan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from glowgan.config import Config
from glowgan.invert import InitialGuess, check_generator, downsample, photo_tensor, w_spread
from glowgan.models.generator import Generator

ENCODER_KIND = "glowgan-itm-encoder"
ENCODER_VERSION = 1
# Camera outputs: exposure stops, gamma, beta.
CAMERA_OUTPUTS = 3
# Spreads used to normalise camera targets whose prior spread is 0 (a fixed CRF).
_UNIT = 1.0


class LatentEncoder(nn.Module):
    """LDR photo [N, 3, h, w] in [0, 1] -> normalised (w, camera) [N, w_dim + 3].

    Strided 3x3 convolutions halve the image until its shorter side is 4 pixels, then a global
    average and a linear layer; any generator resolution (non-square too) works.
    """

    def __init__(self, resolution: tuple[int, int], w_dim: int, *, channels: int = 32, max_channels: int = 256):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        size, width = min(resolution), channels
        while size > 4:
            out = min(width * 2, max_channels)
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(out, out, 3, padding=1), nn.LeakyReLU(0.2)]
            size, width = size // 2, out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, w_dim + CAMERA_OUTPUTS)
        self.resolution = tuple(resolution)
        self.w_dim = w_dim
        self.channels = channels
        self.max_channels = max_channels

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:  # [N, w_dim + 3]
        return self.head(self.features(ldr * 2 - 1).mean(dim=(2, 3)))


class _Normaliser:
    """Maps (w, camera) to the encoder's unit-scale targets and back."""

    def __init__(self, generator: Generator, prior: cam.CameraPrior, spread: float):
        self.w_avg = generator.mapping.w_avg.detach()
        self.w_scale = spread / math.sqrt(generator.w_dim)
        self.means = torch.tensor([prior.exposure_mean_stops, prior.gamma_mean, prior.beta_mean])
        stds = [prior.exposure_std_stops, prior.gamma_std, prior.beta_std]
        self.stds = torch.tensor([s if s > 0 else _UNIT for s in stds])
        self.prior = prior

    def targets(self, w: torch.Tensor, params: cam.CameraParams) -> torch.Tensor:
        camera = torch.stack([params.exposure_stops, params.gamma, params.beta], dim=1)  # [N, 3]
        device = w.device
        return torch.cat([(w - self.w_avg) / self.w_scale, (camera - self.means.to(device)) / self.stds.to(device)], dim=1)

    def guess(self, prediction: torch.Tensor) -> InitialGuess:  # prediction [w_dim + 3]
        w = self.w_avg + prediction[:-CAMERA_OUTPUTS] * self.w_scale
        stops, gamma, beta = (prediction[-CAMERA_OUTPUTS:].cpu() * self.stds + self.means).tolist()
        gamma = min(max(gamma, cam.valid_range(self.prior.crf, "gamma")[0]), cam.valid_range(self.prior.crf, "gamma")[1])
        beta = min(max(beta, cam.valid_range(self.prior.crf, "beta")[0]), cam.valid_range(self.prior.crf, "beta")[1])
        return InitialGuess(w=w, exposure_stops=stops, gamma=gamma, beta=beta)


def generator_fingerprint(generator: Generator) -> str:
    """SHA-256 of the generator's weights: an encoder belongs to exactly one generator."""
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def train_encoder(
    generator: Generator,
    config: Config,
    *,
    steps: int | None = 2000,
    minutes: float | None = None,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LatentEncoder, dict[str, Any]]:
    """Train an encoder on the generator's own photographed samples; stops after ``steps`` or ``minutes``.

    Returns the encoder (eval mode) and a record with the loss curve (every 10th step) and timings.
    """
    check_generator(generator, config)
    if steps is None and minutes is None:
        raise ValueError("give steps or minutes (or both) to bound the encoder's training")
    if (steps is not None and steps < 1) or (minutes is not None and minutes <= 0) or batch < 1:
        raise ValueError("steps, minutes and batch must be positive")
    device = generator.mapping.w_avg.device
    prior = config.camera.prior
    spread = w_spread(generator, generator_seed=seed)
    normaliser = _Normaliser(generator, prior, spread)
    torch.manual_seed(seed)
    encoder = LatentEncoder(generator.img_resolution, generator.w_dim).to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    rng = torch.Generator(device="cpu").manual_seed(seed)
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    losses: list[float] = []
    started = time.perf_counter()
    step = 0
    with tqdm(total=steps, desc="encoder", unit="step", disable=not progress) as bar:
        while (steps is None or step < steps) and (deadline is None or time.monotonic() < deadline):
            with torch.no_grad():
                z = torch.randn(batch, generator.z_dim, generator=rng).to(device)
                w = generator.mapping(z)[:, 0]  # [N, w_dim]
                hdr = generator.synthesis(w[:, None].expand(-1, generator.num_ws, -1), noise_mode="const").float()
                params = prior.sample(batch, generator=rng).to(device)
                ldr = cam.render(hdr, params, generator=None if prior.read_noise == prior.shot_noise == 0 else rng)
                target = normaliser.targets(w, params)
            loss = (encoder(ldr) - target).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 10 == 0:
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            step += 1
            bar.update(1)
    record = {"steps": step, "batch": batch, "seconds": time.perf_counter() - started, "losses_every_10": losses, "w_spread": spread}
    return encoder.eval().requires_grad_(False), record


def save_encoder(path: Path | str, encoder: LatentEncoder, generator: Generator, record: dict[str, Any]) -> None:
    save_checkpoint(
        path,
        {
            "kind": ENCODER_KIND,
            "version": ENCODER_VERSION,
            "resolution": list(encoder.resolution),
            "w_dim": encoder.w_dim,
            "channels": encoder.channels,
            "max_channels": encoder.max_channels,
            "encoder": encoder.state_dict(),
            "generator_fingerprint": generator_fingerprint(generator),
            "training": {k: v for k, v in record.items() if k != "losses_every_10"},
            "losses_every_10": torch.tensor(record.get("losses_every_10", [])),
        },
    )


def load_encoder(path: Path | str, generator: Generator, *, device: str | torch.device = "cpu") -> LatentEncoder:
    """Load an encoder trained for ``generator``; a file for another generator is refused."""
    payload = load_checkpoint(path, map_location=device)
    if payload.get("kind") != ENCODER_KIND:
        raise CheckpointError(f"{path}: not an ITM encoder; make one with `glowgan itm-encoder --ckpt CKPT --out ENC.pt`")
    if payload["generator_fingerprint"] != generator_fingerprint(generator):
        raise CheckpointError(
            f"{path}: this encoder was trained for a different generator; train one for this checkpoint "
            "with `glowgan itm-encoder`"
        )
    encoder = LatentEncoder(
        tuple(payload["resolution"]), payload["w_dim"], channels=payload["channels"], max_channels=payload["max_channels"]
    )
    encoder.load_state_dict(payload["encoder"])
    return encoder.to(device).eval().requires_grad_(False)


@torch.no_grad()
def predict(encoder: LatentEncoder, generator: Generator, config: Config, photo_ldr: np.ndarray, *, spread: float | None = None) -> InitialGuess:
    """The encoder's guess of ``photo_ldr``'s latent and camera (for ``invert_photo(initial=...)``)."""
    device = generator.mapping.w_avg.device
    spread = w_spread(generator) if spread is None else spread
    target = downsample(photo_tensor(photo_ldr).to(device), generator.img_resolution)
    return _Normaliser(generator, config.camera.prior, spread).guess(encoder(target)[0])
