"""Sample HDR images from a trained generator: EXR files, tone-mapped previews, exposure stacks.

Each image is identified by an integer seed (its latent is ``randn`` from a generator seeded with it),
so ``--seeds 5`` always gives the same picture from the same checkpoint, whatever the batch.
A vanilla (camera-off) model produces LDR; it is quantised to 8 bits, like the photos it learned from,
and linearised with the mean inverse CRF of the default camera prior, as in the paper's comparison
(without the quantisation, values a hair above 0 would linearise to absurdly dark radiance).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from glowgan import camera as cam
from glowgan import hdrio, tonemap
from glowgan.config import Config

PREVIEW_STOPS = (-4, -2, 0, 2, 4)


def parse_seeds(text: str) -> list[int]:
    """'1,2,5-9' -> [1, 2, 5, 6, 7, 8, 9]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            if dash:
                first, last = int(low), int(high)
                if last < first:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"seeds must look like 1,2,5-9 (non-negative, ranges ascending), got {text!r}") from None
    if not seeds:
        raise ValueError("no seeds given; e.g. --seeds 0-7")
    return seeds


def latents_for_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """[len(seeds), z_dim]: one standard-normal latent per seed, independent of batching."""
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def hdr_from_latents(
    generator: torch.nn.Module,
    config: Config,
    z: torch.Tensor,
    *,
    psi: float = 1.0,
    noise_mode: str = "const",
) -> torch.Tensor:
    """Linear HDR [N, 3, H, W] for latents ``z`` (a vanilla model's LDR is linearised by the mean CRF)."""
    device = next(generator.parameters()).device
    return as_linear_hdr(generator(z.to(device), psi=psi, noise_mode=noise_mode).float(), config)


def as_linear_hdr(image: torch.Tensor, config: Config) -> torch.Tensor:
    """A generator's output [N, 3, H, W] as linear HDR: as is, or a vanilla model's LDR at 8 bits through
    the mean inverse CRF of the default camera prior."""
    if config.camera.enabled:
        return image
    return cam.linearize(cam.quantize(image, 8), cam.CameraPrior().mean(image.shape[0], device=image.device))


def sample_hdr_batches(
    generator: torch.nn.Module,
    config: Config,
    seeds: Sequence[int],
    *,
    psi: float = 1.0,
    batch: int = 16,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yield (seeds, hdr [n, H, W, 3] float32) batch by batch."""
    for start in range(0, len(seeds), batch):
        chunk = list(seeds[start : start + batch])
        z = latents_for_seeds(chunk, generator.z_dim)
        hdr = hdr_from_latents(generator, config, z, psi=psi)
        yield chunk, hdr.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def interpolate_hdr(
    generator: torch.nn.Module,
    config: Config,
    seed_a: int,
    seed_b: int,
    *,
    frames: int,
    psi: float = 1.0,
) -> np.ndarray:
    """HDR frames [frames, H, W, 3] moving linearly in W space from seed_a's image to seed_b's.

    W (after the mapping network) is where StyleGAN's interpolations are smooth (StyleGAN Sec. 4);
    constant noise keeps the frames from flickering.
    """
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    device = next(generator.parameters()).device
    ws = generator.mapping(latents_for_seeds([seed_a, seed_b], generator.z_dim).to(device), psi=psi)
    weights = torch.linspace(0.0, 1.0, frames, device=device).view(-1, 1, 1)
    path = ws[0:1].lerp(ws[1:2], weights)  # [frames, num_ws, w_dim]
    hdr = as_linear_hdr(generator.synthesis(path, noise_mode="const").float(), config)
    return hdr.permute(0, 2, 3, 1).cpu().numpy()


def write_interpolation(out_dir: Path, frames_hdr: np.ndarray, *, frame_ms: int = 80) -> dict[str, Path]:
    """``frame-NNNN.exr`` per frame and ``interpolation.gif``, every frame tone-mapped at one exposure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, hdr in enumerate(frames_hdr):
        hdrio.write_hdr(out_dir / f"frame-{index:04d}.exr", hdr)
    stops = tonemap.auto_exposure_stops(frames_hdr[len(frames_hdr) // 2])
    previews = [tonemap.tonemap(h, exposure_stops=stops, operator="reinhard") for h in frames_hdr]
    gif = out_dir / "interpolation.gif"
    hdrio.write_animation(gif, previews, frame_ms=frame_ms)
    return {"frames": out_dir, "gif": gif}


def write_sample(out_dir: Path, name: str, hdr: np.ndarray, *, radiance: bool = False) -> dict[str, Path]:
    """Write ``name.exr`` (and ``name.hdr``), a tone-mapped ``name.png`` and ``name-stack.png``."""
    paths = {"exr": out_dir / f"{name}.exr", "png": out_dir / f"{name}.png", "stack": out_dir / f"{name}-stack.png"}
    hdrio.write_hdr(paths["exr"], hdr)
    if radiance:
        paths["hdr"] = out_dir / f"{name}.hdr"
        hdrio.write_hdr(paths["hdr"], hdr)
    stops = tonemap.auto_exposure_stops(hdr)
    hdrio.write_ldr(paths["png"], tonemap.tonemap(hdr, exposure_stops=stops, operator="reinhard"))
    hdrio.write_ldr(paths["stack"], tonemap.exposure_stack(hdr, [stops + s for s in PREVIEW_STOPS]))
    return paths


def generate_images(
    generator: torch.nn.Module,
    config: Config,
    seeds: Sequence[int],
    out_dir: Path,
    *,
    psi: float = 1.0,
    batch: int = 16,
    radiance: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write one EXR (+ previews) per seed into ``out_dir``; returns the EXR paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tqdm(total=len(seeds), unit="img", desc="generating", disable=not progress) as bar:
        for chunk, hdr in sample_hdr_batches(generator, config, seeds, psi=psi, batch=batch):
            for seed, image in zip(chunk, hdr):
                written.append(write_sample(out_dir, f"seed{seed:06d}", image, radiance=radiance)["exr"])
            bar.update(len(chunk))
    return written
