import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from glowgan.baselines.supervised import UNetConfig, train_supervised
from glowgan.checkpoint import build_generator, load_generator, save_checkpoint
from glowgan.cli import main
from glowgan.data.synth import SynthSpec, synthesize
from glowgan.encoder import save_encoder, train_encoder
from glowgan.invert import InversionOptions
from glowgan.metrics.fid import FidUnavailable
from glowgan.report import ReportSettings, build_report
from glowgan.report.sets import headroom_stops, read_world

TINY = [
    "model.resolution=[16, 32]",
    "model.z_dim=8",
    "model.w_dim=8",
    "model.g_channel_base=64",
    "model.g_channel_max=8",
]
QUICK = InversionOptions(latent_steps=2, tune_steps=1, perceptual="pixel")
SETTINGS = ReportSettings(
    count=24,
    fid_count=0,
    itm_seeds=tuple(range(12)),
    itm_count=3,
    itm_full_count=1,
    itm_full_options=QUICK,
    itm_fast_options=QUICK,
    examples=2,
)
SECTIONS = (
    "## Setup",
    "## Dynamic range",
    "## Highlight share",
    "## Distribution distances",
    "## Inverse tone mapping",
    "## Ablation",
    "## Findings",
)


def _checkpoint(path, *, camera: bool, std: float = 0.5, images: int | None = None, init: int = 0):
    from glowgan.config import load_config

    overrides = [*TINY, f"camera.enabled={'true' if camera else 'false'}", f"camera.exposure_std_stops={std}"]
    config = load_config(preset="cpu-32x64", overrides=overrides)
    torch.manual_seed(init)
    state = {"config": config.to_dict(), "G_ema": build_generator(config).state_dict()}
    if images is not None:
        state["progress"] = {"images": images}
    save_checkpoint(path, state)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    synthesize(root / "world", SynthSpec(family="sky", count=24, height=16, width=32, seed=0), progress=False)
    models = {
        "glowgan": _checkpoint(root / "g.pt", camera=True, images=2500),
        "vanilla": _checkpoint(root / "v.pt", camera=False),
        "sigma1": _checkpoint(root / "s1.pt", camera=True, std=1.0, init=1),
    }
    generator, config = load_generator(models["glowgan"])
    encoder, record = train_encoder(generator, config, steps=2, batch=4, progress=False)
    save_encoder(root / "encoder.pt", encoder, generator, record)
    return {"world": root / "world", "models": models, "encoder": root / "encoder.pt"}


