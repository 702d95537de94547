"""Tests for glowgan.hdrio: round trips, precision bounds, hand-made files, bad inputs, atomic writes."""

import logging
import os
import stat
import struct
import warnings
import zlib

import numpy as np
import OpenEXR
import pytest
from PIL import Image, ImageOps

from glowgan import hdrio
from glowgan.hdrio import ImageIOError, read_hdr, read_ldr, write_hdr, write_ldr

RNG_SEED = 20231001


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)


def log_uniform(rng, shape, low, high):
    return np.exp(rng.uniform(np.log(low), np.log(high), shape)).astype(np.float32)


def exr_header(**extra):
    return {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **extra}


def write_exr_channels(path, channels, **header):
    # The bindings replace the arrays in the dict they are given by Channel objects: pass a copy.
    OpenEXR.File(exr_header(**header), dict(channels)).write(str(path))


def png_chunks(data):
    """[(type, body)] of a PNG file."""
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# Adam7 passes (x0, y0, dx, dy), PNG specification section 8.2; kept apart from the library's.
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png16_file(samples, *, interlace=False, width=None):
    """A 16-bit PNG built by hand with filter type 0 (Adam7 passes when interlace is true)."""
    height, w, channels = samples.shape
    big = samples.astype(">u2")
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    stream = b""
    for x0, y0, dx, dy in passes:
        sub = big[y0::dy, x0::dx]
        if sub.size:
            stream += b"".join(b"\x00" + row.tobytes() for row in sub)
    colour = {1: 0, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(
        ">IIBBBBB", w if width is None else width, height, 16, colour, 0, 0, int(interlace)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(stream))
        + png_chunk(b"IEND", b"")
    )


def only_file(directory):
    return sorted(os.listdir(directory))


# --------------------------------------------------------------------------------------------
# OpenEXR
# --------------------------------------------------------------------------------------------


def test_exr_float32_round_trip_is_exact(tmp_path, rng):
    image = log_uniform(rng, (512, 1024, 3), 1e-4, 1e4)
    path = tmp_path / "big.exr"
    write_hdr(path, image)
    back = read_hdr(path)
    assert back.dtype == np.float32 and back.flags.c_contiguous
    assert np.array_equal(back, image)
    stored = OpenEXR.File(str(path), separate_channels=True).channels()
    assert sorted(stored) == ["B", "G", "R"] and stored["R"].pixels.dtype == np.float32


def test_exr_float64_input_is_written_as_float32(tmp_path, rng):
    image = rng.uniform(0, 3, (6, 7, 3))
    write_hdr(tmp_path / "x.exr", image)
    assert np.array_equal(read_hdr(tmp_path / "x.exr"), image.astype(np.float32))


def test_exr_half_round_trip_within_half_precision(tmp_path, rng):
    image = log_uniform(rng, (64, 96, 3), 2.0**-14, 65504)
    path = tmp_path / "half.exr"
    write_hdr(path, image, half=True)
    assert OpenEXR.File(str(path), separate_channels=True).channels()["G"].pixels.dtype == np.float16
    back = read_hdr(path)
    error = np.abs(back.astype(np.float64) - image)
    assert np.all(error <= 2.0**-11 * image)
    assert not np.array_equal(back, image)  # it really was rounded to half


def test_exr_half_refuses_values_beyond_half_range(tmp_path):
    image = np.full((2, 3, 3), 70000.0, np.float32)
    with pytest.raises(ImageIOError, match=r"big\.exr.*65504"):
        write_hdr(tmp_path / "big.exr", image, half=True)
    assert only_file(tmp_path) == []
    write_hdr(tmp_path / "big.exr", image)  # float32 holds it
    assert np.array_equal(read_hdr(tmp_path / "big.exr"), image)


def test_exr_single_channel_is_written_as_y_and_read_back(tmp_path, rng):
    grey = rng.uniform(0, 10, (5, 8)).astype(np.float32)
    path = tmp_path / "grey.exr"
    write_hdr(path, grey)
    assert list(OpenEXR.File(str(path), separate_channels=True).channels()) == ["Y"]
    single = read_hdr(path, keep_single_channel=True)
    assert single.shape == (5, 8, 1) and np.array_equal(single[:, :, 0], grey)
    rgb = read_hdr(path)
    assert rgb.shape == (5, 8, 3) and rgb.flags.c_contiguous
    assert all(np.array_equal(rgb[:, :, c], grey) for c in range(3))


def test_exr_rgba_drops_alpha(tmp_path, rng):
    planes = {c: rng.uniform(0, 5, (4, 6)).astype(np.float32) for c in "RGBA"}
    write_exr_channels(tmp_path / "rgba.exr", planes)
    back = read_hdr(tmp_path / "rgba.exr")
    assert back.shape == (4, 6, 3)
    assert np.array_equal(back, np.stack([planes["R"], planes["G"], planes["B"]], axis=2))


def test_exr_y_with_alpha_reads_as_grey(tmp_path):
    y = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_exr_channels(tmp_path / "ya.exr", {"Y": y, "A": np.ones_like(y)})
    assert np.array_equal(read_hdr(tmp_path / "ya.exr", keep_single_channel=True)[:, :, 0], y)


def test_exr_mixed_half_float_and_uint_channels(tmp_path, rng):
    red = rng.uniform(0, 100, (4, 5)).astype(np.float32)
    green = rng.uniform(0, 100, (4, 5)).astype(np.float16)
    blue = rng.integers(0, 1000, (4, 5)).astype(np.uint32)
    write_exr_channels(tmp_path / "mixed.exr", {"R": red, "G": green, "B": blue})
    back = read_hdr(tmp_path / "mixed.exr")
    assert back.dtype == np.float32
    assert np.array_equal(back[:, :, 0], red)
    assert np.array_equal(back[:, :, 1], green.astype(np.float32))
    assert np.array_equal(back[:, :, 2], blue.astype(np.float32))


