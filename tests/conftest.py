"""Shared fixtures: where the real LFW copy lives, and a tiny synthetic LFW-like tree."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_LFW = Path(os.environ.get("SIAMFACE_TEST_LFW", REPO.parent / "shared" / "lfw"))


@pytest.fixture(scope="session")
def lfw_source() -> Path:
    """The real LFW files beside the checkout (../shared/lfw); skips when they are absent."""
    if not (SHARED_LFW / "lfw-deepfunneled.tgz").is_file():
        pytest.skip(f"real LFW data not found at {SHARED_LFW}")
    return SHARED_LFW


def make_lfw_tree(root: Path, counts: dict[str, int], size: int = 250, seed: int = 0) -> Path:
    """Write a tiny LFW-like folder ``root/<Name>/<Name>_000k.jpg`` with ``counts[name]`` images.

    Each person gets a distinct mean colour so that identities are learnable.
    """
    rng = np.random.default_rng(seed)
    for p, (name, count) in enumerate(sorted(counts.items())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = (np.array([37, 91, 151]) * (p + 1)) % 200 + 20
        for k in range(1, count + 1):
            noise = rng.integers(-20, 20, size=(size, size, 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{k:04d}.jpg", quality=90)
    return root


@pytest.fixture
def tiny_counts() -> dict[str, int]:
    return {"Alice_Able": 3, "Bob_Baker": 2, "Carol_Cole": 1, "Dan_Dunn": 4, "Eve_Evans": 2}


@pytest.fixture
def tiny_tree(tmp_path: Path, tiny_counts: dict[str, int]) -> Path:
    """A tiny ``lfw-deepfunneled/`` tree of 5 people and 12 images of 250x250 RGB."""
    return make_lfw_tree(tmp_path / "lfw-deepfunneled", tiny_counts)
