"""benchmarks/bench_seeds.py: one (config, protocol) row from real runs, on tiny data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))  # a folder of scripts: bench_seeds imports bench_data

import bench_seeds  # noqa: E402
from training.conftest import TINY  # noqa: E402


def test_a_row_holds_each_seed_scored_once_and_the_oracle_as_a_bound(synthetic_home, tmp_path):
    row = bench_seeds.measure("default", "siamface", [0, 1], TINY, synthetic_home, tmp_path)
    assert row["protocol"] == "siamface" and row["overrides"][0] == "data.split=person"
    assert row["reported_test_accuracy"] is None  # no seed project reported `default`
    assert [s["seed"] for s in row["seeds"]] == [0, 1]
    for seed in row["seeds"]:
        assert seed["split"] == "person" and not seed["identity_leak"]
        assert seed["test_oracle_accuracy"] >= seed["test_accuracy"]  # the best threshold
        assert 1 <= seed["best_epoch"] <= seed["epochs_run"] == 3
        assert Path(seed["run"]).is_dir()
    accuracies = [s["test_accuracy"] for s in row["seeds"]]
    assert row["test_accuracy_mean"] == pytest.approx(sum(accuracies) / 2)
    assert row["identity_leakage"] == []
    assert row["machine"]["cores"] >= 1
