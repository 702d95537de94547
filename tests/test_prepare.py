import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glowgan import hdrio
from glowgan.data.dataset import ImageFolderDataset
from glowgan.data.prepare import REPORT_NAME, _centre_crop, _resize, output_size, parse_aspect, prepare_images

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
    for path in (folder / "ldr").iterdir():  # the same pixels (the PNGs' source records differ)
        assert np.array_equal(hdrio.read_ldr(tmp_path / "from_zip" / "ldr" / path.name), hdrio.read_ldr(path))


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
    prepare_images(src, tmp_path / "out", size=32, progress=False)
    centre = hdrio.read_ldr(tmp_path / "out" / "ldr" / "stripes.png.png")
    assert centre.shape == (32, 32, 3)
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


def _pixels(folder):
    return {p.name: hdrio.read_ldr(p) for p in sorted((folder / "ldr").iterdir())}


def test_worker_processes_and_one_process_give_the_same_images(photos, tmp_path):
    one = prepare_images(photos, tmp_path / "one", size=64, aspect=2.0, workers=1, progress=False)
    pool = prepare_images(photos, tmp_path / "pool", size=64, aspect=2.0, workers=2, progress=False)
    assert (one.written, one.skipped) == (pool.written, pool.skipped)
    a, b = _pixels(tmp_path / "one"), _pixels(tmp_path / "pool")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_large_jpeg_decoded_at_reduced_scale_matches_a_full_decode(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    texture = np.asarray(Image.fromarray(rng.integers(0, 255, (150, 200, 3), dtype=np.uint8)).resize((800, 600), Image.BICUBIC))
    (src / "big.jpg").write_bytes(_jpeg_bytes(np.clip(0.6 * _smooth(600, 800, 7) + 0.4 * texture / 255, 0, 1)))
    decoded = []
    real_decode = hdrio.decode_ldr
    monkeypatch.setattr(hdrio, "decode_ldr", lambda *a, **k: decoded.append(real_decode(*a, **k)) or decoded[-1])
    prepare_images(src, tmp_path / "out", size=64, workers=1, progress=False)
    assert decoded[0].shape == (150, 200, 3)  # 1/4 scale: the smallest that keeps twice the 64x64 target
    fast = hdrio.read_ldr(tmp_path / "out" / "ldr" / "big.jpg.png")
    full = hdrio.read_ldr(src / "big.jpg")[:, 100:700]  # the centre crop, decoded at full size
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(full[..., c])).resize((64, 64), Image.LANCZOS)) for c in range(3)]
    reference = np.floor(np.clip(np.stack(channels, axis=2), 0, 1) * 255 + 0.5) / 255
    error = np.abs(fast - reference) * 255
    assert error.mean() < 0.6 and error.max() <= 3  # measured 0.37 and 2 (1/8 scale: 3.5 and 18)


def test_a_reduced_scale_crop_keeps_the_full_size_crop_geometry():
    """The centre crop starts at column 101 of 802: between two pixels of a half-size decode. The box
    passed to Lanczos keeps it there; rounding it to a whole pixel would shift the picture by one."""
    x = np.arange(802)
    row = 0.5 + 0.4 * np.sin(2 * np.pi * x / 150)
    full = np.repeat(np.repeat(row[None, :, None], 600, 0), 3, 2).astype(np.float32)  # [600, 802, 3]
    half = full.reshape(300, 2, 401, 2, 3).mean(axis=(1, 3))  # what a 1/2-scale decode holds
    crop = _centre_crop((600, 802), 64, 64, 1.0)
    assert crop == (0, 101, 600, 600)
    exact = _resize(full, (600, 802), crop, 64, 64)
    assert np.abs(_resize(half, (600, 802), crop, 64, 64) - exact).mean() * 255 < 0.2  # measured 0.05
    shifted = _resize(half[:, 50:350], (600, 600), (0, 0, 600, 600), 64, 64)
    assert np.abs(shifted - exact).mean() * 255 > 2  # measured 2.7: the test can tell


