"""The face detectors a photo can go through, and which one is used by default.

The default is dlib's HOG frontal-face detector (built into the ``dlib`` module of the
``dlib-bin`` wheel) with dlib's 5-point landmark model (``shape_predictor_5_face_landmarks.dat``,
trained on dlib's own CC0 data, shipped in the ``face-recognition-models`` package): the
landmarks let ``align.py`` undo the face's roll as well as its scale and place. On photo-like
pictures it finds far more faces than OpenCV's Haar cascade (benchmarks/results/photos.json).
Where dlib or the model file is missing, OpenCV's Haar cascade (``face_detection.FaceDetector``)
is the fallback, with a notice; it gives boxes only, aligned by the box as before.

Nothing is downloaded: both packages come from PyPI with their files inside.
"""

from __future__ import annotations

import copy
import importlib.util
import queue
import warnings
from pathlib import Path

import numpy as np

from siamface.errors import SiamfaceWarning
from siamface.inference.face_detection import (
    Detector,
    FaceBox,
    FaceDetector,
    NoFaceError,
    no_face_error,
    rescaled,
)

MODELS_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"

# dlib's HOG detector scans an 80x80 window over an image pyramid (each level 5/6 of the last),
# so the smallest face it finds is about 80 px wide and its cost grows with the image's pixels.
# The picture is scaled until the smallest face searched for is HOG_FACE_PX wide: shrunk when
# larger, enlarged when a small picture's faces are narrower, but at most HOG_MAX_ENLARGE times
# (faces under 40 px are too small to recognise, and each doubling costs 4x the time).
HOG_FACE_PX = 80
HOG_MAX_ENLARGE = 2.0

# dlib's adjust_threshold: below its default of 0, the detector keeps weaker windows. Chosen on
# photo-like pictures of 300 DevTrain people (never the benchmark's DevTest ones): -0.4 found
# 99.3% of the faces of >= 8% of the shorter side turned <= 20 degrees against 97.3% at 0, for
# 0.13 false detections a picture against 0.05. Faces dlib is sure of (score >= 0) are put
# first, so that a weak window never displaces one as "the largest face": the first box was a
# false one in 1 of the 300 pictures (3 when ranked by size alone).
HOG_THRESHOLD = -0.4

# The largest face is searched for coarse to fine: first among faces of at least a quarter of
# the shorter side (the picture scaled to 320 px: a tenth of the pixels of the search down to
# 8%; a smaller picture as it is), and only where there is none, down to min_size_fraction. A
# portrait's face costs about a tenth of the full search; a picture of small faces 10% more.
LARGEST_FIRST_FRACTION = 0.25


class DetectorFallbackWarning(SiamfaceWarning):
    """dlib (or its landmark model) is missing: the Haar cascade is used instead."""


