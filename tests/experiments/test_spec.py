import itertools
import re
from pathlib import Path

import pytest

from siamface.experiments.search import trial_overrides
from siamface.experiments.spec import (
    SpecError,
    check_new_spec,
    list_specs,
    load_spec,
    spec_from_dict,
)
from siamface.training.builder import resolve_config

from .conftest import FIXED, tiny_spec


def test_shipped_specs_are_the_seed_grids_and_a_tpe_search():
    assert {"seed000-grid", "seed001-grid", "default-tpe"} <= set(list_specs())
    seed000 = load_spec("seed000-grid")
    assert seed000.base == "koch2015" and seed000.sampler == "grid"
    assert seed000.grid() == {
        "data.val_fraction": [0.15, 0.2], "optim.name": ["adam", "sgd"],
        "train.batch_size": [16, 32], "optim.lr": [0.001, 0.005],
        "optim.weight_decay": [0.0, 1e-4, 5e-4], "train.epochs": [15, 25, 50],
        "model.dropout": [0.0, 0.2]}
    assert seed000.grid_size() == 2 * 2 * 2 * 2 * 3 * 3 * 2
    assert "model.batchnorm=true" in seed000.fixed
    seed001 = load_spec("seed001-grid")
    assert seed001.grid() == {
        "train.epochs": [10, 20, 30], "train.batch_size": [64, 128, 256],
        "optim.lr": [1e-3, 1e-4, 1e-5], "train.early_stopping.patience": [3, 5, 7]}
    assert seed001.planned_trials() == 81
    tpe = load_spec("default-tpe")
    assert tpe.sampler == "tpe" and tpe.pruner == "hyperband" and tpe.base == "default"
    assert {"optim.lr", "optim.weight_decay", "model.width", "model.embedding_dim",
            "data.preprocessing", "data.identities_per_batch"} <= {p.key for p in tpe.space}


