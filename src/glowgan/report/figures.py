"""The report's figures (matplotlib, Agg backend, PNG): distributions of per-image statistics, the SWD
bracket and inverse tone mapping examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from glowgan import hdrio  # noqa: E402

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
