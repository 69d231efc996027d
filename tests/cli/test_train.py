import csv
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from siamface.cli.main import main
from siamface.cli.train import (
    EPOCH_COLUMNS,
    describe_data,
    format_epoch_header,
    format_epoch_row,
)
from siamface.config import list_configs
from siamface.losses.base import PairLoss
from siamface.run_folder import SUMMARY_FIELDS
from siamface.training import builder as builder_module

from .conftest import TINY


def summary_epochs(run_dir):
    with (run_dir / "summary.csv").open() as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def test_train_prints_config_data_one_row_per_epoch_and_the_run_folder(trained_run):
    run_dir, printed = trained_run
    lines = printed.splitlines()
    assert lines[0].startswith("config: default (seed 0): resface on 32x32x3 (full frame)")
    assert lines[1].startswith("data: LFW (lfw-deepfunneled), 24 people, 75 images")
    assert lines[2] == format_epoch_header()
    model = json.loads((run_dir / "model.json").read_text())
    # one table row per epoch; the chosen epoch's row is its summary row, formatted
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]
    assert lines[2 + model["best_epoch"]] == format_epoch_row(model["validation"])
    data = json.loads((run_dir / "data.json").read_text())
    assert f"{data['train_people']} people ({data['train_images']} images)" in printed
    assert f"validated on {data['val_pairs']} pairs" in printed
    assert f"chosen: epoch {model['best_epoch']}, by val_auc" in printed
    assert f"run folder: {run_dir}" in printed
    assert printed.rstrip().endswith(f"siamface evaluate {run_dir} --pairs pairsDevTest.txt")
    # the overrides reached the run's config
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["width"] == 4 and config["train"]["epochs"] == 2


def test_epoch_row_is_aligned_with_the_header():
    row = {"epoch": 12, "train_loss": 0.5, "train_acc": 0.75, "val_loss": 0.625,
           "val_acc": 0.8125, "val_auc": 0.9, "val_threshold": -1.25, "lr": 0.003,
           "seconds": 61.6}
    header, line = format_epoch_header(), format_epoch_row(row)
    assert len(line) == len(header)
    assert line.split() == ["12", "0.5000", "0.7500", "0.6250", "0.8125", "0.9000", "-1.250",
                            "3.00e-03", "62s"]


