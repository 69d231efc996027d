"""From a photo of anyone to the input the model was trained on: an LFW-like frame, then the crop.

The models learn on LFW deep-funneled images: 250x250 frames with the face aligned in the
middle, cut by ``Preprocessing`` (e.g. the centred 150x150 "face" box) and resized. A new photo
has its face anywhere, at any size, often tilted. With landmarks (dlib's 5-point model, the
default: ``detectors.py``) the two eye centres and the base of the nose are mapped by one
similarity transform (roll, scale, shift) onto where they sit in LFW's deep-funneled frames
(LFW_LANDMARKS, measured with ``calibrate.py``), so a tilted face reaches the model upright.

Without landmarks (the Haar fallback) we cut from the photo the square that LFW's frame would
be around the detected box: where the detector's box falls
inside an LFW frame was measured once (FACE_CENTER, FACE_SIDE below), so a box of side s
centred at (x, y) in the photo means a frame of side ``250 * s / FACE_SIDE`` placed so that
(x, y) lands on FACE_CENTER. That frame is resized to 250x250 and goes through the model's own
``Preprocessing`` with the same code the training cache used (``preprocess_image``).

That is a similarity alignment from one box (scale and shift, no rotation), coarser than deep
funneling; expect somewhat lower accuracy on wild photos than on LFW's aligned test pairs.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np
from PIL import Image

from siamface.data.preprocess import (
    DECODE_ERRORS,
    FRAME_SIZE,
    RESAMPLE,
    ImageDecodeError,
    Preprocessing,
    check_pixel_count,
    open_image,
    preprocess_image,
    to_8bit,
    upright,
)
from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.inference.calibrate import alignment_points
from siamface.inference.detectors import default_detector
from siamface.inference.face_detection import Detector, FaceBox
from siamface.utils.files import is_number

# Where FaceDetector() (default settings) puts its box inside an LFW deep-funneled frame.
# Measured with `python -m siamface.inference.calibrate` on 500 randomly chosen LFW images
# (seed 0; a face was found in 495): the medians of the largest box's centre and side, in
# 250x250-frame pixels. The middle 50% of the boxes lie within about +-1.2 px of that centre and
# +-5.5 px of that side. tests/inference/test_calibrate.py re-measures them on real LFW images.
FACE_CENTER = (125.0, 125.0)
FACE_SIDE = 115.625

# Where dlib's landmarks (DlibDetector, default settings) sit in LFW deep-funneled frames: the
# eye centre on the image's left, the other eye centre, the base of the nose (see
# calibrate.alignment_points). Medians over 500 randomly chosen LFW images (seed 0; landmarks
# found in 496), measured with `python -m siamface.inference.calibrate ... --landmarks`; the
# middle 50% lie within +-2 px of them. The eye line is level: LFW's frames are upright.
LFW_LANDMARKS = ((104.0, 114.0), (145.0, 113.0), (125.0, 145.0))

# A frame's channels count as one grey image when they differ by less than this on average
# (a grey JPEG saved as RGB keeps its chroma near, not exactly at, zero).
GREY_TOLERANCE = 1.0

# Pillow's names of a JPEG file: a phone's JPEG with a preview or a gain map inside opens as
# MPO, of 2 or more frames, and is a still photo all the same (its first frame)
JPEG_FORMATS = ("JPEG", "MPO")


class FaceChoiceError(SiamfaceError, IndexError):
    """A face asked for by its rank that the photo does not have."""


class NotAFrameWarning(SiamfaceWarning):
    """An image given without detection that cannot be an aligned LFW frame: not square, or
    far smaller than one."""


def check_face_rank(face: Any) -> None:
    """Refuse a face asked for by something other than its rank by size (None: the largest)."""
    if face is not None and not (is_number(face, int) and face >= 0):
        raise FaceChoiceError(f"face must be a face's rank by size (0: the largest), got "
                              f"{face!r}")


def face_by_size(rank: int) -> str:
    """How messages name the face of ``rank`` by size, whichever way it was numbered (the
    API's 0-based rank, the CLI's 1-based ``--face``): "the 3rd largest face" for rank 2."""
    n = rank + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return "the largest face" if rank == 0 else f"the {n}{suffix} largest face"


def no_such_face(source: str, rank: int, found: int) -> FaceChoiceError:
    """The error for a face of ``rank`` asked for in a photo where ``found`` were found."""
    return FaceChoiceError(f"{source}: {face_by_size(rank)} asked for, but {found} "
                           f"face{' was' if found == 1 else 's were'} found")


class AnimatedImageWarning(SiamfaceWarning):
    """An image of several frames (an animated GIF or WebP): its first frame was used."""


class MultipleFacesWarning(SiamfaceWarning):
    """A photo held several faces and the largest was used."""


@dataclass(frozen=True)
class AlignedFace:
    """One photo, ready for the model.

    Attributes:
        pixels: (C, size, size) uint8, as one row of the training image cache.
        source: The photo's name for messages (``Photo.source``).
        box: The detected face in photo pixels; None when detection was skipped.
        frame: The LFW-like frame ``(left, top, right, bottom)`` cut from the photo, in photo
            pixels (it may reach past the photo's edges, which are then replicated); with
            landmarks, the frame before it is turned by ``roll``.
        faces_found: How many faces the detector found (None without detection). For the
            largest face (no face asked for), those of about its size: where dlib finds a face
            of a quarter of the shorter side or more, smaller ones are not searched for.
        boxes: Every face found, largest first (``box`` is one of them).
        roll: The face's tilt in the photo, undone by the alignment: the eye line's angle in
            degrees, positive when it runs down to the right (image y points down); 0 without
            landmarks.
        grey: The frame's three channels are one grey image (a black-and-white photo).
    """

    pixels: np.ndarray
    source: str
    box: FaceBox | None
    frame: tuple[float, float, float, float]
    faces_found: int | None = None
    boxes: tuple[FaceBox, ...] = field(default=())
    roll: float = 0.0
    grey: bool = False


class Photo(NamedTuple):
    """A decoded photo.

    Attributes:
        image: The photo, 8-bit RGB, upright.
        source: Its name for messages: the file, "image" for an in-memory photo, or the name
            its decoder gave it (the server: the upload's form field).
        scale: The file's pixels per ``image`` pixel: above 1 where a large JPEG was decoded
            at a reduced size (``read_photo``'s ``min_side``), else 1.
    """

    image: Image.Image
    source: str
    scale: float = 1.0


# A photo: a file, a decoded Pillow image, an (H, W) grey / (H, W, 3) RGB uint8 array, or a Photo.
ImageInput = Union[str, Path, Image.Image, np.ndarray, Photo]  # noqa: UP007 (a runtime alias)


def read_photo(image: ImageInput, min_side: int = 0) -> Photo:
    """Decode a photo to RGB, upright, and say where it came from.

    EXIF orientation is applied (phones store portraits sideways with a rotation tag); JPEG,
    PNG, WebP, TIFF and the rest of Pillow's formats open, HEIC too where pillow-heif is
    installed (``pip install siamface[heic]``); every mode becomes 8-bit RGB as
    ``siamface.data.preprocess.to_8bit`` converts it (16-bit scaled, transparency over white),
    and an image over MAX_PIXELS is refused (a file from its header, before it is decoded).

    Args:
        image: A file path, a Pillow image, an (H, W) / (H, W, 3) uint8 array, or a Photo
            decoded already (returned as it is: its source names it in messages).
        min_side: A JPEG file whose shorter side is at least twice this is decoded by libjpeg
            at 1/2, 1/4 or 1/8 of its size, the smallest that keeps the shorter side at least
            ``min_side`` (a 12 MP photo decodes in a third of the time); 0: always full size.
            Only files are reduced: a Pillow image passed in is the caller's and is not changed.

    Returns:
        The RGB image, its source name for messages, and the scale it was decoded at.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageDecodeError: the file is not a readable image, or any image has more than
            MAX_PIXELS.
        ValueError: an array of the wrong shape or type.
    """
    if isinstance(image, Photo):
        return image
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (
            image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
        ) or 0 in image.shape:
            raise ValueError(
                "expected an (H, W) grey or (H, W, 3) RGB uint8 array with pixels, "
                f"got shape {image.shape} and dtype {image.dtype}"
            )
        check_pixel_count(image.shape[1], image.shape[0], "image")
        return Photo(Image.fromarray(image).convert("RGB"), "image")
    if isinstance(image, Image.Image):
        if 0 in image.size:
            raise ValueError(f"expected an image with pixels, got a {image.width}x"
                             f"{image.height} Pillow image")
        check_pixel_count(*image.size, "image")
        return Photo(to_8bit(upright(image), "RGB"), "image")
    path = Path(image)
    require_image_file(path)
    _register_heif()
    with open_image(path) as im:  # refuses too many pixels before decoding
        try:
            turned, scale = decode_upright(im, min_side, path)
        except DECODE_ERRORS as err:  # a PNG whose text chunk is too large: a ValueError
            raise ImageDecodeError(f"{path}: cannot decode image: {err}") from err
        _note_later_frames(im, path)
        return Photo(turned, str(path), scale)


def _note_later_frames(im: Image.Image, path: Path) -> None:
    """Warn that only the first frame of an animation or a multi-page file was used.

    Counting the frames reads the later ones, and a copy cut short or damaged after its first
    frame makes Pillow raise almost anything (TypeError, KeyError, IndexError, SyntaxError):
    that costs the note its count, never the photo, which was decoded from the first frame.
    """
    if im.format in JPEG_FORMATS:  # MPO: a phone's JPEG carrying a preview, no animation
        return
    try:
        frames = f"{im.n_frames} frames" if getattr(im, "is_animated", False) else None
    except Exception:  # see above: any error reading the later frames
        frames = "several frames (the later ones unreadable)"
    if frames is not None:
        warnings.warn(AnimatedImageWarning(f"{path}: an image of {frames}; the first is used"),
                      stacklevel=3)


def require_image_file(path: Path) -> None:
    """Refuse a path that is not a regular file, saying what it is instead.

    Raises:
        FileNotFoundError: nothing is there.
        ImageDecodeError: a folder, a FIFO, a device: something that is there but no file; or
            an empty file.
    """
    if path.is_file():
        if path.stat().st_size == 0:  # Pillow's word: "cannot identify image file"
            raise ImageDecodeError(f"{path}: the file is empty; expected an image file")
        return
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image file")
    what = "a folder" if path.is_dir() else "not a regular file (a FIFO or a device)"
    raise ImageDecodeError(f"{path}: is {what}; expected an image file")


def decode_upright(im: Image.Image, min_side: int,
                   source: str | Path) -> tuple[Image.Image, float]:
    """``im`` (opened, not yet loaded) decoded to 8-bit RGB and turned upright, and the file's
    pixels per decoded pixel: a JPEG at the smallest of libjpeg's reduced sizes whose shorter
    side is still ``min_side`` (0, or another format: full size).

    Raises:
        OSError, SyntaxError, ValueError: as Pillow raises them for a file it cannot decode.
    """
    width, height = im.size
    scale = 1.0
    if im.format in JPEG_FORMATS and 0 < min_side <= min(width, height) / 2:
        k = min_side / min(width, height)
        im.draft(im.mode, (math.ceil(width * k), math.ceil(height * k)))  # both sides >= asked
        scale = width / im.size[0]
    return to_8bit(upright(im), "RGB", source), scale


@functools.cache
def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF photos (iPhones' default) where pillow-heif is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


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


def warn_multiple_faces(source: str, boxes: tuple[FaceBox, ...]) -> None:
    """The notice that a photo held several faces and the largest, ``boxes[0]``, was used."""
    b = boxes[0]
    warnings.warn(MultipleFacesWarning(
        f"{source}: {len(boxes)} faces found, the largest used (box {b.left:.0f},{b.top:.0f}-"
        f"{b.right:.0f},{b.bottom:.0f}); for another, crop the photo, or pick it by size rank "
        "where it is the probe (verify and identify: --face K)"), stacklevel=3)


def landmark_transform(points: np.ndarray) -> np.ndarray:
    """The similarity transform that maps a face's alignment points onto LFW_LANDMARKS.

    The rotation turns the eye line onto LFW's; then one scale and one shift are fitted by
    least squares over all three points. The nose does not steer the rotation: in a face
    turned sideways (yaw) it sits off the eyes' middle, and a three-point fit would tilt that
    face by several degrees to centre it.

    Args:
        points: (3, 2) photo pixels, as ``calibrate.alignment_points`` orders them.

    Returns:
        (2, 3) the affine matrix taking photo pixels ``(x, y, 1)`` to frame pixels.
    """
    target = np.asarray(LFW_LANDMARKS, dtype=np.float64)  # (3, 2)

    def eye_line(p: np.ndarray) -> float:
        return math.atan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0])

    angle = eye_line(target) - eye_line(points)
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])
    src_mean, dst_mean = points.mean(axis=0), target.mean(axis=0)
    turned = (points - src_mean) @ rotation.T  # (3, 2) centred, rotated
    scale = float(np.sum(turned * (target - dst_mean)) / np.sum(turned**2))
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def warp_frame(photo: Image.Image, to_frame: np.ndarray) -> Image.Image:
    """The FRAME_SIZE x FRAME_SIZE frame that ``to_frame`` maps the photo onto.

    A large reduction is first done by area averaging over the frame's region (a plain affine
    warp samples only a few pixels and would alias), then the rest by a bilinear warp. Past
    the photo's edges its edge pixels are repeated, as ``cut_frame`` does.

    Args:
        photo: An RGB image.
        to_frame: (2, 3) affine matrix from photo pixels to frame pixels.
    """
    import cv2

    scale = math.hypot(to_frame[0, 0], to_frame[1, 0])  # frame pixels per photo pixel
    inverse = cv2.invertAffineTransform(to_frame)  # (2, 3) frame -> photo
    corners = np.array([[0, 0, 1], [FRAME_SIZE, 0, 1], [0, FRAME_SIZE, 1],
                        [FRAME_SIZE, FRAME_SIZE, 1]], dtype=np.float64) @ inverse.T  # (4, 2)
    width, height = photo.size
    margin = 2 / scale  # two frame pixels, for the bilinear filter at the edges
    left = max(0, math.floor(corners[:, 0].min() - margin))
    top = max(0, math.floor(corners[:, 1].min() - margin))
    right = min(width, math.ceil(corners[:, 0].max() + margin))
    bottom = min(height, math.ceil(corners[:, 1].max() + margin))
    if left >= right or top >= bottom:
        raise ValueError(f"the face's frame lies outside the {width}x{height} photo")
    region = np.asarray(photo.crop((left, top, right, bottom)))  # (h, w, 3)
    shrink = 1.0
    if scale < 0.5:  # more than 2 photo pixels per frame pixel: average them first
        shrink = 1 / (2 * scale)  # leaves a 2x reduction for the warp
        size = (max(1, round(region.shape[1] / shrink)), max(1, round(region.shape[0] / shrink)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    # frame -> region pixels: photo coordinates shifted by the crop, divided by the shrink.
    inverse = inverse.copy()
    inverse[:, 2] -= (left, top)
    inverse /= shrink
    out = cv2.warpAffine(region, inverse, (FRAME_SIZE, FRAME_SIZE),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)


def is_grey(frame: Image.Image) -> bool:
    """True when an RGB frame's channels are one grey image (within GREY_TOLERANCE).

    Args:
        frame: An RGB image.
    """
    rgb = np.asarray(frame, dtype=np.int16)  # (H, W, 3)
    spread = np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
    return bool(spread < GREY_TOLERANCE)


class FaceAligner:
    """Turns photos into model inputs: detect the face, cut its LFW-like frame, preprocess.

    Args:
        preprocessing: The model's ``Preprocessing`` (from its run's model.json).
        detect: Find the face first. Without detection each image is taken to be an aligned
            LFW-style frame already (e.g. an LFW JPEG) and is only resized to 250x250.
        detector: The face detector; None: ``detectors.default_detector()`` (dlib with
            landmarks where installed, else the Haar cascade). Faces with landmarks are aligned
            by them, others by their box (FACE_CENTER and FACE_SIDE were measured with the
            Haar detector's default settings; others shift the frame slightly).
    """

    def __init__(
        self,
        preprocessing: Preprocessing,
        detect: bool = True,
        detector: Detector | None = None,
    ) -> None:
        self.preprocessing = preprocessing
        self.detect = detect
        self.detector = detector

    def __call__(self, image: ImageInput, face: int | None = None) -> AlignedFace:
        """Align one face of a photo: the largest, or the one asked for.

        Args:
            image: A file path, a Pillow image, a uint8 array or a decoded Photo (its box is
                then given in its file's pixels, by its ``scale``).
            face: Which face, by size: 0 is the largest, 1 the next. None: the largest, with a
                MultipleFacesWarning when others of about its size were found (large faces
                are searched first, which is quicker).

        Raises:
            NoFaceError: detection is on and no face was found.
            FaceChoiceError: the photo has no face of rank ``face``.
            FileNotFoundError, ImageDecodeError: the file is missing or unreadable.
        """
        check_face_rank(face)
        if not self.detect:
            if face not in (None, 0):  # the frame is the one face: there is no other
                raise FaceChoiceError(f"{face_by_size(face)} asked for, but detection is off: "
                                      "the photo is taken as one aligned face")
            photo, source, _ = read_photo(image)
            width, height = photo.size
            framed = photo
            if photo.size != (FRAME_SIZE, FRAME_SIZE):
                if width != height or min(width, height) < FRAME_SIZE // 4:
                    warnings.warn(NotAFrameWarning(
                        f"{source} is {width}x{height}, not an aligned LFW frame: without "
                        "detection it is stretched to one, and its score means little"),
                        stacklevel=2)
                framed = photo.resize((FRAME_SIZE, FRAME_SIZE), RESAMPLE)
            return self._aligned(framed, source, None, (0.0, 0.0, float(width), float(height)))
        photo, source, scale = self._read(image)
        boxes = self._boxes(photo, source, largest_only=face is None)
        if face is None and len(boxes) > 1:
            warn_multiple_faces(source, tuple(b.scaled(scale) for b in boxes))
        rank = 0 if face is None else face
        if not 0 <= rank < len(boxes):
            raise no_such_face(source, rank, len(boxes))
        return in_file_pixels(self._align_box(photo, source, boxes, rank), scale)

    def align_all(self, image: ImageInput) -> list[AlignedFace]:
        """Every face of a photo, aligned, largest first.

        Raises:
            NoFaceError: no face was found (detection must be on).
        """
        if not self.detect:
            raise ValueError("align_all needs face detection")
        photo, source, scale = self._read(image)
        boxes = self._boxes(photo, source)
        return [in_file_pixels(self._align_box(photo, source, boxes, rank), scale)
                for rank in range(len(boxes))]

    def _read(self, image: ImageInput) -> Photo:
        """The photo to search, a large JPEG decoded reduced (``min_side``)."""
        return read_photo(image, self.min_side)

    @property
    def min_side(self) -> int:
        """The shorter side a large JPEG may be decoded down to (0: full size): as far as keeps
        the smallest face the detector searches for at least as wide as LFW's faces (FACE_SIDE
        of its frame), so no face is enlarged more than from the full-size photo."""
        fraction = self._detector.min_size_fraction if self.detect else 0.0
        return math.ceil(FACE_SIDE / fraction) if fraction > 0 else 0

    def _boxes(self, photo: Image.Image, source: str,
               largest_only: bool = False) -> tuple[FaceBox, ...]:
        """Every face, largest first; with ``largest_only``, the largest face and those of
        about its size (a detector may search large faces first and stop there)."""
        grey = np.asarray(photo.convert("L"))  # (H, W)
        find = self._detector.detect_largest if largest_only else self._detector.detect_all
        boxes = find(grey)
        if not boxes:
            raise self._detector.no_face(source)
        return tuple(boxes)

    def _align_box(self, photo: Image.Image, source: str, boxes: tuple[FaceBox, ...],
                   rank: int) -> AlignedFace:
        box = boxes[rank]
        if box.landmarks is None:
            frame = frame_around(box)
            return self._aligned(cut_frame(photo, frame), source, box, frame, boxes)
        to_frame = landmark_transform(alignment_points(box))
        k = 1 / math.hypot(to_frame[0, 0], to_frame[1, 0])  # photo pixels per frame pixel
        centre = photo_point(to_frame, (FRAME_SIZE / 2, FRAME_SIZE / 2))
        half = k * FRAME_SIZE / 2
        frame = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        roll = -math.degrees(math.atan2(to_frame[1, 0], to_frame[0, 0]))
        return self._aligned(warp_frame(photo, to_frame), source, box, frame, boxes, roll)

    def _aligned(self, framed: Image.Image, source: str, box: FaceBox | None,
                 frame: tuple[float, float, float, float], boxes: tuple[FaceBox, ...] = (),
                 roll: float = 0.0) -> AlignedFace:
        pixels = preprocess_image(framed, self.preprocessing, source)
        return AlignedFace(pixels=pixels, source=source, box=box, frame=frame,
                           faces_found=len(boxes) if box is not None else None, boxes=boxes,
                           roll=roll, grey=is_grey(framed))

    @property
    def thread_safe(self) -> bool:
        """Two threads may align photos with this aligner at once."""
        return not self.detect or self._detector.thread_safe

    @cached_property
    def _detector(self) -> Detector:
        # Loading a detector's model takes tens of ms: once per aligner, not once per photo.
        return self.detector if self.detector is not None else default_detector()


def in_file_pixels(face: AlignedFace, scale: float) -> AlignedFace:
    """``face`` with its boxes and frame in the pixels of its file, which was decoded at 1 /
    ``scale`` of its size."""
    if scale == 1:
        return face
    box = None if face.box is None else face.box.scaled(scale)
    return replace(face, box=box, boxes=tuple(b.scaled(scale) for b in face.boxes),
                   frame=tuple(v * scale for v in face.frame))


def photo_point(to_frame: np.ndarray, frame_point: tuple[float, float]) -> tuple[float, float]:
    """The photo pixel that frame pixel ``frame_point`` comes from under ``to_frame``.

    Args:
        to_frame: (2, 3) affine matrix from photo pixels to frame pixels.
        frame_point: ``(x, y)`` in frame pixels.
    """
    linear, shift = to_frame[:, :2], to_frame[:, 2]
    x, y = np.linalg.solve(linear, np.asarray(frame_point) - shift)
    return float(x), float(y)
