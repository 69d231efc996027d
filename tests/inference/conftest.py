"""Shared inference fixtures: real LFW faces (from the archive), a tiny random model, a run folder.

The tiny model is an untrained width-4 ResFace on 32x32 RGB "face" crops with the cosine head.
At initialisation that head gives ``logit = 10 * cos - 5``, so two identical embeddings score
exactly 5 (cos = 1) and any two different ones less: thresholds around 5 separate "the same
image" from everything else, which is what the tests plant.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamface.data.preprocess import preset
from siamface.inference.face_detection import Detector, FaceBox
from siamface.inference.verifier import Verifier
from siamface.models import build_model

IDENTICAL_LOGIT = 5.0  # cosine head at init: 10 * cos(e, e) - 5
TINY_CONFIG = ["data.preprocessing=face", "data.size=32", "model.width=4",
               "model.embedding_dim=8"]


@pytest.fixture(scope="session")
def lfw_faces(lfw_source: Path) -> list[Image.Image]:
    """The first 40 images of the real deep-funneled archive (250x250 RGB, aligned faces)."""
    faces = []
    with tarfile.open(lfw_source / "lfw-deepfunneled.tgz") as tar:
        for member in tar:
            if member.name.endswith(".jpg"):
                data = tar.extractfile(member).read()
                faces.append(Image.open(io.BytesIO(data)).convert("RGB"))
                if len(faces) == 40:
                    break
    return faces


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("resface", input_size=32, width=4, embedding_dim=8).eval()


@pytest.fixture
def tiny_verifier() -> Verifier:
    """An untrained 32x32 model without face detection (images are taken as LFW frames), in
    fp32 whatever the CPU (``auto`` would be bf16 on one with bf16 instructions)."""
    return Verifier(tiny_model(), preset("face", size=32, channels=3), threshold=4.5,
                    detect=False, precision="fp32")


def random_photo(seed: int, size: tuple[int, int] = (250, 250)) -> np.ndarray:
    """A smooth random RGB image (H, W, 3) uint8: blurred noise, so embeddings differ."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(size[::-1], Image.Resampling.BICUBIC))


def write_tiny_run(run_dir: Path, threshold: float = 4.5, overrides: Sequence[str] = ()) -> Path:
    """A run folder holding an untrained tiny model, as `siamface train` would leave it."""
    from siamface.run_folder import Run
    from siamface.training.builder import build_run_model, resolve_config

    config = resolve_config("default", [*TINY_CONFIG, *overrides])
    torch.manual_seed(0)
    model = build_run_model(config).eval()
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(run_dir)
    run.save_config(config)
    epoch = {"epoch": 1, "train_loss": 0.7, "train_acc": 0.5, "val_loss": 0.69, "val_acc": 0.5,
             "val_auc": 0.5, "val_threshold": threshold, "lr": 3e-3, "seconds": 1.0}
    run.write_summary([epoch])  # as every epoch writes it, before the model is chosen
    run.save_model(model, config, threshold, 1, "epochs", [epoch])
    return run_dir


def save(path: Path, seed: int) -> Path:
    """Write random_photo(seed) to path (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(random_photo(seed)).save(path)
    return path


@pytest.fixture
def people(tmp_path) -> Path:
    """Ann (one file), Bo (a folder of two photos), Cy and Di (one file each)."""
    root = tmp_path / "people"
    save(root / "Ann.png", 10)
    save(root / "Bo" / "1.png", 11)
    save(root / "Bo" / "2.png", 12)
    save(root / "Cy.jpg", 13)
    save(root / "Di.png", 14)
    (root / "notes.txt").write_text("not a photo")
    save(root / ".hidden.png", 15)
    return root


class CentreDetector(Detector):
    """The face in the middle fifth of every picture, searched down to 10% of the side."""

    min_size_fraction = 0.1

    def __init__(self) -> None:
        self.searched: list[tuple[int, int]] = []

    def detect_all(self, grey):
        self.searched.append(grey.shape)
        height, width = grey.shape
        eyes_nose = ((0.45 * width, 0.45 * height), (0.55 * width, 0.45 * height),
                     (0.5 * width, 0.55 * height))
        return [FaceBox(0.4 * width, 0.4 * height, 0.6 * width, 0.6 * height,
                        (*eyes_nose[:2], (0.4 * width, 0.45 * height),
                         (0.6 * width, 0.45 * height), eyes_nose[2]))]
