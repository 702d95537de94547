"""The real-photo path end to end, at test size: a folder of camera JPEGs (mixed sizes, EXIF-rotated
portraits, a few bad files) is prepared with worker processes, trained on, killed with SIGKILL
mid-run, and resumed. The full-size target is a 10k-photo folder and a few kimg; this is its shape."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from glowgan.checkpoint import load_checkpoint
from glowgan.data.dataset import ImageFolderDataset
from glowgan.train_log import CHECKPOINT_NAME
from tiny import TINY_TRAIN

PHOTOS = 200
# The tiny model at 8x16 is what `--size 8 --aspect 2:1` prepares.


def _camera_folder(root):
    """PHOTOS JPEGs like a phone's: landscape and portrait sizes, portraits often stored turned with
    EXIF orientation 6 or 8, in nested folders; plus a truncated file, a text file and a tiny photo."""
    rng = np.random.default_rng(0)
    sizes = [(48, 64), (64, 48), (40, 80), (60, 90), (72, 72), (30, 50)]
    for i in range(PHOTOS):
        height, width = sizes[i % len(sizes)]
        y, x = np.mgrid[0:height, 0:width] / max(height, width)
        phases = rng.uniform(0, 6, size=3)
        image = np.stack([0.5 + 0.4 * np.sin(3 * x + 2 * y + p) for p in phases], axis=2)
        codes = (image * 255).astype(np.uint8)
        orientation = (1, 6, 8)[i % 3] if height > width else 1
        stored = {1: codes, 6: np.rot90(codes, 1), 8: np.rot90(codes, -1)}[orientation]
        exif = Image.Exif()
        exif[0x0112] = orientation
        folder = root / f"day{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(stored)).save(folder / f"IMG_{i:04d}.jpg", exif=exif, quality=90)
    buffer = io.BytesIO()
    Image.fromarray(codes).save(buffer, format="JPEG")
    (root / "cut.jpg").write_bytes(buffer.getvalue()[:200])
    (root / "notes.txt").write_text("trip notes\n")
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(root / "thumb.png")


def _glowgan(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "glowgan", *args], env=env, **kwargs)


@pytest.mark.timeout(90)  # about 15 s on 2 loaded cores; a slowdown of the path fails here
def test_camera_folder_prepares_trains_survives_sigkill_and_resumes(tmp_path):
    photos, data, run = tmp_path / "photos", tmp_path / "data", tmp_path / "run"
    _camera_folder(photos)
    prepare = subprocess.run(
        [sys.executable, "-m", "glowgan", "data", "prepare", str(photos), "--size", "8", "--aspect", "2:1",
         "--workers", "2", "--out", str(data)],
        capture_output=True, text=True, timeout=60,
    )
    assert prepare.returncode == 0, prepare.stderr
    assert f"{PHOTOS} images of 8x16 (HxW)" in prepare.stdout and "3 files skipped" in prepare.stdout
    assert ImageFolderDataset(data).resolution == (8, 16)  # portraits were turned upright, then cropped

    overrides = [f"--set={o}" for o in TINY_TRAIN]
    process = _glowgan("train", "--data", str(data), "--out", str(run), "--kimg", "50", "--no-progress", *overrides,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (run / CHECKPOINT_NAME).exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.time() < deadline, "no checkpoint written within 60 s"
            time.sleep(0.05)
        time.sleep(0.3)  # land the kill at an arbitrary point, possibly mid-write
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    images = load_checkpoint(run / CHECKPOINT_NAME)["progress"]["images"]
    assert images > 0

    resumed = _glowgan("train", "--resume", str(run), "--kimg", str((images + 8) / 1000), "--no-progress",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err.decode()
    assert load_checkpoint(run / CHECKPOINT_NAME)["progress"]["images"] == images + 8
    ticks = [json.loads(line)["tick"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert ticks == sorted(set(ticks))
