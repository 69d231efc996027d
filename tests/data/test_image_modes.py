"""load_image() on every image mode, EXIF orientation and the megapixel limit.

Each image is 2x2 and loaded at size 2 without a crop, so no resampling happens and every output
pixel is the converted source pixel. Expected values are worked by hand: 16-bit to 8-bit divides
by 257 (65535 -> 255, 32896 -> 128, 257 -> 1); transparent pixels show the white background;
grey of an RGB colour is Pillow's ITU-R 601 luma (see test_preprocess.py: (200, 0, 0) -> 60,
(0, 0, 200) -> 23, cyan (0, 255, 255) -> (38470 + 7471) * 255 + 32768 >> 16 = 179).
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from siamface.data import preprocess
from siamface.data.preprocess import (
    MAX_PIXELS,
    ImageDecodeError,
    Preprocessing,
    load_image,
    open_image,
    preprocess_image,
    upright,
)
from siamface.errors import SiamfaceError

GREY = Preprocessing(crop=None, size=2, channels=1)
RGB = Preprocessing(crop=None, size=2, channels=3)


def grey_of(path_or_image) -> list[list[int]]:
    if isinstance(path_or_image, Image.Image):
        return preprocess_image(path_or_image, GREY)[0].tolist()
    return load_image(path_or_image, GREY)[0].tolist()


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[65535, 32896], [257, 0]], dtype=np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    assert grey_of(path) == [[255, 128], [1, 0]]
    rgb = load_image(path, RGB)
    assert rgb[:, 0, 1].tolist() == [128, 128, 128]


def test_big_endian_16_bit_in_memory():
    im = Image.fromarray(np.array([[65535, 32896], [257, 0]], dtype=">u2"))
    assert im.mode == "I;16B"
    assert grey_of(im) == [[255, 128], [1, 0]]


def test_mode_i_uses_the_declared_bit_depth(tmp_path):
    # A PGM with maxval 4095 (12 bits): Pillow scales it to 0..65535 in mode "I".
    path = tmp_path / "twelve.pgm"
    path.write_bytes(b"P5\n2 2\n4095\n" + struct.pack(">4H", 4095, 2048, 0, 0))
    assert Image.open(path).mode == "I"
    assert grey_of(path) == [[255, 128], [0, 0]]  # 2048 / 4095 * 255 = 127.5 -> 128
    # A 32-bit TIFF declares 32 bits: 2**31 - 1 is just under half of 2**32 - 1 -> 127.
    tiff = tmp_path / "thirty_two.tif"
    Image.fromarray(np.array([[2**31 - 1, 0], [0, 0]], dtype=np.int32)).save(tiff)
    assert grey_of(tiff) == [[127, 0], [0, 0]]


def test_mode_i_without_a_declared_depth_uses_the_value_range():
    sixteen = Image.fromarray(np.array([[65535, 32896], [257, -5]], dtype=np.int32))
    assert sixteen.mode == "I"
    assert grey_of(sixteen) == [[255, 128], [1, 0]]
    eight = Image.fromarray(np.array([[200, 100], [1, 0]], dtype=np.int32))
    assert grey_of(eight) == [[200, 100], [1, 0]]


def test_float_images():
    unit = Image.fromarray(np.array([[1.0, 0.5], [0.25, np.nan]], dtype=np.float32))
    assert unit.mode == "F"
    assert grey_of(unit) == [[255, 128], [64, 0]]  # 127.5 and 63.75 round to 128 and 64
    eight = Image.fromarray(np.array([[200.0, 100.0], [-3.0, 0.0]], dtype=np.float32))
    assert grey_of(eight) == [[200, 100], [0, 0]]


def test_deep_values_are_scaled_block_by_block_from_the_largest_of_all(monkeypatch):
    monkeypatch.setattr(preprocess, "SCALE_BLOCK", 3)  # 4 values: the largest in the 2nd block
    deep = Image.fromarray(np.array([[100.0, 50.0], [0.0, 300.0]], dtype=np.float32))
    # 300 needs 16 bits: 300 * 255 / 65535 = 1.17 -> 1 (scaled by the first block's 100 alone,
    # it would be 255 and 100 would be 100)
    assert grey_of(deep) == [[0, 0], [0, 1]]


def test_scaling_a_large_deep_image_needs_little_memory_beyond_its_8_bit_result(monkeypatch):
    monkeypatch.setattr(preprocess, "SCALE_BLOCK", 1 << 16)
    values = np.zeros((2000, 2000), dtype=np.float32)  # 16 MB; in float64 at once: 32 MB a copy
    tracemalloc.start()
    try:
        out = preprocess._scaled_to_8bit(values, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (2000, 2000) and out.dtype == np.uint8
    assert peak < out.nbytes + 4_000_000  # the 4 MB result and a few 0.5 MB blocks


def test_palette_with_a_transparent_entry(tmp_path):
    path = tmp_path / "palette.png"
    im = Image.new("P", (2, 2), 0)
    im.putpalette([200, 0, 0, 0, 0, 0])  # 0: red, 1: black but transparent
    im.putpixel((1, 0), 1)
    im.save(path, transparency=1)
    assert grey_of(path) == [[60, 255], [60, 60]]
    assert load_image(path, RGB)[:, 0, :].T.tolist() == [[200, 0, 0], [255, 255, 255]]


def test_palette_without_transparency(tmp_path):
    path = tmp_path / "palette.png"
    im = Image.new("P", (2, 2), 0)
    im.putpalette([0, 0, 200, 200, 0, 0])
    im.putpixel((0, 1), 1)
    im.save(path)
    assert grey_of(path) == [[23, 23], [60, 23]]


def test_grey_with_alpha(tmp_path):
    path = tmp_path / "la.png"
    im = Image.new("LA", (2, 2), (100, 255))
    im.putpixel((1, 0), (0, 51))  # 20% black over white: 255 * 0.8 = 204
    im.putpixel((0, 1), (0, 0))
    im.save(path)
    assert grey_of(path) == [[100, 204], [255, 100]]


def test_rgba(tmp_path):
    path = tmp_path / "rgba.png"
    im = Image.new("RGBA", (2, 2), (0, 0, 200, 255))
    im.putpixel((1, 1), (0, 0, 0, 0))
    im.save(path)
    assert grey_of(path) == [[23, 23], [23, 255]]
    assert load_image(path, RGB)[:, 1, :].T.tolist() == [[0, 0, 200], [255, 255, 255]]


def test_cmyk(tmp_path):
    path = tmp_path / "cmyk.tif"  # TIFF: lossless, unlike a CMYK JPEG
    im = Image.new("CMYK", (2, 2), (0, 0, 0, 0))
    im.putpixel((0, 0), (255, 0, 0, 0))
    im.putpixel((1, 0), (0, 0, 0, 255))
    im.save(path)
    assert grey_of(path) == [[179, 0], [255, 255]]
    assert load_image(path, RGB)[:, 0, 0].tolist() == [0, 255, 255]


def test_bilevel(tmp_path):
    path = tmp_path / "bilevel.png"
    im = Image.new("1", (2, 2), 0)
    im.putpixel((0, 0), 1)
    im.save(path)
    assert grey_of(path) == [[255, 0], [0, 0]]


def test_unconvertible_mode_is_an_image_decode_error_naming_the_source():
    lab = Image.new("LAB", (2, 2))
    with pytest.raises(ImageDecodeError, match=r"^photo: cannot convert a LAB image to L"):
        preprocess_image(lab, GREY, source="photo")


def test_exif_orientation_is_applied_before_cropping(tmp_path):
    # Stored 4 wide x 2 tall, left half black; orientation 6 says "turn 90 degrees clockwise",
    # so it shows 2 wide x 4 tall with the black half on top.
    pixels = np.full((2, 4), 255, dtype=np.uint8)
    pixels[:, :2] = 0
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = 6  # Orientation
    path = tmp_path / "sideways.jpg"
    im.save(path, exif=exif, quality=100)
    top = load_image(path, Preprocessing(crop=(0, 0, 2, 2), size=2, channels=1))
    bottom = load_image(path, Preprocessing(crop=(0, 2, 2, 4), size=2, channels=1))
    assert top.max() <= 10 and bottom.min() >= 245  # JPEG may shift a level or two


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_each_orientation_as_pillow_does(orientation):
    im = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4))  # every pixel unlike
    im.getexif()[0x0112] = orientation
    expected = ImageOps.exif_transpose(im)
    assert np.array_equal(np.asarray(upright(im)), np.asarray(expected))


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` grey pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (8000, 7000, r"the image is 8000x7000 \(56,000,000 pixels\)"),
        # Pillow would warn (over 89 megapixels) and then decode 169 MB
        (13000, 13000, r"the image is 13000x13000 \(169,000,000 pixels\)"),
        # Pillow refuses this one itself (over 179 megapixels): still our one-line message
        (20000, 20000, r"the image has 400,000,000 pixels"),
    ],
)
def test_too_many_pixels_is_refused_from_the_header(tmp_path, width, height, message):
    path = png_header(tmp_path / "huge.png", width, height)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageDecodeError, match=message) as err:
            load_image(path, GREY)
    assert not caught
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert text.endswith("the limit is 50,000,000 pixels (50 megapixels)")
    assert isinstance(err.value, SiamfaceError) and isinstance(err.value, ValueError)


def test_an_image_at_the_limit_opens(tmp_path):
    assert MAX_PIXELS == 50_000_000
    path = png_header(tmp_path / "big.png", 10000, 5000)  # exactly 50 megapixels
    with open_image(path) as im:
        assert im.size == (10000, 5000)
