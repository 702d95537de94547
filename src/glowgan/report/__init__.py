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
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from glowgan import __version__, hdrio, tonemap
from glowgan.baselines import get_baseline
from glowgan.evaluation import HeldOutPhoto, evaluate_methods, format_table, held_out_photos, summarise
from glowgan.invert import FAST_LATENT_STEPS, FAST_TUNE_STEPS, InversionOptions, invert_photo
from glowgan.metrics.fid import FidUnavailable, fid_from_features, inception_features, kid_from_features, load_inception
from glowgan.metrics.fidelity import align_exposure
from glowgan.metrics.swd import BRACKET_STOPS, exposure_bracket_swd, hdr_swd, render_mean_camera
from glowgan.report import figures
from glowgan.report.sets import Model, World, image_statistics, load_model, read_world, sample_metered, summary

logger = logging.getLogger(__name__)

MAIN_MODELS = ("glowgan", "vanilla")
BASELINE_METHODS = ("trivial", "akyuz", "masia", "masia2009")
# Latent seeds of model samples: SAMPLE_SEED_BASE * (seed + 1) onwards (the training grids use 0-63).
SAMPLE_SEED_BASE = 100_000
# Exposure of the inverse tone mapping examples, stops relative to the photo (1.0 = its clip level).
EXAMPLE_STOPS = -3.0
# The fast inversion mode of `glowgan itm --encoder` (glowgan.cli.itm: 100 latent + 50 tuning steps).
FAST_OPTIONS = InversionOptions(latent_steps=FAST_LATENT_STEPS, tune_steps=FAST_TUNE_STEPS)
REPORT_NAME = "report.md"
JSON_NAME = "report.json"
FIGURES = "figures"
_STATISTICS = (
    ("dynamic_range", "DR"),
    ("headroom", "headroom"),
    ("shadow_span", "shadow span"),
)


@dataclass(frozen=True)
class ReportSettings:
    """How much to measure, and the seeds that make the report reproducible.

    ``count``: ground-truth images read (the first ``count`` of the set) and samples drawn per model
    for the per-image statistics; distances use halves of it. ``seed``: the ground truth's split, the
    SWD and KID draws, and the latent seeds (``SAMPLE_SEED_BASE * (seed + 1)`` onwards).
    ``fid_count``: LDR renderings per set for FID/KID (0 skips them; at most ``count // 2``).
    ``itm_seeds``: held-out scene seeds; the first ``itm_count`` whose photos clip are used, the first
    ``itm_full_count`` of those also by GlowGAN's full recipe (``itm_full_options``; 0 skips it).
    ``itm_fast_options``: the encoder-initialised mode. ``examples``: photos in the example figure.
    ``fid_device``: the device of the Inception network (features are the same up to float rounding).
    """

    count: int = 1000
    seed: int = 0
    fid_count: int = 500
    itm_seeds: tuple[int, ...] = tuple(range(200))
    itm_count: int = 50
    itm_full_count: int = 4
    itm_full_options: InversionOptions = field(default_factory=InversionOptions)
    itm_fast_options: InversionOptions = FAST_OPTIONS
    examples: int = 3
    batch: int = 50
    fid_device: str = "cpu"  # where the Inception network runs (e.g. "cuda")

    def __post_init__(self) -> None:
        if self.count < 4:
            raise ValueError(f"count must be at least 4 (two halves of two images), got {self.count}")
        if not 0 <= self.fid_count <= self.count // 2:
            raise ValueError(
                f"the FID count (--fid-count) {self.fid_count} must be between 0 and count // 2 = {self.count // 2} "
                "(FID compares against half of the ground truth); raise the count or lower the FID count"
            )
        if self.fid_count == 1:
            raise ValueError("the FID count (--fid-count) must be 0 (skip FID) or at least 2")
        if self.itm_count < 1 or self.itm_full_count < 0 or self.itm_full_count > self.itm_count:
            raise ValueError(
                f"need 1 <= itm_count and 0 <= itm_full_count <= itm_count (--itm-count, --itm-full-count), "
                f"got {self.itm_count} and {self.itm_full_count}"
            )
        if not self.itm_seeds:
            raise ValueError("itm_seeds is empty; give held-out scene seeds such as 0-199")
        if self.examples < 0 or self.batch < 1 or self.seed < 0:
            raise ValueError("examples must be >= 0, batch >= 1 and seed >= 0")

    @property
    def sample_seeds(self) -> list[int]:
        first = SAMPLE_SEED_BASE * (self.seed + 1)
        return list(range(first, first + self.count))


