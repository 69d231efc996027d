"""Tune DlibDetector's settings on photo-like pictures of DevTrain people (never the DevTest
people of bench_photos.py, whose figures are the ones reported).

    python benchmarks/tune_detector.py --data-dir HOME --face-px 80 72 66

Makes the same kind of pictures as bench_photos.py (faces of 5-60% of the shorter side, turned
up to 25 degrees, 1-3 a picture, 0.3-12 MP, JPEG quality 40-95) from the first 300 DevTrain
people, with another seed, and runs ``detect_all`` at each HOG_FACE_PX asked for. Writes
benchmarks/results/detector_tuning.json: recall of the target faces (>= 8% of the shorter side,
turned <= 20 degrees), by face size, false detections and time a picture, for each setting.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from bench_photos import bench_detection
from siamface.data.home import resolve_data_home
from siamface.data.lfw import open_lfw
from siamface.data.people import dev_train_people
from siamface.inference.detectors import DlibDetector
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--face-px", type=float, nargs="+", default=[80, 72, 66])
    parser.add_argument("--pictures", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1, help="bench_photos.py uses 0")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "detector_tuning.json")
    args = parser.parse_args()
    lfw = open_lfw(resolve_data_home(args.data_dir))
    people = sorted(dev_train_people(lfw))[:300]
    frames = [Image.open(lfw.images_dir / p / f"{p}_0001.jpg").convert("RGB") for p in people]
    detectors = {f"dlib-hog, face_px {px:g}": DlibDetector(face_px=px) for px in args.face_px}
    result = {"benchmark": "detector_tuning", "people": "DevTrain (first 300, sorted)",
              "machine": machine_info(), "seed": args.seed,
              "detection": bench_detection(detectors, frames, args.pictures, args.seed)}
    write_json_atomic(args.out, result)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