def model_file(name: str) -> Path:
    """A model file of the ``face-recognition-models`` package, found without importing it.

    Its ``__init__`` imports ``pkg_resources``, which recent setuptools no longer ships, so the
    package folder is located by ``importlib.util.find_spec`` and the file read from there.

    Args:
        name: The file in the package's ``models/`` folder.

    Raises:
        ImportError: the package or the file is not installed.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{MODELS_PACKAGE} is not installed (pip install "
                          "face-recognition-models)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ImportError(f"{path}: model file missing from {MODELS_PACKAGE}")
    return path


class DlibDetector(Detector):
    """Faces by dlib's HOG detector, each with its 5 landmarks.

    Args:
        min_size_fraction: Smallest face searched for, as a fraction of the image's shorter
            side (the face box: brows to chin); the image is scaled until that is HOG_FACE_PX.
        upsample: dlib's ``upsample_num_times``: double the (scaled) image this many times
            first, to find faces smaller than HOG_FACE_PX (each one costs about 4x the time).
        threshold: dlib's ``adjust_threshold``; higher gives fewer false faces (and misses
            more faces).

    Raises:
        ImportError: dlib or the landmark model file is not installed.
    """

    name = "dlib-hog"
    thread_safe = True  # each search takes a HOG detector of its own from a pool

    def __init__(self, min_size_fraction: float = 0.08, upsample: int = 0,
                 threshold: float = HOG_THRESHOLD) -> None:
        import dlib

        self.min_size_fraction = min_size_fraction
        self.upsample = upsample
        self.threshold = threshold
        # A HOG detector keeps the image it scans inside it, so two threads need two. dlib
        # builds its face detector from a compressed string (250 ms); a copy of one that has
        # never scanned is a 155 kB serialisation of its filters (2 ms), made when a second
        # thread first searches. The landmark model is only read: one serves every thread.
        self._pristine_hog = dlib.get_frontal_face_detector()
        self._idle_hogs: queue.SimpleQueue = queue.SimpleQueue()
        self._shape = dlib.shape_predictor(str(model_file(LANDMARKS_FILE)))
        self._rectangle = dlib.rectangle

    def detect_all(self, grey: np.ndarray) -> list[FaceBox]:
        """Every face found, each with its landmarks (photo pixels): largest first, the faces
        dlib is sure of (score >= 0) before the weaker ones.

        Args:
            grey: (H, W) uint8 grey image.
        """
        return self._search(grey, self.min_size_fraction)

    def detect_largest(self, grey: np.ndarray) -> list[FaceBox]:
        """The largest face, with the others as large as the search that found it asked for
        (where a face of at least LARGEST_FIRST_FRACTION is found, smaller ones are not looked
        for), in ``detect_all``'s order.

        Args:
            grey: (H, W) uint8 grey image.
        """
        # A picture too small to have a quarter-side face of HOG_FACE_PX is searched unscaled.
        coarse = max(LARGEST_FIRST_FRACTION, HOG_FACE_PX / min(grey.shape))
        if coarse > self.min_size_fraction:
            large = self._search(grey, coarse)
            if large:
                return large
        return self._search(grey, self.min_size_fraction)

    def _search(self, grey: np.ndarray, min_size_fraction: float) -> list[FaceBox]:
        """Every face of at least ``min_size_fraction`` of the shorter side, sure ones first,
        largest first within each."""
        small, shrink = rescaled(grey, min_size_fraction * min(grey.shape), HOG_FACE_PX,
                                 HOG_MAX_ENLARGE)
        try:
            hog = self._idle_hogs.get_nowait()
        except queue.Empty:
            hog = copy.copy(self._pristine_hog)
        try:  # dlib lets go of the GIL while it scans: another thread can search meanwhile
            rects, scores, _ = hog.run(small, self.upsample, self.threshold)
        finally:
            self._idle_hogs.put(hog)
        # dlib's right/bottom are inclusive pixels; FaceBox's are exclusive. Landmarks are
        # placed on the full-resolution picture: sharper than on the scaled one.
        found = [(score >= 0, self.with_landmarks(grey, FaceBox(
            r.left() * shrink, r.top() * shrink, (r.right() + 1) * shrink,
            (r.bottom() + 1) * shrink))) for r, score in zip(rects, scores, strict=True)]
        found.sort(key=lambda f: (f[0], f[1].width * f[1].height), reverse=True)
        return [box for _, box in found]

    def with_landmarks(self, grey: np.ndarray, box: FaceBox) -> FaceBox:
        """``box`` with the 5 landmarks dlib's model places in it.

        Args:
            grey: (H, W) uint8 grey image the box is in.
            box: A face's box, photo pixels.
        """
        rect = self._rectangle(round(box.left), round(box.top), round(box.right) - 1,
                               round(box.bottom) - 1)
        points = tuple((float(p.x), float(p.y)) for p in self._shape(grey, rect).parts())
        return FaceBox(box.left, box.top, box.right, box.bottom, points)

    def no_face(self, source: str | Path) -> NoFaceError:
        """The error for a picture of ``source`` where no face was found, with advice."""
        return no_face_error(source, "dlib's HOG detector finds faces of at least "
                             f"{self.min_size_fraction:.0%} of the shorter side turned less "
                             "than about 30 degrees")


def default_detector() -> Detector:
    """dlib's detector with landmarks where installed, else OpenCV's Haar cascade (a notice)."""
    try:
        return DlibDetector()
    except ImportError as err:
        warnings.warn(DetectorFallbackWarning(
            f"dlib's face detector is unavailable ({err}): using OpenCV's Haar cascade, which "
            "finds fewer faces and cannot undo a tilt; pip install dlib-bin "
            "face-recognition-models"), stacklevel=2)
        return FaceDetector()