def build_report(
    out_dir: Path | str,
    *,
    world: Path | str,
    models: dict[str, Path | str],
    unet: Path | str | None = None,
    encoder: Path | str | None = None,
    settings: ReportSettings = ReportSettings(),
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``models`` (name -> checkpoint; ``glowgan`` and ``vanilla`` required) on the synthetic set
    ``world`` and write ``out_dir/report.md``, ``report.json`` and ``figures/``; returns the JSON content.

    ``unet``: a `glowgan baseline train-supervised` checkpoint, scored as the ``unet`` ITM method.
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
    unet_method = get_baseline("unet", ckpt=unet) if unet is not None else None
    encoder_model = None
    if encoder is not None:
        from glowgan.encoder import load_encoder

        encoder_model = load_encoder(encoder, loaded["glowgan"].generator)
    out_dir = Path(out_dir)

    stage = time.perf_counter()
    truth = read_world(world, settings.count, progress=progress)
    statistics, distances = score_samples(truth, loaded, settings, progress=progress)
    timing["samples_s"] = time.perf_counter() - stage

    stage = time.perf_counter()
    itm, example_rows = _inverse_tone_mapping(truth, loaded["glowgan"], unet_method, encoder_model, settings, progress)
    timing["itm_s"] = time.perf_counter() - stage

    report: dict[str, Any] = {
        "setup": _setup(truth, loaded, settings, unet, encoder),
        "dynamic_range": {
            name: {key: summary(values[key]) for key, _ in _STATISTICS} for name, values in statistics.items()
        },
        "beyond_observable_fraction": truth.beyond_observable_fraction(),
        "highlight_share": {name: summary(values["highlight_share"]) for name, values in statistics.items()},
        "distances": distances,
        "itm": itm,
    }
    report["ablation"] = _ablation(loaded, report)
    report["findings"] = _findings(report)
    (out_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    report["figures"] = _figures(out_dir / FIGURES, statistics, distances, example_rows, itm)
    timing["total_s"] = time.perf_counter() - started
    report["timing"] = timing
    hdrio.write_text(out_dir / JSON_NAME, json.dumps(report, indent=2, allow_nan=False) + "\n")
    hdrio.write_text(out_dir / REPORT_NAME, _markdown(report))
    return report


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
    hdr_distances, bracket = {}, {}
    for name, hdr in tqdm(candidates.items(), desc="SWD", unit="set", disable=not progress):
        result = hdr_swd(hdr, reference, generator=_swd_generator(settings))
        hdr_distances[name] = {"mean": result.mean, "per_level": list(result.per_level)}
        brackets = exposure_bracket_swd(hdr, reference, generator=_swd_generator(settings))
        bracket[name] = {f"{stop:+g}": result.mean for stop, result in brackets.items()}
        bracket[name]["mean"] = float(np.mean(list(bracket[name].values())))
    distances: dict[str, Any] = {
        "set_size": half,
        "hdr_swd": hdr_distances,
        "bracket_stops": list(BRACKET_STOPS),
        "bracket_swd": bracket,
        "fid": _fid(reference, candidates, settings, progress),
    }
    return distances


def _fid(
    reference: torch.Tensor, candidates: dict[str, torch.Tensor], settings: ReportSettings, progress: bool
) -> dict[str, Any]:
    """FID and KID of LDR renderings (metered exposure, mean camera), or why they were skipped."""
    if settings.fid_count == 0:
        return {"skipped": "not computed (an FID count of 0 was asked for)."}
    try:
        network = load_inception(device=settings.fid_device)
    except FidUnavailable as error:
        return {"skipped": f"not computed: {error}."}
    count = settings.fid_count

    def features(hdr: torch.Tensor, name: str) -> np.ndarray:
        ldr = render_mean_camera(hdr[:count], 0.0)  # [count, 3, H, W] in [0, 1]
        logger.info("Inception features of %s (%d images)", name, count)
        return inception_features(ldr, network=network, progress=progress)

    reference_features = features(reference, "the reference half")
    results: dict[str, Any] = {"count": count}
    for name, hdr in candidates.items():
        candidate_features = features(hdr, name)
        kid, kid_std = kid_from_features(
            candidate_features, reference_features, generator=torch.Generator().manual_seed(settings.seed)
        )
        results[name] = {
            "fid": fid_from_features(candidate_features, reference_features),
            "kid": kid,
            "kid_std": kid_std,
        }
    return results


class _Recorder:
    """Wraps an ITM method and keeps its outputs, in call order (one per photo)."""

    def __init__(self, method: Callable[[np.ndarray], np.ndarray]) -> None:
        self.method = method
        self.outputs: list[np.ndarray] = []

    def __call__(self, ldr: np.ndarray) -> np.ndarray:
        hdr = np.asarray(self.method(ldr), dtype=np.float32)
        self.outputs.append(hdr)
        return hdr


def _inverse_tone_mapping(
    truth: World,
    glowgan: Model,
    unet_method: Callable[[np.ndarray], np.ndarray] | None,
    encoder_model: torch.nn.Module | None,
    settings: ReportSettings,
    progress: bool,
) -> tuple[dict[str, Any], list[list[np.ndarray | None]]]:
    """Score the methods on held-out photos; returns the JSON section and the example figure's rows."""
    photos = held_out_photos(truth.family, settings.itm_seeds, size=truth.size)[: settings.itm_count]
    generator, config = glowgan.generator, glowgan.config
    methods: dict[str, _Recorder] = {name: _Recorder(get_baseline(name)) for name in BASELINE_METHODS}
    if unet_method is not None:
        methods["unet"] = _Recorder(unet_method)
    if encoder_model is not None:
        from glowgan.encoder import guesser

        fast, guess = settings.itm_fast_options, guesser(encoder_model)

        def glowgan_fast(ldr: np.ndarray) -> np.ndarray:
            return invert_photo(generator, config, ldr, options=fast, initial=guess, progress=False).hdr

        methods["glowgan-fast"] = _Recorder(glowgan_fast)
    results = evaluate_methods(methods, photos, progress=progress)
    section: dict[str, Any] = {
        "family": truth.family,
        "size": list(truth.size),
        "photos": len(photos),
        "photo_seeds": [photo.seed for photo in photos],
        "clipped_fraction_mean": float(np.mean([photo.clipped.mean() for photo in photos])),
        "summary": summarise(results),
        "fast_options": asdict(settings.itm_fast_options) if encoder_model is not None else None,
    }
    full_count = min(settings.itm_full_count, len(photos))
    if full_count:
        full = settings.itm_full_options
        methods["glowgan"] = _Recorder(
            lambda ldr: invert_photo(generator, config, ldr, options=full, progress=False).hdr
        )
        results["glowgan"] = evaluate_methods({"glowgan": methods["glowgan"]}, photos[:full_count], progress=progress)[
            "glowgan"
        ]
        subset = {name: {key: values[:full_count] for key, values in rows.items()} for name, rows in results.items()}
        section["full_subset"] = {"photos": full_count, "summary": summarise(subset), "options": asdict(full)}
    return section, _example_rows(photos[: settings.examples], methods)


def _example_rows(photos: list[HeldOutPhoto], methods: dict[str, _Recorder]) -> list[list[np.ndarray | None]]:
    """Display images per photo: the photo, the truth and each method at EXAMPLE_STOPS, aligned on unclipped pixels."""
    rows = []
    for index, photo in enumerate(photos):
        unclipped = ~photo.clipped & (photo.ldr.max(axis=-1) > 0)
        row: list[np.ndarray | None] = [photo.ldr, tonemap.tonemap(photo.hdr, exposure_stops=EXAMPLE_STOPS)]
        for recorder in methods.values():
            if index >= len(recorder.outputs):
                row.append(None)
                continue
            hdr = recorder.outputs[index]
            gain = align_exposure(hdr, photo.hdr, mask=unclipped)
            row.append(tonemap.tonemap(gain * hdr, exposure_stops=EXAMPLE_STOPS))
        rows.append(row)
    return rows


def _setup(truth: World, models: dict[str, Model], settings: ReportSettings, unet: Any, encoder: Any) -> dict[str, Any]:
    seeds = settings.sample_seeds
    return {
        "glowgan_version": __version__,
        "torch_threads": torch.get_num_threads(),
        "world": {
            "path": str(truth.path),
            "images": truth.total,
            "read": settings.count,
            "spec": truth.spec,
            "observable_offset_quantile_stops": truth.offset_quantile_stops,
            "observable_level": truth.observable_level,
        },
        "models": {name: model.describe() for name, model in models.items()},
        "unet": None if unet is None else str(unet),
        "encoder": None if encoder is None else str(encoder),
        "samples_per_model": settings.count,
        "sample_seeds": [seeds[0], seeds[-1]],
        "seed": settings.seed,
        "swd_set_size": settings.count // 2,
        "fid_count": settings.fid_count,
        "itm_seeds": [min(settings.itm_seeds), max(settings.itm_seeds)],
        "itm_count": settings.itm_count,
        "itm_full_count": settings.itm_full_count,
    }


def _ablation(models: dict[str, Model], report: dict[str, Any]) -> list[dict[str, Any]]:
    fid = report["distances"]["fid"]
    rows = []
    for name, model in models.items():
        described = model.describe()
        rows.append(
            {
                "model": name,
                "camera": model.camera,
                "exposure_std_stops": described["exposure_std_stops"],
                "kimg": model.kimg,
                "dr_median": report["dynamic_range"][name]["dynamic_range"]["median"],
                "headroom_median": report["dynamic_range"][name]["headroom"]["median"],
                "hdr_swd": report["distances"]["hdr_swd"][name]["mean"],
                "bracket_swd_mean": report["distances"]["bracket_swd"][name]["mean"],
                "fid": fid[name]["fid"] if name in fid else None,
            }
        )
    return rows


def _photos(count: int) -> str:
    return "1 photo" if count == 1 else f"{count} photos"


def _first(count: int) -> str:
    return "the first photo" if count == 1 else f"the first {count} photos"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}×" if floor > 0 else "∞×"


def _findings(report: dict[str, Any]) -> list[str]:
    """Sentences computed from the numbers only; the discussion is left to the reader."""
    dr = report["dynamic_range"]
    full, observable = dr["ground truth (full)"], dr["ground truth (observable)"]
    g, v = dr["glowgan"], dr["vanilla"]
    findings = [
        f"GlowGAN's median headroom is {g['headroom']['median']:.2f} stops against "
        f"{observable['headroom']['median']:.2f} for the observable ground truth "
        f"({full['headroom']['median']:.2f} for the full ground truth) and {v['headroom']['median']:.2f} for vanilla.",
        f"GlowGAN's median dynamic range is {g['dynamic_range']['median']:.2f} stops against "
        f"{full['dynamic_range']['median']:.2f} (full) and {observable['dynamic_range']['median']:.2f} (observable) "
        f"for the ground truth and {v['dynamic_range']['median']:.2f} for vanilla; its median shadow span "
        f"(log2 P50/P0.1) is {g['shadow_span']['median']:.2f} stops against {full['shadow_span']['median']:.2f} "
        f"for the ground truth.",
    ]
    share = report["highlight_share"]
    findings.append(
        f"The median highlight share (luminance in the brightest 1 % of pixels) is {share['glowgan']['median']:.3f} "
        f"for GlowGAN, {share['vanilla']['median']:.3f} for vanilla and {share['ground truth (full)']['median']:.3f} "
        f"for the ground truth ({share['ground truth (observable)']['median']:.3f} observable)."
    )
    distances = report["distances"]
    swd, floor = distances["hdr_swd"], distances["hdr_swd"]["floor"]["mean"]
    findings.append(
        f"GlowGAN's HDR SWD (PU21) is {_ratio(swd['glowgan']['mean'], floor)} the real-vs-real floor "
        f"({swd['glowgan']['mean']:.4g} against {floor:.4g}); vanilla's is {_ratio(swd['vanilla']['mean'], floor)}."
    )
    bracket = distances["bracket_swd"]
    parts = [
        f"{key} stops {_ratio(bracket['glowgan'][key], floor_at)} / {_ratio(bracket['vanilla'][key], floor_at)}"
        for key, floor_at in bracket["floor"].items()
        if key != "mean"
    ]
    findings.append("Exposure-bracket SWD relative to the floor (GlowGAN / vanilla): " + ", ".join(parts) + ".")
    fid = distances["fid"]
    if "skipped" not in fid:
        findings.append(
            f"FID on {fid['count']} LDR renderings: GlowGAN {fid['glowgan']['fid']:.2f}, vanilla "
            f"{fid['vanilla']['fid']:.2f}, real-vs-real floor {fid['floor']['fid']:.2f} (KID x 10^3: "
            f"{1e3 * fid['glowgan']['kid']:.2f}, {1e3 * fid['vanilla']['kid']:.2f}, {1e3 * fid['floor']['kid']:.2f})."
        )
    itm = report["itm"]
    ranked = sorted(itm["summary"].items(), key=lambda item: -item[1]["pu21_psnr_clipped"])
    text = (
        f"On {_photos(itm['photos'])} (held out) the best PU21-PSNR on clipped regions is {ranked[0][0]}'s "
        f"({ranked[0][1]['pu21_psnr_clipped']:.2f} dB)"
    )
    if len(ranked) > 1:
        text += f", then {ranked[1][0]}'s ({ranked[1][1]['pu21_psnr_clipped']:.2f} dB)"
    findings.append(text + f"; trivial scores {itm['summary']['trivial']['pu21_psnr_clipped']:.2f} dB.")
    if "full_subset" in itm:
        subset = sorted(itm["full_subset"]["summary"].items(), key=lambda item: -item[1]["pu21_psnr_clipped"])
        rank = [name for name, _ in subset].index("glowgan") + 1
        best_other = next((name, row) for name, row in subset if name != "glowgan")
        findings.append(
            f"On {_first(itm['full_subset']['photos'])} GlowGAN's full recipe scores "
            f"{itm['full_subset']['summary']['glowgan']['pu21_psnr_clipped']:.2f} dB on clipped regions "
            f"(rank {rank} of {len(subset)}; best other: {best_other[0]}, {best_other[1]['pu21_psnr_clipped']:.2f} dB)."
        )
    camera_rows = [row for row in report["ablation"] if row["camera"]]
    if len(camera_rows) > 1 and len({row["bracket_swd_mean"] for row in camera_rows}) == 1:
        findings.append(f"All {len(camera_rows)} camera-on models have the same mean exposure-bracket SWD.")
    elif len(camera_rows) > 1:
        best = min(camera_rows, key=lambda row: row["bracket_swd_mean"])
        worst = max(camera_rows, key=lambda row: row["bracket_swd_mean"])
        world_std = report["setup"]["world"]["spec"]["camera"]["exposure_std_stops"]
        findings.append(
            f"Among the {len(camera_rows)} camera-on models the lowest mean exposure-bracket SWD is {best['model']}'s "
            f"(prior σ {best['exposure_std_stops']:g} stops, {best['bracket_swd_mean']:.4g}) and the highest "
            f"{worst['model']}'s (σ {worst['exposure_std_stops']:g}, {worst['bracket_swd_mean']:.4g}); the world's "
            f"exposure offsets have σ {world_std:g} stops."
        )
    return findings


def _figures(
    folder: Path,
    statistics: dict[str, dict[str, np.ndarray]],
    distances: dict[str, Any],
    example_rows: list[list[np.ndarray | None]],
    itm: dict[str, Any],
) -> dict[str, str]:
    main = ("ground truth (full)", "ground truth (observable)", *MAIN_MODELS)
    written = {
        "dynamic_range": figures.histograms(
            folder / "dynamic_range.png",
            {name: statistics[name]["dynamic_range"] for name in main},
            xlabel="per-image dynamic range, log2 P99.9/P0.1 (stops)",
            title="Dynamic range",
        ),
        "headroom": figures.histograms(
            folder / "headroom.png",
            {name: statistics[name]["headroom"] for name in main},
            xlabel="per-image headroom, log2 P99.9/P50 (stops)",
            title="Highlight headroom",
        ),
        "highlight_share": figures.histograms(
            folder / "highlight_share.png",
            {name: statistics[name]["highlight_share"] for name in statistics},
            xlabel="share of luminance in the brightest 1 % of pixels",
            title="Highlight share",
        ),
        "bracket_swd": figures.bracket_swd(
            folder / "bracket_swd.png",
            distances["bracket_stops"],
            {
                name: [values[f"{stop:+g}"] for stop in distances["bracket_stops"]]
                for name, values in distances["bracket_swd"].items()
            },
        ),
    }
    if example_rows:
        columns = ["photo", "ground truth", *itm["summary"]]
        if "full_subset" in itm:
            columns.append("glowgan")
        written["itm_examples"] = figures.image_grid(
            folder / "itm_examples.png",
            example_rows,
            columns,
            title=f"Inverse tone mapping: the photo, then each HDR result at {EXAMPLE_STOPS:+g} stops (clip), "
            "aligned to the truth on unclipped pixels",
        )
    return {name: f"{FIGURES}/{path.name}" for name, path in written.items()}


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------


def _number(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown(report: dict[str, Any]) -> str:
    setup, distances, itm = report["setup"], report["distances"], report["itm"]
    world, spec = setup["world"], setup["world"]["spec"]
    camera = spec["camera"]
    out = ["# GlowGAN evaluation report", ""]

    out += ["## Setup", ""]
    out.append(
        f"World: `{world['path']}`, {world['images']} {spec['family']} images of {spec['width']}x{spec['height']} "
        f"(set seed {spec['seed']}), the first {world['read']} read. Photographed with {spec['metering']} metering to "
        f"{spec['target']:g}, exposure offsets N({camera['exposure_mean_stops']:g}, {camera['exposure_std_stops']:g}) "
        f"stops, CRF `{camera['crf']}` (gamma {camera['gamma_mean']:g}±{camera['gamma_std']:g}, beta "
        f"{camera['beta_mean']:g}±{camera['beta_std']:g}), {camera['quantize_bits']}-bit."
    )
    out.append("")
    rows = [
        [
            name,
            f"`{model['path']}`",
            _number(model["kimg"], ".1f"),
            "on" if model["camera"] else "off",
            _number(model["exposure_mean_stops"], "g"),
            _number(model["exposure_std_stops"], "g"),
            "—" if model["quantize_bits"] is None else str(model["quantize_bits"]),
        ]
        for name, model in setup["models"].items()
    ]
    out.append(
        _table(["model", "checkpoint", "kimg", "camera", "prior mean (stops)", "prior σ (stops)", "camera bits"], rows)
    )
    out.append("")
    out.append(
        f"Samples: {setup['samples_per_model']} per model (latent seeds {setup['sample_seeds'][0]}-"
        f"{setup['sample_seeds'][1]}) against {world['read']} ground-truth images; distances on sets of "
        f"{setup['swd_set_size']}; report seed {setup['seed']}. Inverse tone mapping: held-out {itm['family']} scene "
        f"seeds {setup['itm_seeds'][0]}-{setup['itm_seeds'][1]}, {itm['photos']} photos that clip "
        f"({100 * itm['clipped_fraction_mean']:.1f} % of pixels clipped on average). U-Net: "
        f"{'`' + setup['unet'] + '`' if setup['unet'] else 'none'}; encoder: "
        f"{'`' + setup['encoder'] + '`' if setup['encoder'] else 'none'}."
    )
    out.append("")
    out.append(
        f"glowgan {setup['glowgan_version']}, {setup['torch_threads']} torch thread(s); the report took "
        f"{_duration(report['timing']['total_s'])}."
    )
    out.append("")

    out += ["## Dynamic range", ""]
    out.append(
        "Per image, in stops: DR = log2 P99.9/P0.1 of luminance, headroom = log2 P99.9/P50, shadow span = "
        "log2 P50/P0.1. *Observable*: the ground truth clipped at the brightest radiance that 1 % of the "
        f"world's photos leave unclipped ({100 * report['beyond_observable_fraction']:.2f} % of ground-truth "
        "pixels lie above it); no LDR-only method can know what lies beyond."
    )
    out.append("")
    rows = []
    for name, values in report["dynamic_range"].items():
        row = [name]
        for key, _ in _STATISTICS:
            row += [_number(values[key][q]) for q in ("median", "p10", "p90")]
        rows.append(row)
    header = ["set"] + [f"{title} {q}" for _, title in _STATISTICS for q in ("median", "p10", "p90")]
    out += [_table(header, rows), ""]
    out += [
        f"![dynamic range]({report['figures']['dynamic_range']})",
        "",
        f"![headroom]({report['figures']['headroom']})",
        "",
    ]

    out += ["## Highlight share", ""]
    out.append("Fraction of an image's luminance carried by its brightest 1 % of pixels.")
    out.append("")
    rows = [
        [name, _number(v["median"], ".3f"), _number(v["mean"], ".3f")] for name, v in report["highlight_share"].items()
    ]
    out += [
        _table(["set", "median", "mean"], rows),
        "",
        f"![highlight share]({report['figures']['highlight_share']})",
        "",
    ]

    out += ["## Distribution distances", ""]
    out.append(
        "Scale: every image (ground truth and samples) is multiplied by the world's own auto-exposure gain "
        f"({spec['metering']} luminance to {spec['target']:g}), since a model learns HDR only at the photos' metered "
        f"scale. Each set of {distances['set_size']} is compared with a fixed random half of the ground truth; "
        "*floor* is the other half (real vs real). HDR SWD: PU21-encoded, metered radiance 1 shown at 100 cd/m². "
        "Bracket: LDR renderings with the mean camera at each exposure. Lower is better; values are raw SWD."
    )
    out.append("")
    stops = [f"{stop:+g}" for stop in distances["bracket_stops"]]
    rows = []
    for name, values in distances["hdr_swd"].items():
        bracket = distances["bracket_swd"][name]
        rows.append(
            [name, _number(values["mean"], ".4g")]
            + [_number(bracket[s], ".4g") for s in stops]
            + [_number(bracket["mean"], ".4g")]
        )
    out += [_table(["set", "HDR SWD"] + [f"bracket {s} stops" for s in stops] + ["bracket mean"], rows), ""]
    out += [f"![bracket SWD]({report['figures']['bracket_swd']})", ""]
    fid = distances["fid"]
    if "skipped" in fid:
        out += [f"FID/KID: {fid['skipped']}", ""]
    else:
        out.append(f"FID and KID on {fid['count']} LDR renderings per set (metered exposure, mean camera, 8-bit):")
        out.append("")
        rows = [
            [name, _number(v["fid"]), f"{1e3 * v['kid']:.2f} ± {1e3 * v['kid_std']:.2f}"]
            for name, v in fid.items()
            if name != "count"
        ]
        out += [_table(["set", "FID", "KID x 10^3"], rows), ""]

    out += ["## Inverse tone mapping", ""]
    out.append(
        f"{_photos(itm['photos'])}, held out, at {itm['size'][1]}x{itm['size'][0]} (`glowgan.evaluation`): scores "
        "after an exposure alignment on the unclipped pixels; *clipped* = the pixels the photo clipped."
    )
    out += ["", format_table(itm["summary"]), ""]
    if "full_subset" in itm:
        subset = itm["full_subset"]
        options = subset["options"]
        out.append(
            f"GlowGAN's full recipe ({options['latent_steps']} latent + {options['tune_steps']} tuning steps) on "
            f"{_first(subset['photos'])}, beside every method on the same photos:"
        )
        out += ["", format_table(subset["summary"]), ""]
    else:
        out += ["GlowGAN's full recipe was not run (a full-recipe count of 0).", ""]
    if "itm_examples" in report["figures"]:
        out += [f"![inverse tone mapping examples]({report['figures']['itm_examples']})", ""]

    out += ["## Ablation", ""]
    rows = [
        [
            row["model"],
            "off" if not row["camera"] else _number(row["exposure_std_stops"], "g"),
            _number(row["kimg"], ".1f"),
            _number(row["dr_median"]),
            _number(row["headroom_median"]),
            _number(row["hdr_swd"], ".4g"),
            _number(row["bracket_swd_mean"], ".4g"),
            _number(row["fid"]),
        ]
        for row in report["ablation"]
    ]
    floor = distances["bracket_swd"]["floor"]["mean"]
    out.append(
        _table(
            ["model", "prior σ (stops)", "kimg", "DR median", "headroom median", "HDR SWD", "bracket SWD mean", "FID"],
            rows,
        )
    )
    out += ["", f"Floor: HDR SWD {distances['hdr_swd']['floor']['mean']:.4g}, bracket SWD mean {floor:.4g}.", ""]

    out += ["## Findings", ""]
    out += [f"- {sentence}" for sentence in report["findings"]]
    return "\n".join(out) + "\n"


__all__ = ["ReportSettings", "build_report", "MAIN_MODELS"]