def _numbers(tree, path=""):
    """Every number of a JSON tree with its path, leaving out timings."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key not in ("timing", "seconds"):
                yield from _numbers(value, f"{path}.{key}")
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _numbers(value, f"{path}[{index}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield path, tree


def _without_timing(tree):
    if isinstance(tree, dict):
        return {k: _without_timing(v) for k, v in tree.items() if k not in ("timing", "seconds")}
    if isinstance(tree, list):
        return [_without_timing(v) for v in tree]
    return tree


def test_report_has_every_section_and_is_deterministic(inputs, tmp_path):
    torch.set_num_threads(1)
    report = build_report(
        tmp_path / "a",
        world=inputs["world"],
        models=inputs["models"],
        encoder=inputs["encoder"],
        settings=SETTINGS,
        progress=False,
    )
    text = (tmp_path / "a" / "report.md").read_text()
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    for name in (
        "ground truth (full)",
        "ground truth (observable)",
        "glowgan",
        "vanilla",
        "sigma1",
        "floor",
        "masia2009",
        "glowgan-fast",
    ):
        assert f"| {name} |" in text
    assert "FID/KID: not computed" in text and "Findings" in text
    assert "| set | bracket mean, srgb | FID, srgb | bracket mean, filmic | FID, filmic |" in text
    assert "The same scenes shot with `srgb` curves" in text and "The same scenes shot with `filmic` curves" in text
    assert "| glowgan | 0.5 | 2.5 |" in text and "| sigma1 | 1 | — |" in text and "| vanilla | off | — |" in text

    on_disk = json.loads((tmp_path / "a" / "report.json").read_text())
    numbers = dict(_numbers(on_disk))
    assert len(numbers) > 100 and all(math.isfinite(v) for v in numbers.values())
    assert set(on_disk["itm"]["by_curve"]) == {"srgb", "filmic"}
    assert on_disk["itm"]["by_light"] == {  # these 3 photos all clip a sun: no table by kind
        "with a light": {"photos": 3, "summary": on_disk["itm"]["summary"]}
    } and "a light (a sun)" not in text
    assert on_disk["itm"]["by_curve"]["srgb"]["summary"]["trivial"] != on_disk["itm"]["summary"]["trivial"]
    by_curve = on_disk["distances"]["by_curve"]
    assert set(by_curve) == {"srgb", "filmic"}
    # other curves photograph the same sets differently: other distances, the floor among them
    assert by_curve["srgb"]["bracket_swd"]["floor"]["mean"] != on_disk["distances"]["bracket_swd"]["floor"]["mean"]
    dr = on_disk["dynamic_range"]
    # the observable truth is the full truth clipped: never more headroom
    assert dr["ground truth (observable)"]["headroom"]["median"] <= dr["ground truth (full)"]["headroom"]["median"]
    assert on_disk["itm"]["full_subset"]["photos"] == 1 and "glowgan" in on_disk["itm"]["full_subset"]["summary"]
    assert (
        on_disk["setup"]["models"]["glowgan"]["kimg"] == 2.5 and on_disk["setup"]["models"]["vanilla"]["kimg"] is None
    )
    assert len(on_disk["findings"]) >= 6 and all(any(c.isdigit() for c in s) for s in on_disk["findings"])
    for relative in on_disk["figures"].values():
        with Image.open(tmp_path / "a" / relative) as image:
            image.verify()
        assert relative in text
    assert _without_timing(report) == _without_timing(on_disk)

    build_report(
        tmp_path / "b",
        world=inputs["world"],
        models=inputs["models"],
        encoder=inputs["encoder"],
        settings=SETTINGS,
        progress=False,
    )
    again = json.loads((tmp_path / "b" / "report.json").read_text())
    assert json.dumps(_without_timing(again), sort_keys=True) == json.dumps(_without_timing(on_disk), sort_keys=True)


def test_ground_truth_scale_and_observable_level(inputs):
    world = read_world(inputs["world"], 8)
    lum = world.metered_hdr @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    log_median = np.median(np.log2(lum.reshape(8, -1)), axis=1)  # the world meters the median of log luminance
    np.testing.assert_allclose(log_median, np.log2(0.18), atol=1e-3)
    observable = world.observable_hdr()
    assert observable.max() <= world.observable_level and world.observable_level > 1.0
    assert headroom_stops(np.ones((4, 4, 3))) == 0.0
    with pytest.raises(ValueError, match="synthesise more"):
        read_world(inputs["world"], 25)


def test_eval_cli_writes_report_and_rejects_bad_input(inputs, tmp_path, capsys, monkeypatch):
    def no_weights(device="cpu"):
        raise FidUnavailable("install the weights")

    monkeypatch.setattr("glowgan.report.scores.load_inception", no_weights)
    models = inputs["models"]
    common = [
        "eval",
        "--world",
        str(inputs["world"]),
        "--count",
        "8",
        "--itm-seeds",
        "0-11",
        "--itm-count",
        "1",
        "--itm-full-count",
        "0",
        "--fid-count",
        "2",
    ]
    tiny = UNetConfig(height=8, width=16, channels=4, depth=2, batch=2)
    oracle = train_supervised(tmp_path / "oracle", tiny, steps=1, progress=False).checkpoint
    cross = train_supervised(tmp_path / "cross", replace(tiny, family="window", crf="srgb"), steps=1, progress=False)
    out = tmp_path / "cli"
    assert (
        main(
            [
                *common,
                "--ckpt",
                f"glowgan={models['glowgan']}",
                "--ckpt",
                f"vanilla={models['vanilla']}",
                "--unet",
                str(oracle),
                "--unet",
                str(cross.checkpoint),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert str(out / "report.md") in capsys.readouterr().out
    text = (out / "report.md").read_text()
    assert "FID/KID: not computed: install the weights." in text
    # the rows say which gap each U-Net crosses to each table's photos (sky scenes; glowgan, then srgb curves)
    for row in ("unet (oracle)", "unet (cross: window, srgb)", "unet (cross: glowgan)", "unet (cross: window)"):
        assert f"| {row} |" in text, row
    assert "- unet (cross: window): trained on paired window photos with `srgb` curves, evaluated on sky photos " \
        "with `srgb` curves: cross-domain" in text
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["setup"]["unets"] == [["unet", str(oracle)], ["unet", str(cross.checkpoint)]]
    assert list(on_disk["itm"]["unets"]) == ["unet (oracle)", "unet (cross: window, srgb)"]
    twins = ["--unet", str(oracle), "--unet", f"unet={oracle}"]
    both = ["--ckpt", f"glowgan={models['glowgan']}", "--ckpt", f"vanilla={models['vanilla']}"]
    assert main([*common, *both, *twins, "--out", str(tmp_path / "twins")]) == 2
    assert "its own name" in capsys.readouterr().err and not (tmp_path / "twins" / "report.md").exists()
    # the models swapped: the glowgan slot holds a camera-off model
    bad = tmp_path / "bad"
    assert (
        main(
            [
                *common,
                "--ckpt",
                f"glowgan={models['vanilla']}",
                "--ckpt",
                f"vanilla={models['vanilla']}",
                "--out",
                str(bad),
            ]
        )
        == 2
    )
    assert "camera off" in capsys.readouterr().err
    assert (
        main(
            [
                *common,
                "--ckpt",
                f"glowgan={tmp_path / 'missing.pt'}",
                "--ckpt",
                f"vanilla={models['vanilla']}",
                "--out",
                str(bad),
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err
    assert main([*common, "--ckpt", f"glowgan={models['glowgan']}", "--out", str(bad)]) == 2
    assert "vanilla" in capsys.readouterr().err
    assert main([*common, "--ckpt", "glowgan", "--ckpt", f"vanilla={models['vanilla']}", "--out", str(bad)]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
    assert (
        main(
            [
                *common[:-1],
                "9",
                "--ckpt",
                f"glowgan={models['glowgan']}",
                "--ckpt",
                f"vanilla={models['vanilla']}",
                "--out",
                str(bad),
            ]
        )
        == 2
    )
    assert "--fid-count" in capsys.readouterr().err
    assert not (bad / "report.md").exists()


def test_the_itm_section_splits_its_table_by_kind_when_the_photos_hold_both():
    from glowgan.report.markdown import _itm_section

    row = {"pu21_psnr": 30.0, "pu21_psnr_clipped": 12.0, "seconds": 1.0}
    kinds = {
        "with a light": {"photos": 2, "summary": {"glowgan": {**row, "pu21_psnr_clipped": 10.0}}},
        "without": {"photos": 1, "summary": {"glowgan": {**row, "pu21_psnr_clipped": 16.0}}},
    }
    itm = {"photos": 3, "size": [16, 32], "summary": {"glowgan": row}, "light_stops": 1.0, "by_light": kinds}
    text = "\n".join(_itm_section({"itm": itm, "figures": {}}))
    assert "2 photos with a light (a sun) in their clipped region: the truth's clipped peak at least 1 stop" in text
    assert "1 photo without one: the truth's clipped peak under 1 stop over the clip:" in text
    assert [line for line in text.splitlines() if line.startswith("| glowgan |")] == [
        "| glowgan | 30.00 | 12.00 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 1 |",
        "| glowgan | 30.00 | 10.00 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 1 |",
        "| glowgan | 30.00 | 16.00 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 1 |",
    ]
    one_kind = {**itm, "by_light": {"with a light": kinds["with a light"]}}
    assert "a light (a sun)" not in "\n".join(_itm_section({"itm": one_kind, "figures": {}}))
