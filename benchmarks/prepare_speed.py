"""Photos/s of `glowgan data prepare` on camera-sized JPEGs (issue 14's target: >= 10/s for 4k JPEGs to 256 px).

Makes ``--count`` real-looking 4000x3000 JPEGs at quality 90 (a sky-to-ground gradient with a colour
cast, texture at four scales, sensor noise; about 2.8 MB each) in a temporary folder, unless
``--photos`` names a folder of your own, then times `glowgan data prepare` on them, and a second run
over the finished output (resumption).

    python benchmarks/prepare_speed.py                     # 80 photos, --workers = cores
    python benchmarks/prepare_speed.py --photos ~/DCIM --size 256 --aspect 2:1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 3000, 4000
TEXTURE = ((6, 0.10), (40, 0.25), (200, 0.12), (800, 0.06))  # (coarse cell in pixels, amplitude)


def make_photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    y = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None]
    for index in range(count):
        rng = np.random.default_rng(index)
        cast = rng.uniform(0.5, 1.0, size=2)
        rgb = np.stack(
            [np.broadcast_to(0.2 + 0.6 * (1 - y) * cast[0], (HEIGHT, WIDTH)),
             np.broadcast_to(0.3 + 0.5 * (1 - y) * cast[1], (HEIGHT, WIDTH)),
             np.broadcast_to(0.35 + 0.55 * (1 - y), (HEIGHT, WIDTH))],
            axis=2,
        ).copy()
        for cell, amplitude in TEXTURE:
            coarse = (rng.random((HEIGHT // cell + 2, WIDTH // cell + 2, 3)) * 255).astype(np.uint8)
            texture = np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.BICUBIC), np.float32) / 255
            rgb += amplitude * (texture - 0.5)
        rgb += rng.normal(0.0, 0.02, size=rgb.shape).astype(np.float32)
        Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(folder / f"IMG_{index:04d}.jpg", quality=90)


def prepare(photos: Path, out: Path, args: argparse.Namespace) -> float:
    command = [sys.executable, "-m", "glowgan", "data", "prepare", str(photos), "--size", str(args.size),
               "--aspect", args.aspect, "--out", str(out)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, help="a folder of your own photos (default: make --count of them)")
    parser.add_argument("--count", type=int, default=80, help="photos to make (default 80)")
    parser.add_argument("--size", type=int, default=256, help="prepared size (default 256)")
    parser.add_argument("--aspect", default="1:1", help="prepared aspect (default 1:1)")
    parser.add_argument("--workers", type=int, help="prepare's --workers (default: its own, one per core)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        photos = args.photos
        if photos is None:
            photos = Path(scratch) / "photos"
            print(f"making {args.count} 4000x3000 JPEGs ...", flush=True)
            make_photos(photos, args.count)
        count = sum(1 for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        out = Path(scratch) / "prepared"
        first = prepare(photos, out, args)
        again = prepare(photos, out, args)
    load = os.getloadavg()[0]
    print(f"{count} photos -> {args.size} px ({args.aspect}): {first:.1f} s, {count / first:.1f} photos/s "
          f"on {os.cpu_count()} cores (load average {load:.1f} after); a second run over the output (resume): {again:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
