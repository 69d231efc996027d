"""FaceDetector: finds real LFW faces where the calibration says, largest first, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from siamface.inference.align import FACE_CENTER, FACE_SIDE
from siamface.inference.face_detection import FaceBox, FaceDetector, NoFaceError


def grey(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("L"))


def test_face_box_geometry():
    box = FaceBox(10.0, 20.0, 50.0, 60.0)
    assert (box.width, box.height, box.center) == (40.0, 40.0, (30.0, 40.0))
    assert box.as_tuple() == (10.0, 20.0, 50.0, 60.0)


@pytest.mark.real_data
def test_lfw_faces_are_found_near_the_calibrated_place(lfw_faces):
    detector = FaceDetector()
    boxes = [detector.detect_all(grey(face)) for face in lfw_faces[:20]]
    found = [b[0] for b in boxes if b]
    assert len(found) >= 18  # the calibration found a face in 495 of 500
    centres = np.array([b.center for b in found])
    sides = np.array([b.width for b in found])
    assert np.allclose(np.median(centres, axis=0), FACE_CENTER, atol=4)
    assert abs(np.median(sides) - FACE_SIDE) < 10
    assert all(b.width == b.height for b in found)  # Haar boxes are square


@pytest.mark.real_data
def test_largest_face_first_and_coordinates_of_the_shrunk_search(lfw_faces):
    # Two faces on one 900x600 canvas: one at 2x size, one at natural size. The detector shrinks
    # the canvas before searching (min face 0.2 * 600 = 120 px -> shrink 3.75), and must report
    # boxes in canvas pixels.
    canvas = Image.new("RGB", (900, 600), (128, 128, 128))
    canvas.paste(lfw_faces[0].resize((500, 500)), (20, 50))
    canvas.paste(lfw_faces[1], (600, 300))
    boxes = FaceDetector().detect_all(grey(canvas))
    assert len(boxes) >= 1
    big = boxes[0]
    # The pasted 2x face: its box centre maps back to ~ the frame centre (20 + 2 * 125, ...).
    assert big.center == pytest.approx((20 + 2 * FACE_CENTER[0], 50 + 2 * FACE_CENTER[1]), abs=12)
    assert big.width == pytest.approx(2 * FACE_SIDE, rel=0.15)
    areas = [b.width * b.height for b in boxes]
    assert areas == sorted(areas, reverse=True)


def test_no_face_is_a_clear_error_naming_the_source():
    flat = np.full((200, 300), 127, dtype=np.uint8)
    detector = FaceDetector()
    assert detector.detect_all(flat) == []
    with pytest.raises(NoFaceError, match=r"no face found in holiday\.jpg"):
        detector.detect(flat, "holiday.jpg")


def test_rejects_non_grey_input():
    with pytest.raises(ValueError, match="uint8 grey"):
        FaceDetector().detect_all(np.zeros((10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 grey"):
        FaceDetector().detect_all(np.zeros((10, 10), dtype=np.float32))
