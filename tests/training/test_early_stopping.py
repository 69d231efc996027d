"""Early stopping: hand-worked sequences, modes, NaN, and a JSON round trip for resume."""

from __future__ import annotations

import json

import pytest

from siamface.training.early_stopping import EarlyStopping


def run(es: EarlyStopping, values: list[float]) -> list[tuple[bool, bool]]:
    """(improved, should_stop) after each epoch, epochs numbered from 1."""
    return [(es.step(v, epoch), es.should_stop) for epoch, v in enumerate(values, start=1)]


def test_loss_sequence_with_patience_two() -> None:
    es = EarlyStopping("val_loss", patience=2)
    assert run(es, [1.0, 0.8, 0.9, 0.7, 0.75, 0.7]) == [
        (True, False), (True, False), (False, False), (True, False), (False, False),
        (False, True),  # 0.7 again is not better than 0.7
    ]
    assert (es.best_value_, es.best_epoch_, es.bad_epochs_) == (0.7, 4, 2)


def test_accuracy_is_maximised_in_auto_mode() -> None:
    es = EarlyStopping("val_acc", patience=3)
    assert [i for i, _ in run(es, [0.6, 0.7, 0.65, 0.71])] == [True, True, False, True]
    assert (es.best_value_, es.best_epoch_) == (0.71, 4)
    assert EarlyStopping("val_auc").direction == "max"
    assert EarlyStopping("val_loss").direction == "min"


def test_min_delta_demands_a_real_improvement() -> None:
    es = EarlyStopping("val_acc", patience=10, min_delta=0.01)
    assert [i for i, _ in run(es, [0.80, 0.805, 0.811, 0.815, 0.83])] == [
        True, False, True, False, True]  # 0.811 > 0.80 + 0.01; 0.815 < 0.811 + 0.01


def test_nan_never_improves() -> None:
    es = EarlyStopping("val_loss", patience=2)
    assert run(es, [float("nan"), 1.0, float("nan"), float("nan")]) == [
        (False, False), (True, False), (False, False), (False, True)]
    assert es.best_value_ == 1.0


def test_no_patience_never_stops() -> None:
    es = EarlyStopping("val_loss", patience=None)
    assert not any(stop for _, stop in run(es, [1.0] + [2.0] * 50))
    assert es.best_epoch_ == 1


def test_explicit_mode_for_other_metrics_and_error_without_one() -> None:
    es = EarlyStopping("val_eer", mode="min", patience=1)
    assert run(es, [0.3, 0.2, 0.25]) == [(True, False), (True, False), (False, True)]
    with pytest.raises(ValueError, match="use mode 'min' or 'max'"):
        EarlyStopping("val_eer").step(0.3, 1)


def test_before_any_step() -> None:
    es = EarlyStopping("val_loss", patience=1)
    assert not es.should_stop
    assert es.state_dict() == {"monitor": "val_loss", "mode": "min", "best_value": None,
                               "best_epoch": None, "bad_epochs": 0}


def test_state_round_trips_through_json_and_continues_identically() -> None:
    values = [0.9, 0.8, 0.85, 0.86, 0.79, 0.8, 0.81, 0.82]
    whole = EarlyStopping("val_loss", patience=3)
    expected = run(whole, values)

    first = EarlyStopping("val_loss", patience=3)
    got = run(first, values[:4])
    state = json.loads(json.dumps(first.state_dict()))
    resumed = EarlyStopping("val_loss", patience=3)
    resumed.load_state_dict(state)
    got += [(resumed.step(v, e), resumed.should_stop) for e, v in enumerate(values[4:], start=5)]
    assert got == expected
    assert resumed.state_dict() == whole.state_dict()


def test_load_state_checks_keys_and_monitor() -> None:
    state = EarlyStopping("val_acc").state_dict()
    with pytest.raises(ValueError, match="saved for 'val_acc'"):
        EarlyStopping("val_loss").load_state_dict(state)
    with pytest.raises(ValueError, match="must have the keys"):
        EarlyStopping("val_acc").load_state_dict({"best_value": 1.0})
