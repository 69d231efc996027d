"""Measure where the face detector's box, and dlib's landmarks, fall inside LFW's 250x250 frames.

``align.py`` turns a detected box into an LFW-like frame with two constants, FACE_CENTER and
FACE_SIDE: the median centre and side of the Haar detector's box on LFW deep-funneled images.
With landmarks it maps the two eye centres and the nose to LFW_LANDMARKS, their medians on the
same images. Both were measured once with this module and pasted into ``align.py``; run it
again after changing a detector's settings::

    python -m siamface.inference.calibrate <data home>/lfw/images --limit 500
    python -m siamface.inference.calibrate <data home>/lfw/images --limit 500 --landmarks
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from siamface.inference.face_detection import FaceBox, FaceDetector


@dataclass(frozen=True)
class FrameCalibration:
    """Where the largest detected face sits in aligned frames (frame pixels).

    Attributes:
        center: Median (x, y) of the box centres.
        side: Median box side.
        center_iqr: Interquartile range of the centres' x and y.
        side_iqr: Interquartile range of the sides.
        images: Images looked at.
        detected: Images in which a face was found (the medians are over these).
    """

    center: tuple[float, float]
    side: float
    center_iqr: tuple[float, float]
    side_iqr: float
    images: int
    detected: int


def measure_frame(
    paths: Sequence[Path], detector: FaceDetector | None = None
) -> FrameCalibration:
    """Detect the face in each aligned frame and summarise where the boxes fall.

    Args:
        paths: Aligned frames of one common size (LFW deep-funneled JPEGs).
        detector: The detector to calibrate (default settings if None).

    Raises:
        ValueError: no paths, frames of different sizes, or no face found in any of them.
    """
    detector = detector if detector is not None else FaceDetector()
    rows, sizes = [], set()
    for path in paths:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L"))  # (H, W)
        sizes.add(grey.shape)
        boxes = detector.detect_all(grey)
        if boxes:
            rows.append((*boxes[0].center, boxes[0].width))
    if len(sizes) > 1:
        raise ValueError(f"frames must all have one size to be comparable, got {sorted(sizes)}")
    if not rows:
        raise ValueError(f"no face found in any of the {len(paths)} images")
    a = np.array(rows)  # (detected, 3): centre x, centre y, side
    q1, median, q3 = np.percentile(a, [25, 50, 75], axis=0)
    iqr = q3 - q1
    return FrameCalibration(
        center=(float(median[0]), float(median[1])),
        side=float(median[2]),
        center_iqr=(float(iqr[0]), float(iqr[1])),
        side_iqr=float(iqr[2]),
        images=len(paths),
        detected=len(rows),
    )


@dataclass(frozen=True)
class LandmarkCalibration:
    """Where the eyes and the nose of the largest detected face sit in aligned frames.

    Attributes:
        points: Median ``(x, y)`` of the three alignment points (``alignment_points``):
            the eye in the image's left half, the other eye, the base of the nose.
        iqr: Their interquartile ranges in x and y.
        images: Images looked at.
        detected: Images in which a face with landmarks was found.
    """

    points: tuple[tuple[float, float], ...]
    iqr: tuple[tuple[float, float], ...]
    images: int
    detected: int


def alignment_points(box: FaceBox) -> np.ndarray:
    """(3, 2) the eye centre on the image's left, the other eye centre, the nose base.

    dlib's 5-point model gives points 0-1 (outer, inner corner) of the eye on the image's
    right, 2-3 of the eye on its left, and 4 under the nose; each eye is the mean of its two.

    Args:
        box: A face with its 5 landmarks.
    """
    if box.landmarks is None or len(box.landmarks) != 5:
        raise ValueError("the face has no 5-point landmarks")
    p = np.asarray(box.landmarks, dtype=np.float64)  # (5, 2)
    return np.stack([p[2:4].mean(axis=0), p[0:2].mean(axis=0), p[4]])


def measure_landmarks(paths: Sequence[Path], detector) -> LandmarkCalibration:
    """Detect the face and its landmarks in each aligned frame; summarise where they fall.

    Args:
        paths: Aligned 250x250 frames (LFW deep-funneled JPEGs).
        detector: A detector giving landmarks (``detectors.DlibDetector``).

    Raises:
        ValueError: no face with landmarks in any of the images.
    """
    rows = []
    for path in paths:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L"))  # (H, W)
        boxes = detector.detect_all(grey)
        if boxes and boxes[0].landmarks is not None:
            rows.append(alignment_points(boxes[0]))
    if not rows:
        raise ValueError(f"no face with landmarks found in any of the {len(paths)} images")
    a = np.stack(rows)  # (detected, 3, 2)
    q1, median, q3 = np.percentile(a, [25, 50, 75], axis=0)  # (3, 2) each
    return LandmarkCalibration(
        points=tuple((float(x), float(y)) for x, y in median),
        iqr=tuple((float(x), float(y)) for x, y in q3 - q1),
        images=len(paths),
        detected=len(rows),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, help="an LFW images folder (<Name>/<Name>_0001.jpg)")
    parser.add_argument("--limit", type=int, default=500, help="images to sample (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--landmarks", action="store_true",
                        help="measure dlib's eye and nose landmarks instead of the Haar box")
    args = parser.parse_args(argv)
    paths = sorted(args.images.glob("*/*.jpg"))
    if not paths:
        parser.error(f"{args.images}: no <Name>/<Name>_NNNN.jpg images there; expected an LFW "
                     "images folder")
    random.Random(args.seed).shuffle(paths)
    if args.landmarks:
        from siamface.inference.detectors import DlibDetector

        print(measure_landmarks(paths[: args.limit], DlibDetector()))
    else:
        print(measure_frame(paths[: args.limit]))


if __name__ == "__main__":
    main()
