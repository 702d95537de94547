"""Statistics of an LDR data set: size, over- and under-exposed pixel fractions, brightness histogram.

Definitions (shared by ``glowgan data synth`` and ``glowgan data stats``, so their numbers agree):

- A pixel is **over-exposed** when any of its channels is at or above 8-bit code ``OVER_CODE`` (250,
  i.e. >= 0.98): the camera clipped it, allowing for JPEG ringing around clipped areas.
- A pixel is **under-exposed** when all of its channels are at or below code ``UNDER_CODE`` (5, i.e.
  <= 0.02): with the official GlowGAN curve (gamma 0.9, beta 0.6) that is about 7.8 stops below the
  clip point, where 8-bit quantisation leaves only a handful of levels.

Float images in [0, 1] are first rounded to 8-bit codes. For comparison, the GlowGAN supplementary
reports 2.5 % over- and 9.2 % under-exposed pixels for its LHQ landscape set.

The manifest of a set that ``glowgan data synth`` (:mod:`glowgan.data.synth`) writes is read here too
(:func:`read_manifest`), for the statistics of its HDR ground truth.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from glowgan import fileio
from glowgan.metrics.dynamic_range import DR_HIGH_PERCENTILE, DR_LOW_PERCENTILE

logger = logging.getLogger(__name__)

OVER_CODE = 250
UNDER_CODE = 5
DEFAULT_BINS = 20
MANIFEST_NAME = "manifest.jsonl"
MANIFEST_FORMAT = "glowgan-synth"
MANIFEST_VERSION = 1


def exposure_counts(ldr: np.ndarray) -> tuple[int, int]:
    """Numbers of over- and under-exposed pixels in ``ldr`` ``[..., 3]`` (uint8 codes or floats in [0, 1])."""
    codes = _codes(ldr)
    brightest = codes.max(axis=-1)
    return int(np.count_nonzero(brightest >= OVER_CODE)), int(np.count_nonzero(brightest <= UNDER_CODE))


def exposure_counts_per_image(ldr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image over- and under-exposed pixel counts of a batch ``[N, H, W, 3]`` -> two ``[N]`` int arrays."""
    brightest = _codes(ldr).max(axis=-1).reshape(len(ldr), -1)
    return (brightest >= OVER_CODE).sum(axis=1), (brightest <= UNDER_CODE).sum(axis=1)


