"""Find the face in a photo: OpenCV's frontal-face Haar cascade (Viola & Jones 2001).

The cascade is the XML file that ships inside opencv-python(-headless) 4.x, so nothing is
downloaded. It is old and only finds roughly frontal faces, but it is fast (a few ms on a
250x250 image) and its boxes are consistent enough to place an LFW-like frame around the face
(see ``align.py``), which is all the model needs: it was trained on aligned LFW crops.

OpenCV 5 moved the cascade classifier out of the main package and stopped shipping the XML
files, so this module needs ``opencv-python-headless<5``; with 5.x it says so instead of failing
somewhere deep inside cv2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamface.errors import SiamfaceError

CASCADE_FILE = "haarcascade_frontalface_default.xml"

# The cascade scans windows from its 24x24 training size upwards, so its cost grows with the
# image's pixel count. The detector shrinks every image until the smallest face it searches for
# is this many pixels wide: any larger is wasted work, and much smaller loses detections.
MIN_FACE_PX = 32

# The most pixels a detector scans at once. A 4:3 photo searched for faces of 8% of its shorter
# side is scanned at about 1.1 MP whatever its size, and a 5:1 panorama at 4 MP; but the search
# is sized from the shorter side, so a 100000x400 picture (a 5 KB PNG) was scanned at 160 MP
# for 25 s. Beyond this the picture is shrunk further: only larger faces are searched for.
MAX_SCAN_PIXELS = 4_000_000


class NoFaceError(SiamfaceError, ValueError):
    """The detector found no face in an image."""


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixels of the photo it was found in.

    Attributes:
        left, top, right, bottom: The box, right and bottom exclusive (Pillow's convention).
            Haar boxes are square.
        landmarks: The face's 5 landmarks ``(x, y)`` where the detector gives them (dlib's
            5-point model: the corners of each eye, then the base of the nose), else None.
    """

    left: float
    top: float
    right: float
    bottom: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.right, self.bottom)

    def scaled(self, k: float) -> FaceBox:
        """The box (and its landmarks) in an image ``k`` times as large."""
        points = None if self.landmarks is None else tuple(
            (x * k, y * k) for x, y in self.landmarks)
        return FaceBox(self.left * k, self.top * k, self.right * k, self.bottom * k, points)


class Detector:
    """A face detector: subclasses find every face (``detect_all``), the largest with those of
    about its size (``detect_largest``, where they can do that quicker, e.g. by searching large
    faces first) and say what they find (``no_face``); the base class picks the largest face or
    raises.

    Attributes:
        thread_safe: Two threads may search with this one detector at once.
        min_size_fraction: The smallest face searched for, as a fraction of the image's
            shorter side (0: not said).
    """

    thread_safe = False
    min_size_fraction = 0.0

    def detect_all(self, grey: np.ndarray) -> list[FaceBox]:
        """Every face found, largest first.

        Args:
            grey: (H, W) uint8 grey image.
        """
        raise NotImplementedError

    def detect_largest(self, grey: np.ndarray) -> list[FaceBox]:
        """The largest face and the others of about its size, largest first (here: every
        face)."""
        return self.detect_all(grey)

    def no_face(self, source: str | Path) -> NoFaceError:
        """The error for a picture of ``source`` where no face was found, with advice."""
        raise NotImplementedError

    def detect(self, grey: np.ndarray, source: str | Path = "image") -> FaceBox:
        """The largest face.

        Args:
            grey: (H, W) uint8 grey image.
            source: Named in the error message (usually the file).

        Raises:
            NoFaceError: no face was found.
        """
        boxes = self.detect_largest(grey)
        if not boxes:
            raise self.no_face(source)
        return boxes[0]


