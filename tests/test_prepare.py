import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from glowgan import hdrio
from glowgan.data.dataset import ImageFolderDataset
from glowgan.data.prepare import REPORT_NAME, output_size, parse_aspect, prepare_images

GOOD = ["good1.jpg", "grey.jpg", "photo16.png", "sub/good2.png"]


def _smooth(height, width, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phases = rng.uniform(0, 6, size=3)
    return np.stack([0.5 + 0.4 * np.sin(3 * x + 2 * y + p) for p in phases], axis=2).astype(np.float32)


def _jpeg_bytes(image):
    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def photos(tmp_path):
    """Good photos plus a truncated JPEG, a text file named .jpg, a 1x1 PNG and a non-photo."""
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    (src / "good1.jpg").write_bytes(_jpeg_bytes(_smooth(300, 400, 1)))
    hdrio.write_ldr(src / "sub" / "good2.png", _smooth(200, 500, 2))
    hdrio.write_ldr(src / "photo16.png", _smooth(256, 300, 3), bits=16)
    Image.fromarray((_smooth(300, 300, 4)[:, :, 0] * 255).astype(np.uint8), mode="L").save(src / "grey.jpg")
    full = _jpeg_bytes(_smooth(300, 400, 5))
    (src / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (src / "notes.jpg").write_text("not a picture at all\n")
    hdrio.write_ldr(src / "tiny.png", np.full((1, 1, 3), 0.5, dtype=np.float32))
    (src / "readme.txt").write_text("holiday photos\n")
    (src / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored, not even listed
    return src


def _check_outcome(report, out):
    assert (report.height, report.width) == (64, 128)
    assert report.written == 4 and report.already_done == 0
    reasons = dict(report.skipped)
    assert sorted(reasons) == ["notes.jpg", "readme.txt", "tiny.png", "truncated.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "not a JPEG, PNG" in reasons["notes.jpg"]
    assert "too small" in reasons["tiny.png"] and "1x1" in reasons["tiny.png"]
    assert "extension" in reasons["readme.txt"]
    names = sorted(p.name for p in (out / "ldr").iterdir())
    assert names == sorted(n.replace("/", "__") + ".png" for n in GOOD)
    for name in names:
        with Image.open(out / "ldr" / name) as picture:
            assert picture.mode == "RGB" and picture.size == (128, 64)  # 8-bit RGB, even from 16-bit or grey
    grey = hdrio.read_ldr(out / "ldr" / "grey.jpg.png")
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    body = json.loads((out / REPORT_NAME).read_text())
    assert body["complete"] and len(body["skipped"]) == 4 and body["images"] == sorted(GOOD)
    assert "skipped tiny.png: too small" in report.summary()


def test_prepares_good_photos_and_lists_bad_files(photos, tmp_path):
    out = tmp_path / "data"
    report = prepare_images(photos, out, size=64, aspect=2.0, progress=False)
    _check_outcome(report, out)
    assert ImageFolderDataset(out).resolution == (64, 128)


def test_prepares_a_zip_the_same_way(photos, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(photos.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(photos).as_posix())
    report = prepare_images(archive, tmp_path / "from_zip", size=64, aspect=2.0, progress=False)
    _check_outcome(report, tmp_path / "from_zip")
    folder = tmp_path / "from_folder"
    prepare_images(photos, folder, size=64, aspect=2.0, progress=False)
    for path in (folder / "ldr").iterdir():
        assert (tmp_path / "from_zip" / "ldr" / path.name).read_bytes() == path.read_bytes()


def test_rerun_resumes_and_other_settings_are_refused(photos, tmp_path):
    out = tmp_path / "data"
    prepare_images(photos, out, size=64, aspect=2.0, workers=1, progress=False)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "ldr").iterdir()}
    again = prepare_images(photos, out, size=64, aspect=2.0, progress=False)
    assert (again.written, again.already_done, len(again.skipped)) == (0, 4, 4)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "ldr").iterdir()} == mtimes
    with pytest.raises(ValueError, match="other settings"):
        prepare_images(photos, out, size=32, aspect=2.0, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="not empty"):
        prepare_images(photos, tmp_path / "busy", size=64, progress=False)
    with pytest.raises(ValueError, match="no such folder"):
        prepare_images(tmp_path / "missing", tmp_path / "out2", size=64, progress=False)


def test_output_inside_the_source_is_not_read_back(photos):
    first = prepare_images(photos, photos / "prepared", size=64, aspect=2.0, progress=False)
    again = prepare_images(photos, photos / "prepared", size=64, aspect=2.0, progress=False)
    assert (first.written, again.written, again.already_done) == (4, 0, 4)
    assert len(again.skipped) == 4


def test_centre_crop_and_resize(tmp_path):
    src = tmp_path / "src"
    stripes = np.zeros((60, 180, 3), dtype=np.float32)
    stripes[:, :60, 0] = 1.0  # red | green | blue thirds
    stripes[:, 60:120, 1] = 1.0
    stripes[:, 120:, 2] = 1.0
    hdrio.write_ldr(src / "stripes.png", stripes)
    hdrio.write_ldr(src / "flat.png", np.full((90, 150, 3), [0.2, 0.4, 0.6], dtype=np.float32))
    prepare_images(src, tmp_path / "out", size=30, progress=False)
    centre = hdrio.read_ldr(tmp_path / "out" / "ldr" / "stripes.png.png")
    assert centre.shape == (30, 30, 3)
    np.testing.assert_allclose(centre, np.broadcast_to([0.0, 1.0, 0.0], centre.shape), atol=1 / 255)
    flat = hdrio.read_ldr(tmp_path / "out" / "ldr" / "flat.png.png")
    np.testing.assert_allclose(flat, np.broadcast_to([0.2, 0.4, 0.6], flat.shape), atol=1 / 255)


def test_aspect_and_size():
    assert parse_aspect("2:1") == 2.0
    assert parse_aspect("1.5") == 1.5
    assert parse_aspect("2:3") == pytest.approx(2 / 3)
    for bad in ("0", "a:b", "1:0", "-1"):
        with pytest.raises(ValueError, match="aspect"):
            parse_aspect(bad)
    assert output_size(256, 2.0) == (256, 512)
    assert output_size(256, 1.0) == (256, 256)
    assert output_size(256, 2 / 3) == (384, 256)
