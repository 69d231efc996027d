"""benchmarks/bench_view2.py: one setting's entry from real fold runs, on tiny data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_view2  # noqa: E402
from siamface.data.lfw import open_lfw  # noqa: E402
from siamface.experiments.view2 import run_view2  # noqa: E402
from training.conftest import TINY  # noqa: E402


@pytest.mark.parametrize("sampling,setting", [("identities", "unrestricted"),
                                              ("pairs", "restricted")])
def test_an_entry_names_its_setting_and_checks_the_target_only_when_complete(
        view2_home, tmp_path, sampling, setting):
    overrides = [*TINY, "train.epochs=1", f"data.sampling={sampling}"]
    result = run_view2("default", overrides, open_lfw(view2_home), tmp_path / "v2",
                       folds=[0, 1])
    entry = bench_view2.record("default", overrides, tmp_path / "v2", result.folds,
                               result.summary, {"cores": 2})
    assert bench_view2.setting_of(result.folds) == setting
    assert entry["folds_scored"] == 2
    assert entry["mean_accuracy"] == pytest.approx(
        sum(f["accuracy"] for f in result.folds) / 2)
    assert entry["passed"] is None  # two folds of ten: no verdict yet
    assert entry["target_mean_accuracy"] == (0.90 if setting == "unrestricted" else None)
    assert all("tar_on_grid" not in f for f in entry["folds"])
