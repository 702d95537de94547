"""Sampling every model and scoring the samples against the ground truth: per-image statistics and
distribution distances (HDR SWD, exposure-bracket SWD, FID/KID), each beside the real-vs-real floor."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from glowgan.metrics.fid import FidUnavailable, fid_from_features, inception_features, kid_from_features, load_inception
from glowgan.metrics.swd import BRACKET_STOPS, exposure_bracket_swd, hdr_swd, render_mean_camera
from glowgan.report.sets import Model, World, image_statistics, sample_metered
from glowgan.report.settings import ReportSettings

logger = logging.getLogger(__name__)


def score_samples(
    truth: World, models: dict[str, Model], settings: ReportSettings, *, progress: bool = True
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Sample every model and score the samples against the ground truth: the report minus inversion.

    Returns per-image statistics (dynamic range, headroom, shadow span, highlight share) of the full and
    observable ground truth and of each model's samples, and the distances (HDR SWD, exposure-bracket
    SWD, FID/KID) of each model and of the real-vs-real floor. ``benchmarks/quality_per_minute.py``
    scores training runs with it.
    """
    samples = {}
    for name, model in tqdm(models.items(), desc="sampling", unit="model", disable=not progress):
        samples[name] = sample_metered(model, settings.sample_seeds, truth, batch=settings.batch)
    sets = {"ground truth (full)": truth.metered_hdr, "ground truth (observable)": truth.observable_hdr(), **samples}
    statistics = {name: _statistics(hdr) for name, hdr in sets.items()}
    return statistics, _distances(truth, samples, settings, progress)


def _statistics(hdr: np.ndarray) -> dict[str, np.ndarray]:
    values = image_statistics(hdr)
    values["shadow_span"] = values["dynamic_range"] - values["headroom"]  # log2(P50 / P0.1) per image
    return values


def _tensor(hdr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hdr)).permute(0, 3, 1, 2)  # [N, 3, H, W]


def _swd_generator(settings: ReportSettings) -> torch.Generator:
    """The same draws for every comparison (common random numbers), so they differ only by their sets."""
    return torch.Generator().manual_seed(settings.seed)


def _distances(
    truth: World, samples: dict[str, np.ndarray], settings: ReportSettings, progress: bool
) -> dict[str, Any]:
    """HDR SWD in PU21 space, exposure-bracket SWD and FID/KID of every model and of the floor."""
    order = torch.randperm(settings.count, generator=torch.Generator().manual_seed(settings.seed)).numpy()
    half = settings.count // 2
    reference = _tensor(truth.metered_hdr[order[:half]])
    candidates = {"floor": _tensor(truth.metered_hdr[order[half : 2 * half]])}
    candidates.update({name: _tensor(hdr[:half]) for name, hdr in samples.items()})
    hdr_distances = {}
    for name, hdr in tqdm(candidates.items(), desc="SWD", unit="set", disable=not progress):
        result = hdr_swd(hdr, reference, rng=_swd_generator(settings))
        hdr_distances[name] = {"mean": result.mean, "per_level": list(result.per_level)}
    distances: dict[str, Any] = {
        "set_size": half,
        "hdr_swd": hdr_distances,
        "bracket_stops": list(BRACKET_STOPS),
        "bracket_swd": _brackets(reference, candidates, settings, "glowgan"),
        "fid": _fid(reference, candidates, settings, progress, "glowgan"),
        "by_curve": {
            crf: {
                "bracket_swd": _brackets(reference, candidates, settings, crf),
                "fid": _fid(reference, candidates, settings, progress, crf),
            }
            for crf in settings.other_curves
        },
    }
    return distances


def _brackets(
    reference: torch.Tensor, candidates: dict[str, torch.Tensor], settings: ReportSettings, crf: str
) -> dict[str, dict[str, float]]:
    """Exposure-bracket SWD of every candidate, photographed with the mean camera of curve family ``crf``."""
    bracket = {}
    for name, hdr in candidates.items():
        brackets = exposure_bracket_swd(hdr, reference, rng=_swd_generator(settings), crf=crf)
        bracket[name] = {f"{stop:+g}": result.mean for stop, result in brackets.items()}
        bracket[name]["mean"] = float(np.mean(list(bracket[name].values())))
    return bracket


def _fid(
    reference: torch.Tensor, candidates: dict[str, torch.Tensor], settings: ReportSettings, progress: bool, crf: str
) -> dict[str, Any]:
    """FID and KID of LDR renderings (metered exposure, the mean camera of curve family ``crf``), or why
    they were skipped."""
    if settings.fid_count == 0:
        return {"skipped": "not computed (an FID count of 0 was asked for)."}
    try:
        network = load_inception(device=settings.fid_device)
    except FidUnavailable as error:
        return {"skipped": f"not computed: {error}."}
    count = settings.fid_count

    def features(hdr: torch.Tensor, name: str) -> np.ndarray:
        ldr = render_mean_camera(hdr[:count], 0.0, crf=crf)  # [count, 3, H, W] in [0, 1]
        logger.info("Inception features of %s (%d images, %s curve)", name, count, crf)
        return inception_features(ldr, network=network, progress=progress)

    reference_features = features(reference, "the reference half")
    results: dict[str, Any] = {"count": count}
    for name, hdr in candidates.items():
        candidate_features = features(hdr, name)
        kid, kid_std = kid_from_features(
            candidate_features, reference_features, rng=torch.Generator().manual_seed(settings.seed)
        )
        results[name] = {
            "fid": fid_from_features(candidate_features, reference_features),
            "kid": kid,
            "kid_std": kid_std,
        }
    return results
