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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from glowgan import camera as cam
from glowgan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from glowgan.config import Config
from glowgan.invert import InitialGuess, check_generator, w_spread
from glowgan.itm_photo import downsample, fit_photo, photo_tensor
from glowgan.models.generator import Generator

ENCODER_KIND = "glowgan-itm-encoder"
ENCODER_VERSION = 2
# Camera outputs: exposure stops, gamma, beta.
CAMERA_OUTPUTS = 3


class _Normaliser:
    """Maps (w, camera) to the encoder's unit-scale targets and back; stored with the encoder."""

    def __init__(self, w_avg: torch.Tensor, w_scale: float, means: list[float], stds: list[float], crf: str):
        self.w_avg = w_avg.detach()
        self.w_scale = float(w_scale)
        self.means = torch.tensor(means, dtype=torch.float32)
        self.stds = torch.tensor([s if s > 0 else 1.0 for s in stds], dtype=torch.float32)  # a fixed CRF: unit
        self.crf = crf

    @classmethod
    def for_generator(cls, generator: Generator, prior: cam.CameraPrior, spread: float) -> _Normaliser:
        return cls(
            generator.mapping.w_avg,
            spread / math.sqrt(generator.w_dim),
            [prior.exposure_mean_stops, prior.gamma_mean, prior.beta_mean],
            [prior.exposure_std_stops, prior.gamma_std, prior.beta_std],
            prior.crf,
        )

    def state(self) -> dict[str, Any]:
        return {"w_avg": self.w_avg.cpu(), "w_scale": self.w_scale, "means": self.means.tolist(), "stds": self.stds.tolist(), "crf": self.crf}

    def targets(self, w: torch.Tensor, params: cam.CameraParams) -> torch.Tensor:
        camera = torch.stack([params.exposure_stops, params.gamma, params.beta], dim=1)  # [N, 3]
        device = w.device
        return torch.cat([(w - self.w_avg) / self.w_scale, (camera - self.means.to(device)) / self.stds.to(device)], dim=1)

    def guess(self, prediction: torch.Tensor) -> InitialGuess:  # prediction [w_dim + 3]
        w = self.w_avg.to(prediction.device) + prediction[:-CAMERA_OUTPUTS] * self.w_scale
        stops, gamma, beta = (prediction[-CAMERA_OUTPUTS:].cpu() * self.stds + self.means)[:, None]
        camera = cam.CameraParams(exposure_stops=stops, crf=self.crf, gamma=gamma, beta=beta)
        return InitialGuess(w=w, camera=cam.CameraPrior(crf=self.crf).clamp(camera))


class LatentEncoder(nn.Module):
    """LDR photo [N, 3, h, w] in [0, 1] -> normalised (w, camera) [N, w_dim + 3].

    Strided 3x3 convolutions halve the image until its shorter side is 4 pixels, then a global
    average and a linear layer; any generator resolution (non-square too) works. ``normaliser`` maps
    its outputs back to a latent and a camera.
    """

    def __init__(
        self,
        resolution: tuple[int, int],
        w_dim: int,
        normaliser: _Normaliser,
        *,
        channels: int = 32,
        max_channels: int = 256,
    ):
        super().__init__()
        self.normaliser = normaliser
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
    # one curve family (a mixture's most probable): the encoder's gamma and beta mean one thing
    prior = config.camera.prior.component()
    normaliser = _Normaliser.for_generator(generator, prior, w_spread(generator, generator_seed=seed))
    with torch.random.fork_rng(devices=[]):  # seeds the initial weights without touching the global RNG
        torch.manual_seed(seed)
        encoder = LatentEncoder(generator.img_resolution, generator.w_dim, normaliser).to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    rng = torch.Generator(device="cpu").manual_seed(seed)
    noisy = prior.read_noise > 0 or prior.shot_noise > 0
    noise_rng = torch.Generator(device=device).manual_seed(seed + 1) if noisy else None
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
                params = prior.sample(batch, rng=rng).to(device)
                ldr = cam.render(hdr, params, rng=noise_rng)
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
    if step == 0:
        raise ValueError("the time limit ended before the encoder's first step; give it more minutes")
    record = {"steps": step, "batch": batch, "seconds": time.perf_counter() - started, "losses_every_10": losses}
    return encoder.eval().requires_grad_(False), record


def save_encoder(path: Path | str, encoder: LatentEncoder, generator: Generator, record: dict[str, Any]) -> None:
    save_checkpoint(
        path,
        {
            "kind": ENCODER_KIND,
            "encoder_version": ENCODER_VERSION,
            "resolution": list(encoder.resolution),
            "w_dim": encoder.w_dim,
            "channels": encoder.channels,
            "max_channels": encoder.max_channels,
            "encoder": encoder.state_dict(),
            "generator_fingerprint": generator_fingerprint(generator),
            "normaliser": encoder.normaliser.state(),
            "training": {k: v for k, v in record.items() if k != "losses_every_10"},
            "losses_every_10": torch.tensor(record.get("losses_every_10", [])),
        },
    )


def load_encoder(path: Path | str, generator: Generator, *, device: str | torch.device = "cpu") -> LatentEncoder:
    """Load an encoder trained for ``generator``; a file for another generator is refused."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such encoder; make one with `glowgan itm-encoder --ckpt CKPT --out ENC.pt`")
    payload = load_checkpoint(path, map_location=device)
    if payload.get("kind") != ENCODER_KIND:
        raise CheckpointError(f"{path}: not an ITM encoder; make one with `glowgan itm-encoder --ckpt CKPT --out ENC.pt`")
    if payload.get("encoder_version") != ENCODER_VERSION:
        raise CheckpointError(f"{path}: encoder format {payload.get('encoder_version')} is not {ENCODER_VERSION}; train it again")
    if payload["generator_fingerprint"] != generator_fingerprint(generator):
        raise CheckpointError(
            f"{path}: this encoder was trained for a different generator; train one for this checkpoint "
            "with `glowgan itm-encoder`"
        )
    encoder = LatentEncoder(
        tuple(payload["resolution"]),
        payload["w_dim"],
        _Normaliser(**payload["normaliser"]),
        channels=payload["channels"],
        max_channels=payload["max_channels"],
    )
    encoder.load_state_dict(payload["encoder"])
    return encoder.to(device).eval().requires_grad_(False)


def guesser(encoder: LatentEncoder) -> Callable[[torch.Tensor], InitialGuess]:
    """``initial`` for ``invert_photo``: the encoder's guess from the photo on the generator's grid."""

    @torch.no_grad()
    def guess(target_ldr: torch.Tensor) -> InitialGuess:  # [1, 3, h, w] in [0, 1]
        return encoder.normaliser.guess(encoder(downsample(target_ldr, encoder.resolution))[0])

    return guess


def predict(encoder: LatentEncoder, photo_ldr: np.ndarray, *, fit: str = "stretch") -> InitialGuess:
    """The encoder's guess of a photo's latent and camera (``fit`` as in ``invert.InversionOptions``)."""
    device = next(encoder.parameters()).device
    photo, _ = fit_photo(photo_tensor(photo_ldr).to(device), encoder.resolution, fit)
    return guesser(encoder)(photo)
