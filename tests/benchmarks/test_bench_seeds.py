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


def test_the_epoch_oracle_scores_every_epoch_and_agrees_with_the_chosen_model(synthetic_home,
                                                                             tmp_path):
    row = bench_seeds.measure("default", "own", [0], TINY, synthetic_home, tmp_path,
                              oracle=True)
    (seed,) = row["seeds"]
    oracle = seed["epoch_oracle"]
    assert [e["epoch"] for e in oracle["epochs"]] == [1, 2, 3]  # every epoch kept and scored
    chosen = oracle["epochs"][seed["best_epoch"] - 1]
    # the chosen epoch's checkpoint is the run's model: the same pairsDevTest figures
    assert chosen["accuracy_at_val_threshold"] == pytest.approx(seed["test_accuracy"])
    assert chosen["oracle_accuracy"] == pytest.approx(seed["test_oracle_accuracy"])
    assert oracle["best_accuracy_at_val_threshold"] >= seed["test_accuracy"]
    assert oracle["best_oracle_accuracy"] == max(e["oracle_accuracy"] for e in oracle["epochs"])
