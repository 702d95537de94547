"""Figures for docs/envmaps/README.md: spheres lit by procedural sky panoramas.

    python docs/envmaps/make_figures.py            # builtin renders (a few seconds)
    python docs/envmaps/make_figures.py --mitsuba  # also the Mitsuba comparison (pip install mitsuba; ~1 min)

For each seed: the 128x256 sky panorama (``glowgan.data.world``), tone-mapped, above the 256x768 render
of a diffuse, a glossy and a mirror sphere lit by it (``glowgan render``'s defaults), both at the
render's auto exposure (Reinhard, as ``glowgan render`` writes OUT.png).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from glowgan import hdrio, ibl, tonemap
from glowgan.data.world import render_scenes
from glowgan.envmap import resample_panorama

HERE = Path(__file__).resolve().parent
SEEDS = (1, 2, 5)
GAP = 4  # black pixels between stacked panels


def _display(hdr: np.ndarray, stops: float) -> np.ndarray:
    return tonemap.tonemap(hdr, exposure_stops=stops, operator="reinhard")


def _stack(panels: list[np.ndarray]) -> np.ndarray:
    width = max(p.shape[1] for p in panels)
    rows = []
    for panel in panels:
        pad = width - panel.shape[1]
        rows.append(np.pad(panel, ((0, GAP), (pad // 2, pad - pad // 2), (0, 0))))
    return np.concatenate(rows)[:-GAP]


def builtin_figures() -> None:
    skies = render_scenes("sky", SEEDS, height=128, width=256)
    for seed, sky in zip(SEEDS, skies):
        start = time.perf_counter()
        image = ibl.render(sky, height=256, width=768, rng=np.random.default_rng(0), supersample=2)
        seconds = time.perf_counter() - start
        stops = tonemap.auto_exposure_stops(image)
        panorama = _display(resample_panorama(sky, 192, 384), stops)
        hdrio.write_ldr(HERE / f"sky{seed}-spheres.png", _stack([panorama, _display(image, stops)]))
        print(f"sky seed {seed}: rendered 768x256 in {seconds:.1f} s -> sky{seed}-spheres.png")


def mitsuba_figure(seed: int, spp: int) -> None:
    sky = render_scenes("sky", [seed], height=128, width=256)[0]
    ours = ibl.render(sky, height=128, width=384, rng=np.random.default_rng(0), supersample=4)
    start = time.perf_counter()
    theirs = ibl.render_mitsuba(sky, height=128, width=384, spp=spp)
    seconds = time.perf_counter() - start
    stops = tonemap.auto_exposure_stops(ours)
    figure = _stack([_display(ours, stops), _display(theirs, stops)])
    hdrio.write_ldr(HERE / f"sky{seed}-builtin-vs-mitsuba.png", figure)
    print(f"sky seed {seed}: Mitsuba {spp} spp in {seconds:.1f} s -> sky{seed}-builtin-vs-mitsuba.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mitsuba", action="store_true", help="also render the Mitsuba comparison")
    parser.add_argument("--spp", type=int, default=256, help="Mitsuba samples per pixel (default: 256)")
    args = parser.parse_args()
    builtin_figures()
    if args.mitsuba:
        mitsuba_figure(SEEDS[0], args.spp)


if __name__ == "__main__":
    main()
