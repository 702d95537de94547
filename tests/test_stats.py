import zipfile

import numpy as np
import pytest
from PIL import Image

from glowgan import hdrio
from glowgan.data.stats import (
    OVER_CODE,
    UNDER_CODE,
    dataset_stats,
    default_plot_path,
    exposure_counts,
    exposure_counts_per_image,
    format_stats,
)


def test_exposure_definitions():
    pixels = np.array(
        [
            [255, 0, 0],  # over: one clipped channel is enough
            [OVER_CODE, 100, 100],  # over
            [OVER_CODE - 1, 249, 249],  # not over
            [UNDER_CODE, UNDER_CODE, UNDER_CODE],  # under: all channels dark
            [0, 0, UNDER_CODE + 1],  # not under
            [128, 128, 128],
        ],
        dtype=np.uint8,
    )[None]  # [1, 6, 3]
    assert exposure_counts(pixels) == (2, 1)
    assert exposure_counts(pixels.astype(np.float32) / 255.0) == (2, 1)  # floats are rounded to codes
    over, under = exposure_counts_per_image(np.stack([pixels, pixels[:, ::-1] * 0]))
    assert over.tolist() == [2, 0] and under.tolist() == [1, 6]
    with pytest.raises(ValueError, match="3 channels"):
        exposure_counts(np.zeros((4, 4), np.uint8))


@pytest.fixture
def small_set(tmp_path):
    """Four 4x8 images with known means and known over/under-exposed pixels, in DATA/ldr/."""
    images = np.zeros((4, 4, 8, 3), dtype=np.uint8)
    images[0] = 255  # all over, mean 1.0
    images[1] = 0  # all under, mean 0.0
    images[2] = 128  # neither, mean ~0.5
    images[3, :2] = 255  # half over, half under, mean 0.5
    for i, image in enumerate(images):
        hdrio.write_ldr(tmp_path / "data" / "ldr" / f"{i}.png", image)
    return tmp_path / "data", images


def test_dataset_stats_of_a_folder(small_set, tmp_path):
    data, images = small_set
    plot = default_plot_path(data)
    assert plot == tmp_path / "data-stats.png"
    stats = dataset_stats(data, plot=plot, bins=4, progress=False)
    assert (stats["count"], stats["height"], stats["width"]) == (4, 4, 8)
    assert stats["over_fraction"] == pytest.approx((32 + 16) / 128)
    assert stats["under_fraction"] == pytest.approx((32 + 16) / 128)
    assert stats["histogram"]["counts"] == [1, 0, 2, 1]
    assert stats["histogram"]["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert stats["mean_intensity"]["mean"] == pytest.approx(images.mean() / 255)
    assert "synthetic" not in stats
    with Image.open(plot) as picture:
        assert picture.format == "PNG" and picture.width > 100
    text = format_stats(stats)
    assert "4 images, 4x8 (HxW)" in text and "over-exposed pixels:  37.50 %" in text
    assert f"plot: {plot}" in text


def test_dataset_stats_of_a_zip(small_set, tmp_path):
    data, _ = small_set
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((data / "ldr").iterdir()):
            z.write(path, f"ldr/{path.name}")
    stats = dataset_stats(archive, progress=False)
    assert stats["count"] == 4 and stats["over_fraction"] == pytest.approx(0.375)
    assert default_plot_path(archive) == tmp_path / "set-stats.png"
    assert "plot" not in stats
    with pytest.raises(ValueError, match="bins"):
        dataset_stats(archive, bins=0, progress=False)
