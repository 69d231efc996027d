"""LFW's View 2 protocol: a run per fold, trained without that fold, scored once on it."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from siamface import pipeline
from siamface.cli.main import main
from siamface.data.lfw import open_lfw
from siamface.data.people import pair_people, training_scope
from siamface.data.splits import LeakageError
from siamface.errors import ConfigError
from siamface.experiments.view2 import (
    ROC_GRID,
    VIEW2_FILE,
    VIEW2_LOCK,
    View2Error,
    new_folder,
    read_view2,
    run_view2,
    score_fold,
    summarise_folds,
)
from siamface.pipeline import evaluate, train
from siamface.run_folder import Run
from siamface.training.builder import resolve_config
from siamface.utils.lock import LockTimeoutError, file_lock

from .conftest import FIXED

ONE_EPOCH = [*FIXED, "train.epochs=1"]


def _runs(fold_dir: Path) -> list[Path]:
    return sorted(p for p in fold_dir.iterdir() if (p / "config.yaml").is_file())


def test_summary_is_lfws_mean_and_standard_error_over_the_folds():
    grid = np.zeros_like(ROC_GRID)
    records = [{"fold": k, "accuracy": a, "threshold": 0.0, "auc": u, "tar_at_far_0.01": t,
                "tar_on_grid": (grid + t).tolist()}
               for k, a, u, t in ((0, 0.80, 0.90, 0.2), (1, 0.90, 0.94, 0.4), (2, 0.85, 0.92, 0.6))]
    s = summarise_folds(records)
    assert s["mean_accuracy"] == pytest.approx(0.85)
    # deviations -0.05, 0.05, 0: sample std sqrt(0.005 / 2) = 0.05; S_E = 0.05 / sqrt(3)
    assert s["std"] == pytest.approx(0.05) and s["sem"] == pytest.approx(0.05 / math.sqrt(3))
    assert s["mean_auc"] == pytest.approx(0.92) and s["folds_scored"] == 3
    assert s["roc_mean_tar"] == pytest.approx([0.4] * len(ROC_GRID))
    assert summarise_folds(records[:1]) is None  # no standard error from one fold


def test_each_fold_trains_without_its_people_and_is_scored_once(view2_home: Path,
                                                               tmp_path: Path):
    lfw = open_lfw(view2_home)
    seen: list[int] = []
    result = run_view2("default", ONE_EPOCH, lfw, tmp_path / "v2", folds=[1, 0],
                       on_fold=lambda r: seen.append(r["fold"]))
    assert seen == [0, 1] and [r["fold"] for r in result.folds] == [0, 1]
    pairs_file = lfw.read_pairs("pairs.txt")
    for record in result.folds:
        k = record["fold"]
        run = Run(result.folder / record["run"])
        assert run.config.data.view2_fold == k
        assert run.data()["protocol"] == f"View 2, fold {k} held out"
        held_out = training_scope(lfw, k).held_out
        assert pair_people(pairs_file.fold(k)) <= held_out
        assert run.data()["train_people"] > 0
        metrics = json.loads((run.view2_fold_dir / "metrics.json").read_text())
        assert metrics["pairs_file"] == f"pairs.txt fold {k}" and metrics["pairs"] == 4
        assert record["accuracy"] == metrics["accuracy"]
        assert record["threshold"] == run.threshold  # the validation threshold, not refit
        assert len(record["tar_on_grid"]) == len(ROC_GRID)
    saved = json.loads((result.folder / VIEW2_FILE).read_text())
    accs = [r["accuracy"] for r in result.folds]
    assert saved["summary"]["mean_accuracy"] == pytest.approx(np.mean(accs))
    assert saved["summary"]["sem"] == pytest.approx(abs(accs[0] - accs[1]) / 2)
    assert (result.folder / "roc.png").is_file()

    # continuing: scored folds are kept as they are, only the new fold trains
    again = run_view2("default", ONE_EPOCH, lfw, result.folder, folds=[0, 1, 2])
    assert [r["fold"] for r in again.folds] == [0, 1, 2]
    assert again.folds[:2] == saved["folds"]
    assert all(len(_runs(result.folder / f"fold-{k}")) == 1 for k in range(3))
    with pytest.raises(View2Error, match="was started with default"):
        run_view2("default", [*ONE_EPOCH, "optim.lr=0.01"], lfw, result.folder, folds=[3])


def test_a_config_file_edited_since_the_protocol_started_is_refused(view2_home: Path,
                                                                   tmp_path: Path):
    import yaml

    from siamface.config.loader import CONFIG_DIR

    mine = tmp_path / "mine.yaml"
    shutil.copy(CONFIG_DIR / "default.yaml", mine)
    lfw = open_lfw(view2_home)
    result = run_view2(str(mine), ONE_EPOCH, lfw, tmp_path / "v2", folds=[0])
    edited = yaml.safe_load(mine.read_text())
    edited["optim"]["weight_decay"] = 0.125  # the folds left would train another recipe
    mine.write_text(yaml.safe_dump(edited))
    with pytest.raises(View2Error, match=r"mine.yaml has changed since the protocol started "
                                         r"\(optim.weight_decay: .* then, 0.125 now\)"):
        run_view2(str(mine), ONE_EPOCH, lfw, result.folder, folds=[1])
    assert not (result.folder / "fold-1").exists()


def test_a_fold_killed_mid_training_resumes_and_one_killed_before_a_checkpoint_restarts(
        view2_home: Path, tmp_path: Path, monkeypatch):
    lfw = open_lfw(view2_home)
    folder = tmp_path / "v2"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # the protocol killed in its first fold
        patch.setattr(pipeline, "train", killed)
        with pytest.raises(KeyboardInterrupt):
            run_view2("default", [*FIXED, "train.epochs=2"], lfw, folder, folds=[0, 1])
    assert read_view2(folder)["folds"] == []  # written before the first fold: it can go on
    config = resolve_config("default", [*FIXED, "train.epochs=2", "data.view2_fold=0"])
    run, _ = train(config, lfw, folder / "fold-0", progress=False)
    run.model_meta_path.unlink()  # as if killed after its last checkpoint, before the model
    dead = Run.create(folder / "fold-1", "default")  # killed before its first checkpoint
    dead.save_config(resolve_config("default", [*FIXED, "data.view2_fold=1"]))
    result = run_view2("default", [*FIXED, "train.epochs=2"], lfw, folder, folds=[0, 1])
    assert _runs(folder / "fold-0") == [run.path]  # resumed in place
    assert Run(run.path).is_finished and len(Run(run.path).summary()) == 2
    assert len(_runs(folder / "fold-1")) == 2 and result.folds[1]["run"] != str(
        dead.path.relative_to(folder))


def test_refusals(view2_home: Path, tmp_path: Path):
    lfw = open_lfw(view2_home)
    with pytest.raises(ConfigError, match="set by the protocol"):
        run_view2("default", [*ONE_EPOCH, "data.view2_fold=3"], lfw, tmp_path / "a")
    with pytest.raises(ConfigError, match="different folds from 0 to 9"):
        run_view2("default", ONE_EPOCH, lfw, tmp_path / "b", folds=[0, 10])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(View2Error, match="is not empty"):
        run_view2("default", ONE_EPOCH, lfw, tmp_path / "c", folds=[0])
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["notes.txt"]  # no lock left there
    with pytest.raises(ConfigError, match=r"data\.view2_fold"):
        resolve_config("default", ["data.view2_fold=10"])


def test_a_view2_without_people_txt_is_refused_before_its_folder_is_made(
        view2_home: Path, tmp_path: Path, monkeypatch):
    from siamface.data.lfw import LFWDataset

    imported = LFWDataset.protocol_names
    monkeypatch.setattr(LFWDataset, "protocol_names",
                        lambda self: [n for n in imported(self) if n != "people.txt"])
    assert main(["--data-dir", str(view2_home), "view2", "default", "--set", *ONE_EPOCH,
                 "--runs-dir", str(tmp_path / "runs"), "--folds", "0"]) == 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_second_process_in_a_view2_folder_is_refused_not_left_to_overwrite_the_first(
        view2_home: Path, tmp_path: Path):
    folder = tmp_path / "v2"
    refused = r"\.view2\.lock: another process holds this lock, so we cannot run View 2 in "
    refused += re.escape(str(folder))
    with (file_lock(folder / VIEW2_LOCK, "stand in for a running protocol"),
          pytest.raises(LockTimeoutError, match=refused)):
        run_view2("default", ONE_EPOCH, open_lfw(view2_home), folder, folds=[0])
    assert not (folder / "fold-0").exists()


def test_protocols_started_in_the_same_second_get_folders_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt: "20261207-120000")
    first, second = new_folder(tmp_path, "default"), new_folder(tmp_path, "default")
    assert first.name == "view2-default-20261207-120000" and first.is_dir()
    assert second.name == "view2-default-20261207-120000-2" and second.is_dir()


def test_a_fold_run_is_never_scored_on_people_it_trained_on(view2_home: Path, tmp_path: Path):
    lfw = open_lfw(view2_home)
    run, _ = train(resolve_config("default", [*ONE_EPOCH, "data.view2_fold=4"]), lfw, tmp_path,
                   progress=False)
    with pytest.raises(LeakageError, match=r"pairsDevTest\.txt set and the training set"):
        evaluate(run, lfw, ["pairsDevTest.txt"], plots=False, progress=False)
    with pytest.raises(LeakageError, match="ten-fold and open-set"):
        evaluate(run, lfw, ten_fold=True, plots=False, progress=False)
    assert not run.eval_root.exists()


def test_a_fold_run_in_another_process_hands_is_not_scored(view2_home: Path, tmp_path: Path):
    lfw = open_lfw(view2_home)
    run, _ = train(resolve_config("default", [*ONE_EPOCH, "data.view2_fold=4"]), lfw, tmp_path,
                   progress=False)
    with file_lock(run.lock_path, "train --resume"), \
            pytest.raises(LockTimeoutError, match=r"\.train\.lock"):
        score_fold(run, lfw, lfw.read_pairs("pairs.txt"), 4)
    assert not run.view2_fold_dir.exists()
    assert score_fold(run, lfw, lfw.read_pairs("pairs.txt"), 4)["fold"] == 4  # once it is free


def test_view2_from_the_command_line(view2_home: Path, tmp_path: Path, capsys):
    home = ["--data-dir", str(view2_home)]
    args = [*home, "view2", "default", "--set", *ONE_EPOCH, "--folds", "2", "5",
            "--runs-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fold 2: accuracy" in out and "fold 5: accuracy" in out
    assert "View 2 over 2 folds: accuracy" in out and "(standard error)" in out
    folder = next(tmp_path.glob("view2-default-*"))
    shutil.rmtree(folder / "fold-5")
    data = json.loads((folder / VIEW2_FILE).read_text())
    data["folds"] = data["folds"][:1]
    (folder / VIEW2_FILE).write_text(json.dumps(data))
    assert main([*home, "view2", "--resume", str(folder), "--folds", "2", "5",
                 "--no-progress"]) == 0
    assert "fold 5: accuracy" in capsys.readouterr().out
    assert main(["compare", str(folder), "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "comparison.csv").read_text().splitlines()
    assert len(table) == 3 and "view2-fold_acc" in table[0]  # a row per fold
    assert main([*home, "view2", "default", "--resume", str(folder)]) == 2
    assert "drop CONFIG" in capsys.readouterr().err
    assert main([*home, "view2", "--resume", str(tmp_path)]) == 2
    assert "is not a View 2 folder" in capsys.readouterr().err


FOLD = {"fold": 3, "run": "fold-3/default-1", "accuracy": 0.8, "auc": 0.9, "threshold": 0.1,
        "tar_at_far_0.01": 0.4, "best_epoch": 2, "val_auc": 0.9, "train_seconds": 5.0,
        "tar_on_grid": [0.5] * len(ROC_GRID)}


@pytest.mark.parametrize(("change", "message"), [
    ({"overrides": [1]}, "expected an object with 'config' \\(a string\\), 'overrides' \\(a list"),
    ({"folds": [5]}, "folds.0.fold: expected a fold from 0 to 9"),
    ({"folds": [{**FOLD, "fold": 10}]}, "folds.0.fold: expected a fold from 0 to 9"),
    ({"folds": [{**FOLD, "run": "../elsewhere"}]}, "folds.0.run: expected the fold's run"),
    ({"folds": [{k: v for k, v in FOLD.items() if k != "accuracy"}]},
     "no folds.0.accuracy: the file was damaged or edited"),
    ({"folds": [{**FOLD, "auc": "high"}]}, "folds.0.auc is 'high', expected a number"),
    # (null: a fold whose summary.csv left its seconds out)
    ({"folds": [{**FOLD, "train_seconds": "slow"}]},
     "folds.0.train_seconds is 'slow', expected a number"),
    ({"folds": [{**FOLD, "accuracy": float("nan")}]},
     "folds.0.accuracy is NaN, expected a finite number"),
    ({"folds": [{**FOLD, "tar_on_grid": [0.5]}]}, "folds.0.tar_on_grid: expected 201 numbers"),
])
def test_a_damaged_view2_json_is_named_with_its_field(tmp_path, change, message):
    (tmp_path / VIEW2_FILE).write_text(json.dumps(
        {"config": "default", "overrides": [], "folds": [FOLD], **change}))
    with pytest.raises(View2Error, match=f"{VIEW2_FILE}: {message}"):
        read_view2(tmp_path)


def test_a_sound_view2_json_reads_back(tmp_path):
    record = {"config": "default", "overrides": ["train.epochs=2"], "folds": [FOLD]}
    (tmp_path / VIEW2_FILE).write_text(json.dumps(record))
    assert read_view2(tmp_path) == record
