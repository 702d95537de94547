"""``report.md``: the report's JSON content as Markdown, one function per section."""

from __future__ import annotations

from typing import Any

from glowgan.baselines.domains import format_legend
from glowgan.evaluation import format_table
from glowgan.report.sections import first_photos_text, photos_text
from glowgan.report.settings import STATISTICS


def markdown(report: dict[str, Any]) -> str:
    """The whole of ``report.md`` for the content :func:`glowgan.report.build_report` computed."""
    out = ["# GlowGAN evaluation report", ""]
    for section in (
        _setup_section,
        _dynamic_range_section,
        _highlight_share_section,
        _distances_section,
        _itm_section,
        _ablation_section,
        _findings_section,
    ):
        out += section(report)
    return "\n".join(out) + "\n"


def _number(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _setup_section(report: dict[str, Any]) -> list[str]:
    setup, itm = report["setup"], report["itm"]
    world, spec = setup["world"], setup["world"]["spec"]
    camera = spec["camera"]
    out = ["## Setup", ""]
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
        f"({100 * itm['clipped_fraction_mean']:.1f} % of pixels clipped on average). U-Nets: "
        f"{', '.join(f'{name} `{path}`' for name, path in setup['unets']) or 'none'}; encoder: "
        f"{'`' + setup['encoder'] + '`' if setup['encoder'] else 'none'}."
    )
    out.append("")
    out.append(
        f"glowgan {setup['glowgan_version']}, {setup['torch_threads']} torch thread(s); the report took "
        f"{_duration(report['timing']['total_s'])}."
    )
    out.append("")
    return out


def _dynamic_range_section(report: dict[str, Any]) -> list[str]:
    out = ["## Dynamic range", ""]
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
        for key, _ in STATISTICS:
            row += [_number(values[key][q]) for q in ("median", "p10", "p90")]
        rows.append(row)
    header = ["set"] + [f"{title} {q}" for _, title in STATISTICS for q in ("median", "p10", "p90")]
    out += [_table(header, rows), ""]
    out += [
        f"![dynamic range]({report['figures']['dynamic_range']})",
        "",
        f"![headroom]({report['figures']['headroom']})",
        "",
    ]
    return out


def _highlight_share_section(report: dict[str, Any]) -> list[str]:
    out = ["## Highlight share", ""]
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
    return out


def _distances_section(report: dict[str, Any]) -> list[str]:
    distances, spec = report["distances"], report["setup"]["world"]["spec"]
    out = ["## Distribution distances", ""]
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
    return out + _other_curves(distances)


def _other_curves(distances: dict[str, Any]) -> list[str]:
    """The bracket SWD and FID again, with renderings through curves the model never assumed."""
    by_curve = distances.get("by_curve", {})
    if not by_curve:
        return []
    out = [
        "The same distances with the renderings shot through other curve families' mean cameras (curves "
        "a model trained with the official camera never assumed): bracket SWD mean, and FID.",
        "",
    ]
    names = list(distances["hdr_swd"])
    header, rows = ["set"], [[name] for name in names]
    for crf, values in by_curve.items():
        header += [f"bracket mean, {crf}", f"FID, {crf}"]
        for row, name in zip(rows, names):
            fid = values["fid"].get(name)
            row += [_number(values["bracket_swd"][name]["mean"], ".4g"), _number(fid["fid"] if fid else None)]
    return out + [_table(header, rows), ""]


def _itm_section(report: dict[str, Any]) -> list[str]:
    itm = report["itm"]
    out = ["## Inverse tone mapping", ""]
    out.append(
        f"{photos_text(itm['photos'])}, held out, at {itm['size'][1]}x{itm['size'][0]} (`glowgan.evaluation`): scores "
        "after an exposure alignment on the unclipped pixels; *clipped* = the pixels the photo clipped."
    )
    out += ["", format_table(itm["summary"]), ""] + _legend(itm)
    kinds = itm.get("by_light", {})
    if len(kinds) > 1:
        stop = f"{itm['light_stops']:g} stop over the clip"
        for kind, part in kinds.items():
            what = (
                f"with a light (a sun) in their clipped region: the truth's clipped peak at least {stop}"
                if kind == "with a light"
                else f"without one: the truth's clipped peak under {stop}"
            )
            out += [f"{photos_text(part['photos'])} {what}:", "", format_table(part["summary"]), ""]
    for crf, other in itm.get("by_curve", {}).items():
        out.append(
            f"The same scenes shot with `{crf}` curves, which the model never assumed ({other['photos']} photos that "
            f"clip, {100 * other['clipped_fraction_mean']:.1f} % of pixels clipped on average):"
        )
        out += ["", format_table(other["summary"]), ""] + _legend(other)
    if "full_subset" in itm:
        subset = itm["full_subset"]
        options = subset["options"]
        out.append(
            f"GlowGAN's full recipe ({options['latent_steps']} latent + {options['tune_steps']} tuning steps) on "
            f"{first_photos_text(subset['photos'])}, beside every method on the same photos:"
        )
        out += ["", format_table(subset["summary"]), ""]
    else:
        out += ["GlowGAN's full recipe was not run (a full-recipe count of 0).", ""]
    if "itm_examples" in report["figures"]:
        out += [f"![inverse tone mapping examples]({report['figures']['itm_examples']})", ""]
    return out


def _legend(table: dict[str, Any]) -> list[str]:
    """The supervised U-Net rows of an ITM table: what each was trained on, oracle or cross-domain."""
    legend = table.get("unets", {})
    return [format_legend(legend), ""] if legend else []


def _ablation_section(report: dict[str, Any]) -> list[str]:
    distances = report["distances"]
    out = ["## Ablation", ""]
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
    return out


def _findings_section(report: dict[str, Any]) -> list[str]:
    return ["## Findings", ""] + [f"- {sentence}" for sentence in report["findings"]]
