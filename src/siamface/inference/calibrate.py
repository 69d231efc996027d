"""Measure where the face detector's box falls inside LFW's aligned 250x250 frames.

``align.py`` turns a detected box into an LFW-like frame with two constants, FACE_CENTER and
FACE_SIDE: the median centre and side of the detector's box on LFW deep-funneled images. They
were measured once with this module and pasted into ``align.py``; run it again after changing
the detector's settings::

    python -m siamface.inference.calibrate <data home>/lfw/images --limit 500
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from siamface.inference.face_detection import FaceDetector


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, help="an LFW images folder (<Name>/<Name>_0001.jpg)")
    parser.add_argument("--limit", type=int, default=500, help="images to sample (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = sorted(args.images.glob("*/*.jpg"))
    random.Random(args.seed).shuffle(paths)
    print(measure_frame(paths[: args.limit]))


if __name__ == "__main__":
    main()
