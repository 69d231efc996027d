"""Preprocessing settings and load_image(): crop box maths, grey values, shapes, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamface.data.preprocess import (
    PRESETS,
    ImageDecodeError,
    Preprocessing,
    load_image,
    preset,
)

# A 250x250 RGB frame whose quadrants are flat colours: (top-left, top-right, bottom-left,
# bottom-right). Their grey values by Pillow's ITU-R 601 luma in 16-bit fixed point,
# (19595 R + 38470 G + 7471 B + 32768) >> 16, worked by hand:
#   (10, 20, 30):  (195950 + 769400 + 224130 + 32768) >> 16 = 1222248 >> 16 = 18
#   (200, 0, 0):   (3919000 + 32768) >> 16 = 60
#   (0, 200, 0):   (7694000 + 32768) >> 16 = 117
#   (0, 0, 200):   (1494200 + 32768) >> 16 = 23
QUADRANTS = {"tl": (10, 20, 30), "tr": (200, 0, 0), "bl": (0, 200, 0), "br": (0, 0, 200)}
GREY = {"tl": 18, "tr": 60, "bl": 117, "br": 23}


def quadrant_pixels() -> np.ndarray:
    pixels = np.empty((250, 250, 3), dtype=np.uint8)  # (H, W, RGB)
    pixels[:125, :125] = QUADRANTS["tl"]
    pixels[:125, 125:] = QUADRANTS["tr"]
    pixels[125:, :125] = QUADRANTS["bl"]
    pixels[125:, 125:] = QUADRANTS["br"]
    return pixels


@pytest.fixture
def quadrant_png(tmp_path: Path) -> Path:
    path = tmp_path / "quadrants.png"  # lossless, so every pixel value is known exactly
    Image.fromarray(quadrant_pixels()).save(path)
    return path


@pytest.fixture
def noise_png(tmp_path: Path) -> tuple[Path, np.ndarray]:
    pixels = np.random.default_rng(0).integers(0, 256, size=(250, 250, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


# --- Preprocessing -------------------------------------------------------------------------


def test_defaults_are_the_papers_input():
    prep = Preprocessing()
    assert (prep.crop, prep.size, prep.channels) == (None, 105, 1)
    assert prep.shape == (1, 105, 105)


def test_to_dict_from_dict_round_trip_through_json():
    prep = Preprocessing(crop=(70, 65, 180, 185), size=96, channels=3)
    data = json.loads(json.dumps(prep.to_dict()))
    assert data == {"crop": [70, 65, 180, 185], "size": 96, "channels": 3}
    back = Preprocessing.from_dict(data)
    assert back == prep
    assert isinstance(back.crop, tuple)
    assert hash(back) == hash(prep)


def test_from_dict_missing_keys_take_defaults_and_unknown_keys_fail():
    assert Preprocessing.from_dict({"size": 64}) == Preprocessing(None, 64, 1)
    with pytest.raises(ValueError, match=r"unknown preprocessing keys \['colour'\]"):
        Preprocessing.from_dict({"size": 64, "colour": 3})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop": (10, 10, 10, 20)}, "0 <= left < right"),
        ({"crop": (10, 30, 20, 20)}, "0 <= top < bottom"),
        ({"crop": (-1, 0, 20, 20)}, "0 <= left < right"),
        ({"crop": (0, 0, 20)}, "4 integers"),
        ({"crop": (0, 0, 20.0, 20)}, "4 integers"),
        ({"size": 0}, "size must be a positive integer"),
        ({"size": 10.5}, "size must be a positive integer"),
        ({"size": True}, "size must be a positive integer"),
        ({"channels": 2}, "channels must be 1"),
        ({"channels": 3.0}, "channels must be 1"),
    ],
)
def test_invalid_settings_are_rejected_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Preprocessing(**kwargs)


def test_presets():
    assert PRESETS.names() == ["face", "full", "tight"]
    assert preset("full") == Preprocessing(None, 105, 1)
    assert preset("face", size=96, channels=3) == Preprocessing((50, 50, 200, 200), 96, 3)
    assert preset("tight").crop == (70, 65, 180, 185)
    with pytest.raises(KeyError, match="choose one of: face, full, tight"):
        preset("centre")


# --- load_image: geometry --------------------------------------------------------------------


@pytest.mark.parametrize("size", [5, 48, 105])
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_and_layout(quadrant_png, size, channels):
    out = load_image(quadrant_png, Preprocessing(size=size, channels=channels))
    assert out.shape == (channels, size, size)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous


def test_crop_the_size_of_the_output_copies_the_box_exactly(noise_png):
    # A 50x50 box at size 50 is not resampled: the output must be exactly those source pixels,
    # which pins down the (left, top, right, bottom) order and the exclusive right/bottom edges.
    path, pixels = noise_png
    out = load_image(path, Preprocessing(crop=(30, 100, 80, 150), size=50, channels=3))
    np.testing.assert_array_equal(out, pixels[100:150, 30:80].transpose(2, 0, 1))


@pytest.mark.parametrize(
    ("crop", "quadrant"),
    [
        ((0, 0, 125, 125), "tl"),
        ((125, 0, 250, 125), "tr"),
        ((0, 125, 125, 250), "bl"),
        ((125, 125, 250, 250), "br"),
        ((130, 10, 240, 120), "tr"),  # strictly inside a quadrant
    ],
)
def test_crop_selects_the_quadrant(quadrant_png, crop, quadrant):
    rgb = load_image(quadrant_png, Preprocessing(crop=crop, size=7, channels=3))
    assert (rgb == np.array(QUADRANTS[quadrant], dtype=np.uint8)[:, None, None]).all()
    grey = load_image(quadrant_png, Preprocessing(crop=crop, size=7, channels=1))
    assert (grey == GREY[quadrant]).all()


def test_full_frame_halved_keeps_quadrants_away_from_the_seams(quadrant_png):
    out = load_image(quadrant_png, Preprocessing(crop=None, size=125, channels=1))[0]
    # LANCZOS's support at a 2x reduction is 3 output pixels each side of a seam at 62.5.
    assert (out[:58, :58] == GREY["tl"]).all()
    assert (out[:58, 67:] == GREY["tr"]).all()
    assert (out[67:, :58] == GREY["bl"]).all()
    assert (out[67:, 67:] == GREY["br"]).all()


def test_grey_source_gives_equal_rgb_channels(tmp_path):
    grey = np.tile(np.arange(0, 250, dtype=np.uint8), (250, 1))  # a horizontal ramp
    path = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(path)
    out = load_image(path, Preprocessing(crop=(0, 0, 100, 100), size=100, channels=3))
    for c in range(3):
        np.testing.assert_array_equal(out[c], grey[:100, :100])


def test_crop_outside_the_image_names_the_file(tmp_path):
    small = tmp_path / "small.png"  # not an LFW frame: 200x200
    Image.fromarray(quadrant_pixels()[:200, :200]).save(small)
    with pytest.raises(ImageDecodeError, match=r"small\.png: crop box .* does not fit in the "
                                               r"\d+x\d+ image: expected an LFW frame"):
        load_image(small, Preprocessing(crop=(100, 100, 220, 200)))


def test_a_crop_box_must_lie_in_lfws_frame():
    with pytest.raises(ValueError, match=r"right <= 250 and 0 <= top < bottom <= 250"):
        Preprocessing(crop=(100, 100, 251, 200))


# --- load_image: JPEG decoding shortcuts -----------------------------------------------------


def test_jpeg_grey_from_the_luma_plane_matches_the_hand_values(tmp_path):
    path = tmp_path / "quadrants.jpg"
    Image.fromarray(quadrant_pixels()).save(path, quality=95)
    out = load_image(path, Preprocessing(crop=None, size=125, channels=1))[0]
    # JPEG rounds the colours a little; the luma plane must still give the hand-computed grey.
    for quadrant, block in [
        ("tl", out[:58, :58]),
        ("tr", out[:58, 67:]),
        ("bl", out[67:, :58]),
        ("br", out[67:, 67:]),
    ]:
        assert np.abs(block.astype(int) - GREY[quadrant]).max() <= 2, quadrant


@pytest.mark.parametrize("channels", [1, 3])
def test_half_scale_jpeg_decode_matches_a_full_decode(tmp_path, channels):
    # crop side 200 -> size 50 leaves 100 >= 2 x 50 pixels after halving, so the JPEG is
    # decoded at half scale; the crop box must be halved with it. Against the same picture
    # stored losslessly (always decoded in full), only the JPEG loss and a slightly softer
    # filter may differ. A box left unscaled would crop the wrong region entirely.
    rng = np.random.default_rng(1)
    pixels = quadrant_pixels().astype(int) + rng.integers(-10, 10, size=(250, 250, 3))
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.jpg", quality=100)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    prep = Preprocessing(crop=(40, 10, 240, 210), size=50, channels=channels)
    fast = load_image(tmp_path / "x.jpg", prep).astype(int)
    exact = load_image(tmp_path / "x.png", prep).astype(int)
    assert np.abs(fast - exact).mean() < 1.0


# --- load_image: bad files -------------------------------------------------------------------


def test_truncated_jpeg_raises_image_decode_error_naming_the_file(tmp_path, quadrant_png):
    whole = tmp_path / "whole.jpg"
    Image.open(quadrant_png).save(whole, quality=90)
    cut = tmp_path / "Alice_Able_0001.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImageDecodeError, match=r"Alice_Able_0001\.jpg: cannot decode image"):
        load_image(cut, Preprocessing())


def test_garbage_file_raises_image_decode_error_which_is_a_value_error(tmp_path):
    path = tmp_path / "Bob_Baker_0002.jpg"
    path.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"Bob_Baker_0002\.jpg: cannot decode image") as info:
        load_image(path, Preprocessing())
    assert isinstance(info.value, ImageDecodeError)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nobody.jpg", Preprocessing())


def test_an_image_a_pixel_wide_is_refused_in_one_line_at_half_scale_too(tmp_path: Path):
    path = tmp_path / "thin.jpg"
    Image.new("L", (1, 300)).save(path)
    small = Preprocessing(crop=(50, 50, 200, 200), size=16)  # decoded at half scale if it can
    with pytest.raises(ImageDecodeError, match=r"thin.jpg: crop box \(50, 50, 200, 200\) does "
                                               r"not fit in the 1x300 image"):
        load_image(path, small)  # not a ZeroDivisionError from drafting a side of 0 pixels


def test_settings_given_as_numpy_integers_are_plain_settings():
    prep = Preprocessing(crop=tuple(np.array([50, 50, 200, 200])), size=np.int64(16),
                         channels=np.int8(3))
    assert [type(v) for v in (*prep.crop, prep.size, prep.channels)] == [int] * 6
    # written to the cache's index.json as numbers, and read back as equal settings
    assert json.loads(json.dumps(prep.to_dict(), default=str)) == prep.to_dict()
