"""The report's figures (matplotlib, Agg backend, PNG): distributions of per-image statistics, the SWD
bracket and inverse tone mapping examples; :func:`report_figures` draws the report's set of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from glowgan import hdrio  # noqa: E402
from glowgan.report.settings import EXAMPLE_STOPS, FIGURES, MAIN_MODELS  # noqa: E402

# Bins of the histograms, in units of the plotted value.
_BINS = 40
_DPI = 110


def _save(figure: plt.Figure, path: Path) -> Path:
    """Rasterise the figure and write it as an 8-bit PNG atomically (:func:`glowgan.hdrio.write_ldr`)."""
    figure.set_dpi(_DPI)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # [H, W, 3] uint8
    plt.close(figure)
    hdrio.write_ldr(path, pixels)
    return path


def histograms(path: Path, sets: dict[str, np.ndarray], *, xlabel: str, title: str) -> Path:
    """Overlaid step histograms of per-image values, one per named set (shared bins), medians dotted."""
    values = np.concatenate([v[np.isfinite(v)] for v in sets.values()])
    edges = np.histogram_bin_edges(values, bins=_BINS)
    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    for name, data in sets.items():
        _, _, patches = axes.hist(
            data[np.isfinite(data)], bins=edges, histtype="step", linewidth=1.6, density=True, label=name
        )
        axes.axvline(float(np.median(data)), linestyle=":", linewidth=1.0, color=patches[0].get_edgecolor())
    axes.set_xlabel(xlabel)
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def bracket_swd(path: Path, stops: Sequence[float], curves: dict[str, Sequence[float]]) -> Path:
    """Exposure-bracket SWD (y, log scale) against the exposure (x), one line per set, the floor dashed."""
    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    for name, values in curves.items():
        style = "--" if name == "floor" else "-"
        axes.plot(stops, values, style, marker="o", label=name)
    axes.set_yscale("log")
    axes.set_xlabel("exposure of the LDR rendering (stops from the metered exposure)")
    axes.set_ylabel("SWD (lower is closer to the truth)")
    axes.set_title("Exposure-bracket SWD against the ground truth")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def image_grid(path: Path, rows: Sequence[Sequence[np.ndarray | None]], columns: Sequence[str], *, title: str) -> Path:
    """A grid of display images [H, W, 3] in [0, 1] (None: a grey 'not run' tile) with column titles."""
    height, width = next(image for row in rows for image in row if image is not None).shape[:2]
    scale = 1.6 / height
    figure, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(max(4.0, len(columns) * width * scale), len(rows) * height * scale + 0.8),
        squeeze=False,
    )
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            if image is None:
                ax.imshow(np.full((height, width, 3), 0.5, dtype=np.float32), vmin=0, vmax=1)
                ax.text(width / 2, height / 2, "not run", ha="center", va="center", fontsize="small")
            else:
                ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize="small")
    figure.suptitle(title, fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def report_figures(
    folder: Path,
    statistics: dict[str, dict[str, np.ndarray]],
    distances: dict[str, Any],
    example_rows: list[list[np.ndarray | None]],
    itm: dict[str, Any],
) -> dict[str, str]:
    """Draw the report's figures into ``folder``; returns their paths relative to the report, by name."""
    main = ("ground truth (full)", "ground truth (observable)", *MAIN_MODELS)
    # (statistic, the sets shown, x label, title) of each histogram
    plots = (
        ("dynamic_range", main, "per-image dynamic range, log2 P99.9/P0.1 (stops)", "Dynamic range"),
        ("headroom", main, "per-image headroom, log2 P99.9/P50 (stops)", "Highlight headroom"),
        ("highlight_share", tuple(statistics), "share of luminance in the brightest 1 % of pixels", "Highlight share"),
    )
    written = {
        key: histograms(
            folder / f"{key}.png", {name: statistics[name][key] for name in names}, xlabel=xlabel, title=title
        )
        for key, names, xlabel, title in plots
    }
    written["bracket_swd"] = bracket_swd(
        folder / "bracket_swd.png",
        distances["bracket_stops"],
        {
            name: [values[f"{stop:+g}"] for stop in distances["bracket_stops"]]
            for name, values in distances["bracket_swd"].items()
        },
    )
    if example_rows:
        columns = ["photo", "ground truth", *itm["summary"]]
        if "full_subset" in itm:
            columns.append("glowgan")
        written["itm_examples"] = image_grid(
            folder / "itm_examples.png",
            example_rows,
            columns,
            title=f"Inverse tone mapping: the photo, then each HDR result at {EXAMPLE_STOPS:+g} stops (clip), "
            "aligned to the truth on unclipped pixels",
        )
    return {name: f"{FIGURES}/{path.name}" for name, path in written.items()}
