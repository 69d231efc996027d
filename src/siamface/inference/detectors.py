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
from concurrent.futures import ThreadPoolExecutor
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
# so the smallest face it finds is about that wide and its cost grows with the image's pixels.
# The picture is scaled until the smallest face searched for is HOG_FACE_PX wide: shrunk when
# larger, enlarged when a small picture's faces are narrower, but at most HOG_MAX_ENLARGE times
# (faces under 40 px are too small to recognise, and each doubling costs 4x the time).
# 72 px rather than the window's 80 scans 19% fewer pixels and finds as many faces: on
# photo-like pictures of 300 DevTrain people (benchmarks/tune_detector.py, never the DevTest
# benchmark), 72 found 99.3% of the faces of >= 8% of the shorter side turned <= 20 degrees (80:
# 99.0%, 66: 99.3%) and 98.7% of those of 8-15% (80 and 66: 98.1%); what is lost lies outside
# that range (faces under 8%: 49% found against 68%; turned over 20 degrees: 83% against 88%).
HOG_WINDOW_PX = 80
HOG_MIN_SIZE_FRACTION = 0.08  # the smallest face searched for, of the shorter side
HOG_FACE_PX = 72
HOG_MAX_ENLARGE = 2.0

# dlib's adjust_threshold: below its default of 0, the detector keeps weaker windows. Chosen on
# photo-like pictures of 300 DevTrain people (never the benchmark's DevTest ones): -0.4 found
# 99.3% of the faces of >= 8% of the shorter side turned <= 20 degrees against 97.3% at 0, for
# 0.13 false detections a picture against 0.05. Faces dlib is sure of (score >= 0) are put
# first, so that a weak window never displaces one as "the largest face": the first box was a
# false one in 1 of the 300 pictures (3 when ranked by size alone).
HOG_THRESHOLD = -0.4

# The largest face is searched for coarse to fine: first among faces of at least a quarter of
# the shorter side, and only where there is none, down to min_size_fraction. The coarse search
# scales a quarter-side face to the whole window (the picture to 320 px: a tenth of the pixels
# of the search down to 8%; a smaller picture as it is), not to HOG_FACE_PX: dlib finds faces
# down to about 65 px, so it also finds most faces of 20-25%, each a fine search saved (scaled
# to 72 px it missed faces of 20.5% that 80 found, and the first quartile of 0.3 MP pairs went
# from 44 to 78 ms). A portrait's face costs about a tenth of the full search; a picture of
# small faces 10% more.
LARGEST_FIRST_FRACTION = 0.25


# The search down to 8% scans about 1.1 megapixels of a 4:3 photo whatever its size (the picture
# is scaled until the smallest face is HOG_FACE_PX wide), 70 ms or more on one core. Above
# TILE_MIN_PIXELS the picture is scanned as two halves that overlap by TILE_OVERLAP of its
# shorter side, on two threads: every face up to that wide lies whole in the half that holds
# its centre, which is the half that keeps it; wider faces are searched on the whole picture,
# shrunk (benchmarks/results/photos.json measures recall with these settings).
TILE_MIN_PIXELS = 500_000
TILE_OVERLAP = 0.3