def _codes(ldr: np.ndarray) -> np.ndarray:
    array = np.asarray(ldr)
    if array.shape[-1] != 3:
        raise ValueError(f"expected RGB images with 3 channels last, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f":
        raise ValueError(f"expected uint8 codes or floats in [0, 1], got dtype {array.dtype}")
    return np.floor(np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def dataset_stats(
    path: str | os.PathLike,
    *,
    plot: str | os.PathLike | None = None,
    bins: int = DEFAULT_BINS,
    progress: bool = True,
) -> dict[str, Any]:
    """Statistics of a prepared or synthetic LDR data set (a folder or zip, as :class:`ImageFolderDataset` reads).

    Returns a JSON-ready dict: ``path``, ``count``, ``height``, ``width``, ``over_fraction``,
    ``under_fraction`` (of all pixels, definitions in the module docstring), ``mean_intensity``
    (mean and percentiles of the per-image mean of the LDR values), ``histogram`` (``edges`` and
    ``counts`` of the per-image mean intensity over [0, 1]) and, for a set written by
    ``glowgan data synth``, ``synthetic`` (family, camera, and the median dynamic range of the HDR
    ground truth from its manifest). ``plot``: where to write the histogram as a PNG (atomic), or None.
    """
    from tqdm import tqdm

    from glowgan.data.dataset import ImageFolderDataset

    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    dataset = ImageFolderDataset(path)
    height, width = dataset.resolution
    means = np.empty(len(dataset))
    over = under = 0
    for index in tqdm(range(len(dataset)), desc="reading images", unit="img", disable=not progress):
        ldr = dataset.read_codes(index)  # [H, W, 3] uint8
        o, u = exposure_counts(ldr)
        over += o
        under += u
        means[index] = ldr.mean() / 255.0
    pixels = len(dataset) * height * width
    counts, edges = np.histogram(means, bins=bins, range=(0.0, 1.0))
    stats: dict[str, Any] = {
        "path": os.fspath(path),
        "count": len(dataset),
        "height": height,
        "width": width,
        "over_fraction": over / pixels,
        "under_fraction": under / pixels,
        "mean_intensity": {
            "mean": float(means.mean()),
            "p5": float(np.percentile(means, 5)),
            "p50": float(np.percentile(means, 50)),
            "p95": float(np.percentile(means, 95)),
        },
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }
    synthetic = _synthetic_summary(dataset.root)
    if synthetic is not None:
        stats["synthetic"] = synthetic
    if plot is not None:
        write_histogram_plot(
            plot, means, bins=bins, title=f"{Path(path).name}: {len(dataset)} images, {height}x{width}"
        )
        stats["plot"] = os.fspath(plot)
    return stats


def read_manifest(out_dir: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Header and image records of a synthetic set's ``manifest.jsonl`` (records in file order).

    A last line cut off by an interrupted run is ignored; anything else malformed raises ``ValueError``.
    """
    path = Path(out_dir) / MANIFEST_NAME
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ValueError(f"{path}: not found; {out_dir} is not a set written by `glowgan data synth`") from None
    complete, last = lines[:-1], lines[-1]  # text after the last newline is an unfinished record
    if last:
        logger.warning("%s: ignoring an unfinished last line (an interrupted run)", path)
    if not complete:
        raise ValueError(f"{path}: empty manifest; delete {out_dir} and synthesise again")
    try:
        header = json.loads(complete[0])
        records = [json.loads(line) for line in complete[1:]]
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt manifest ({e}); delete {out_dir} and synthesise again") from None
    if header.get("format") != MANIFEST_FORMAT or header.get("version") != MANIFEST_VERSION:
        raise ValueError(
            f"{path}: not a {MANIFEST_FORMAT} manifest of version {MANIFEST_VERSION}; "
            f"use a new folder or delete {out_dir}"
        )
    return header, records


def _synthetic_summary(root: Path | None) -> dict[str, Any] | None:
    """Family, camera and HDR dynamic range of a ``glowgan data synth`` folder, from its manifest."""
    if root is None or not (root / MANIFEST_NAME).is_file():
        return None
    header, records = read_manifest(root)
    ranges = [r["dynamic_range_stops"] for r in records]
    spec = header["spec"]
    return {
        "family": spec["family"],
        "camera": spec["camera"],
        "metering": spec["metering"],
        "hdr_images": len(records),
        "hdr_dynamic_range_median_stops": float(np.median(ranges)) if ranges else None,
        "dynamic_range_definition": f"log2(P{DR_HIGH_PERCENTILE} / P{DR_LOW_PERCENTILE}) of luminance",
    }


def default_plot_path(path: str | os.PathLike) -> Path:
    """Where ``glowgan data stats DATA`` puts its plot by default: ``DATA-stats.png`` beside the data set.

    Beside, not inside: a PNG inside a flat image folder would become a training image.
    """
    data = Path(path)
    stem = data.name[: -len(".zip")] if data.name.lower().endswith(".zip") else data.name
    return data.parent / f"{stem}-stats.png"


def write_histogram_plot(path: str | os.PathLike, means: np.ndarray, *, bins: int, title: str) -> None:
    """Histogram of per-image mean intensity as a PNG (matplotlib, Agg backend), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 3.2), dpi=100)
    axes = figure.add_subplot()
    axes.hist(means, bins=bins, range=(0.0, 1.0), color="#4878a8", edgecolor="white")
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("mean LDR intensity of an image")
    axes.set_ylabel("images")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    fileio.write_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))


def format_stats(stats: dict[str, Any], *, bar_width: int = 40) -> str:
    """Human-readable report of :func:`dataset_stats` (what ``glowgan data stats`` prints)."""
    lines = [
        f"{stats['path']}: {stats['count']} images, {stats['height']}x{stats['width']} (HxW)",
        f"over-exposed pixels:  {100 * stats['over_fraction']:.2f} % (any channel >= {OVER_CODE}/255)",
        f"under-exposed pixels: {100 * stats['under_fraction']:.2f} % (all channels <= {UNDER_CODE}/255)",
        "per-image mean intensity: mean {mean:.3f}, 5th {p5:.3f}, median {p50:.3f}, 95th {p95:.3f}".format(
            **stats["mean_intensity"]
        ),
    ]
    synthetic = stats.get("synthetic")
    if synthetic is not None:
        median = synthetic["hdr_dynamic_range_median_stops"]
        lines.append(
            f"synthetic '{synthetic['family']}' set: HDR ground truth for {synthetic['hdr_images']} images, "
            f"median dynamic range {median:.1f} stops"
            if median is not None
            else "no HDR records"
        )
    counts = stats["histogram"]["counts"]
    edges = stats["histogram"]["edges"]
    top = max(max(counts), 1)
    lines.append("histogram of per-image mean intensity:")
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        lines.append(f"  {low:4.2f}-{high:4.2f} {count:7d} {'#' * round(bar_width * count / top)}")
    if "plot" in stats:
        lines.append(f"plot: {stats['plot']}")
    return "\n".join(lines)
