"""Make the figures and numbers of docs/world/README.md.

    .venv/bin/python docs/world/make_figures.py [--out docs/world] [--quick] [--sky-versions]

Writes, per family, ``<family>.png`` (4 scenes at 128x256: the HDR ground truth tone-mapped, then two
of its LDR photographs taken with the family's default camera) and ``<family>_training.png`` (24 LDR
photos at 32x64, the size models train at), then ``sky5000_stats.png`` (``glowgan data stats`` plot
of a 5,000-image ``sky`` set), all with the latest world version, and ``sky_v2.png`` (the same skies
in world versions 1 and 2, side by side at three exposures), and prints the statistics quoted in
the README as Markdown (including version 1 against version 2 of ``sky`` and, for version 2, the
photographs' exposure statistics under other camera offsets). ``--quick`` uses fewer images for the
statistics (a smoke run); ``--sky-versions`` makes only ``sky_v2.png`` and the version tables.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glowgan.data import world
from glowgan.camera import CameraPrior
from glowgan.data.stats import dataset_stats, exposure_counts, format_stats
from glowgan.data.synth import (
    DEFAULT_OFFSET_MEAN_STOPS,
    DEFAULT_OFFSET_STD_STOPS,
    SynthSpec,
    default_camera,
    image_seeds,
    photograph,
    synthesize,
)
from glowgan.metrics.dynamic_range import dynamic_range_stops
from glowgan.tonemap import auto_exposure_stops, tonemap

GAP = 4
LABEL_HEIGHT = 18


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _label(canvas: Image.Image, xy: tuple[int, int], text: str) -> None:
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    x, y = xy
    box = draw.textbbox((x, y), text, font=font)
    draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
    draw.text((x, y), text, fill=(255, 255, 255), font=font)


def contact_sheet(family: str, path: Path, *, scenes: int = 4, height: int = 128, width: int = 256) -> None:
    """Scenes as rows: tone-mapped HDR, then two photographs with different random cameras."""
    seeds = [image_seeds(0, i) for i in range(scenes)]
    hdr = world.render_scenes(family, [s[0] for s in seeds], height=height, width=width)
    camera = default_camera(family)
    photos = [photograph(hdr, [s[1] + k for s in seeds], camera=camera) for k in range(2)]
    columns = 3
    sheet = Image.new("RGB", (columns * width + (columns - 1) * GAP, LABEL_HEIGHT + scenes * (height + GAP)), "white")
    titles = ["HDR ground truth, tone-mapped (Reinhard)", "LDR photograph", "another LDR photograph"]
    for c, title in enumerate(titles):
        _label(sheet, (c * (width + GAP) + 2, 2), title)
    for r in range(scenes):
        top = LABEL_HEIGHT + r * (height + GAP)
        preview = tonemap(hdr[r], exposure_stops=auto_exposure_stops(hdr[r]), operator="reinhard")
        sheet.paste(Image.fromarray(_to_uint8(preview)), (0, top))
        _label(sheet, (4, top + height - 16), f"DR {dynamic_range_stops(hdr[r]):.1f} stops")
        for k, (codes, params, meter) in enumerate(photos):
            left = (k + 1) * (width + GAP)
            sheet.paste(Image.fromarray(codes[r]), (left, top))
            offset = float(params.exposure_stops[r]) - float(meter[r])
            _label(
                sheet, (left + 4, top + height - 16), f"offset {offset:+.1f} stops, gamma {float(params.gamma[r]):.2f}"
            )
    sheet.save(path, optimize=True)


def training_grid(family: str, path: Path, *, rows: int = 6, cols: int = 4, height: int = 32, width: int = 64) -> None:
    """LDR photos as a model trains on them (default camera), shown at twice their size."""
    seeds = [image_seeds(0, i) for i in range(rows * cols)]
    hdr = world.render_scenes(family, [s[0] for s in seeds], height=height, width=width)
    codes, _, _ = photograph(hdr, [s[1] for s in seeds], camera=default_camera(family))
    grid = np.full((rows * (height + 1) - 1, cols * (width + 1) - 1, 3), 255, dtype=np.uint8)
    for i, image in enumerate(codes):
        r, c = divmod(i, cols)
        grid[r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width] = image
    picture = Image.fromarray(grid)
    picture.resize((picture.width * 2, picture.height * 2), Image.Resampling.NEAREST).save(path, optimize=True)


def sky_versions(path: Path, *, scenes: int = 6, height: int = 128, width: int = 256) -> None:
    """The same sky seeds in world versions 1 and 2: per version, Reinhard and clipped at -4 and +2 stops."""
    seeds = [image_seeds(0, i)[0] for i in range(scenes)]
    renders = {v: world.render_scenes("sky", seeds, height=height, width=width, version=v) for v in (1, 2)}
    columns = [(v, op, stops) for v in (1, 2) for op, stops in (("reinhard", 0.0), ("clip", -4.0), ("clip", 2.0))]
    sheet = Image.new("RGB", (len(columns) * (width + GAP) - GAP, LABEL_HEIGHT + scenes * (height + GAP)), "white")
    for c, (version, op, stops) in enumerate(columns):
        exposure = "Reinhard, auto exposure" if op == "reinhard" else f"auto {stops:+.0f} stops, clipped"
        _label(sheet, (c * (width + GAP) + 2, 2), f"v{version} {exposure}")
    for r in range(scenes):
        top = LABEL_HEIGHT + r * (height + GAP)
        for c, (version, op, stops) in enumerate(columns):
            hdr = renders[version][r]
            image = tonemap(hdr, exposure_stops=auto_exposure_stops(hdr) + stops, operator=op)
            sheet.paste(Image.fromarray(_to_uint8(image)), (c * (width + GAP), top))
            if op == "reinhard":
                _label(sheet, (c * (width + GAP) + 4, top + height - 16), f"DR {dynamic_range_stops(hdr):.1f} stops")
    sheet.save(path, optimize=True)


def version_statistics(count: int) -> None:
    """Print v1 against v2 of ``sky`` at 32x64 (``synthesize``, default camera), then v2 under other offsets."""
    print("| sky version | median DR 32x64 | 10th-90th pct | over-exposed | under-exposed | mean intensity |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="glowgan-docs-") as tmp:
        for version in world.WORLD_VERSIONS:
            spec = SynthSpec(family="sky", count=count, height=32, width=64, world_version=version)
            report = synthesize(Path(tmp) / f"v{version}", spec, progress=False)
            stats = dataset_stats(Path(tmp) / f"v{version}", progress=False)
            seeds = [image_seeds(0, i)[0] for i in range(count)]
            hdr = world.render_scenes("sky", seeds, height=32, width=64, version=version)
            ranges = [dynamic_range_stops(image) for image in hdr]
            print(
                f"| {version} | {report.dynamic_range_median_stops:.1f} | {np.percentile(ranges, 10):.1f}-"
                f"{np.percentile(ranges, 90):.1f} | {100 * report.over_fraction:.1f} % "
                f"| {100 * report.under_fraction:.1f} % | {stats['mean_intensity']['mean']:.2f} |"
            )
    default = f"offset N({DEFAULT_OFFSET_MEAN_STOPS['sky']}, {DEFAULT_OFFSET_STD_STOPS}) stops"
    print(f"\n({count} images per version at 32x64, run seed 0, default camera: {default})\n")
    seeds = [image_seeds(0, i) for i in range(count)]
    hdr = world.render_scenes("sky", [s[0] for s in seeds], height=32, width=64, version=2)
    print("| v2 camera offset (stops) | over-exposed | under-exposed | mean intensity |")
    print("|---|---|---|---|")
    for mean, std in ((-0.9, 1.0), (-1.0, 1.0), (-1.3, 1.0), (-1.6, 1.0), (-1.35, 1.3)):
        camera = CameraPrior(exposure_mean_stops=mean, exposure_std_stops=std, crf="glowgan", quantize_bits=8)
        codes, _, _ = photograph(hdr, [s[1] for s in seeds], camera=camera)
        over, under = exposure_counts(codes)
        pixels = codes.size // 3
        print(
            f"| N({mean}, {std}) | {100 * over / pixels:.1f} % | {100 * under / pixels:.1f} % "
            f"| {codes.mean() / 255:.2f} |"
        )


def statistics(count_small: int, count_large: int) -> None:
    """Print dynamic range and default-camera exposure statistics per family as a Markdown table."""
    print(
        "| family | median DR 32x64 | 10th-90th pct 32x64 | median DR 128x256 | median DR 256x512 "
        "| over-exposed | under-exposed | mean intensity |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for family in world.FAMILIES:
        seeds = [image_seeds(0, i) for i in range(count_small)]
        small = world.render_scenes(family, [s[0] for s in seeds], height=32, width=64)
        ranges = np.array([dynamic_range_stops(image) for image in small])
        large = [
            dynamic_range_stops(image)
            for image in world.render_scenes(family, [s[0] for s in seeds[:count_large]], height=128, width=256)
        ]
        huge = [
            dynamic_range_stops(image)
            for image in world.render_scenes(family, [s[0] for s in seeds[: count_large // 4]], height=256, width=512)
        ]
        codes, _, _ = photograph(small, [s[1] for s in seeds], camera=default_camera(family))
        over, under = exposure_counts(codes)
        pixels = codes.size // 3
        print(
            f"| {family} | {np.median(ranges):.1f} | {np.percentile(ranges, 10):.1f}-{np.percentile(ranges, 90):.1f} "
            f"| {np.median(large):.1f} | {np.median(huge):.1f} | {100 * over / pixels:.1f} % "
            f"| {100 * under / pixels:.1f} % | {codes.mean() / 255:.2f} |"
        )
    print(
        f"\n(32x64: {count_small} images per family; 128x256: the first {count_large}; 256x512: the first "
        f"{count_large // 4}; run seed 0, default cameras)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--quick", action="store_true", help="fewer images for the statistics")
    parser.add_argument("--sky-versions", action="store_true", help="only sky_v2.png and the version tables")
    args = parser.parse_args()
    sky_versions(args.out / "sky_v2.png")
    version_statistics(count=100 if args.quick else 500)
    if args.sky_versions:
        return
    for family in world.FAMILIES:
        contact_sheet(family, args.out / f"{family}.png")
        training_grid(family, args.out / f"{family}_training.png")
    statistics(count_small=100 if args.quick else 1000, count_large=16 if args.quick else 64)
    count = 500 if args.quick else 5000
    with tempfile.TemporaryDirectory(prefix="glowgan-docs-") as tmp:
        report = synthesize(tmp, SynthSpec(family="sky", count=count, height=32, width=64), progress=False)
        print(f"\n```\n$ glowgan data synth --family sky --count {count} --size 32x64 --out DIR\n{report.summary()}")
        stats = dataset_stats(tmp, plot=args.out / "sky5000_stats.png", progress=False)
        stats["path"] = "DIR"
        stats["plot"] = "docs/world/sky5000_stats.png"
        print(f"\n$ glowgan data stats DIR\n{format_stats(stats)}\n```")


if __name__ == "__main__":
    main()