@pytest.mark.parametrize("name", ["seed000-grid", "seed001-grid"])
def test_every_combination_of_a_shipped_grid_is_a_valid_config(name):
    spec = load_spec(name)
    grid = spec.grid()
    combos = list(itertools.product(*grid.values()))
    for combo in combos[:: max(1, len(combos) // 20)]:  # 20 spread over the grid, ends included
        params = dict(zip(grid, combo, strict=True))
        config = resolve_config(spec.base, trial_overrides(spec, params))
        assert config.optim.lr == params["optim.lr"]


def test_a_mapping_of_fixed_values_becomes_overrides():
    spec = spec_from_dict(tiny_spec(fixed={"train.epochs": 2, "optim.betas": [0.9, 0.99]}))
    assert spec.fixed == ("train.epochs=2", "optim.betas=[0.9, 0.99]")


def test_distributions_follow_the_types():
    spec = spec_from_dict(tiny_spec(sampler="tpe", space={
        "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "model.width": {"type": "int", "low": 8, "high": 32, "step": 8},
        "optim.name": {"type": "categorical", "choices": ["adam", "adamw"]}}))
    lr, width, name = (p.distribution() for p in spec.space)
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-2, True)
    assert (width.low, width.high, width.step) == (8, 32, 8)
    assert name.choices == ("adam", "adamw")


@pytest.mark.parametrize(("change", "message"), [
    ({"time_budget_s": 0}, "time_budget_s must be at least 1 second or null, got 0"),
    ({"trial_time_budget_s": 0.5}, "trial_time_budget_s must be at least 1 second or null"),
    ({"fixed": [*FIXED, "optim.lr=0.1"]},
     "space.optim.lr: also set in fixed; a key is either searched or fixed"),
    ({"pruner": {"name": "hyperband", "min_resource": 5, "max_resource": 2}},
     "pruner.min_resource (5) must not exceed max_resource (2)"),
    ({"space": {"optim.weight_decay": {"type": "categorical", "choices": [0, 0.0]}}},
     "space.optim.weight_decay: choices must differ, as Python compares them"),
    ({"space": {"train.channels_last": {"type": "categorical", "choices": [True, 1]}}},
     "space.train.channels_last: choices must differ, as Python compares them"),
])
def test_a_new_study_is_refused_what_a_study_begun_before_the_check_may_keep(change, message):
    spec = spec_from_dict(tiny_spec(**change), source="new.yaml")  # a study folder's reads it
    with pytest.raises(SpecError, match=f"^new.yaml: {re.escape(message)}"):
        check_new_spec(spec)


@pytest.mark.parametrize(("change", "message"), [
    ({"sampler": "random"}, "sampler must be one of tpe, grid"),
    ({"objective": "test_acc"}, "objective must be one of val_auc, val_acc, val_loss"),
    ({"n_trials": 0}, "n_trials must be an integer >= 1"),
    ({"pruner": "asha"}, "pruner.name must be one of none, median, percentile, hyperband"),
    ({"budget": 3}, "unknown key 'budget'"),
    ({"space": {}}, "'space' is required"),
    ({"space": {"optim.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}},
     "space.optim.lr: the grid sampler needs type categorical"),
    ({"sampler": "tpe", "space": {"optim.lr": {"type": "float", "low": 0, "high": 1,
                                               "log": True}}},
     "space.optim.lr: a log scale needs low > 0"),
    ({"space": {"optim.lr": {"type": "categorical", "choices": []}}},
     "space.optim.lr: choices must be a non-empty list"),
    ({"sampler": "tpe", "space": {"model.width": {"type": "int", "low": 8, "high": 4.5}}},
     "space.model.width: high must be an integer"),
    ({"seed": 2**32}, "seed must be an integer from 0 to 4294967295, got 4294967296"),
    ({"time_budget_s": float("nan")}, "time_budget_s must be a number >= "),
    ({"trial_time_budget_s": float("inf")}, "trial_time_budget_s must be a number >= "),
    ({"sampler": "tpe", "space": {"model.width": {"type": "int", "low": 4, "high": 9,
                                                  "step": 2}}},
     "space.model.width: high - low (9 - 4) must be a multiple of step (2)"),
    ({"sampler": "tpe", "space": {"optim.lr": {"type": "float", "low": 0.0, "high": 1.0,
                                               "step": float("nan")}}},
     "space.optim.lr: step must be a number, got nan"),
    ({"space": {"optim.lr": {"type": "categorical", "choices": [1.0e-3, 1.0e-3]}}},
     "space.optim.lr: choices must differ"),
    ({"sampler": "tpe", "space": {"optim.lr": {"type": "float", "low": 0.001, "high": 1.001,
                                               "log": True, "step": 1}}},
     "space.optim.lr: a log scale needs low > 0 and no step"),
    ({"pruner": {"name": "hyperband", "min_resource": "abc"}},
     "pruner.min_resource: expected an integer, got 'abc'"),
    ({"pruner": {"name": "percentile", "percentile": float("nan")}},
     "pruner.percentile: expected a number, got nan"),
    ({"pruner": {"name": "median", "n_startup_trials": 2.5}},
     "pruner.n_startup_trials: expected an integer, got 2.5"),
    # Optuna's Hyperband takes these, and fails on them at its first prune, mid-search
    ({"pruner": {"name": "hyperband", "reduction_factor": 1}},
     "pruner.reduction_factor: expected an integer of at least 2, got 1"),
    ({"pruner": {"name": "hyperband", "min_resource": 0}},
     "pruner.min_resource: expected an integer of at least 1, got 0"),
    ({"pruner": {"name": "median", "interval_steps": 0}},
     "pruner.interval_steps: expected an integer of at least 1, got 0"),
])
def test_a_bad_spec_is_one_line_naming_the_file_and_key(tmp_path: Path, change, message):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(**change)))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_spec_name_lists_the_shipped_ones():
    with pytest.raises(SpecError, match="shipped specs: default-tpe, seed000-grid"):
        load_spec("no-such-spec")


def test_a_base_given_by_its_path_is_kept_absolute(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("seed: 3\n")
    monkeypatch.chdir(tmp_path)
    spec = spec_from_dict(tiny_spec(base="configs/mine.yaml"))
    assert spec.base == str(tmp_path / "configs" / "mine.yaml")  # the same file from anywhere
    assert spec_from_dict(tiny_spec(base="default")).base == "default"  # a name stays a name