def test_time_budget_stops_at_an_epoch_boundary_and_resume_continues(cli_home, tmp_path,
                                                                      capsys):
    base = ["--data-dir", str(cli_home), "train"]
    args = [*base, "default", "--set", *TINY, "train.epochs=3", "--time-budget", "0.001",
            "--runs-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    (run_dir,) = tmp_path.iterdir()
    out = capsys.readouterr().out
    assert "time budget 0.001 s" in out and "stopped: time_budget after 1 epochs" in out
    assert summary_epochs(run_dir) == [1]
    assert json.loads((run_dir / "model.json").read_text())["stopped_because"] == "time_budget"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["time_budget_s"] == 0.001

    # resumed with the run's own config, its budget is spent: it counts the epoch trained
    assert main([*base, "--resume", str(run_dir), "--no-progress"]) == 0
    assert "stopped: time_budget after 1 epochs" in capsys.readouterr().out
    assert summary_epochs(run_dir) == [1]
    # a larger budget (a setting a resume may change) continues after epoch 1
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["train"]["time_budget_s"] = None
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert main([*base, "--resume", str(run_dir), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[3:4]] == ["2"]
    assert summary_epochs(run_dir) == [1, 2, 3]
    assert len(list(tmp_path.iterdir())) == 1  # no new run folder


def test_resume_takes_no_config_or_overrides(tmp_path, capsys):
    code = main(["train", "default", "--resume", str(tmp_path), "--set", "train.epochs=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--resume continues" in err and "drop CONFIG, --set" in err


def test_train_needs_a_config_or_a_run_to_resume(capsys):
    assert main(["train"]) == 2
    assert "siamface configs" in capsys.readouterr().err


def test_an_unknown_config_key_lists_the_valid_ones(cli_home, tmp_path, capsys):
    code = main(["--data-dir", str(cli_home), "train", "default", "--set", "optim.lrr=1",
                 "--runs-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown key 'optim.lrr'" in err and "valid keys at optim: name, lr," in err
    assert not list(tmp_path.iterdir())  # nothing started


def test_a_nan_loss_prints_its_message_and_exits_non_zero(cli_home, tmp_path, monkeypatch,
                                                          capsys):
    class NanLoss(PairLoss):
        def pair_losses(self, scores, target):
            return scores.logits * float("nan")

    monkeypatch.setattr(builder_module, "build_loss", lambda config: NanLoss())
    code = main(["--data-dir", str(cli_home), "train", "default", "--set", *TINY,
                 "--runs-dir", str(tmp_path), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("siamface: error: training diverged at epoch 1, step 1: ")
    assert "loss became nan" in err and "optim.lr" in err
    assert "no epoch finished, so there is no checkpoint to resume from" in err


def test_configs_lists_every_config(capsys):
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list_configs()
    assert {"default", "koch2015", "seed-best"} <= set(list_configs())
    assert any(line.startswith("koch2015 (seed 0): koch2015 on 105x105x1") for line in lines)


@pytest.mark.parametrize(("flag", "expected"), [("--set", "at least one argument"),
                                              ("--time-budget", "one argument")])
def test_options_need_values(flag, expected, capsys):
    assert main(["train", "default", flag]) == 2
    assert f"argument {flag}: expected {expected}" in capsys.readouterr().err


def test_a_value_the_data_refuses_leaves_no_run_folder_behind(cli_home, tmp_path, capsys):
    code = main(["--data-dir", str(cli_home), "train", "default", "--set", *TINY,
                 "data.min_images_per_person=100000", "--runs-dir", str(tmp_path),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "lower data.identities_per_batch or data.min_images_per_person" in err
    assert list(tmp_path.iterdir()) == []


def test_a_terminated_training_keeps_what_it_printed_and_dies_by_the_signal(cli_home, tmp_path):
    """SIGTERM kills the process by the signal, which skips Python's flush at exit: the
    header lines still buffered (stdout is a pipe) must be flushed first."""
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    trainer = subprocess.Popen(
        [sys.executable, "-m", "siamface", "--data-dir", str(cli_home), "train", "default",
         "--set", *TINY, "train.epochs=500", "--runs-dir", str(runs), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not any(runs.glob("*/config.yaml")):  # the header is printed before the run begins
        assert trainer.poll() is None and time.monotonic() < deadline, trainer.communicate()
        time.sleep(0.05)
    trainer.send_signal(signal.SIGTERM)
    out, err = trainer.communicate(timeout=60)
    assert trainer.returncode == -signal.SIGTERM and err.endswith("siamface: terminated\n")
    lines = out.splitlines()
    assert lines[0].startswith("config: default (seed 0)") and lines[2] == format_epoch_header()


@pytest.mark.parametrize(("split", "people"), [("person", "of 9 other people"),
                                               ("random", "of 9 people")])
def test_the_data_line_calls_validation_people_other_only_when_they_are(split, people):
    line = describe_data({"setting": "restricted", "train_people": 20, "train_pairs": 100,
                          "val_pairs": 30, "val_matching": 15, "val_people": 9, "split": split})
    assert line == (f"trained on: restricted: 20 people (100 pairs + 0 mined); validated on 30 "
                    f"pairs (15 matching) {people} ({split} split)")


def test_the_epoch_table_has_a_column_for_each_summary_field_in_order():
    assert [key for key, *_ in EPOCH_COLUMNS] == SUMMARY_FIELDS


@pytest.mark.parametrize("command", [["train", "default"], ["repeat", "default", "--seeds", "0"],
                                     ["view2", "default"], ["run"]])
@pytest.mark.parametrize("budget", ["-5", "0", "nan", "inf"])
def test_a_time_budget_that_is_not_a_duration_names_the_option(command, budget, tmp_path,
                                                               capsys):
    code = main(["--data-dir", str(tmp_path / "home"), *command, "--time-budget", budget,
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    assert capsys.readouterr().err == (
        "siamface: error: --time-budget: expected a finite number of seconds above 0, got "
        f"{float(budget):g}\n")
    assert not list(tmp_path.iterdir())  # nothing made


@pytest.mark.parametrize("what", ["nothing", "a folder of runs", "a file"])
def test_resuming_what_is_not_a_run_folder_says_so(what, cli_home, tmp_path, capsys):
    target = tmp_path / "target"
    if what == "a folder of runs":
        (target / "default-20260101-000000").mkdir(parents=True)
    elif what == "a file":
        target.write_text("")
    code = main(["--data-dir", str(cli_home), "train", "--resume", str(target)])
    assert code == 2
    assert capsys.readouterr().err == (f"siamface: error: {target}: not a run folder (no "
                                       "config.yaml)\n")


@pytest.mark.parametrize("option", [["--time-budget", "0"], ["--runs-dir", "runs"]])
@pytest.mark.parametrize("command", ["train", "view2"])
def test_resume_refuses_an_option_of_a_new_run_whatever_its_value(command, option, tmp_path,
                                                                  capsys):
    assert main([command, "--resume", str(tmp_path), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"siamface: error: --resume continues {tmp_path} with its own config")
    assert f"; drop {option[0]}" in err


def test_new_runs_go_to_runs_unless_runs_dir_says(cli_home, view2_home, tmp_path, monkeypatch):
    from siamface.experiments import view2

    monkeypatch.chdir(tmp_path)
    assert main(["--data-dir", str(cli_home), "train", "default", "--set", *TINY,
                 "train.epochs=1", "--no-progress"]) == 0
    assert [p.name.startswith("default-") for p in (tmp_path / "runs").iterdir()] == [True]
    assert main(["--data-dir", str(cli_home), "train", "default", "--set", *TINY,
                 "train.epochs=1", "--no-progress", "--runs-dir", "mine"]) == 0
    assert [p.name.startswith("default-") for p in (tmp_path / "mine").iterdir()] == [True]
    # a View 2 its checks refuse makes no folder
    assert main(["--data-dir", str(cli_home), "view2", "default", "--set",
                 "data.view2_fold=3"]) == 2
    assert not list((tmp_path / "runs").glob("view2-*"))
    monkeypatch.setattr(view2, "run_view2", lambda config, overrides, lfw, folder, folds, **_:
                        types.SimpleNamespace(summary=None, folder=folder))
    for args, where in (((), "runs"), (("--runs-dir", "mine"), "mine")):
        assert main(["--data-dir", str(view2_home), "view2", "default", "--folds", "0",
                     *args]) == 0
        assert len(list((tmp_path / where).glob("view2-default-*"))) == 1