@pytest.mark.parametrize(
    "names",
    [["Z"], ["diffuse.B", "diffuse.G", "diffuse.R"], ["BY", "RY", "Y"], ["R", "G"]],
)
def test_exr_unsupported_channel_layout_lists_the_channels(tmp_path, names):
    write_exr_channels(tmp_path / "odd.exr", {n: np.ones((2, 3), np.float32) for n in names})
    with pytest.raises(ImageIOError) as info:
        read_hdr(tmp_path / "odd.exr")
    message = str(info.value)
    assert "odd.exr" in message and "unsupported channel layout" in message
    assert str(sorted(names)) in message


def test_exr_multi_part_is_reported(tmp_path):
    def rgb():
        return {c: np.ones((2, 3), np.float32) for c in "RGB"}

    parts = [OpenEXR.Part(exr_header(), rgb(), name=name) for name in ("a", "b")]
    OpenEXR.File(parts).write(str(tmp_path / "parts.exr"))
    with pytest.raises(ImageIOError, match=r"parts\.exr: multi-part.*2 parts"):
        read_hdr(tmp_path / "parts.exr")


def test_exr_returns_data_window_with_warning(tmp_path, caplog):
    plane = np.arange(20, dtype=np.float32).reshape(4, 5)
    write_exr_channels(
        tmp_path / "window.exr",
        {"R": plane, "G": plane, "B": plane},
        dataWindow=(np.array([2, 3], np.int32), np.array([6, 6], np.int32)),
        displayWindow=(np.array([0, 0], np.int32), np.array([9, 9], np.int32)),
    )
    with caplog.at_level(logging.WARNING, logger="glowgan.hdrio"):
        back = read_hdr(tmp_path / "window.exr")
    assert np.array_equal(back[:, :, 1], plane)
    assert "data window" in caplog.text


def nonfinite_exr(path):
    image = np.full((2, 3, 3), 2.0, np.float32)
    image[0, 0, 0] = np.nan
    image[0, 1, 1] = np.inf
    image[0, 2, :] = 7.5
    image[1, 0, 2] = -np.inf
    image[1, 1, 0] = -3.0
    planes = {c: np.ascontiguousarray(image[:, :, i]) for i, c in enumerate("RGB")}
    write_exr_channels(path, planes)
    return image


def test_exr_nonfinite_is_an_error_by_default(tmp_path):
    nonfinite_exr(tmp_path / "bad.exr")
    with pytest.raises(ImageIOError) as info:
        read_hdr(tmp_path / "bad.exr")
    message = str(info.value)
    assert "bad.exr" in message and 'nonfinite="clean"' in message
    assert "1 pixels with NaN" in message and "2 pixels with Inf" in message


def test_exr_nonfinite_clean_and_keep(tmp_path, caplog):
    image = nonfinite_exr(tmp_path / "bad.exr")
    with caplog.at_level(logging.WARNING, logger="glowgan.hdrio"):
        clean = read_hdr(tmp_path / "bad.exr", nonfinite="clean")
    expected = image.copy()
    expected[0, 0, 0] = 0.0  # NaN
    expected[0, 1, 1] = 7.5  # +Inf -> brightest finite value
    expected[1, 0, 2] = 0.0  # -Inf
    assert np.array_equal(clean, expected)  # the finite -3 is left to the negatives policy
    assert "NaN in 1 pixels and Inf in 2 pixels" in caplog.text
    kept = read_hdr(tmp_path / "bad.exr", nonfinite="keep")
    assert np.array_equal(kept, image, equal_nan=True)


def test_negative_finite_values_pass_under_error_policy(tmp_path):
    image = np.array([[[-1.5, 0.0, 2.0]]], np.float32)
    write_hdr(tmp_path / "neg.exr", image)
    assert np.array_equal(read_hdr(tmp_path / "neg.exr"), image)


def test_nonfinite_clean_with_no_finite_value_uses_zero(tmp_path):
    planes = {c: np.full((1, 2), np.inf, np.float32) for c in "RGB"}
    write_exr_channels(tmp_path / "inf.exr", planes)
    assert np.array_equal(read_hdr(tmp_path / "inf.exr", nonfinite="clean"), np.zeros((1, 2, 3)))


def test_bad_nonfinite_argument():
    with pytest.raises(ValueError, match="nonfinite"):
        read_hdr("x.exr", nonfinite="ignore")


def test_exr_truncated_and_not_exr(tmp_path, rng):
    write_hdr(tmp_path / "full.exr", rng.uniform(0, 1, (64, 64, 3)))
    data = (tmp_path / "full.exr").read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        (tmp_path / "cut.exr").write_bytes(data[:cut])
        with pytest.raises(ImageIOError, match=r"cut\.exr: .*(truncated|corrupt)"):
            read_hdr(tmp_path / "cut.exr")
    (tmp_path / "text.exr").write_text("hello, not an image\n")
    with pytest.raises(ImageIOError, match=r"text\.exr: not an OpenEXR file"):
        read_hdr(tmp_path / "text.exr")


