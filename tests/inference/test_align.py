"""Alignment: photo in, LFW-like frame and model input out; edge padding; photo decoding."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from siamface.data.preprocess import ImageDecodeError, load_image, preprocess_image, preset
from siamface.inference.align import (
    FACE_CENTER,
    FACE_SIDE,
    FRAME_SIZE,
    FaceAligner,
    NotAFrameWarning,
    cut_frame,
    face_by_size,
    frame_around,
    read_photo,
)
from siamface.inference.face_detection import FaceBox, NoFaceError

from .conftest import CentreDetector, random_photo


def test_frame_around_inverts_the_calibration():
    # A box exactly where the calibration says, at twice LFW's scale, shifted by (100, 40):
    # the frame must be LFW's 250x250 frame at twice the scale, at the same shift.
    cx, cy = 100 + 2 * FACE_CENTER[0], 40 + 2 * FACE_CENTER[1]
    half = FACE_SIDE  # half of the side 2 * FACE_SIDE
    frame = frame_around(FaceBox(cx - half, cy - half, cx + half, cy + half))
    assert frame == pytest.approx((100, 40, 100 + 2 * FRAME_SIZE, 40 + 2 * FRAME_SIZE))


def test_cut_frame_inside_the_photo_is_a_plain_crop_at_scale_one():
    photo = Image.fromarray(random_photo(0, size=(300, 400)))
    out = cut_frame(photo, (20, 30, 270, 280))  # 250x250 box: no resampling needed
    assert out.size == (FRAME_SIZE, FRAME_SIZE)
    assert np.array_equal(np.asarray(out), np.asarray(photo)[30:280, 20:270])


def test_cut_frame_replicates_edges_outside_the_photo():
    # Columns 0..249 of the photo have grey value = column index; the frame starts 50 px to the
    # left of the photo, so its first 50 columns repeat column 0 and the rest are columns 0..199.
    ramp = np.tile(np.arange(250, dtype=np.uint8), (250, 1))
    photo = Image.fromarray(np.stack([ramp] * 3, axis=-1))
    out = np.asarray(cut_frame(photo, (-50, 0, 200, 250)))[..., 0]  # (250, 250)
    assert (out[:, :50] == 0).all()
    assert np.array_equal(out[:, 50:], ramp[:, :200])


def test_cut_frame_entirely_outside_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        cut_frame(Image.new("RGB", (100, 100)), (500, 500, 750, 750))


def test_preprocess_image_matches_load_image(tmp_path):
    # A PNG (no JPEG decoding shortcuts): the in-memory path must give the very same pixels.
    path = tmp_path / "frame.png"
    Image.fromarray(random_photo(1)).save(path)
    for prep in (preset("face", 32, 3), preset("full", 105, 1), preset("tight", 64, 1)):
        with Image.open(path) as im:
            assert np.array_equal(preprocess_image(im, prep), load_image(path, prep))


def test_without_detection_the_image_is_the_frame(tmp_path):
    path = tmp_path / "frame.png"
    Image.fromarray(random_photo(2)).save(path)
    prep = preset("face", 32, 3)
    face = FaceAligner(prep, detect=False)(path)
    assert face.box is None and face.frame == (0, 0, 250, 250) and face.source == str(path)
    assert np.array_equal(face.pixels, load_image(path, prep))
    # Another size is resized to the 250x250 frame first: same content, same crop.
    small = FaceAligner(prep, detect=False)(Image.open(path).resize((125, 125)))
    assert small.pixels.shape == (3, 32, 32)
    assert np.abs(small.pixels.astype(int) - face.pixels).mean() < 8


@pytest.mark.real_data
def test_detection_recovers_a_face_pasted_into_a_larger_photo(lfw_faces):
    # Paste an LFW frame at 1.6x its size at (137, 61) into a 700x600 background: the frame the
    # aligner cuts must be that square. The Haar box's centre is steady, its side jumps between
    # the detector's discrete scales (the calibration's middle 50% spans +-5%), so the centre
    # is held to 3% of the side and the side to 12%.
    face = lfw_faces[0]
    scale, offset = 1.6, (137, 61)
    side = FRAME_SIZE * scale  # 400
    photo = Image.fromarray(random_photo(3, size=(600, 700)))
    photo.paste(face.resize((round(side), round(side)), Image.Resampling.LANCZOS), offset)
    aligner = FaceAligner(preset("face", 32, 3))
    found = aligner(photo)
    left, top, right, bottom = found.frame
    assert right - left == pytest.approx(bottom - top)  # square
    assert right - left == pytest.approx(side, rel=0.12)
    centre = ((left + right) / 2, (top + bottom) / 2)
    assert centre == pytest.approx((offset[0] + side / 2, offset[1] + side / 2), abs=0.03 * side)
    assert found.box is not None and found.pixels.shape == (3, 32, 32)
    # The model input is then close to the one made from the aligned original itself.
    diff = np.abs(found.pixels.astype(int) - aligner(face).pixels)
    assert diff.mean() < 25


def test_no_face_with_detection_names_the_file(tmp_path):
    path = tmp_path / "wall.jpg"
    Image.new("RGB", (300, 300), (200, 190, 180)).save(path)
    with pytest.raises(NoFaceError, match=f"no face found in {path}"):
        FaceAligner(preset("face", 32, 3))(path)


def test_read_photo_applies_exif_orientation(tmp_path):
    # Orientation 6: the camera stored the picture rotated; viewers turn it 90 degrees clockwise,
    # so a 40 wide x 20 tall stored image is shown 20 wide x 40 tall.
    stored = Image.fromarray(random_photo(4, size=(20, 40)))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif)
    photo, source, _ = read_photo(path)
    assert photo.size == (20, 40) and source == str(path)
    assert photo.mode == "RGB"


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_read_photo_turns_any_mode_into_rgb(mode, tmp_path):
    im = Image.fromarray(random_photo(5, size=(30, 30))).convert(mode)
    photo, source, _ = read_photo(im)
    assert photo.mode == "RGB" and photo.size == (30, 30) and source == "image"


def test_read_photo_from_arrays():
    rgb = read_photo(random_photo(6, size=(10, 12))).image
    grey = read_photo(np.zeros((10, 12), dtype=np.uint8)).image
    assert rgb.size == grey.size == (12, 10)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB uint8"):
        read_photo(np.zeros((10, 12, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        read_photo(np.zeros((10, 12), dtype=np.float32))


def test_unreadable_and_missing_files_are_named(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a JPEG")
    with pytest.raises(ImageDecodeError, match=r"junk\.jpg: cannot decode image"):
        read_photo(junk)
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg: no such image file"):
        read_photo(tmp_path / "missing.jpg")
    (tmp_path / "album.jpg").mkdir()
    with pytest.raises(ImageDecodeError, match=r"album\.jpg: is a folder; expected an image"):
        read_photo(tmp_path / "album.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(ImageDecodeError, match=r"pipe\.jpg: is not a regular file \(a FIFO"):
        read_photo(tmp_path / "pipe.jpg")  # (opening it would wait for a writer for ever)


def save_jpeg(path, size, orientation=None):
    """A random-noise JPEG of ``size`` (width, height), with an EXIF orientation if given."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(random_photo(12, size=(size[1], size[0]))).save(path, exif=exif)
    return path


