"""Do the built-in image-based lighting renderer and Mitsuba 3 agree? And how are seam scores spread?

Renders single spheres (a diffuse one, then a mirror ball; alone, so that Mitsuba's shadows and
inter-reflections between spheres, which the built-in renderer leaves out, play no part) lit by
procedural sky panoramas (``glowgan.data.world``, with a sun), with the built-in renderer (pure SH
irradiance, and SH with the brightest texels summed exactly, the default) and with Mitsuba's path
tracer (``scalar_rgb``). Reports, over the pixels wholly on the sphere, the relative error
``mean |ours - mitsuba| / mean mitsuba`` and the error of the sphere's mean, the time of each renderer,
and Mitsuba's own noise (two renders with different seeds, the same statistic divided by sqrt 2): the
floor below which no agreement can be measured.

``--seams`` instead prints the distribution of seam scores (``glowgan.envmap.seam_score``) over
procedural skies (seamless by construction) and 2:1 "window" views (which do not wrap), the numbers
behind ``SEAM_THRESHOLD``.

    pip install mitsuba   # optional; needed for the agreement part
    python benchmarks/render_agreement.py --seeds 0-3 --map 64x128 --size 64 --spp 1024
    python benchmarks/render_agreement.py --seams --count 60
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from glowgan import ibl
from glowgan.data.world import render_scenes
from glowgan.cli.common import parse_size
from glowgan.envmap import SEAM_THRESHOLD, check_panorama_size, seam_score
from glowgan.generate import parse_seeds


def relative_errors(ours: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean absolute pixel error, error of the mean), both relative to the reference's mean on ``mask``."""
    a, b = ours[mask].astype(np.float64), reference[mask].astype(np.float64)
    return float(np.abs(a - b).mean() / b.mean()), float(a.mean() / b.mean() - 1.0)


def agreement(seeds: list[int], map_size: tuple[int, int], size: int, spp: int) -> None:
    print(f"map {map_size[0]}x{map_size[1]} (sky), render {size}x{size}, Mitsuba {spp} spp, scalar_rgb")
    print(f"{'seed':>4} {'sphere':8} {'renderer':14} {'pixel err':>9} {'mean err':>9} {'time s':>7}")
    skies = render_scenes("sky", seeds, height=map_size[0], width=map_size[1])
    for seed, sky in zip(seeds, skies):
        for material in ("diffuse", "mirror"):
            scene = ibl.Scene(materials=(material,))
            mask = ibl.sphere_masks(size, size, scene)[0]
            start = time.perf_counter()
            reference = ibl.render_mitsuba(sky, height=size, width=size, scene=scene, spp=spp, seed=0)
            mitsuba_seconds = time.perf_counter() - start
            again = ibl.render_mitsuba(sky, height=size, width=size, scene=scene, spp=spp, seed=1)
            noise = relative_errors(again, reference, mask)[0] / np.sqrt(2.0)
            print(f"{seed:>4} {material:8} {'mitsuba':14} {noise:>9.4f} {'(noise)':>9} {mitsuba_seconds:>7.2f}")
            variants = [("builtin", 256)] if material == "mirror" else [("builtin SH", 0), ("builtin", 256)]
            for name, exact in variants:
                start = time.perf_counter()
                ours = ibl.render(
                    sky,
                    height=size,
                    width=size,
                    scene=scene,
                    rng=np.random.default_rng(0),
                    supersample=4,
                    exact_texels=exact,
                )
                seconds = time.perf_counter() - start
                pixel, mean = relative_errors(ours, reference, mask)
                print(f"{seed:>4} {material:8} {name:14} {pixel:>9.4f} {mean:>+9.4f} {seconds:>7.2f}")


def seam_statistics(count: int) -> None:
    print(f"seam scores over {count} seeds (threshold {SEAM_THRESHOLD:g})")
    print(f"{'maps':16} {'median':>7} {'p95':>7} {'max':>7} {'min':>7} {'flagged':>8}")
    for family in ("sky", "window"):
        for height in (32, 128):
            maps = render_scenes(family, range(count), height=height, width=2 * height)
            scores = np.array([seam_score(m)["score"] for m in maps])
            print(
                f"{family + f' {height}x{2 * height}':16} {np.median(scores):>7.2f} {np.percentile(scores, 95):>7.2f} "
                f"{scores.max():>7.2f} {scores.min():>7.2f} {np.mean(scores > SEAM_THRESHOLD):>8.0%}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-3", help="sky seeds (default: 0-3)")
    parser.add_argument("--map", default="64x128", help="environment map size HxW (default: 64x128)")
    parser.add_argument("--size", type=int, default=64, help="render size in pixels, square (default: 64)")
    parser.add_argument("--spp", type=int, default=1024, help="Mitsuba samples per pixel (default: 1024)")
    parser.add_argument("--seams", action="store_true", help="print seam-score statistics instead")
    parser.add_argument("--count", type=int, default=60, help="--seams: maps per family and size (default: 60)")
    args = parser.parse_args()
    if args.seams:
        seam_statistics(args.count)
        return
    if not ibl.mitsuba_available():
        raise SystemExit("Mitsuba 3 is not installed: pip install mitsuba")
    agreement(parse_seeds(args.seeds), check_panorama_size(parse_size(args.map)), args.size, args.spp)


if __name__ == "__main__":
    main()
