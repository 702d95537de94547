import json

import numpy as np
import pytest

from glowgan import hdrio
from glowgan.cli import main


@pytest.fixture
def exr(tmp_path):
    rng = np.random.default_rng(0)
    hdr = np.exp(rng.normal(0, 3, size=(32, 64, 3))).astype(np.float32)
    hdr[0, :4] = 0.0
    path = tmp_path / "scene.exr"
    hdrio.write_hdr(path, hdr)
    return path, hdr


def test_info_reports_dynamic_range_matching_numpy(exr, capsys):
    path, hdr = exr
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    rgb = hdr.astype(np.float64)
    lum = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    lum = lum[lum > 0]
    expected = np.log2(np.percentile(lum, 99.9) / np.percentile(lum, 0.1))
    assert info["dynamic_range_stops"] == pytest.approx(expected, rel=1e-9)
    assert (info["width"], info["height"], info["channels"]) == (64, 32, 3)
    assert info["zero_pixels"] == 4 and info["nan_pixels"] == 0 and info["inf_pixels"] == 0
    assert info["max"] == pytest.approx(float(hdr.max()))


def test_info_text_output_and_nonfinite_counts(tmp_path, capsys):
    hdr = np.ones((4, 4, 3), np.float32)
    hdr[0, 0, 1] = np.nan
    hdr[1, 1] = np.inf
    path = tmp_path / "bad.pfm"
    # hdrio refuses to write NaN, so write the PFM by hand (bottom-to-top rows, little endian)
    path.write_bytes(b"PF\n4 4\n-1.0\n" + hdr[::-1].astype("<f4").tobytes())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NaN / Inf       1 / 1 pixels" in out and "dynamic range" in out


def test_info_on_ldr_photo(tmp_path, capsys):
    path = tmp_path / "p.png"
    hdrio.write_ldr(path, np.full((5, 7, 3), 0.5, np.float32))
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "ldr" and info["dynamic_range_stops"] == 0.0


def test_tonemap_writes_png(exr, tmp_path, capsys):
    path, _ = exr
    out = tmp_path / "out" / "view.png"
    assert main(["tonemap", str(path), str(out), "--exposure", "auto", "--operator", "reinhard"]) == 0
    ldr = hdrio.read_ldr(out)
    assert ldr.shape == (32, 64, 3) and 0.05 < ldr.mean() < 0.95
    assert main(["tonemap", str(path), str(tmp_path / "dark.png"), "--exposure", "-6"]) == 0
    assert hdrio.read_ldr(tmp_path / "dark.png").mean() < ldr.mean()


def test_expose_accepts_negative_stop_lists(exr, tmp_path):
    path, _ = exr
    out = tmp_path / "stack.png"
    assert main(["expose", str(path), str(out), "--stops", "-4,-2,0,2,4"]) == 0
    sheet = hdrio.read_ldr(out)
    assert sheet.shape == (32, 5 * 64 + 4 * 2, 3)
    means = [sheet[:, i * 66 : i * 66 + 64].mean() for i in range(5)]
    assert means == sorted(means) and means[0] < means[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "{tmp}/missing.exr"], "missing.exr"),
        (["tonemap", "{tmp}/notes.exr", "{tmp}/o.png"], "notes.exr"),
        (["expose", "{exr}", "{tmp}/o.png", "--stops", "a,b"], "--stops must be"),
        (["tonemap", "{exr}", "{tmp}/o.png", "--exposure", "bright"], "--exposure"),
        (["tonemap", "{nan}", "{tmp}/o.png"], "`--nonfinite clean`"),
    ],
)
def test_bad_input_is_one_clear_line_and_leaves_no_output(args, message, exr, tmp_path, capsys):
    (tmp_path / "notes.exr").write_text("not an image")
    nan = tmp_path / "nan.pfm"
    nan.write_bytes(b"PF\n1 1\n-1.0\n" + np.array([np.nan, 1, 1], "<f4").tobytes())
    args = [a.format(tmp=tmp_path, exr=exr[0], nan=nan) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_nonfinite_clean_option_replaces_nan_and_inf_as_documented(tmp_path):
    hdr = np.array(
        [[[np.nan, 1.0, 1.0], [np.inf, 0.5, 0.5]], [[0.25, -np.inf, 0.25], [2.0, 3.0, 4.0]]], np.float32
    )  # [2, 2, 3]
    cleaned = hdr.copy()
    cleaned[0, 0, 0] = cleaned[1, 0, 1] = 0.0  # NaN and -Inf become 0
    cleaned[0, 1, 0] = 4.0  # +Inf becomes the brightest finite value
    bad = tmp_path / "bad.pfm"
    # hdrio refuses to write NaN, so write the PFM by hand (bottom-to-top rows, little endian)
    bad.write_bytes(b"PF\n2 2\n-1.0\n" + hdr[::-1].astype("<f4").tobytes())
    good = tmp_path / "good.pfm"
    hdrio.write_hdr(good, cleaned)
    # Reinhard's white point and the auto exposure depend on the brightest pixel: a +Inf left in, or
    # replaced by anything but the brightest finite value, changes every pixel of the output.
    for source, out in ((bad, "from_bad.png"), (good, "from_good.png")):
        assert main(["tonemap", str(source), str(tmp_path / out), "--operator", "reinhard", "--nonfinite", "clean"]) == 0
    from_bad, from_good = hdrio.read_ldr(tmp_path / "from_bad.png"), hdrio.read_ldr(tmp_path / "from_good.png")
    assert np.array_equal(from_bad, from_good)
    assert from_bad[0, 0, 0] == 0 and from_bad[0, 0, 1] > 0, "the NaN channel is black, its neighbours are not"
    assert np.ptp(from_bad) > 0.5, "a real image, not a black or white one"


def test_every_command_has_help(capsys):
    for command in ("info", "tonemap", "expose", "train", "generate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert len(capsys.readouterr().out) > 200
