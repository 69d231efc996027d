"""Every image kind people have reaches the photo path as upright 8-bit RGB; grey is noticed."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import require
from siamface.data import preprocess
from siamface.data.preprocess import ImageDecodeError, preset
from siamface.inference.align import AnimatedImageWarning, FaceChoiceError, read_photo
from siamface.inference.verifier import GreyPhotoWarning, Verifier

from .conftest import random_photo, tiny_model


def _kinds(tmp_path):
    rgb = Image.fromarray(random_photo(9, size=(40, 60)))  # 60 wide, 40 tall
    grey = rgb.convert("L")
    deep = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # 16-bit grey
    yield "png16.png", lambda p: deep.save(p)
    yield "palette.png", lambda p: rgb.convert("P").save(p)
    yield "la.png", lambda p: grey.convert("LA").save(p)
    yield "grey.jpg", lambda p: grey.save(p)
    yield "cmyk.jpg", lambda p: rgb.convert("CMYK").save(p)
    yield "photo.webp", lambda p: rgb.save(p, "WEBP")
    yield "rgba.png", lambda p: rgb.convert("RGBA").save(p)


def test_every_kind_decodes_to_rgb(tmp_path):
    for name, save in _kinds(tmp_path):
        save(tmp_path / name)
        photo, source, _ = read_photo(tmp_path / name)
        assert photo.mode == "RGB" and photo.size == (60, 40), name
        assert source == str(tmp_path / name)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(tmp_path / "white.png")
    photo = read_photo(tmp_path / "white.png").image
    assert np.asarray(photo).min() == 255


def test_heic_opens_where_pillow_heif_is_installed(tmp_path):
    pillow_heif = require("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.fromarray(random_photo(10, size=(64, 96))).save(tmp_path / "phone.heic")
    photo = read_photo(tmp_path / "phone.heic").image
    assert photo.mode == "RGB" and photo.size == (96, 64)


def test_an_animated_image_uses_its_first_frame_and_says_so(tmp_path):
    first, second = (Image.fromarray(random_photo(k, size=(64, 64))) for k in (1, 2))
    first.save(tmp_path / "moving.gif", save_all=True, append_images=[second], duration=100)
    with pytest.warns(AnimatedImageWarning, match=r"moving\.gif: an image of 2 frames; the "
                                                  "first is used"):
        photo = read_photo(tmp_path / "moving.gif").image
    still = read_photo(Image.open(tmp_path / "moving.gif")).image  # frame 0 of the same file
    assert np.array_equal(np.asarray(photo), np.asarray(still))
    # a phone's JPEG with a preview inside opens as a 2-frame MPO: a still photo, no note
    first.save(tmp_path / "phone.jpg", "MPO", save_all=True, append_images=[second])
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnimatedImageWarning)
        read_photo(tmp_path / "phone.jpg")


def test_a_text_chunk_too_large_after_the_pixels_is_a_decode_error(tmp_path):
    # Pillow reads chunks after IDAT while it loads, and refuses a zTXt over MAX_TEXT_CHUNK
    # with a ValueError; before the pixels, opening the file already refused it.
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pixels = zlib.compress(b"".join(b"\x00" + bytes(range(8)) for _ in range(8)))  # 8x8 grey
    ztxt = b"note\x00\x00" + zlib.compress(b"a" * 2_000_000)
    path = tmp_path / "texty.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0,
                                                                         0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"zTXt", ztxt) + chunk(b"IEND", b""))
    with pytest.raises(ImageDecodeError, match=r"texty\.png: cannot decode image: Decompressed"):
        read_photo(path)


def test_exif_rotated_webp_is_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.fromarray(random_photo(11, size=(20, 40))).save(tmp_path / "side.webp", exif=exif)
    photo = read_photo(tmp_path / "side.webp").image
    assert photo.size == (20, 40)


def test_a_grey_photo_for_an_rgb_model_is_noticed():
    rgb_model = Verifier(tiny_model(), preset("face", 32, 3), 4.5, detect=False)
    grey = np.asarray(Image.fromarray(random_photo(12)).convert("L"))
    with pytest.warns(GreyPhotoWarning, match="black and white but the model compares colour"):
        rgb_model.verify(grey, random_photo(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GreyPhotoWarning)
        rgb_model.verify(random_photo(12), random_photo(13))  # colour: no notice
        grey_model = Verifier(tiny_model(), preset("face", 32, 1), 4.5, detect=False)
        grey_model.align(grey)  # a grey model: nothing to say
        trained_on_grey = Verifier(tiny_model(), preset("face", 32, 3), 4.5, detect=False,
                                   saw_grey=True)
        trained_on_grey.align(grey)  # grey augmentation: grey photos were in its training


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), np.zeros((0, 10), np.uint8),
                                   Image.new("RGB", (0, 0)), Image.new("RGB", (0, 10))])
def test_an_image_without_pixels_is_refused(image):
    with pytest.raises(ValueError, match="with pixels"):
        read_photo(image)


def test_an_empty_file_is_called_empty(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")  # Pillow: "cannot identify image file"
    with pytest.raises(ImageDecodeError, match=r"zero\.jpg: the file is empty; expected an "
                                               "image file"):
        read_photo(tmp_path / "zero.jpg")


@pytest.mark.parametrize("kind", ["array", "grey array", "Pillow image"])
def test_an_image_in_memory_is_held_to_the_pixel_limit_as_a_file_is(monkeypatch, kind):
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 100)
    def image(width):
        pixels = np.zeros((10, width, 3), np.uint8)
        return {"array": pixels, "grey array": pixels[..., 0],
                "Pillow image": Image.fromarray(pixels)}[kind]
    assert read_photo(image(10)).image.size == (10, 10)  # 100 pixels: at the limit
    with pytest.raises(ImageDecodeError, match=r"^image: the image is 11x10 \(110 pixels\)"):
        read_photo(image(11))


@pytest.mark.parametrize(("face", "message"), [
    (1, "the 2nd largest face asked for, but detection is off"), (-1, "face must be a face's rank"),
    (0.5, "face must be a face's rank"), (True, "face must be a face's rank")])
def test_a_face_that_cannot_be_chosen_is_refused_not_ignored(tiny_verifier, face, message):
    frame = random_photo(1)
    with pytest.raises(FaceChoiceError, match=message):
        tiny_verifier.verify(frame, frame, face_a=face)
    assert tiny_verifier.verify(frame, frame, face_a=0).same  # the one face a frame has


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"batch_size": 0}, ValueError, "batch_size must be a whole number of at least 1, got 0"),
    ({"batch_size": 2.5}, ValueError, "batch_size must be a whole number"),
    ({"threshold": "0.5"}, ValueError, "the threshold must be a finite number, got '0.5'"),
    ({"threshold": float("nan")}, ValueError, "the threshold must be a finite number"),
])
def test_a_verifier_refuses_settings_it_cannot_use(settings, error, message):
    with pytest.raises(error, match=message):
        Verifier(tiny_model(), preset("face", size=32, channels=3),
                 **{"threshold": 0.0, **settings})


def test_numpy_numbers_are_numbers():
    verifier = Verifier(tiny_model(), preset("face", size=32, channels=3),
                        threshold=np.float32(4.5), batch_size=np.int64(8), detect=False)
    frame = random_photo(1)
    assert verifier.verify(frame, frame, face_a=np.int64(0)).same


def _exif_with_a_malformed_tag(orientation: int) -> bytes:
    """A little-endian EXIF block: the orientation, and ImageLength written as ASCII (a SHORT
    or LONG is expected), as a buggy editor writes it."""
    entries = [(0x0101, 2, 6, b"Maker\0"), (0x0112, 3, 1, struct.pack("<HH", orientation, 0))]
    start = 8 + 2 + 12 * len(entries) + 4  # where values over 4 bytes go
    ifd, extra = struct.pack("<H", len(entries)), b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, start + len(extra))
            extra += value
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + extra


def test_a_sideways_photo_with_a_malformed_exif_tag_is_turned_not_refused(tmp_path):
    # Pillow's exif_transpose writes the EXIF back and raised struct.error on the odd tag
    path = tmp_path / "phone.jpg"
    Image.fromarray(random_photo(12, size=(20, 40))).save(path,
                                                          exif=_exif_with_a_malformed_tag(6))
    assert read_photo(path).image.size == (20, 40)  # stored 40 wide, shown 20 wide


def test_a_multipage_file_damaged_after_its_first_page_gives_that_page(tmp_path):
    pages = [Image.fromarray(random_photo(k, size=(64, 64))) for k in (1, 2, 3)]
    pages[0].save(tmp_path / "whole.tif", save_all=True, append_images=pages[1:])
    data = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[:len(data) // 2])  # page 1 whole, 2-3 cut off
    with pytest.warns(AnimatedImageWarning, match=r"cut\.tif: an image of several frames "
                                                  r"\(the later ones unreadable\)"):
        photo = read_photo(tmp_path / "cut.tif").image
    assert np.array_equal(np.asarray(photo), np.asarray(pages[0]))
