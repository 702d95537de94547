"""The evaluation report of ``glowgan eval`` (issue 7): GlowGAN against the vanilla GAN, ablations and
inverse tone mapping baselines, on a synthetic world whose ground truth is known.

:func:`build_report` writes ``report.md`` (sections: setup, dynamic range, highlight share,
distribution distances, inverse tone mapping, ablation, findings), ``report.json`` (every number of
the report) and ``figures/*.png``. Everything is deterministic given :class:`ReportSettings` (latent
seeds of the samples, the split of the ground truth, the SWD and KID draws, the held-out scene seeds
and the inversion seeds); only the timings change between runs, and they sit under ``timing`` and the
``seconds`` entries of the inverse tone mapping summaries.

Models are named checkpoints: ``glowgan`` (camera on) and ``vanilla`` (camera off) are the main
comparison; any other name is an ablation row. How images are scaled before they are compared, and
what the "observable" ground truth is, is explained in :mod:`glowgan.report.sets`.

Distances (:mod:`glowgan.metrics.swd`, :mod:`glowgan.metrics.fid`) compare each model with one half of
the ground truth (the *reference* half, a seeded random half of the first ``count`` images) and show
the *real-vs-real floor*: the other half against the same reference, at the same set size, the
distance that sampling alone produces. Each model contributes as many samples as a half holds.

The package's modules, in the order the report is made: :mod:`~glowgan.report.settings` (what is
measured, with which seeds), :mod:`~glowgan.report.sets` (the world's ground truth and the models'
samples), :mod:`~glowgan.report.scores` (statistics and distances), :mod:`~glowgan.report.itm`
(inverse tone mapping), :mod:`~glowgan.report.sections` (setup, ablation, findings),
:mod:`~glowgan.report.figures` and :mod:`~glowgan.report.markdown`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glowgan import hdrio
from glowgan.baselines import get_baseline
from glowgan.baselines.domains import row_names
from glowgan.report.figures import report_figures
from glowgan.report.itm import inverse_tone_mapping
from glowgan.report.markdown import markdown
from glowgan.report.scores import score_samples
from glowgan.report.sections import ablation_rows, findings, setup_section
from glowgan.report.sets import load_model, read_world, summary
from glowgan.report.settings import (
    FIGURES,
    JSON_NAME,
    MAIN_MODELS,
    REPORT_NAME,
    SAMPLE_SEED_BASE,
    STATISTICS,
    ReportSettings,
)

__all__ = ["MAIN_MODELS", "SAMPLE_SEED_BASE", "ReportSettings", "build_report", "score_samples"]


def build_report(
    out_dir: Path | str,
    *,
    world: Path | str,
    models: dict[str, Path | str],
    unets: Sequence[tuple[str, Path | str]] = (),
    encoder: Path | str | None = None,
    settings: ReportSettings = ReportSettings(),
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``models`` (name -> checkpoint; ``glowgan`` and ``vanilla`` required) on the synthetic set
    ``world`` and write ``out_dir/report.md``, ``report.json`` and ``figures/``; returns the JSON content.

    ``unets``: ``(name, checkpoint)`` of `glowgan baseline train-supervised` runs, scored as ITM methods whose
    rows say the gap each crosses to the photos (``unet (oracle)``, ``unet (cross: window, srgb)``); two of
    one world need two names.
    ``encoder``: a `glowgan itm-encoder` file for the glowgan model, scored as ``glowgan-fast``.
    """
    started = time.perf_counter()
    timing: dict[str, float] = {}
    missing = [name for name in MAIN_MODELS if name not in models]
    if missing:
        raise ValueError(f"the report needs models named {' and '.join(MAIN_MODELS)}; missing {', '.join(missing)}")
    loaded = {name: load_model(name, path) for name, path in models.items()}
    if not loaded["glowgan"].camera:
        raise ValueError(
            f"the glowgan model {models['glowgan']} was trained with the camera off; pass a GlowGAN checkpoint"
        )
    if loaded["vanilla"].camera:
        raise ValueError(
            f"the vanilla model {models['vanilla']} was trained with the camera on; pass a --camera off run"
        )
    unet_methods = [(name, get_baseline("unet", ckpt=path)) for name, path in unets]
    encoder_model = None
    if encoder is not None:
        from glowgan.encoder import load_encoder

        encoder_model = load_encoder(encoder, loaded["glowgan"].generator)
    out_dir = Path(out_dir)

    stage = time.perf_counter()
    truth = read_world(world, settings.count, progress=progress)
    row_names(  # refused early
        [(name, unet, unet.config) for name, unet in unet_methods], family=truth.family, world_version=truth.world_version
    )
    statistics, distances = score_samples(truth, loaded, settings, progress=progress)
    timing["samples_s"] = time.perf_counter() - stage

    stage = time.perf_counter()
    itm, example_rows = inverse_tone_mapping(truth, loaded["glowgan"], unet_methods, encoder_model, settings, progress)
    timing["itm_s"] = time.perf_counter() - stage

    report: dict[str, Any] = {
        "setup": setup_section(truth, loaded, settings, unets, encoder),
        "dynamic_range": {
            name: {key: summary(values[key]) for key, _ in STATISTICS} for name, values in statistics.items()
        },
        "beyond_observable_fraction": truth.beyond_observable_fraction(),
        "highlight_share": {name: summary(values["highlight_share"]) for name, values in statistics.items()},
        "distances": distances,
        "itm": itm,
    }
    report["ablation"] = ablation_rows(loaded, report)
    report["findings"] = findings(report)
    (out_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    report["figures"] = report_figures(out_dir / FIGURES, statistics, distances, example_rows, itm)
    timing["total_s"] = time.perf_counter() - started
    report["timing"] = timing
    hdrio.write_text(out_dir / JSON_NAME, json.dumps(report, indent=2, allow_nan=False) + "\n")
    hdrio.write_text(out_dir / REPORT_NAME, markdown(report))
    return report
