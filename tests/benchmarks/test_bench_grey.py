"""benchmarks/bench_grey.py: validation pairs scored in colour and grey, on tiny data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_grey  # noqa: E402
from siamface.data.lfw import open_lfw  # noqa: E402
from siamface.pipeline import train  # noqa: E402
from siamface.training.builder import resolve_config  # noqa: E402
from training.conftest import TINY  # noqa: E402


def test_to_grey_puts_the_601_luma_in_every_channel():
    rgb = np.zeros((1, 3, 1, 2), dtype=np.uint8)
    rgb[0, :, 0, 0] = (255, 0, 0)  # red: 0.299 * 255 = 76.2
    rgb[0, :, 0, 1] = (10, 20, 200)  # 2.99 + 11.74 + 22.8 = 37.53 -> 38
    grey = bench_grey.to_grey(rgb)
    assert grey.dtype == np.uint8 and grey.shape == rgb.shape
    assert grey[0, :, 0, 0].tolist() == [76] * 3 and grey[0, :, 0, 1].tolist() == [38] * 3


def test_colour_scores_reproduce_the_runs_validation_auc(synthetic_home, tmp_path, monkeypatch):
    lfw = open_lfw(synthetic_home)
    run, fit = train(resolve_config("default", [*TINY, "train.epochs=1"]), lfw, tmp_path,
                     progress=False)
    result = bench_grey.score_validation(run, lfw)
    assert result["colour"]["auc"] == pytest.approx(fit.history[-1]["val_auc"], abs=1e-6)
    assert result["val_pairs"] > 0 and result["grey"] != result["colour"]  # greyed: other scores
    monkeypatch.setattr(bench_grey, "to_grey", lambda images: images)
    assert bench_grey.score_validation(run, lfw)["grey"] == result["colour"]