@pytest.mark.parametrize(("min_side", "size", "scale"), [
    (0, (1200, 900), 1.0),     # no reduction asked for
    (500, (1200, 900), 1.0),   # 1/2 would leave 450 < 500: full size
    (400, (1200, 900), 2.0),   # 1/2 leaves 450 >= 400; 1/4 would leave 225
    (200, (1200, 900), 4.0),   # 1/4 leaves 225 >= 200; 1/8 would leave 112
    (100, (1200, 900), 8.0),   # libjpeg's smallest is 1/8
])
def test_a_large_jpeg_file_decodes_reduced_as_far_as_min_side_allows(
        tmp_path, min_side, size, scale):
    photo, _, k = read_photo(save_jpeg(tmp_path / "big.jpg", size), min_side)
    assert k == scale
    assert photo.size == (math.ceil(size[0] / scale), math.ceil(size[1] / scale))  # libjpeg's
    assert min(photo.size) >= min_side


def test_a_phone_jpeg_that_opens_as_mpo_is_reduced_as_a_jpeg_without_a_note(tmp_path):
    still = Image.fromarray(random_photo(14, size=(900, 1200)))
    path = tmp_path / "phone.jpg"  # a photo with its preview inside, as phones write them
    still.save(path, "MPO", save_all=True, append_images=[still.resize((300, 225))])
    assert Image.open(path).format == "MPO"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not "an image of 2 frames"
        photo, _, scale = read_photo(path, 400)
    assert scale == 2.0 and photo.size == (600, 450)


