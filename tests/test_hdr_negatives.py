"""Every command that reads HDR files accepts the tiny negative texels of real HDRIs: clamped at 0 with
one warning naming the file, the count and the minimum; values too large to be noise are refused."""

import json
import logging

import numpy as np
import pytest

from glowgan import hdrio
from glowgan.cli import main
from glowgan.viewer import imagedata

MINIMUM = -0.003  # as in a CC0 HDRI that `glowgan render` used to refuse


def _real_hdri(path):
    """A 2:1 map of radiance around 1 with 3 tiny negative texels in 2 pixels."""
    rng = np.random.default_rng(0)
    hdr = np.exp(rng.normal(0, 1, size=(8, 16, 3))).astype(np.float32)
    hdr[2, 3] = [MINIMUM, 0.2, 0.1]
    hdr[5, 9] = [0.3, -0.001, -0.002]
    hdrio.write_hdr(path, hdr)
    return hdr


@pytest.fixture
def hdri(tmp_path):
    path = tmp_path / "studio.exr"
    return path, _real_hdri(path)


COMMANDS = {
    "tonemap": ["tonemap", "{map}", "{out}/t.png"],
    "expose": ["expose", "{map}", "{out}/e.png", "--stops", "-2,0,2"],
    "render": ["render", "{map}", "--out", "{out}/r.exr", "--size", "8x24", "--samples", "4", "--supersample", "1"],
    "view": ["view", "{map}", "--static", "{out}/site"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_clamps_tiny_negatives_with_exactly_one_warning(command, hdri, tmp_path, caplog):
    path, _ = hdri
    args = [a.format(map=path, out=tmp_path / "out") for a in COMMANDS[command]]
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "in 2 pixels" in warnings[0] and "-0.003" in warnings[0]
    assert any((tmp_path / "out").iterdir())


def test_render_output_is_lit_by_the_clamped_map(hdri, tmp_path):
    path, hdr = hdri
    clean = tmp_path / "clean.exr"
    hdrio.write_hdr(clean, np.maximum(hdr, 0))
    for name in (path, clean):
        assert main(["render", str(name), "--out", str(tmp_path / f"{name.stem}-r.exr"), "--size", "8x24",
                     "--samples", "4", "--supersample", "1"]) == 0
    assert np.array_equal(hdrio.read_hdr(tmp_path / "studio-r.exr"), hdrio.read_hdr(tmp_path / "clean-r.exr"))


def test_viewer_payload_is_clamped(hdri):
    path, hdr = hdri
    decoded, _ = imagedata.decode_image(imagedata.image_payload(path))
    assert decoded.min() == 0.0 and decoded[2, 3, 0] == 0.0


def test_info_shows_the_stored_negatives_and_what_other_commands_do(hdri, tmp_path, capsys):
    path, _ = hdri
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["min"] == pytest.approx(MINIMUM) and info["negative_pixels"] == 2 and info["negatives_clamped"]
    assert main(["info", str(path)]) == 0
    assert "negative        2 pixels (min -0.003): other commands clamp them at 0" in capsys.readouterr().out
    signed = tmp_path / "signed.exr"
    hdrio.write_hdr(signed, np.linspace(-1, 1, 8 * 16 * 3, dtype=np.float32).reshape(8, 16, 3))
    assert main(["info", str(signed)]) == 0  # info describes any file
    assert "other commands refuse this file" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_refuses_an_image_that_is_not_radiance(command, tmp_path, capsys):
    signed = tmp_path / "signed.exr"  # e.g. a network's [-1, 1] output saved as EXR
    hdrio.write_hdr(signed, np.linspace(-1, 1, 8 * 16 * 3, dtype=np.float32).reshape(8, 16, 3))
    args = [a.format(map=signed, out=tmp_path / "out") for a in COMMANDS[command]]
    if command == "view":  # the static viewer lists an unreadable file and exports the rest
        assert main(args) == 0
        assert "not converted" in capsys.readouterr().out
        return
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "signed.exr" in err and "not linear radiance" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