def test_exr_size_is_checked_before_decoding(tmp_path):
    write_hdr(tmp_path / "big.exr", np.ones((20, 10, 3), np.float32))
    with pytest.raises(ImageIOError, match=r"big\.exr: image is too large.*max_pixels=100"):
        read_hdr(tmp_path / "big.exr", max_pixels=100)
    assert read_hdr(tmp_path / "big.exr", max_pixels=200).shape == (20, 10, 3)
    assert read_hdr(tmp_path / "big.exr", max_pixels=None).shape == (20, 10, 3)
    # Pixel data cut off: the size limit still answers first, from the header alone.
    data = (tmp_path / "big.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) - 40])
    with pytest.raises(ImageIOError, match="too large"):
        read_hdr(tmp_path / "cut.exr", max_pixels=100)


# --------------------------------------------------------------------------------------------
# Radiance RGBE
# --------------------------------------------------------------------------------------------


def rgbe_bound_holds(original, back):
    largest = original.max(axis=2, keepdims=True).astype(np.float64)
    return np.all(np.abs(back.astype(np.float64) - original) <= largest / 256)


@pytest.mark.parametrize("width", [5, 8, 300, 32768], ids=["flat", "rle-min", "rle", "flat-wide"])
def test_rgbe_round_trip_within_stated_bound(tmp_path, rng, width):
    height = 3 if width > 1000 else 17
    image = log_uniform(rng, (height, width, 3), 1e-20, 1e20)
    image[rng.random((height, width)) < 0.2] = 0.0  # black pixels
    image[:, :, 1][rng.random((height, width)) < 0.2] = 0.0  # zero channel beside others
    image[0, :4] = 3.25  # a short run
    path = tmp_path / "x.hdr"
    write_hdr(path, image)
    data = path.read_bytes()
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
    assert data.startswith(header)
    rle = data[len(header) : len(header) + 2] == b"\x02\x02"
    assert rle == (8 <= width <= 32767)
    back = read_hdr(path)
    assert back.shape == image.shape and back.dtype == np.float32
    assert rgbe_bound_holds(image, back)
    assert np.all(back[image.max(axis=2) == 0] == 0)


def test_rgbe_exact_encoding_follows_radiance(tmp_path):
    image = np.array([[[1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [3.0, 2.0, 1.0]]], np.float32)
    write_hdr(tmp_path / "x.hdr", image)
    pixels = (tmp_path / "x.hdr").read_bytes()[-12:]
    # 1.0 = 0.5 * 2**1 -> exponent byte 129, mantissa 1.0 * 2**7 = 128 (truncated, not rounded)
    # 3.0 = 0.75 * 2**2 -> exponent byte 130, mantissas 3 * 64 = 192, 128, 64
    assert pixels == bytes([128, 64, 0, 129, 0, 0, 0, 0, 192, 128, 64, 130])
    back = read_hdr(tmp_path / "x.hdr")
    # Decoding reconstructs the middle of each step: (m + 0.5) * 2**(E - 136).
    expected = [
        [128.5 / 128, 64.5 / 128, 0.5 / 128],
        [0, 0, 0],
        [3 + 1 / 128, 2 + 1 / 128, 1 + 1 / 128],
    ]
    assert np.array_equal(back, np.array([expected], np.float32))
    assert np.abs(back[0, 0, 0] - 1.0) == 2.0**-8  # the bound is reached


def test_rgbe_very_small_values(tmp_path):
    values = np.array([1e-30, 1e-38, 2.0**-128, 2.0**-129, 0.0], np.float32)
    image = np.repeat(values[None, :, None], 3, axis=2)
    image[0, 0, 1] = 0.0
    write_hdr(tmp_path / "small.hdr", image)
    back = read_hdr(tmp_path / "small.hdr")
    assert rgbe_bound_holds(image[:, :3], back[:, :3])
    assert np.all(back[0, :3] > 0)
    assert np.all(back[0, 3:] == 0)  # below 2**-128 (float32 subnormals) is stored as black


def test_rgbe_grey_input_is_written_as_rgb(tmp_path):
    grey = np.array([[1.0, 2.0, 4.0]], np.float32)
    write_hdr(tmp_path / "g.hdr", grey)
    back = read_hdr(tmp_path / "g.hdr", keep_single_channel=True)
    assert back.shape == (1, 3, 3)
    assert np.array_equal(back[:, :, 0], back[:, :, 2]) and rgbe_bound_holds(grey[:, :, None], back)


def test_rgbe_refuses_negative_and_huge_values(tmp_path):
    with pytest.raises(ImageIOError, match=r"neg\.hdr: .*negative"):
        write_hdr(tmp_path / "neg.hdr", np.array([[[1.0, -0.1, 0.0]]], np.float32))
    with pytest.raises(ImageIOError, match=r"huge\.hdr: .*range"):
        write_hdr(tmp_path / "huge.hdr", np.array([[[2.0**127, 0.0, 0.0]]], np.float32))
    assert only_file(tmp_path) == []


def handmade_rgbe(header_lines, resolution, body):
    header = b"".join(line + b"\n" for line in header_lines)
    return b"#?RADIANCE\n" + header + b"\n" + resolution + b"\n" + body


def test_rgbe_reads_handmade_rle_flat_and_old_style_scanlines(tmp_path):
    green = list(range(0, 128, 16))
    rle_line = (
        b"\x02\x02\x00\x08"
        + bytes([128 + 8, 200])  # R: run of 8
        + bytes([8] + green)  # G: 8 literals
        + bytes([128 + 4, 64, 4, 1, 2, 3, 4])  # B: run of 4, then 4 literals
        + bytes([128 + 8, 130])  # E: run of 8
    )
    flat_line = bytes([10, 20, 30, 131] * 8)
    old_line = bytes([100, 50, 25, 129, 1, 1, 1, 6, 9, 9, 9, 128])  # one pixel, repeat x6, one
    data = handmade_rgbe([b"FORMAT=32-bit_rle_rgbe"], b"-Y 3 +X 8", rle_line + flat_line + old_line)
    (tmp_path / "hand.hdr").write_bytes(data)
    back = read_hdr(tmp_path / "hand.hdr")

    def decode(m, e):
        return (np.asarray(m, np.float64) + 0.5) * 2.0 ** (e - 136)

    assert np.array_equal(back[0, :, 0], np.full(8, decode(200, 130)))
    assert np.array_equal(back[0, :, 1], decode(green, 130))
    assert np.array_equal(back[0, :, 2], decode([64] * 4 + [1, 2, 3, 4], 130))
    assert np.array_equal(back[1], np.tile(decode([10, 20, 30], 131), (8, 1)))
    assert np.array_equal(back[2, :7], np.tile(decode([100, 50, 25], 129), (7, 1)))
    assert np.array_equal(back[2, 7], decode([9, 9, 9], 128))


def test_rgbe_exposure_header_is_not_applied(tmp_path, caplog):
    pixel = bytes([128, 128, 128, 129])
    data = handmade_rgbe([b"FORMAT=32-bit_rle_rgbe", b"EXPOSURE=2.5"], b"-Y 1 +X 1", pixel)
    (tmp_path / "exp.hdr").write_bytes(data)
    with caplog.at_level(logging.INFO, logger="glowgan.hdrio"):
        back = read_hdr(tmp_path / "exp.hdr")
    assert np.array_equal(back, np.full((1, 1, 3), 128.5 / 128, np.float32))
    assert "EXPOSURE=2.5" in caplog.text


@pytest.mark.parametrize("resolution", [b"+Y 1 +X 2", b"-Y 1 -X 2", b"+X 2 -Y 1"])
def test_rgbe_other_orientations_raise(tmp_path, resolution):
    (tmp_path / "turned.hdr").write_bytes(handmade_rgbe([], resolution, bytes(8)))
    with pytest.raises(ImageIOError, match=r"turned\.hdr: unsupported Radiance orientation"):
        read_hdr(tmp_path / "turned.hdr")


def test_rgbe_bad_files(tmp_path):
    cases = {
        "text.hdr": b"hello, not an image\n",
        "xyz.hdr": handmade_rgbe([b"FORMAT=32-bit_rle_xyze"], b"-Y 1 +X 1", bytes(4)),
        "nores.hdr": handmade_rgbe([], b"10 by 10", bytes(4)),
        "noend.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n",
        "badrle.hdr": handmade_rgbe(  # a run of 9 in a scanline of 8
            [], b"-Y 1 +X 8", b"\x02\x02\x00\x08" + bytes([128 + 9, 1]) + bytes(12)
        ),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageIOError, match=name.replace(".", r"\.")):
            read_hdr(tmp_path / name)


@pytest.mark.parametrize("width", [5, 40])
def test_rgbe_truncated_raises(tmp_path, rng, width):
    write_hdr(tmp_path / "full.hdr", rng.uniform(0, 1, (10, width, 3)))
    data = (tmp_path / "full.hdr").read_bytes()
    for cut in (15, len(data) // 2, len(data) - 1):  # the last one keeps the header whole
        (tmp_path / "cut.hdr").write_bytes(data[:cut])
        with pytest.raises(ImageIOError, match=r"cut\.hdr: file is truncated"):
            read_hdr(tmp_path / "cut.hdr")
    with pytest.raises(ImageIOError, match="too large"):  # size check comes from the header
        read_hdr(tmp_path / "cut.hdr", max_pixels=10)


# --------------------------------------------------------------------------------------------
# PFM
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9, 1)], ids=["PF", "Pf"])
def test_pfm_round_trip_is_exact(tmp_path, rng, shape):
    image = (rng.standard_normal(shape) * 1e3).astype(np.float32)
    write_hdr(tmp_path / "x.pfm", image)
    data = (tmp_path / "x.pfm").read_bytes()
    assert data.startswith(b"PF\n9 7\n-1.0\n" if shape[2] == 3 else b"Pf\n9 7\n-1.0\n")
    back = read_hdr(tmp_path / "x.pfm", keep_single_channel=True)
    assert back.shape == shape and np.array_equal(back, image)


