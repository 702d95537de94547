"""How dark a generator's photos get: its samples through its camera prior against the real LDR photos
(issue 11's shadow drift).

An 8-bit photo records everything below half a code value as black. If a generator's shadows sink too
deep, its photos (rendered through the camera prior the discriminator saw them through) show more black
pixels than the real photos do; that is how the drift of the shadow span shows in LDR, where a
discriminator could see it. Per set: the median over photos of the luminance at the darkest pixel and
at the 0.1, 1 and 5 % quantiles (8-bit code values), the share of pixels that are black (every channel
below half a code value) and the share of photos holding at least one black pixel.

    python benchmarks/dark_tail.py --data runs/q2/eq60/world/ldr \\
        --ckpt runs/q4-30/runs/projected-eqlr+resnet-8bit+highlights-seed0/checkpoint.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from glowgan import camera as cam
from glowgan import hdrio
from glowgan.checkpoint import load_generator

QUANTILES = (0.0, 0.001, 0.01, 0.05)
BLACK = 0.5 / 255  # below half an 8-bit code value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of the real LDR photos (PNG)")
    parser.add_argument("--ckpt", type=Path, nargs="+", required=True, help="GlowGAN checkpoints (camera on)")
    parser.add_argument("--count", type=int, default=1000, help="photos per set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents and cameras")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    files = sorted(args.data.glob("*.png"))[: args.count]
    if not files:
        parser.error(f"--data {args.data}: no PNG photos found")
    real = torch.from_numpy(np.stack([hdrio.read_ldr(path) for path in files])).permute(0, 3, 1, 2)
    rows = {f"real photos ({args.data})": dark_statistics(real)}
    for ckpt in args.ckpt:
        rows[str(ckpt)] = dark_statistics(photographed_samples(ckpt, args.count, args.seed))
    print(f"{len(files)} photos per set; luminance in 8-bit code values, medians over photos\n")
    print("| set | darkest | 0.1 % | 1 % | 5 % | black pixels | photos with a black pixel |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        levels = " | ".join(f"{row[f'q{q:g}']:.1f}" for q in QUANTILES)
        print(f"| {name} | {levels} | {100 * row['black_pixels']:.2f} % | {100 * row['black_photos']:.1f} % |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


def photographed_samples(ckpt: Path, count: int, seed: int, batch: int = 100) -> torch.Tensor:
    """``count`` samples of the checkpoint's generator through its camera prior (as its D saw them), [N, 3, H, W]."""
    generator, config = load_generator(ckpt)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(count, generator.z_dim, generator=rng)
    params = config.camera.prior.sample(count, rng=rng)
    photos = []
    with torch.no_grad():
        for first in range(0, count, batch):
            hdr = generator(z[first : first + batch], noise_mode="const").float()
            photos.append(cam.render(hdr, params[first : first + batch], rng=rng))
    return torch.cat(photos)


def dark_statistics(ldr: torch.Tensor) -> dict[str, float]:
    """The columns of the table for photos ``ldr`` [N, 3, H, W] in [0, 1]."""
    luminance = (0.2126 * ldr[:, 0] + 0.7152 * ldr[:, 1] + 0.0722 * ldr[:, 2]).flatten(1).sort(dim=1).values
    pixels = luminance.shape[1]
    row = {f"q{q:g}": float((luminance[:, min(pixels - 1, int(q * pixels))] * 255).median()) for q in QUANTILES}
    black = (ldr.amax(dim=1) < BLACK).flatten(1)
    row["black_pixels"] = float(black.float().mean())
    row["black_photos"] = float(black.any(dim=1).float().mean())
    return row


if __name__ == "__main__":
    main()
