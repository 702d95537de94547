import json
import re

import numpy as np
import pytest

from glowgan import hdrio
from glowgan.cli import main
from glowgan.cli.common import parse_size


def test_synth_stats_and_resume_through_the_cli(tmp_path, capsys):
    out = tmp_path / "sky"
    args = ["data", "synth", "--family", "sky", "--count", "12", "--size", "16x32", "--seed", "3", "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "12 images (12 rendered now" in first
    assert len(list((out / "ldr").glob("*.png"))) == 12 and len(list((out / "hdr").glob("*.exr"))) == 12
    assert main(args) == 0
    assert "0 rendered now, 12 already there" in capsys.readouterr().out
    changed = [a if a != "3" else "4" for a in args]
    assert main(changed) == 2
    assert "seed" in capsys.readouterr().err
    assert main(["data", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["count"] == 12 and (stats["height"], stats["width"]) == (16, 32)
    assert (tmp_path / "sky-stats.png").exists()


def test_synth_with_a_camera_mixture_noise_and_an_old_world_version(tmp_path, capsys):
    out = tmp_path / "mixed"
    args = ["data", "synth", "--count", "6", "--size", "8x16", "--crf", "srgb,filmic", "--read-noise", "0.002",
            "--world-version", "1", "--out", str(out)]
    assert main(args) == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    spec = json.loads(lines[0])["spec"]
    assert spec["world_version"] == 1 and spec["camera"]["crf"] == "srgb,filmic" and spec["camera"]["read_noise"] == 0.002
    assert {json.loads(line)["camera"]["crf"] for line in lines[1:]} <= {"srgb", "filmic"}
    capsys.readouterr()
    assert main([*args[:-2], "--crf", "srgb:x", "--out", str(tmp_path / "bad")]) == 2
    assert "not a number" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_prepare_lists_bad_files_and_keeps_good_ones(tmp_path, capsys):
    src = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(3):
        hdrio.write_ldr(src / f"good{i}.jpg", rng.random((40, 60, 3)).astype(np.float32))
    hdrio.write_ldr(src / "grey.png", rng.random((48, 48, 1)).astype(np.float32))
    hdrio.write_ldr(src / "deep.png", rng.random((50, 50, 3)).astype(np.float32), bits=16)
    hdrio.write_ldr(src / "tiny.png", np.zeros((1, 1, 3), np.float32))
    (src / "notes.jpg").write_text("not a photo")
    good = (src / "good0.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(good[: len(good) // 2])
    assert main(["data", "prepare", str(src), "--size", "32", "--out", str(tmp_path / "prepared")]) == 0
    out = capsys.readouterr().out
    assert "5 images of 32x32" in out
    for name in ("tiny.png", "notes.jpg", "cut.jpg"):
        assert f"skipped {name}:" in out
    assert len(list((tmp_path / "prepared" / "ldr").glob("*.png"))) == 5


@pytest.mark.parametrize("text", ["32", "32x", "axb", "0x4"])
def test_bad_sizes_are_rejected(text):
    with pytest.raises(ValueError, match="--size"):
        parse_size(text)


def test_demo_runs_end_to_end_and_resumes(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path / "demo"), "--count", "40", "--kimg", "0.064", "--samples", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        match = re.match(r"\s+(ground truth, observable|ground truth, full|GlowGAN, [0-9.]+ kimg)\s+([-0-9.]+)\s+([-0-9.]+)\s+([-0-9.]+)$", line)
        if match:
            rows[match.group(1).split(",")[0] if "GlowGAN" in match.group(1) else match.group(1)] = [float(v) for v in match.groups()[1:]]
    assert set(rows) == {"ground truth, observable", "ground truth, full", "GlowGAN"}, out
    observable, full, model = rows["ground truth, observable"], rows["ground truth, full"], rows["GlowGAN"]
    assert observable[0] <= full[0]  # clipping at the observable level can only lower the headroom
    assert observable[1] == full[1]  # ... and leaves the median and the shadows as they are
    share = re.search(r"GlowGAN recovers ([-0-9.]+) of the ([-0-9.]+) stops .* \((-?[0-9]+) %\)", out)
    assert share, out
    assert float(share.group(1)) == model[0] and float(share.group(2)) == observable[0]
    assert abs(int(share.group(3)) - 100 * model[0] / observable[0]) <= 5  # rounded from unrounded medians
    assert len(list((tmp_path / "demo" / "samples").glob("*.exr"))) == 2
    assert main([*args[:-4], "--kimg", "0.128", "--samples", "2"]) == 0  # continues the same run
    stats = (tmp_path / "demo" / "run" / "stats.jsonl").read_text().splitlines()
    assert json.loads(stats[-1])["kimg"] == pytest.approx(0.128)
