"""benchmarks/replay_pruning.py: a pruner replayed on recorded curves, hand-computed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import replay_pruning  # noqa: E402

# three trials of three epochs: the second is under the first at epoch 1, the third never is
CURVES = [{"val_auc": [0.5, 0.6, 0.7]}, {"val_auc": [0.4, 0.5, 0.9]},
          {"val_auc": [0.6, 0.7, 0.8]}]


def test_the_median_rule_stops_the_late_bloomer_and_the_loss_is_counted():
    # after one finished trial the median at epoch 1 is 0.5: the second trial (0.4) stops
    # there, having spent 1 epoch of 3; 3 + 1 + 3 = 7 of 9 spent, and the best kept is the
    # third trial's 0.8 against the unpruned 0.9
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    saved, lost = replay_pruning.replay(CURVES, pruner)
    assert saved == pytest.approx(2 / 9)
    assert lost == pytest.approx(0.1)


def test_no_pruning_saves_nothing_and_loses_nothing():
    assert replay_pruning.replay(CURVES, optuna.pruners.NopPruner()) == (0.0, 0.0)


def test_a_trial_is_never_pruned_after_its_last_epoch():
    # one epoch a trial: the second is under the median at its only epoch, and completes
    curves = [{"val_auc": [0.9]}, {"val_auc": [0.1]}]
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    assert replay_pruning.replay(curves, pruner) == (0.0, 0.0)


def test_the_command_replays_every_results_file_it_is_given(tmp_path, monkeypatch, capsys):
    results = tmp_path / "search_x.json"
    results.write_text(json.dumps({"settings": {"epochs": 3},
                                   "studies": {"unpruned": {"curves": CURVES}}}))
    monkeypatch.setattr(sys, "argv", ["replay_pruning.py", "hyperband", "min_resource=1",
                                      "reduction_factor=4", "--results", str(results)])
    replay_pruning.main()  # options that prune: the late bloomer stops after 1 of 3 epochs
    assert capsys.readouterr().out == ("search_x.json: 3 trials x 3 epochs, 22% of trial-epochs "
                                       "saved, best validation AUC 0.1000 below\n")