class FaceDetector(Detector):
    """The largest frontal face in an image, by OpenCV's Haar cascade.

    The defaults favour speed. On 120 LFW images, ``scale_factor=1.05, min_neighbors=8`` put
    the frame slightly closer to LFW's own (mean cosine similarity between the embeddings of
    the detected and the original frames 0.966 against 0.951, with a partly trained default
    model) for about twice the detection time; both settings give the same calibration medians.

    Args:
        scale_factor: How much the search window grows between scales (OpenCV's
            ``scaleFactor``); smaller is slower and finds more.
        min_neighbors: Overlapping raw detections needed to keep a face (``minNeighbors``);
            higher gives fewer false faces.
        min_size_fraction: Smallest face searched for, as a fraction of the image's shorter
            side.
        min_face_px: Shrink the image until the smallest face searched for is this wide.
    """

    name = "opencv-haar"

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_fraction: float = 0.2,
        min_face_px: int = MIN_FACE_PX,
    ) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_fraction = min_size_fraction
        self.min_face_px = min_face_px
        self._cascade = _load_cascade()

    def detect_all(self, grey: np.ndarray) -> list[FaceBox]:
        """Every face found, largest first.

        Args:
            grey: (H, W) uint8 grey image.
        """
        import cv2

        min_face = self.min_size_fraction * min(grey.shape)  # in image pixels
        small, shrink = rescaled(grey, min_face, self.min_face_px)
        # Equalising the histogram makes the cascade's Haar features less sensitive to exposure,
        # as in OpenCV's own face-detection samples.
        small = cv2.equalizeHist(small)
        min_side = max(1, round(min_face / shrink))
        found = self._cascade.detectMultiScale(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
        )  # (K, 4) int rows of x, y, w, h, or an empty tuple
        boxes = [
            FaceBox(x * shrink, y * shrink, (x + w) * shrink, (y + h) * shrink)
            for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4).tolist()
        ]
        return sorted(boxes, key=lambda b: b.width * b.height, reverse=True)

    def no_face(self, source: str | Path) -> NoFaceError:
        """The error for a picture of ``source`` where no face was found, with advice."""
        return no_face_error(source, "the Haar detector finds roughly frontal faces of at "
                             f"least {self.min_size_fraction:.0%} of the shorter side")


def rescaled(grey: np.ndarray, face: float, face_px: float,
           max_enlarge: float = 1.0) -> tuple[np.ndarray, float]:
    """A grey image scaled so that a face ``face`` pixels wide becomes ``face_px`` wide, and the
    factor it was shrunk by (below 1 where it was enlarged): detectors search far fewer pixels.
    Never to more than MAX_SCAN_PIXELS: a longer, thinner picture is shrunk further.

    Args:
        grey: (H, W) uint8 grey image.
        face: The smallest face searched for, image pixels.
        face_px: The width the detector wants that face at.
        max_enlarge: The most the image is enlarged where that face is smaller than
            ``face_px`` (1: never; for a detector with a fixed smallest window).
    """
    import cv2

    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W) uint8 grey image, got shape {grey.shape} and {grey.dtype}"
        )
    height, width = grey.shape
    shrink = max(1.0 / max_enlarge, face / face_px, math.sqrt(height * width / MAX_SCAN_PIXELS))
    if shrink == 1:
        return grey, 1.0
    size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    # Shrinking: halve by averaging 2x2 blocks (OpenCV's quick exact case) while the image is at
    # least twice the size wanted, then interpolate the last step of under 2x bilinearly, which
    # at under 2x still reads every pixel. A 2 MP photo to 320 px: 0.6 ms against 2.1 for area
    # averaging in one step; to 900 px: 0.6 against 3.4 ms.
    while grey.shape[0] >= 2 * size[1] and grey.shape[1] >= 2 * size[0]:
        even = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]  # (2h, 2w)
        grey = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2),
                          interpolation=cv2.INTER_AREA)  # (h, w)
    return cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR), shrink


def no_face_error(source: str | Path, what_it_finds: str) -> NoFaceError:
    """NoFaceError naming ``source``, what the detector finds and how to skip detection."""
    return NoFaceError(f"no face found in {source} ({what_it_finds}; for images that are "
                       "already aligned LFW-style 250x250 frames, skip detection)")


def _load_cascade():  # -> cv2.CascadeClassifier
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise ImportError(
            f"OpenCV {cv2.__version__} has no Haar cascade classifier (OpenCV 5 moved it out "
            "of the main package); install opencv-python-headless>=4.8,<5"
        )
    path = Path(cv2.data.haarcascades) / CASCADE_FILE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ImportError(f"cannot load the Haar cascade {path} shipped with OpenCV")
    return cascade
