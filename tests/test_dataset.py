import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from glowgan import hdrio
from glowgan.data.dataset import ImageFolderDataset


def _codes(count, height=8, width=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


@pytest.fixture
def prepared(tmp_path):
    """A prepared folder (images in ldr/, other files beside) and a zip of it; returns (folder, zip, codes)."""
    codes = _codes(5)
    folder = tmp_path / "data"
    for i, image in enumerate(codes):
        hdrio.write_ldr(folder / "ldr" / f"{i:03d}.png", image)
    (folder / "ldr" / ".000.png.tmp.png").write_bytes(b"half-written")  # hidden: ignored
    (folder / "prepare.json").write_text("{}")
    hdrio.write_hdr(folder / "hdr" / "000.exr", np.ones((8, 16, 3), np.float32))  # never read
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return folder, archive, codes


def _expected(codes):
    return torch.from_numpy(codes).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("which", ["folder", "zip"])
def test_reads_images_lazily_as_ldr_tensors(prepared, which):
    folder, archive, codes = prepared
    dataset = ImageFolderDataset(folder if which == "folder" else archive)
    assert len(dataset) == 5
    assert dataset.resolution == (8, 16)
    assert dataset.names[0].endswith("000.png")
    item = dataset[3]
    assert item.dtype == torch.float32 and item.shape == (3, 8, 16)
    assert torch.equal(item, _expected(codes)[3])
    assert torch.equal(dataset[-1], _expected(codes)[4])
    with pytest.raises(IndexError):
        dataset[5]


def test_flat_folder_and_xflip(tmp_path):
    codes = _codes(3, seed=1)
    for i, image in enumerate(codes):
        hdrio.write_ldr(tmp_path / f"img{i}.png", image)
    dataset = ImageFolderDataset(tmp_path, xflip=True)
    assert len(dataset) == 6
    for i in range(3):
        assert torch.equal(dataset[i], _expected(codes)[i])
        assert torch.equal(dataset[i + 3], _expected(codes)[i].flip(2))


@pytest.mark.parametrize("which", ["folder", "zip"])
def test_works_with_a_dataloader_with_workers(prepared, which):
    folder, archive, codes = prepared
    dataset = ImageFolderDataset(folder if which == "folder" else archive, xflip=True)
    dataset[0]  # opens the zip in this process: workers must not inherit the handle
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=2, shuffle=False)
    batches = torch.cat(list(loader))
    expected = _expected(codes)
    assert torch.equal(batches, torch.cat([expected, expected.flip(3)]))


def test_pickles_without_open_handles(prepared):
    _, archive, codes = prepared
    dataset = ImageFolderDataset(archive)
    dataset[0]
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone[2], _expected(codes)[2])


def test_clear_errors(tmp_path, prepared):
    folder, _, _ = prepared
    with pytest.raises(ValueError, match=r"are 8x16 \(HxW\) but 8x8 was asked for"):
        ImageFolderDataset(folder, resolution=8)
    assert ImageFolderDataset(folder, resolution=(8, 16)).resolution == (8, 16)
    mixed = tmp_path / "mixed"
    hdrio.write_ldr(mixed / "a.png", _codes(1)[0])
    hdrio.write_ldr(mixed / "b.png", _codes(1)[0])
    hdrio.write_ldr(mixed / "c.png", _codes(1, height=9)[0])
    with pytest.raises(ValueError, match=r"different sizes \(2 are 8x16 \(e.g. b.png\); 1 are 9x16 \(e.g. c.png\)\)"):
        ImageFolderDataset(mixed)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="no such folder"):
        ImageFolderDataset(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a folder or a zip"):
        ImageFolderDataset(tmp_path / "notes.txt")
    broken = tmp_path / "broken"
    hdrio.write_ldr(broken / "a.png", _codes(1)[0])
    (broken / "b.png").write_text("not a png")
    with pytest.raises(ValueError, match=r"b.png: not a JPEG, PNG, WebP or TIFF image .*; check the file or remove it"):
        ImageFolderDataset(broken)


@pytest.mark.parametrize("which", ["folder", "zip"])
def test_unprepared_photos_count_with_their_exif_orientation(tmp_path, which):
    """A camera's portrait JPEG is stored landscape with orientation 6 or 8: it is read as displayed."""
    folder = tmp_path / "camera"
    folder.mkdir()
    shown = _codes(3, height=16, width=8, seed=2)
    for i, orientation in enumerate((1, 6, 8)):
        # store the image so that applying the orientation shows `shown[i]` (6: turn clockwise, 8: anticlockwise)
        stored = {1: shown[i], 6: np.rot90(shown[i], 1), 8: np.rot90(shown[i], -1)}[orientation]
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(np.ascontiguousarray(stored)).save(folder / f"p{i}.jpg", exif=exif, quality=100, subsampling=0)
    path = folder
    if which == "zip":
        path = tmp_path / "camera.zip"
        with zipfile.ZipFile(path, "w") as z:
            for image in sorted(folder.iterdir()):
                z.write(image, image.name)
    dataset = ImageFolderDataset(path, resolution=(16, 8))
    for i in range(3):
        assert dataset[i].shape == (3, 16, 8)
        assert (dataset[i] - _expected(shown)[i]).abs().max() < 0.05  # JPEG-close to what is shown