def test_exif_orientation_is_applied(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shown = np.zeros((128, 64, 3), np.uint8)  # a portrait photo: red top half, blue bottom half
    shown[:64, :, 0] = 255
    shown[64:, :, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned clockwise (landscape); display turns it back
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, -1))).save(src / "portrait.jpg", exif=exif, quality=95)
    prepare_images(src, tmp_path / "out", size=32, aspect=0.5, workers=1, progress=False)
    out = hdrio.read_ldr(tmp_path / "out" / "ldr" / "portrait.jpg.png")
    assert out.shape == (64, 32, 3)
    assert out[:24, :, 0].min() > 0.9 and out[40:, :, 2].min() > 0.9


def test_zip_source_is_opened_once_per_worker(photos, tmp_path, monkeypatch):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(12):
            z.writestr(f"p{i:02d}.jpg", _jpeg_bytes(_smooth(40, 60, i)))
    opened = []

    class Counting(zipfile.ZipFile):
        def __init__(self, file, *args, **kwargs):
            opened.append(file)
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", Counting)
    report = prepare_images(archive, tmp_path / "out", size=32, workers=1, progress=False)
    assert report.written == 12
    assert len(opened) == 2  # once to list the members, once by the worker


@pytest.mark.parametrize("size, aspect", [(256, 1.5), (100, 1.0), (32, 16.0), (2, 1.0)])
def test_sizes_training_cannot_use_are_refused_before_anything_is_written(photos, tmp_path, size, aspect):
    with pytest.raises(ValueError, match=r"powers of two .* use a power-of-two size with aspect 1:1, 2:1"):
        prepare_images(photos, tmp_path / "out", size=size, aspect=aspect, progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_3_to_2_set_in_one_line(photos, tmp_path, capsys):
    from glowgan.cli import main

    assert main(["data", "prepare", str(photos), "--size", "256", "--aspect", "3:2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "256x384 (HxW)" in err and "--aspect 2:1" in err and len(err.splitlines()) == 1


def test_zip_output_is_written_whole_and_extended_by_a_rerun(photos, tmp_path):
    out = tmp_path / "sets" / "data.zip"
    report = prepare_images(photos, out, size=64, aspect=2.0, workers=2, progress=False)
    assert report.written == 4 and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.zip"]  # no staging folder, no temporaries
    with zipfile.ZipFile(out) as z:
        body = json.loads(z.read(REPORT_NAME))
        assert body["complete"] and body["images"] == sorted(GOOD)
    dataset = ImageFolderDataset(out, resolution=(64, 128))
    assert len(dataset) == 4
    again = prepare_images(photos, out, size=64, aspect=2.0, progress=False)
    assert (again.written, again.already_done) == (0, 4)
    (photos / "new.jpg").write_bytes(_jpeg_bytes(_smooth(100, 200, 9)))
    more = prepare_images(photos, out, size=64, aspect=2.0, progress=False)
    assert (more.written, more.already_done) == (1, 4)
    assert len(ImageFolderDataset(out)) == 5
    with pytest.raises(ValueError, match="other settings"):
        prepare_images(photos, out, size=32, aspect=2.0, progress=False)
    (tmp_path / "other.zip").write_bytes(b"not ours")
    with pytest.raises(ValueError, match="not a zip made by `glowgan data prepare`"):
        prepare_images(photos, tmp_path / "other.zip", size=64, progress=False)


def test_interrupted_zip_output_resumes_from_its_staging_folder(photos, tmp_path, monkeypatch):
    out = tmp_path / "data.zip"
    real_write = hdrio.write_ldr
    calls = []

    def write_then_die(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[0])
        real_write(*args, **kwargs)

    monkeypatch.setattr(hdrio, "write_ldr", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare_images(photos, out, size=64, aspect=2.0, workers=1, progress=False)
    assert not out.exists() and len(list((tmp_path / ".data.zip.partial" / "ldr").glob("*.png"))) == 2
    monkeypatch.setattr(hdrio, "write_ldr", real_write)
    resumed = prepare_images(photos, out, size=64, aspect=2.0, workers=1, progress=False)
    assert (resumed.written, resumed.already_done) == (2, 2)
    assert len(ImageFolderDataset(out)) == 4 and not (tmp_path / ".data.zip.partial").exists()


def test_moved_copied_renamed_or_zipped_sources_resume_by_content(photos, tmp_path):
    out = tmp_path / "data"
    prepare_images(photos, out, size=64, aspect=2.0, workers=1, progress=False)
    moved = tmp_path / "elsewhere" / "photos"
    moved.parent.mkdir()
    photos.rename(moved)  # same names, sizes and times
    assert prepare_images(moved, out, size=64, aspect=2.0, progress=False).already_done == 4
    copied = tmp_path / "copy"
    shutil.copytree(moved, copied, copy_function=shutil.copy)  # new modification times: found by content
    os.utime(copied / "good1.jpg", ns=(10**18, 10**18))  # 2001
    (copied / "sub" / "good2.png").rename(copied / "renamed.png")
    archive = tmp_path / "copy.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(copied.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(copied).as_posix())
    for source in (copied, archive):
        again = prepare_images(source, out, size=64, aspect=2.0, progress=False)
        assert (again.written, again.already_done) == (0, 4), source
    (copied / "good1.jpg").write_bytes(_jpeg_bytes(_smooth(300, 400, 11)))  # new content under an old name
    changed = prepare_images(copied, out, size=64, aspect=2.0, progress=False)
    assert (changed.written, changed.already_done) == (1, 3)
    assert len(list((out / "ldr").glob("*.png"))) == 4  # good1.jpg.png was replaced


def test_a_damaged_zip_member_is_skipped(tmp_path):
    archive = tmp_path / "photos.zip"
    good = _jpeg_bytes(_smooth(40, 60, 1))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a.jpg", good)
        z.writestr("b.jpg", good[:-100] + bytes(100))
    data = archive.read_bytes()
    at = data.rindex(good[-200:-100])  # inside b.jpg: its CRC no longer matches
    archive.write_bytes(data[:at] + bytes(10) + data[at + 10 :])
    report = prepare_images(archive, tmp_path / "out", size=32, workers=1, progress=False)
    assert report.written == 1 and report.skipped == [("b.jpg", "cannot read the file (Bad CRC-32 for file 'b.jpg')")]


def _children(pid):
    """PIDs of the live (not zombie) children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.timeout(60)
def test_sigkill_ends_the_workers_and_a_rerun_resumes(tmp_path):
    src, out = tmp_path / "photos", tmp_path / "data.zip"
    src.mkdir()
    for i in range(200):
        (src / f"p{i:03d}.jpg").write_bytes(_jpeg_bytes(_smooth(300, 400, i)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "glowgan", "data", "prepare", str(src), "--size", "32",
                                "--workers", "2", "--out", str(out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = tmp_path / ".data.zip.partial" / "ldr"
    try:
        deadline = time.time() + 30
        while not (staging.is_dir() and any(staging.glob("*.png"))):
            assert process.poll() is None and time.time() < deadline, "no image within 30 s"
            time.sleep(0.02)
        workers = _children(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(workers) == 2
    deadline = time.time() + 10
    while any(_alive(pid) for pid in workers):
        assert time.time() < deadline, "the workers outlived their killed parent"
        time.sleep(0.1)
    assert not out.exists()
    resumed = prepare_images(src, out, size=32, progress=False)
    assert resumed.already_done > 0 and resumed.written > 0 and resumed.written + resumed.already_done == 200
    assert len(ImageFolderDataset(out)) == 200


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
