"""Uploads to aligned faces: a large JPEG is searched reduced and answered in its own pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.conftest import CentreDetector
from siamface.data.preprocess import preset
from siamface.inference.align import FaceAligner
from siamface.serve.photos import UploadAligner


def phone_jpeg(width: int, height: int, orientation: int) -> bytes:
    """A smooth JPEG stored ``width`` x ``height``, with an EXIF orientation."""
    y, x = np.indices((height, width))
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_a_large_jpeg_upload_is_searched_reduced_and_answered_in_file_pixels():
    aligner = UploadAligner(preset("face", 32, 3), detect=True, max_file_bytes=50_000_000)
    detector = CentreDetector()  # searches down to 10%: a photo may shrink to 1157 px
    aligner.aligner = FaceAligner(preset("face", 32, 3), detector=detector)
    # Stored 4800 x 3600 and shown turned (orientation 6): 3600 wide, 4800 tall.
    face = aligner.face(phone_jpeg(4800, 3600, orientation=6), "image_a")
    assert detector.searched == [(2400, 1800)]  # upright, decoded at half size
    assert (face.width, face.height) == (3600, 4800)
    assert face.aligned.box.as_tuple() == pytest.approx((1440, 1920, 2160, 2880))


def test_a_small_upload_is_decoded_whole():
    aligner = UploadAligner(preset("face", 32, 3), detect=True, max_file_bytes=50_000_000)
    detector = CentreDetector()
    aligner.aligner = FaceAligner(preset("face", 32, 3), detector=detector)
    face = aligner.face(phone_jpeg(2000, 1500, orientation=1), "image_a")
    assert detector.searched == [(1500, 2000)]
    assert (face.width, face.height) == (2000, 1500)
    assert face.aligned.box.as_tuple() == pytest.approx((800, 600, 1200, 900))