def test_pfm_big_endian_bottom_up_file(tmp_path):
    top = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    bottom = [[-7.0, 8.5, 1e-30], [1e30, 0.25, 0.0]]
    raster = np.array([bottom, top], ">f4").tobytes()  # first stored row is the bottom one
    (tmp_path / "be.pfm").write_bytes(b"PF\n2 2\n1.0\n" + raster)
    back = read_hdr(tmp_path / "be.pfm")
    assert np.array_equal(back, np.array([top, bottom], np.float32))
    grey = np.array([[1.5, -2.0, 3.0]], ">f4").tobytes()
    (tmp_path / "grey.pfm").write_bytes(b"Pf 3 1 4.0\n" + grey)  # any whitespace separates
    assert np.array_equal(read_hdr(tmp_path / "grey.pfm")[0, :, 1], [1.5, -2, 3])


def test_pfm_bad_files(tmp_path):
    good = b"PF\n2 2\n-1.0\n" + bytes(48)
    cases = {
        "short.pfm": good[:-1],
        "long.pfm": good + b"\n",
        "text.pfm": b"hello, not an image",
        "scale.pfm": b"PF\n2 2\n0\n" + bytes(48),
        "empty.pfm": b"PF\n0 2\n-1.0\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageIOError, match=name.replace(".", r"\.")):
            read_hdr(tmp_path / name)
    with pytest.raises(ImageIOError, match="truncated"):
        read_hdr(tmp_path / "short.pfm")
    with pytest.raises(ImageIOError, match="zero size"):
        read_hdr(tmp_path / "empty.pfm")


def test_read_hdr_dispatch(tmp_path):
    image = np.ones((2, 2, 3), np.float32)
    write_hdr(tmp_path / "UPPER.PFM", image)
    write_hdr(tmp_path / "x.pic", image)
    assert np.array_equal(read_hdr(tmp_path / "UPPER.PFM"), image)
    assert read_hdr(tmp_path / "x.pic").shape == (2, 2, 3)
    with pytest.raises(ImageIOError, match=r"x\.png: unsupported HDR file extension"):
        read_hdr(tmp_path / "x.png")
    with pytest.raises(ImageIOError, match=r"x\.tif: unsupported HDR file extension"):
        write_hdr(tmp_path / "x.tif", image)
    with pytest.raises(ImageIOError, match=r"nothere\.exr: file not found"):
        read_hdr(tmp_path / "nothere.exr")
    with pytest.raises(ImageIOError, match=r"nothere\.hdr: file not found"):
        read_hdr(tmp_path / "nothere.hdr")


def test_suffixes():
    assert all(hdrio.is_hdr_path(name) for name in ("a/B.EXR", "x.hdr", "x.Pic", "x.pfm"))
    assert not hdrio.is_hdr_path("x.png") and not hdrio.is_hdr_path("exr")
    assert set(hdrio.HDR_SUFFIXES).isdisjoint(hdrio.LDR_SUFFIXES)
    assert {".jpg", ".png", ".webp", ".tif"} <= set(hdrio.LDR_SUFFIXES)


# --------------------------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------------------------


def smooth_rgb8(height=48, width=64):
    y, x = np.mgrid[0:height, 0:width]
    channels = [x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256]
    return np.stack(channels, axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG", "WEBP"])
def test_read_8bit_photos(tmp_path, fmt):
    pixels = smooth_rgb8()
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(pixels).save(path, format=fmt)
    back = read_ldr(path)
    assert back.shape == (48, 64, 3) and back.dtype == np.float32 and back.flags.c_contiguous
    if fmt in ("PNG", "TIFF"):
        assert np.array_equal(back, pixels / np.float32(255))
    else:
        assert np.abs(back - pixels / 255).mean() < 0.02


def test_8bit_values_map_exactly_and_round_trip(tmp_path):
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(pixels).save(tmp_path / "all.png")
    back = read_ldr(tmp_path / "all.png")
    assert np.array_equal(back[:, :, 0], (np.arange(256) / 255).astype(np.float32).reshape(16, 16))
    write_ldr(tmp_path / "again.png", back)
    with Image.open(tmp_path / "again.png") as again:
        assert np.array_equal(np.asarray(again)[:, :, 0], pixels)


def test_16bit_grey_png_from_pillow_keeps_full_precision(tmp_path, rng):
    y, x = np.mgrid[0:40, 0:50]
    grey = ((x * 1300 + y * 17) % 65536 + rng.integers(0, 3, (40, 50))).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")  # Pillow: I;16, filtered rows
    back = read_ldr(tmp_path / "grey16.png")
    assert back.shape == (40, 50, 3)
    assert np.array_equal(back[:, :, 2], (grey / 65535).astype(np.float32))


def mixed_content16(rng, height, width, channels):
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 1000 + y * 37, y * 900, (x * x + y * y) * 7], axis=2) % 65536
    base = base[:, :, :channels]
    noise = rng.integers(0, 65536, (height, width, channels)) // 64
    return np.where((y // 16 % 2 == 0)[:, :, None], base, (base + noise) % 65536).astype(np.uint16)


def test_16bit_rgb_png_round_trip_and_agrees_with_pillow(tmp_path, rng):
    samples = mixed_content16(rng, 64, 48, 3)
    path = tmp_path / "rgb16.png"
    write_ldr(path, samples, bits=16)
    data = path.read_bytes()
    ihdr = dict(png_chunks(data))[b"IHDR"]
    assert ihdr[8:10] == bytes([16, 2])  # 16-bit RGB
    stream = zlib.decompress(b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT"))
    filters = set(np.frombuffer(stream, np.uint8).reshape(64, 1 + 48 * 6)[:, 0].tolist())
    assert {1, 2, 3, 4} <= filters  # the decoder below undoes every filter type
    back = read_ldr(path)
    assert np.array_equal(back, (samples / 65535).astype(np.float32))
    assert np.any(samples % 257 != 0)  # low bytes matter: 8-bit precision would fail above
    with Image.open(path) as pillow:  # Pillow keeps the high bytes only, but those must agree
        assert np.array_equal(np.asarray(pillow.convert("RGB")), (samples >> 8).astype(np.uint8))


def test_16bit_grey_png_written_by_us_reads_in_pillow(tmp_path, rng):
    grey = mixed_content16(rng, 600, 7, 1)  # tall: the writer filters in blocks of rows
    write_ldr(tmp_path / "g16.png", grey, bits=16)
    with Image.open(tmp_path / "g16.png") as pillow:
        assert pillow.mode == "I;16" and np.array_equal(np.asarray(pillow), grey[:, :, 0])
    expected = (grey[:, :, 0] / 65535).astype(np.float32)
    assert np.array_equal(read_ldr(tmp_path / "g16.png")[:, :, 1], expected)


def test_16bit_png_interlaced_and_rgba(tmp_path, rng):
    samples = rng.integers(0, 65536, (13, 11, 4)).astype(np.uint16)
    (tmp_path / "adam7.png").write_bytes(png16_file(samples, interlace=True))
    (tmp_path / "flat.png").write_bytes(png16_file(samples))
    expected = (samples[:, :, :3] / 65535).astype(np.float32)
    assert np.array_equal(read_ldr(tmp_path / "adam7.png"), expected)
    assert np.array_equal(read_ldr(tmp_path / "flat.png"), expected)


def test_16bit_png_bad_files(tmp_path, rng):
    samples = rng.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    write_ldr(tmp_path / "good.png", samples, bits=16)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageIOError, match=r"cut\.png: file is truncated"):
        read_ldr(tmp_path / "cut.png")
    with pytest.raises(ImageIOError, match=r"cut\.png: image is too large"):
        read_ldr(tmp_path / "cut.png", max_pixels=100)  # from the header, before decoding
    flipped = bytearray(data)
    flipped[60] ^= 0xFF  # inside the IDAT chunk
    (tmp_path / "crc.png").write_bytes(bytes(flipped))
    with pytest.raises(ImageIOError, match=r"crc\.png: corrupt PNG \(IDAT chunk checksum"):
        read_ldr(tmp_path / "crc.png")
    (tmp_path / "zero.png").write_bytes(png16_file(samples[:, :0], width=0))
    with pytest.raises(ImageIOError, match=r"zero\.png: image has zero size"):
        read_ldr(tmp_path / "zero.png")


def test_grey_palette_alpha_and_cmyk_become_rgb(tmp_path):
    rgb = smooth_rgb8(16, 24)
    grey = rgb[:, :, 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    back = read_ldr(tmp_path / "grey.png")
    assert back.shape == (16, 24, 3)
    assert all(np.array_equal(back[:, :, c], grey / np.float32(255)) for c in range(3))

    rgba = np.dstack([rgb, np.where(rgb[:, :, :1] > 100, 0, 255).astype(np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_ldr(tmp_path / "rgba.png"), rgb / np.float32(255))  # alpha dropped
    Image.fromarray(rgba[:, :, [0, 3]].copy()).convert("LA").save(tmp_path / "la.png")
    assert np.array_equal(read_ldr(tmp_path / "la.png")[:, :, 1], grey / np.float32(255))

    palette = Image.fromarray(rgb).quantize(16)
    palette.save(tmp_path / "palette.png")
    expected = np.asarray(palette.convert("RGB")) / np.float32(255)
    assert np.array_equal(read_ldr(tmp_path / "palette.png"), expected)

    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.tif")
    expected = np.asarray(cmyk.convert("RGB")) / np.float32(255)
    assert np.array_equal(read_ldr(tmp_path / "cmyk.tif"), expected)


def test_16bit_grey_tiff_keeps_full_precision(tmp_path, rng):
    grey = rng.integers(0, 65536, (9, 7)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.tif")
    assert np.array_equal(read_ldr(tmp_path / "g16.tif")[:, :, 0], (grey / 65535).astype(np.float32))


def test_exif_orientation_6_rotates_jpeg(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red, right half blue
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    back = read_ldr(tmp_path / "turned.jpg")
    assert back.shape == (40, 20, 3)
    assert back[5, 10, 0] > 0.9 and back[5, 10, 2] < 0.1  # the left side is now on top
    assert back[35, 10, 2] > 0.9 and back[35, 10, 0] < 0.1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_match_pillow(tmp_path, orientation):
    stored = smooth_rgb8(6, 10)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as picture:
        expected = np.asarray(ImageOps.exif_transpose(picture)) / np.float32(255)
    assert np.array_equal(read_ldr(tmp_path / "o.png"), expected)

    # Our 16-bit decoder applies the PNG eXIf chunk the same way.
    samples = stored.astype(np.uint16) * 257
    data = png16_file(samples)
    exif_chunk = png_chunk(b"eXIf", exif.tobytes()[6:])  # PNG holds the TIFF part only
    (tmp_path / "o16.png").write_bytes(data[:33] + exif_chunk + data[33:])
    assert np.array_equal(read_ldr(tmp_path / "o16.png"), expected)


def test_ldr_bad_files(tmp_path):
    pixels = smooth_rgb8(200, 240)
    Image.fromarray(pixels).save(tmp_path / "good.jpg", quality=95)
    Image.fromarray(pixels).save(tmp_path / "good.png")
    jpeg = (tmp_path / "good.jpg").read_bytes()
    png = (tmp_path / "good.png").read_bytes()
    cases = {
        "half.jpg": jpeg[: len(jpeg) // 2],
        "noend.jpg": jpeg[:-2],  # only the end-of-image marker missing
        "half.png": png[: len(png) // 2],
        "text.jpg": b"hello, not an image\n",
        "text.png": b"hello, not an image\n",
        "empty.jpg": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageIOError, match=name.replace(".", r"\.")):
            read_ldr(tmp_path / name)
    with pytest.raises(ImageIOError, match="truncated"):
        read_ldr(tmp_path / "half.jpg")
    with pytest.raises(ImageIOError, match="not a JPEG, PNG, WebP or TIFF image"):
        read_ldr(tmp_path / "text.jpg")
    with pytest.raises(ImageIOError, match=r"missing\.jpg: file not found"):
        read_ldr(tmp_path / "missing.jpg")
    write_hdr(tmp_path / "x.exr", np.ones((2, 2)))
    with pytest.raises(ImageIOError, match=r"x\.exr: is an HDR image.*read_hdr"):
        read_ldr(tmp_path / "x.exr")


def test_ldr_size_limit_is_ours_and_pillow_warnings_stay_quiet(tmp_path, monkeypatch, caplog):
    Image.fromarray(smooth_rgb8(10, 20)).save(tmp_path / "p.png")
    with pytest.raises(ImageIOError, match=r"p\.png: image is too large.*max_pixels=100"):
        read_ldr(tmp_path / "p.png", max_pixels=100)
    data = (tmp_path / "p.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageIOError, match="too large"):  # checked before decoding
        read_ldr(tmp_path / "cut.png", max_pixels=100)

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # 200 pixels: Pillow would warn
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="glowgan"):
        warnings.simplefilter("error")
        assert read_ldr(tmp_path / "p.png", max_pixels=None).shape == (10, 20, 3)
    assert [record for record in caplog.records if record.name.startswith("glowgan")] == []
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # beyond twice the limit: Pillow refuses
    with pytest.raises(ImageIOError, match=r"p\.png: .*MAX_IMAGE_PIXELS"):
        read_ldr(tmp_path / "p.png", max_pixels=None)


# --------------------------------------------------------------------------------------------
# Writing photos
# --------------------------------------------------------------------------------------------


def test_write_ldr_quantises_to_nearest_and_clips(tmp_path):
    values = np.array([[-0.5, 0.0, 0.5, 1.49 / 255, 1.51 / 255, 1.0, 2.0]], np.float64)
    write_ldr(tmp_path / "q.png", values)
    with Image.open(tmp_path / "q.png") as pillow:
        assert np.asarray(pillow).tolist() == [[0, 0, 128, 1, 2, 255, 255]]  # 127.5 -> 128
    write_ldr(tmp_path / "q16.png", values, bits=16)
    with Image.open(tmp_path / "q16.png") as pillow:
        assert np.asarray(pillow).tolist() == [[0, 0, 32768, 383, 388, 65535, 65535]]


def test_write_ldr_formats_and_integer_input(tmp_path):
    pixels = smooth_rgb8()
    for name in ("a.jpg", "a.jpeg", "a.webp"):
        write_ldr(tmp_path / name, pixels, quality=90)
        assert np.abs(read_ldr(tmp_path / name) - pixels / 255).mean() < 0.02
    write_ldr(tmp_path / "u8.png", pixels)
    assert np.array_equal(read_ldr(tmp_path / "u8.png"), pixels / np.float32(255))
    write_ldr(tmp_path / "u8to16.png", pixels, bits=16)
    assert np.array_equal(read_ldr(tmp_path / "u8to16.png"), pixels / np.float32(255))
    write_ldr(tmp_path / "sub" / "dir" / "deep.png", pixels)  # parents are created
    assert (tmp_path / "sub" / "dir" / "deep.png").is_file()


def test_write_ldr_rejects_bad_input(tmp_path):
    nan = np.full((2, 2, 3), 0.5)
    nan[1, 1, 1] = np.nan
    bad = {
        "nan.png": (nan, {}),
        "shape.png": (np.zeros((2, 2, 2)), {}),
        "four.png": (np.zeros((1, 2, 2, 3)), {}),
        "u16.png": (np.zeros((2, 2), np.uint16), {}),
        "bits.jpg": (np.zeros((2, 2)), {"bits": 16}),
        "x.gif": (np.zeros((2, 2)), {}),
        "bool.png": (np.zeros((2, 2), bool), {}),
    }
    for name, (image, options) in bad.items():
        with pytest.raises(ImageIOError, match=name.replace(".", r"\.")):
            write_ldr(tmp_path / name, image, **options)
    with pytest.raises(ValueError, match="quality"):
        write_ldr(tmp_path / "q.jpg", np.zeros((2, 2)), quality=0)
    assert only_file(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Writing HDR: validation and atomicity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".exr", ".hdr", ".pfm"])
def test_write_hdr_rejects_bad_arrays_and_keeps_existing_file(tmp_path, suffix):
    path = tmp_path / f"good{suffix}"
    write_hdr(path, np.full((4, 5, 3), 0.75, np.float32))
    before = path.read_bytes()
    nan = np.ones((4, 5, 3), np.float32)
    nan[2, 3, 1] = np.nan
    inf = np.ones((4, 5), np.float64)
    inf[0, 0] = 1e300  # beyond float32
    wrong = (np.ones((4, 5, 2)), np.ones((1, 4, 5, 3)), np.ones((0, 5, 3)), np.ones(5))
    for image in (nan, inf, *wrong):
        with pytest.raises(ImageIOError, match=rf"good\{suffix}"):
            write_hdr(path, image)
    assert path.read_bytes() == before
    assert only_file(tmp_path) == [path.name]


def test_failure_mid_write_leaves_no_file(tmp_path, monkeypatch):
    image = np.ones((4, 5, 3), np.float32)
    seen = []

    def broken_exr(tmp, *args):
        seen.append(os.path.basename(tmp))
        with open(tmp, "wb") as f:
            f.write(b"\x76\x2f\x31\x01 half written")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hdrio.hdr, "_write_exr", broken_exr)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_hdr(tmp_path / "new.exr", image)
    assert seen[0].startswith(".") and seen[0].endswith(".exr")
    assert only_file(tmp_path) == []

    write_hdr(tmp_path / "keep.hdr", image)
    before = (tmp_path / "keep.hdr").read_bytes()

    def broken_bytes(tmp, data):
        with open(tmp, "wb") as f:
            f.write(data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hdrio.common, "_write_bytes", broken_bytes)
    for name in ("keep.hdr", "new.pfm", "new16.png"):
        with pytest.raises(ImageIOError, match=rf"{name.replace('.', '[.]')}: cannot write the file"):
            if name.endswith(".png"):
                write_ldr(tmp_path / name, image, bits=16)
            else:
                write_hdr(tmp_path / name, image * 2)
    assert (tmp_path / "keep.hdr").read_bytes() == before
    assert only_file(tmp_path) == ["keep.hdr"]

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError(5, "I/O error")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageIOError, match=r"new8\.png: cannot write the file"):
        write_ldr(tmp_path / "new8.png", image)
    assert only_file(tmp_path) == ["keep.hdr"]


def test_written_files_get_normal_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_hdr(tmp_path / "p.exr", np.ones((2, 2, 3), np.float32))
    write_ldr(tmp_path / "p.png", np.ones((2, 2, 3)))
    for name in ("p.exr", "p.png"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask


def _with_negatives(path, *, minimum=-0.003, count=3):
    """An EXR of radiance around 1 with ``count`` tiny negative texels, as real HDRIs have."""
    image = np.linspace(0.5, 1.5, 8 * 16 * 3, dtype=np.float32).reshape(8, 16, 3)
    image.reshape(-1)[:count] = np.linspace(minimum, minimum / 3, count)
    write_hdr(path, image)
    return image


def test_negatives_clamp_sets_tiny_negatives_to_zero_with_one_warning(tmp_path, caplog):
    image = _with_negatives(tmp_path / "real.exr")
    assert np.array_equal(read_hdr(tmp_path / "real.exr"), image)  # the default keeps them
    with caplog.at_level(logging.WARNING, logger="glowgan.hdrio"):
        clamped = read_hdr(tmp_path / "real.exr", negatives="clamp")
    assert np.array_equal(clamped, np.maximum(image, 0))
    [record] = caplog.records
    assert "real.exr" in record.message and "in 1 pixels" in record.message and "-0.003" in record.message


def test_negatives_clamp_refuses_an_image_that_is_not_radiance(tmp_path):
    signed = np.linspace(-1, 1, 4 * 8 * 3, dtype=np.float32).reshape(4, 8, 3)  # e.g. a network's [-1, 1] output
    write_hdr(tmp_path / "signed.exr", signed)
    with pytest.raises(ImageIOError, match=r"signed\.exr: 16 pixels have negative values \(minimum -1\).*not linear radiance.*export"):
        read_hdr(tmp_path / "signed.exr", negatives="clamp")
    write_hdr(tmp_path / "dark.exr", np.full((2, 2, 3), -1e-6, np.float32))  # nothing positive at all
    with pytest.raises(ImageIOError, match="dark.exr"):
        read_hdr(tmp_path / "dark.exr", negatives="clamp")


def test_negative_values_rule_and_nan_handling(tmp_path):
    image = np.ones((10, 10, 3), np.float32)
    image[0, 0] = [-0.3, 1, 1]  # 0.3 against 299 positive: 0.1 %
    found = hdrio.negative_values(image)
    assert (found.pixels, found.minimum) == (1, pytest.approx(-0.3)) and found.clampable
    assert found.share == pytest.approx(0.3 / 299.0)
    image[1, :] = -0.2  # 6.3 in all against 269 positive: 2.3 %
    assert not hdrio.negative_values(image).clampable
    assert hdrio.negative_values(np.ones((2, 2, 3))) == (0, 0.0, 0.0)
    planes = {c: np.array([[np.nan, -0.001, 5.0]], np.float32) for c in "RGB"}
    write_exr_channels(tmp_path / "nan.exr", planes)
    kept = read_hdr(tmp_path / "nan.exr", nonfinite="keep", negatives="clamp")  # NaN ignored, kept
    assert np.isnan(kept[0, 0]).all() and np.array_equal(kept[0, 1:, 0], [0.0, 5.0])
    with pytest.raises(ValueError, match="negatives"):
        read_hdr("x.exr", negatives="clip")


def test_jpeg_min_size_decodes_at_a_reduced_scale(tmp_path):
    stored = smooth_rgb8(400, 640)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 400x640, shown 640x400
    Image.fromarray(stored).save(tmp_path / "big.jpg", exif=exif, quality=95)
    full = read_ldr(tmp_path / "big.jpg")
    assert full.shape == (640, 400, 3)
    quarter = read_ldr(tmp_path / "big.jpg", min_size=(150, 90))  # 1/4 keeps 160x100 >= 150x90
    assert quarter.shape == (160, 100, 3)
    assert read_ldr(tmp_path / "big.jpg", min_size=(170, 90)).shape == (320, 200, 3)  # 1/4 would be too small
    assert read_ldr(tmp_path / "big.jpg", min_size=(600, 400)).shape == (640, 400, 3)
    coarse = np.asarray(Image.fromarray((full * 255).round().astype(np.uint8)).resize((100, 160), Image.BOX))
    assert np.abs(quarter * 255 - coarse).mean() < 2  # the same picture, smaller
    Image.fromarray(stored).save(tmp_path / "big.png")
    assert read_ldr(tmp_path / "big.png", min_size=(50, 50)).shape == (400, 640, 3)  # only JPEGs shrink


def test_decode_ldr_reads_bytes_like_read_ldr(tmp_path):
    Image.fromarray(smooth_rgb8(12, 20)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    assert np.array_equal(hdrio.decode_ldr(data, name="x.zip:a.jpg"), read_ldr(tmp_path / "a.jpg"))
    with pytest.raises(ImageIOError, match=r"^x\.zip:a\.jpg: .*truncated"):
        hdrio.decode_ldr(data[: len(data) // 2], name="x.zip:a.jpg")


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_read_ldr_size_applies_the_exif_orientation(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(smooth_rgb8(6, 10)).save(tmp_path / "o.jpg", exif=exif)
    Image.fromarray(smooth_rgb8(6, 10)).save(tmp_path / "o.png", exif=exif)
    Image.fromarray(smooth_rgb8(6, 10)).save(tmp_path / "plain.png")
    plain = (tmp_path / "plain.png").read_bytes()
    late = png_chunk(b"eXIf", exif.tobytes()[6:])  # after the image data, where Pillow finds it only by decoding
    (tmp_path / "late.png").write_bytes(plain[:-12] + late + plain[-12:])
    for name in ("o.jpg", "o.png", "late.png"):
        assert hdrio.read_ldr_size(tmp_path / name) == read_ldr(tmp_path / name).shape[:2]
        with open(tmp_path / name, "rb") as f:
            assert hdrio.read_ldr_size(f, name=name) == read_ldr(tmp_path / name).shape[:2]
    (tmp_path / "bad.jpg").write_text("no")
    with pytest.raises(ImageIOError, match="bad.jpg: not a JPEG"):
        hdrio.read_ldr_size(tmp_path / "bad.jpg")


def test_write_ldr_text_chunks(tmp_path):
    write_ldr(tmp_path / "t.png", np.zeros((2, 2, 3)), text={"source": "a/b.jpg"})
    with Image.open(tmp_path / "t.png") as picture:
        assert picture.info["source"] == "a/b.jpg"
    with pytest.raises(ImageIOError, match="8-bit PNG"):
        write_ldr(tmp_path / "t.jpg", np.zeros((2, 2, 3)), text={"a": "b"})
    assert not (tmp_path / "t.jpg").exists()
