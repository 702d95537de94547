"""The report's inverse tone mapping section: GlowGAN (full recipe and fast mode) against the baselines
on held-out photos of the world, and the rows of the example figure. Supervised U-Net rows are named by
the gap they cross to each table's photos (oracle or cross-domain, :mod:`glowgan.baselines.domains`),
with a legend (``unets``) beside each summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from glowgan import tonemap
from glowgan.baselines import get_baseline
from glowgan.baselines.domains import row_names
from glowgan.baselines.supervised import UNetBaseline, UNetConfig
from glowgan.data.synth import default_camera
from glowgan.evaluation import LIGHT_STOPS, HeldOutPhoto, by_light, held_out_photos, summarise
from glowgan.invert import clip_levels_for, invert_photos
from glowgan.itm_defaults import BATCH
from glowgan.itm_rows import Inversions, evaluate
from glowgan.report.sets import Model, World
from glowgan.report.settings import BASELINE_METHODS, EXAMPLE_STOPS, ReportSettings


class _Recorder:
    """Wraps an ITM method and keeps its outputs, in call order (one per photo)."""

    def __init__(self, method: Callable[[np.ndarray], np.ndarray]) -> None:
        self.method = method
        self.outputs: list[np.ndarray] = []

    def __call__(self, ldr: np.ndarray) -> np.ndarray:
        hdr = np.asarray(self.method(ldr), dtype=np.float32)
        self.outputs.append(hdr)
        return hdr


def inverse_tone_mapping(
    truth: World,
    glowgan: Model,
    unets: list[tuple[str, UNetBaseline]],
    encoder_model: torch.nn.Module | None,
    settings: ReportSettings,
    progress: bool,
) -> tuple[dict[str, Any], list[list[np.ndarray | None]]]:
    """Score the methods on held-out photos; returns the JSON section and the example figure's rows.

    ``unets``: supervised U-Nets with their names, each row named by its gap to each table's photos."""
    camera = default_camera(truth.family)
    photos = held_out_photos(
        truth.family, settings.itm_seeds, size=truth.size, camera=camera, world_version=truth.world_version
    )[: settings.itm_count]
    generator, config = glowgan.generator, glowgan.config
    levels = clip_levels_for(generator, config, settings.itm_full_options)  # measured once for every inversion
    entries: list[tuple[str, _Recorder, UNetConfig | None]] = [
        (name, _Recorder(get_baseline(name)), None) for name in BASELINE_METHODS
    ]
    entries += [(name, _Recorder(unet), unet.config) for name, unet in unets]
    inversions: dict[str, Inversions] = {}  # GlowGAN's rows, inverted a batch of photos at a time
    if encoder_model is not None:
        from glowgan.encoder import guesser

        fast, guess = settings.itm_fast_options, guesser(encoder_model)
        inversions["glowgan-fast"] = Inversions(
            lambda ldrs: invert_photos(generator, config, ldrs, options=fast, initial=guess, clip_levels=levels, progress=False),
            batch=BATCH, fill=fast.fill, name="glowgan-fast", progress=progress,
        )
        entries.append(("glowgan-fast", _Recorder(inversions["glowgan-fast"].row()), None))
    methods, legend = row_names(entries, family=truth.family, camera=camera, world_version=truth.world_version)
    results = evaluate(methods, photos, inversions, progress=progress)
    section: dict[str, Any] = {
        "family": truth.family,
        "size": list(truth.size),
        "photos": len(photos),
        "photo_seeds": [photo.seed for photo in photos],
        "clipped_fraction_mean": float(np.mean([photo.clipped.mean() for photo in photos])),
        "summary": summarise(results),
        # a gain on photos whose clipped region hides a sun can hide a loss on those without
        "by_light": {
            kind: {"photos": len(rows[next(iter(rows))]["seconds"]), "summary": summarise(rows)}
            for kind, rows in by_light(results, photos).items()
        },
        "light_stops": LIGHT_STOPS,
        "unets": legend,
        "fast_options": asdict(settings.itm_fast_options) if encoder_model is not None else None,
    }
    section["by_curve"] = _other_curves(truth, entries, inversions, settings, progress)
    full_count = min(settings.itm_full_count, len(photos))
    if full_count:
        full = settings.itm_full_options
        full_inversions = Inversions(
            lambda ldrs: invert_photos(generator, config, ldrs, options=full, clip_levels=levels, progress=False),
            batch=BATCH, fill=full.fill, name="glowgan", progress=progress,
        )
        methods["glowgan"] = _Recorder(full_inversions.row())
        results["glowgan"] = evaluate(
            {"glowgan": methods["glowgan"]}, photos[:full_count], {"glowgan": full_inversions}, progress=progress
        )["glowgan"]
        subset = {name: {key: values[:full_count] for key, values in rows.items()} for name, rows in results.items()}
        section["full_subset"] = {"photos": full_count, "summary": summarise(subset), "options": asdict(full)}
    return section, _example_rows(photos[: settings.examples], methods)


def _other_curves(
    truth: World,
    entries: list[tuple[str, _Recorder, UNetConfig | None]],
    inversions: dict[str, Inversions],
    settings: ReportSettings,
    progress: bool,
) -> dict[str, Any]:
    """The same methods on the same scenes photographed with curve families the model never assumed
    (the world's camera otherwise): one summary per family, U-Net rows named against its photos."""
    by_curve = {}
    raw = [(name, recorder.method, unet) for name, recorder, unet in entries]  # the examples keep the first photos
    for crf in settings.other_curves:
        camera = default_camera(truth.family).component(crf)
        photos = held_out_photos(
            truth.family, settings.itm_seeds, size=truth.size, camera=camera, world_version=truth.world_version
        )[: settings.itm_count]
        methods, legend = row_names(raw, family=truth.family, camera=camera, world_version=truth.world_version)
        by_curve[crf] = {
            "photos": len(photos),
            "clipped_fraction_mean": float(np.mean([photo.clipped.mean() for photo in photos])),
            "summary": summarise(evaluate(methods, photos, inversions, progress=progress)),
            "unets": legend,
        }
    return by_curve


def _example_rows(photos: list[HeldOutPhoto], methods: dict[str, _Recorder]) -> list[list[np.ndarray | None]]:
    """Display images per photo: the photo, the truth and each method at EXAMPLE_STOPS, aligned on unclipped pixels."""
    rows = []
    for index, photo in enumerate(photos):
        row: list[np.ndarray | None] = [photo.ldr, tonemap.tonemap(photo.hdr, exposure_stops=EXAMPLE_STOPS)]
        for recorder in methods.values():
            if index >= len(recorder.outputs):
                row.append(None)
                continue
            row.append(tonemap.tonemap(photo.aligned(recorder.outputs[index]), exposure_stops=EXAMPLE_STOPS))
        rows.append(row)
    return rows