Detection = tuple[float, float, float, float, float]  # left, top, right, bottom (exclusive), score


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
            side (the face box: brows to chin); the image is scaled until that is ``face_px``.
        upsample: dlib's ``upsample_num_times``: double the (scaled) image this many times
            first, to find faces smaller than ``face_px`` (each one costs about 4x the time).
        threshold: dlib's ``adjust_threshold``; higher gives fewer false faces (and misses
            more faces).
        face_px: The width the smallest face searched for is scaled to (HOG_FACE_PX).

    Raises:
        ImportError: dlib or the landmark model file is not installed.
    """

    name = "dlib-hog"
    thread_safe = True  # each search takes a HOG detector of its own from a pool

    def __init__(self, min_size_fraction: float = HOG_MIN_SIZE_FRACTION, upsample: int = 0,
                 threshold: float = HOG_THRESHOLD, face_px: float = HOG_FACE_PX) -> None:
        import dlib

        self.min_size_fraction = min_size_fraction
        self.upsample = upsample
        self.threshold = threshold
        self.face_px = face_px
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
        # A picture too small to have a quarter-side face of the window is searched unscaled.
        coarse = max(LARGEST_FIRST_FRACTION, HOG_WINDOW_PX / min(grey.shape))
        if coarse <= self.min_size_fraction:
            return self._search(grey, self.min_size_fraction)
        large = self._search(grey, coarse, face_px=HOG_WINDOW_PX)
        if large:
            return large
        # The coarse search looked for every face over TILE_OVERLAP (where coarse is under it).
        return self._search(grey, self.min_size_fraction, wide_searched=coarse <= TILE_OVERLAP)

    def _search(self, grey: np.ndarray, min_size_fraction: float,
                wide_searched: bool = False, face_px: float | None = None) -> list[FaceBox]:
        """Every face of at least ``min_size_fraction`` of the shorter side, sure ones first,
        largest first within each (``wide_searched``: faces wider than TILE_OVERLAP of the
        shorter side were searched for already; ``face_px``: the width that smallest face is
        scaled to, if not ``self.face_px``)."""
        small, shrink = rescaled(grey, min_size_fraction * min(grey.shape),
                                 face_px or self.face_px, HOG_MAX_ENLARGE)
        # Landmarks are placed on the full-resolution picture: sharper than on the scaled one.
        found = [(score >= 0, self.with_landmarks(grey, FaceBox(*(v * shrink for v in box))),
                  score) for *box, score in self._scan(small, wide_searched)]
        # dlib's boxes come in a few sizes (one per pyramid level): of two equal ones, the
        # higher score first.
        found.sort(key=lambda f: (f[0], f[1].width * f[1].height, f[2]), reverse=True)
        return [box for _, box, _ in found]

    def _scan(self, small: np.ndarray, wide_searched: bool = False) -> list[Detection]:
        """dlib's detections in ``small``; a large picture is scanned as two overlapping
        halves on two threads, each keeping the faces centred in its own half, and for faces
        wider than the overlap unless ``wide_searched``."""
        height, width = small.shape
        if height * width < TILE_MIN_PIXELS:
            return self._run(small)
        along_x = width >= height  # cut across the longer side
        middle = (width if along_x else height) // 2
        half_overlap = round(TILE_OVERLAP * min(height, width) / 2)
        first_end, second_start = middle + half_overlap, middle - half_overlap
        first = small[:, :first_end] if along_x else small[:first_end]
        second = small[:, second_start:] if along_x else small[second_start:]
        with ThreadPoolExecutor(max_workers=1) as pool:
            second_found = pool.submit(self._run, np.ascontiguousarray(second))
            first_found = self._run(np.ascontiguousarray(first))
            large_found = [] if wide_searched else self._wide_faces(small, 2 * half_overlap)
            dx, dy = (second_start, 0) if along_x else (0, second_start)
            second_found = [(left + dx, top + dy, right + dx, bottom + dy, score)
                            for left, top, right, bottom, score in second_found.result()]

        def centre(d: Detection) -> float:
            return (d[0] + d[2]) / 2 if along_x else (d[1] + d[3]) / 2

        halves = ([d for d in first_found if centre(d) < middle]
                  + [d for d in second_found if centre(d) >= middle])
        return without_duplicates(large_found + halves)

    def _wide_faces(self, small: np.ndarray, width: int) -> list[Detection]:
        """Faces at least ``width`` wide, which a half may hold only in part: searched on the
        whole picture shrunk until they fill dlib's window (a few % of the pixels)."""
        large, shrink = rescaled(small, width, self.face_px)
        return [(left * shrink, top * shrink, right * shrink, bottom * shrink, score)
                for left, top, right, bottom, score in self._run(large)]

    def _run(self, image: np.ndarray) -> list[Detection]:
        """dlib's detections in ``image`` (one HOG detector of the pool, this thread's alone
        while it scans)."""
        try:
            hog = self._idle_hogs.get_nowait()
        except queue.Empty:
            hog = copy.copy(self._pristine_hog)
        try:  # dlib lets go of the GIL while it scans: another thread can search meanwhile
            rects, scores, _ = hog.run(image, self.upsample, self.threshold)
        finally:
            self._idle_hogs.put(hog)
        # dlib's right/bottom are inclusive pixels; a Detection's are exclusive.
        return [(r.left(), r.top(), r.right() + 1, r.bottom() + 1, score)
                for r, score in zip(rects, scores, strict=True)]

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


def without_duplicates(detections: list[Detection], max_iou: float = 0.5,
                       max_covered: float = 0.9) -> list[Detection]:
    """The detections, best score first, less any that is the same face as a better one: one
    face seen in a half and in the search for wide faces is kept once.

    The test is dlib's own between the scales of one scan: boxes overlapping by more than
    ``max_iou`` (intersection over union), or one lying inside the other (more than
    ``max_covered`` of the smaller box). Giving the wide faces' boxes precedence whatever their
    score lost true faces under large weak false boxes (recall 98.9% against 99.6%)."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d[4], reverse=True):
        if not any(iou(d, k) > max_iou or covered(d, k) > max_covered for k in kept):
            kept.append(d)
    return kept


def intersection(a: Detection, b: Detection) -> float:
    """The area two boxes share."""
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))


def area(a: Detection) -> float:
    return (a[2] - a[0]) * (a[3] - a[1])


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes."""
    shared = intersection(a, b)
    return shared / (area(a) + area(b) - shared)


def covered(a: Detection, b: Detection) -> float:
    """How much of the smaller of two boxes lies inside the other."""
    return intersection(a, b) / min(area(a), area(b))


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
