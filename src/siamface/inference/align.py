"""From a photo of anyone to the input the model was trained on: an LFW-like frame, then the crop.

The models learn on LFW deep-funneled images: 250x250 frames with the face aligned in the
middle, cut by ``Preprocessing`` (e.g. the centred 150x150 "face" box) and resized. A new photo
has its face anywhere, at any size. So we find the face with the Haar detector and cut from the
photo the square that LFW's frame would be around that face: where the detector's box falls
inside an LFW frame was measured once (FACE_CENTER, FACE_SIDE below), so a box of side s
centred at (x, y) in the photo means a frame of side ``250 * s / FACE_SIDE`` placed so that
(x, y) lands on FACE_CENTER. That frame is resized to 250x250 and goes through the model's own
``Preprocessing`` with the same code the training cache used (``preprocess_image``).

This is a similarity alignment from one box (scale and shift, no rotation), coarser than deep
funneling; expect somewhat lower accuracy on wild photos than on LFW's aligned test pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from siamface.data.preprocess import (
    RESAMPLE,
    ImageDecodeError,
    Preprocessing,
    open_image,
    preprocess_image,
    to_8bit,
)
from siamface.inference.face_detection import FaceBox, FaceDetector

# A photo: a file, a decoded Pillow image, or an (H, W) grey / (H, W, 3) RGB uint8 array.
ImageInput = Union[str, Path, Image.Image, np.ndarray]  # noqa: UP007 (a runtime alias)

FRAME_SIZE = 250  # LFW's frame, in which every Preprocessing crop box is given

# Where FaceDetector() (default settings) puts its box inside an LFW deep-funneled frame.
# Measured with `python -m siamface.inference.calibrate` on 500 randomly chosen LFW images
# (seed 0; a face was found in 495): the medians of the largest box's centre and side, in
# 250x250-frame pixels. The middle 50% of the boxes lie within about +-1.2 px of that centre and
# +-5.5 px of that side. tests/inference/test_calibrate.py re-measures them on real LFW images.
FACE_CENTER = (125.0, 125.0)
FACE_SIDE = 115.625


@dataclass(frozen=True)
class AlignedFace:
    """One photo, ready for the model.

    Attributes:
        pixels: (C, size, size) uint8, as one row of the training image cache.
        source: The file, or "image" for an in-memory photo.
        box: The detected face in photo pixels; None when detection was skipped.
        frame: The LFW-like frame ``(left, top, right, bottom)`` cut from the photo, in photo
            pixels (it may reach past the photo's edges, which are then replicated).
    """

    pixels: np.ndarray
    source: str
    box: FaceBox | None
    frame: tuple[float, float, float, float]


def read_photo(image: ImageInput) -> tuple[Image.Image, str]:
    """Decode a photo to RGB, upright, and say where it came from.

    EXIF orientation is applied (phones store portraits sideways with a rotation tag); every
    mode becomes 8-bit RGB as ``siamface.data.preprocess.to_8bit`` converts it (16-bit scaled,
    transparency over white), and an image over MAX_PIXELS is refused from its header.

    Args:
        image: A file path, a Pillow image, or an (H, W) / (H, W, 3) uint8 array.

    Returns:
        The RGB image and its source name for messages.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageDecodeError: the file is not a readable image.
        ValueError: an array of the wrong shape or type.
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (
            image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
        ):
            raise ValueError(
                "expected an (H, W) grey or (H, W, 3) RGB uint8 array, "
                f"got shape {image.shape} and dtype {image.dtype}"
            )
        return Image.fromarray(image).convert("RGB"), "image"
    if isinstance(image, Image.Image):
        return to_8bit(ImageOps.exif_transpose(image), "RGB"), "image"
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    with open_image(path) as im:  # refuses too many pixels before decoding
        try:
            upright = ImageOps.exif_transpose(im)
            return to_8bit(upright, "RGB", path), str(path)
        except (OSError, SyntaxError) as err:
            raise ImageDecodeError(f"{path}: cannot decode image: {err}") from err


def frame_around(box: FaceBox) -> tuple[float, float, float, float]:
    """The LFW-like frame ``(left, top, right, bottom)`` around a detected face, photo pixels.

    Args:
        box: The face found by ``FaceDetector`` (default settings, as calibrated).
    """
    k = box.width / FACE_SIDE  # photo pixels per frame pixel
    cx, cy = box.center
    left, top = cx - k * FACE_CENTER[0], cy - k * FACE_CENTER[1]
    return (left, top, left + k * FRAME_SIZE, top + k * FRAME_SIZE)


def cut_frame(photo: Image.Image, frame: tuple[float, float, float, float]) -> Image.Image:
    """Cut ``frame`` out of ``photo`` and resize it to FRAME_SIZE x FRAME_SIZE.

    Where the frame reaches past the photo, the photo's edge pixels are repeated outwards
    (a black border would be a strong feature the model never saw in LFW).

    Args:
        photo: An RGB image.
        frame: ``(left, top, right, bottom)`` in photo pixels, possibly outside the photo.
    """
    left, top, right, bottom = frame
    # Whole pixels around the frame, plus a margin so that near 1:1 scale the resampling filter
    # at the frame's edges reads real (or replicated) pixels rather than stopping at the cut.
    # At larger reductions its wider support is clamped at the region's edge, which changes
    # only the frame's outermost pixels, far from every Preprocessing crop box.
    margin = 3
    outer = (
        math.floor(left) - margin,
        math.floor(top) - margin,
        math.ceil(right) + margin,
        math.ceil(bottom) + margin,
    )
    width, height = photo.size
    inside = (max(outer[0], 0), max(outer[1], 0), min(outer[2], width), min(outer[3], height))
    if inside[0] >= inside[2] or inside[1] >= inside[3]:
        raise ValueError(f"frame {frame} lies outside the {width}x{height} photo")
    pixels = np.asarray(photo.crop(inside))  # (h, w, 3), the part of the frame in the photo
    pad = (
        (inside[1] - outer[1], outer[3] - inside[3]),  # rows above, below
        (inside[0] - outer[0], outer[2] - inside[2]),  # columns left, right
        (0, 0),
    )
    region = Image.fromarray(np.pad(pixels, pad, mode="edge"))  # (outer height, outer width)
    inner = (left - outer[0], top - outer[1], right - outer[0], bottom - outer[1])
    return region.resize((FRAME_SIZE, FRAME_SIZE), RESAMPLE, box=inner)


class FaceAligner:
    """Turns photos into model inputs: detect the face, cut its LFW-like frame, preprocess.

    Args:
        preprocessing: The model's ``Preprocessing`` (from its run's model.json).
        detect: Find the face first. Without detection each image is taken to be an aligned
            LFW-style frame already (e.g. an LFW JPEG) and is only resized to 250x250.
        detector: The face detector (default settings if None). FACE_CENTER and FACE_SIDE
            were measured with the default settings; others shift the frame slightly.
    """

    def __init__(
        self,
        preprocessing: Preprocessing,
        detect: bool = True,
        detector: FaceDetector | None = None,
    ) -> None:
        self.preprocessing = preprocessing
        self.detect = detect
        self.detector = detector

    def __call__(self, image: ImageInput) -> AlignedFace:
        """Align one photo.

        Raises:
            NoFaceError: detection is on and no face was found.
            FileNotFoundError, ImageDecodeError: the file is missing or unreadable.
        """
        photo, source = read_photo(image)
        width, height = photo.size
        if self.detect:
            box = self._detector.detect(np.asarray(photo.convert("L")), source)
            frame = frame_around(box)
            framed = cut_frame(photo, frame)
        else:
            box, frame = None, (0.0, 0.0, float(width), float(height))
            framed = photo
            if photo.size != (FRAME_SIZE, FRAME_SIZE):
                framed = photo.resize((FRAME_SIZE, FRAME_SIZE), RESAMPLE)
        pixels = preprocess_image(framed, self.preprocessing, source)
        return AlignedFace(pixels=pixels, source=source, box=box, frame=frame)

    @cached_property
    def _detector(self) -> FaceDetector:
        # Loading the cascade's XML takes tens of ms: once per aligner, not once per photo.
        return self.detector if self.detector is not None else FaceDetector()
