"""``glowgan info | tonemap | expose``: look at HDR (and LDR) image files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from glowgan import hdrio, tonemap
from glowgan.metrics.dynamic_range import DR_HIGH_PERCENTILE, DR_LOW_PERCENTILE, dynamic_range_stops, luminance

INFO_PERCENTILES = (DR_LOW_PERCENTILE, 1.0, 50.0, 99.0, DR_HIGH_PERCENTILE)
_NONFINITE_HELP = "what to do with NaN/Inf pixels: stop with an error (default) or replace them (clean)"


def register(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser(
        "info",
        help="print size, value range, luminance percentiles and dynamic range of an image",
        description=(
            "Print an image's size, channels, value range, luminance percentiles, its dynamic range in "
            "stops (log2 of the 99.9th over the 0.1st luminance percentile, over non-zero pixels) and "
            "how many pixels are NaN, infinite or negative (values as stored: the other commands clamp "
            "small negatives at 0). Reads EXR, Radiance .hdr and PFM as linear HDR, and "
            "PNG/JPEG/WebP/TIFF as display values in [0, 1]."
        ),
    )
    info.add_argument("file", type=Path, help="image file (.exr, .hdr, .pfm, .png, .jpg, ...)")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=run_info)

    tm = commands.add_parser(
        "tonemap",
        help="turn an HDR image into a viewable PNG/JPEG",
        description=(
            "Tone-map a linear HDR image (EXR, .hdr, PFM) to an 8-bit sRGB PNG, JPEG or WebP. "
            "Small negative values, which real HDR files often carry, are clamped at 0 with a warning."
        ),
    )
    tm.add_argument("input", type=Path, help="HDR image (.exr, .hdr, .pfm)")
    tm.add_argument("output", type=Path, help="output picture (.png, .jpg, .webp)")
    _add_display_options(tm)
    tm.add_argument(
        "--exposure",
        default="0",
        metavar="STOPS",
        help="exposure in stops before tone mapping (2**STOPS gain), or 'auto' to bring the "
        "log-average luminance to mid-grey (default: 0)",
    )
    tm.set_defaults(func=run_tonemap)

    ex = commands.add_parser(
        "expose",
        help="render an HDR image at several exposures side by side (an exposure stack)",
        description=(
            "Write one picture that shows an HDR image at several exposures side by side, e.g. "
            "--stops -4,-2,0,2,4, so that both its shadows and its highlights can be seen. "
            "Small negative values are clamped at 0 with a warning."
        ),
    )
    ex.add_argument("input", type=Path, help="HDR image (.exr, .hdr, .pfm)")
    ex.add_argument("output", type=Path, help="output picture (.png, .jpg, .webp)")
    ex.add_argument(
        "--stops",
        default="-4,-2,0,2,4",
        help="comma-separated exposures in stops (default: -4,-2,0,2,4)",
    )
    ex.add_argument(
        "--relative",
        action="store_true",
        help="add the automatic (mid-grey) exposure to every stop, so 0 is a metered exposure",
    )
    _add_display_options(ex)
    ex.set_defaults(func=run_expose)


def _add_display_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator",
        choices=tonemap.OPERATORS,
        default="clip",
        help="display transform: clip (a linear camera), reinhard (global, Reinhard 2002), "
        "filmic (ACES fit) (default: clip)",
    )
    parser.add_argument("--nonfinite", choices=("error", "clean"), default="error", help=_NONFINITE_HELP)



def image_info(path: Path) -> dict:
    """Facts about one image file, as printed by ``glowgan info``."""
    is_hdr = hdrio.is_hdr_path(path)
    if is_hdr:
        image = hdrio.read_hdr(path, nonfinite="keep", keep_single_channel=True)
    else:
        image = hdrio.read_ldr(path)
    finite = np.isfinite(image)
    nan_count = int(np.isnan(image).any(axis=-1).sum())
    inf_count = int(np.isinf(image).any(axis=-1).sum())
    clean = np.where(finite, image, 0.0)
    negatives = hdrio.negative_values(clean)
    lum = luminance(clean)
    positive = lum[np.isfinite(lum) & (lum > 0)]
    percentiles = np.percentile(positive, INFO_PERCENTILES) if positive.size else [0.0] * len(INFO_PERCENTILES)
    return {
        "file": str(path),
        "kind": "hdr" if is_hdr else "ldr",
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "channels": int(image.shape[2]),
        "min": float(clean.min()),
        "max": float(clean.max()),
        "luminance_percentiles": {f"p{p:g}": float(v) for p, v in zip(INFO_PERCENTILES, percentiles)},
        "dynamic_range_stops": dynamic_range_stops(clean),
        "zero_pixels": int((lum <= 0).sum()),
        "nan_pixels": nan_count,
        "inf_pixels": inf_count,
        "negative_pixels": negatives.pixels,
        "negatives_clamped": negatives.clampable,  # what the other commands do: clamp, or refuse the file
    }


def run_info(args: argparse.Namespace) -> int:
    info = image_info(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['file']}: {info['kind'].upper()} {info['width']}x{info['height']}, {info['channels']} channel(s)")
    print(f"  value range     {info['min']:.6g} .. {info['max']:.6g}")
    shown = ", ".join(f"{k}={v:.4g}" for k, v in info["luminance_percentiles"].items())
    print(f"  luminance       {shown} (over non-zero pixels)")
    print(
        f"  dynamic range   {info['dynamic_range_stops']:.2f} stops "
        f"(log2 P{DR_HIGH_PERCENTILE:g}/P{DR_LOW_PERCENTILE:g} of non-zero luminance)"
    )
    print(f"  zero pixels     {info['zero_pixels']}")
    print(f"  NaN / Inf       {info['nan_pixels']} / {info['inf_pixels']} pixels")
    if info["negative_pixels"]:
        verdict = "other commands clamp them at 0" if info["negatives_clamped"] else (
            "too many to be noise: other commands refuse this file"
        )
        print(f"  negative        {info['negative_pixels']} pixels (min {info['min']:.3g}): {verdict}")
    return 0


def _exposure(value: str, hdr: np.ndarray) -> float:
    if value == "auto":
        return tonemap.auto_exposure_stops(hdr)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--exposure must be a number of stops or 'auto', got {value!r}") from None


def parse_stops(text: str) -> list[float]:
    """'-4,-2,0,2,4' -> [-4.0, -2.0, 0.0, 2.0, 4.0], with a clear error for anything else."""
    try:
        stops = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--stops must be comma-separated numbers such as -4,-2,0,2,4, got {text!r}") from None
    if not stops:
        raise ValueError("--stops needs at least one exposure, e.g. --stops -2,0,2")
    return stops


def run_tonemap(args: argparse.Namespace) -> int:
    hdr = hdrio.read_hdr(args.input, nonfinite=args.nonfinite, negatives="clamp")
    stops = _exposure(args.exposure, hdr)
    hdrio.write_ldr(args.output, tonemap.tonemap(hdr, exposure_stops=stops, operator=args.operator))
    print(f"wrote {args.output} (exposure {stops:+.2f} stops, {args.operator})")
    return 0


def run_expose(args: argparse.Namespace) -> int:
    stops = parse_stops(args.stops)
    hdr = hdrio.read_hdr(args.input, nonfinite=args.nonfinite, negatives="clamp")
    offset = tonemap.auto_exposure_stops(hdr) if args.relative else 0.0
    sheet = tonemap.exposure_stack(hdr, [s + offset for s in stops], operator=args.operator)
    hdrio.write_ldr(args.output, sheet)
    shown = ", ".join(f"{s:+g}" for s in stops)
    print(f"wrote {args.output} ({len(stops)} exposures: {shown} stops{' from auto' if args.relative else ''})")
    return 0
