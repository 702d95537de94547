"""The report's sections computed from other sections' numbers: the setup, the ablation rows and the
findings (sentences computed from the numbers only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from glowgan import __version__
from glowgan.report.sets import Model, World
from glowgan.report.settings import ReportSettings


def setup_section(
    truth: World, models: dict[str, Model], settings: ReportSettings, unets: Sequence[tuple[str, Any]], encoder: Any
) -> dict[str, Any]:
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
        "unets": [[name, str(path)] for name, path in unets],
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


def ablation_rows(models: dict[str, Model], report: dict[str, Any]) -> list[dict[str, Any]]:
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


def photos_text(count: int) -> str:
    return "1 photo" if count == 1 else f"{count} photos"


def first_photos_text(count: int) -> str:
    return "the first photo" if count == 1 else f"the first {count} photos"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}×" if floor > 0 else "∞×"


def findings(report: dict[str, Any]) -> list[str]:
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
        f"On {photos_text(itm['photos'])} (held out) the best PU21-PSNR on clipped regions is {ranked[0][0]}'s "
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
            f"On {first_photos_text(itm['full_subset']['photos'])} GlowGAN's full recipe scores "
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