def test_a_reduced_jpeg_is_still_turned_upright(tmp_path):
    path = save_jpeg(tmp_path / "phone.jpg", (1200, 900), orientation=6)  # shown 900 x 1200
    photo, _, scale = read_photo(path, 400)
    assert scale == 2.0 and photo.size == (450, 600)


def test_only_jpeg_files_are_reduced(tmp_path):
    png = tmp_path / "big.png"
    Image.fromarray(random_photo(13, size=(900, 1200))).save(png)
    assert read_photo(png, 100).image.size == (1200, 900)
    caller = Image.open(save_jpeg(tmp_path / "big.jpg", (1200, 900)))  # the caller's image
    photo, _, scale = read_photo(caller, 100)
    assert scale == 1.0 and photo.size == caller.size == (1200, 900)


def test_a_large_jpeg_is_searched_reduced_but_its_face_is_given_in_file_pixels(tmp_path):
    # FACE_SIDE / 0.1 = 1157 px: a 4800 x 3600 JPEG decodes at 1/2 (2400 x 1800), not 1/4.
    detector = CentreDetector()
    aligner = FaceAligner(preset("face", 32, 3), detector=detector)
    path = save_jpeg(tmp_path / "big.jpg", (4800, 3600))
    face = aligner(path)
    assert detector.searched == [(1800, 2400)]
    assert face.box.as_tuple() == pytest.approx((1920, 1440, 2880, 2160))
    assert face.box.landmarks[4] == pytest.approx((2400, 1980))
    assert face.boxes == (face.box,)
    left, top, right, bottom = face.frame  # in file pixels, around the face
    assert ((left + right) / 2, (top + bottom) / 2) == pytest.approx((2400, 1800), abs=200)
    full = FaceAligner(preset("face", 32, 3), detector=CentreDetector())(
        Image.open(path))  # the same photo decoded whole (a Pillow image is never reduced)
    assert face.frame == pytest.approx(full.frame, rel=1e-3)
    assert np.abs(face.pixels.astype(int) - full.pixels).mean() < 8


@pytest.mark.parametrize(("size", "warned"), [
    ((1, 1), True), ((3, 2000), True), ((250, 180), True), ((125, 125), False),
    ((250, 250), False),
])
def test_an_image_that_cannot_be_a_frame_is_noted_without_detection(size, warned):
    aligner = FaceAligner(preset("face", 32, 3), detect=False)
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aligner(image)
    assert any(issubclass(w.category, NotAFrameWarning) for w in caught) == warned


@pytest.mark.parametrize(("rank", "name"), [
    (0, "the largest face"), (1, "the 2nd largest face"), (2, "the 3rd largest face"),
    (3, "the 4th largest face"), (10, "the 11th largest face"), (11, "the 12th largest face"),
    (20, "the 21st largest face"), (111, "the 112th largest face")])
def test_a_face_is_named_by_its_place_by_size_whichever_way_it_was_numbered(rank, name):
    assert face_by_size(rank) == name
