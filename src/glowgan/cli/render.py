"""``glowgan render``: diffuse, glossy and mirror spheres lit by an HDR environment map."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "render",
        help="render a diffuse, a glossy and a mirror sphere lit by an HDR environment map (image-based lighting)",
        description=(
            "Render three spheres side by side (diffuse, glossy, mirror) lit by an equirectangular HDR "
            "map, with the map as background, and write OUT.exr (linear) and OUT.png (tone-mapped, auto "
            "exposure). The built-in renderer uses spherical-harmonics irradiance with the brightest texels "
            "summed exactly (diffuse), a Monte-Carlo prefiltered Phong lobe (glossy) and a reflection "
            "lookup (mirror); no shadows between spheres. --renderer mitsuba path-traces the same scene "
            "with Mitsuba 3 (pip install mitsuba). Conventions: y up, the map's centre is in front of the camera. "
            "Small negative texels, which real HDRIs often carry, are clamped at 0 with a warning."
        ),
    )
    parser.add_argument("envmap", type=Path, help="equirectangular (2:1) HDR map: .exr, .hdr or .pfm")
    parser.add_argument("--out", type=Path, required=True, help="output OUT.exr; OUT.png is written beside it")
    parser.add_argument("--size", default="256x768", metavar="HxW", help="render size (default: 256x768)")
    parser.add_argument(
        "--renderer", choices=("builtin", "mitsuba"), default="builtin", help="renderer (default: builtin)"
    )
    parser.add_argument("--supersample", type=int, default=2, help="builtin: SxS rays per pixel (default: 2)")
    parser.add_argument(
        "--exponent", type=float, default=64.0, help="Phong exponent of the glossy sphere (default: 64)"
    )
    parser.add_argument("--albedo", type=float, default=0.8, help="diffuse reflectance (default: 0.8)")
    parser.add_argument(
        "--samples", type=int, default=256, help="builtin: glossy lobe samples per texel (default: 256)"
    )
    parser.add_argument(
        "--exact-texels",
        type=int,
        default=256,
        help="builtin: brightest texels summed exactly instead of through SH (default: 256; 0 = pure SH)",
    )
    parser.add_argument("--spp", type=int, default=256, help="mitsuba: samples per pixel (default: 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the Monte-Carlo parts (default: 0)")
    parser.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    import numpy as np

    from glowgan import hdrio, ibl
    from glowgan.cli.common import parse_size
    from glowgan.envmap import read_envmap

    if args.out.suffix.lower() != ".exr":
        raise ValueError(f"--out {args.out}: name an .exr file (OUT.png is written beside it)")
    height, width = parse_size(args.size, example="256x768")
    if args.supersample < 1 or args.samples < 1 or args.spp < 1 or args.exact_texels < 0:
        raise ValueError("--supersample, --samples and --spp must be at least 1 and --exact-texels at least 0")
    if not 0.0 <= args.albedo <= 1.0:
        raise ValueError(f"--albedo must be in [0, 1], got {args.albedo}")
    scene = ibl.Scene(albedo=args.albedo, exponent=args.exponent)
    hdr = read_envmap(args.envmap)
    start = time.perf_counter()
    if args.renderer == "mitsuba":
        image = ibl.render_mitsuba(hdr, height=height, width=width, scene=scene, spp=args.spp, seed=args.seed)
    else:
        image = ibl.render(
            hdr,
            height=height,
            width=width,
            scene=scene,
            rng=np.random.default_rng(args.seed),
            supersample=args.supersample,
            glossy_samples=args.samples,
            exact_texels=args.exact_texels,
        )
    seconds = time.perf_counter() - start
    paths = ibl.write_render(args.out, image)
    # OUT.json names the map (relative to it), so `glowgan view` shows the map beside its render
    record = {"env": os.path.relpath(args.envmap.resolve(), args.out.resolve().parent), "renderer": args.renderer,
              "size": [width, height], "seconds": seconds}
    hdrio.write_text(args.out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    print(f"rendered {width}x{height} with {args.renderer} in {seconds:.1f} s: wrote {paths['exr']}, {paths['png']} and the JSON")
    return 0
