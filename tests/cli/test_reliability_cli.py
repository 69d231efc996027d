"""Hostile input at the command line: one line naming the file and the problem, exit 2, and
nothing written before is lost (the cases of the reliability issue that meet the CLI)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from inference.conftest import random_photo, write_tiny_run
from siamface.cli import train as train_commands
from siamface.cli.main import main
from siamface.errors import ConfigError, WorkFailedError
from siamface.reporting.formatting import markdown_text
from siamface.utils.lock import file_lock

from .conftest import TINY


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *parts: str) -> None:
    assert err.startswith("siamface: error: ") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, (part, err)


@pytest.fixture
def tiny_run(tmp_path):
    return write_tiny_run(tmp_path / "run")


@pytest.fixture
def photos(tmp_path):
    for name, seed in (("a.png", 1), ("b.png", 2)):
        Image.fromarray(random_photo(seed)).save(tmp_path / name)
    return tmp_path


@pytest.fixture
def run_copy(trained_run, tmp_path):
    return shutil.copytree(trained_run.run_dir, tmp_path / trained_run.run_dir.name)


def test_a_nan_threshold_gives_no_verdict(capsys, tiny_run, photos):
    meta = json.loads((tiny_run / "model.json").read_text())
    (tiny_run / "model.json").write_text(json.dumps({**meta, "threshold": float("nan")}))
    code, out, err = run(capsys, "verify", tiny_run, photos / "a.png", photos / "b.png",
                         "--no-detect")
    assert code == 2 and out == ""
    one_line_error(err, str(tiny_run / "model.json"), "'threshold' must be a finite number")


def test_overwritten_weights_give_no_verdict(capsys, tiny_run, photos):
    weights = tiny_run / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4096:] = bytes(4096)
    weights.write_bytes(bytes(data))
    code, out, err = run(capsys, "verify", tiny_run, photos / "a.png", photos / "b.png",
                         "--no-detect")
    assert code == 2 and out == ""
    one_line_error(err, str(weights), "sha256 does not match")


def test_a_16_bit_png_is_scaled_not_white(capsys, tiny_run, tmp_path):
    rgb = random_photo(1)
    grey8 = np.asarray(Image.fromarray(rgb).convert("L"))
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # mode I;16
    Image.fromarray(grey8).save(tmp_path / "flat.png")
    code, out, _ = run(capsys, "verify", tiny_run, tmp_path / "deep.png", tmp_path / "flat.png",
                       "--no-detect", "--json")
    assert code == 0
    assert json.loads(out)["logit"] == pytest.approx(5.0, abs=1e-4)  # the same image


def test_an_outside_pairs_file_gets_its_own_folder(capsys, cli_home, run_copy, tmp_path):
    assert main(["--data-dir", str(cli_home), "evaluate", str(run_copy), "--pairs",
                 "pairsDevTest.txt", "--no-progress", "--bootstrap", "0"]) == 0
    official = json.loads((run_copy / "eval" / "pairsDevTest" / "metrics.json").read_text())
    lines = (cli_home / "lfw" / "protocol" / "pairsDevTest.txt").read_text().splitlines()
    mine = tmp_path / "elsewhere" / "pairsDevTest.txt"
    mine.parent.mkdir()
    mine.write_text("\n".join(["1", lines[1], lines[-1]]) + "\n")  # 1 matching, 1 not
    capsys.readouterr()
    code, _, _ = run(capsys, "--data-dir", cli_home, "evaluate", run_copy, "--pairs", mine,
                     "--no-progress", "--bootstrap", "0", "--no-plots")
    assert code == 0
    folders = sorted(p.name for p in (run_copy / "eval").iterdir())
    assert folders[0] == "pairsDevTest" and folders[1].startswith("pairsDevTest-")
    assert json.loads((run_copy / "eval" / "pairsDevTest" / "metrics.json").read_text()) == (
        official)  # the official result is untouched
    outside = json.loads((run_copy / "eval" / folders[1] / "metrics.json").read_text())
    assert outside["pairs"] == 2 and outside["pairs_file"] == str(mine)
    report = (run_copy / "report.md").read_text()
    assert "### pairsDevTest.txt" in report  # both, apart
    assert f"### {markdown_text(mine)}" in report


def test_a_new_evaluation_leaves_no_stale_figure_or_table(capsys, cli_home, run_copy):
    args = ["--data-dir", str(cli_home), "evaluate", str(run_copy), "--pairs",
            "pairsDevTest.txt", "--no-progress", "--bootstrap", "0"]
    assert main([*args, "--one-shot", "2"]) == 0
    folder = run_copy / "eval" / "pairsDevTest"
    assert (folder / "roc.png").is_file() and (folder / "one_shot.json").is_file()
    assert main([*args, "--no-plots"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "scores.csv"]
    assert "one-shot" not in (run_copy / "report.md").read_text().lower()


def test_a_damaged_summary_is_named_before_anything_is_evaluated(capsys, cli_home, run_copy):
    summary = run_copy / "summary.csv"
    summary.write_text(summary.read_text().replace(",", ";", 3))  # a row of other cells
    code, _, err = run(capsys, "--data-dir", cli_home, "evaluate", run_copy, "--pairs",
                       "pairsDevTest.txt", "--no-progress", "--bootstrap", "0", "--no-plots")
    assert code == 2
    one_line_error(err, "summary.csv")
    assert not (run_copy / "eval").exists()  # no results beside a report it cannot rewrite


def test_an_impossible_one_shot_n_keeps_the_earlier_results(capsys, cli_home, run_copy):
    args = ["--data-dir", str(cli_home), "evaluate", str(run_copy), "--pairs",
            "pairsDevTest.txt", "--no-progress", "--bootstrap", "0", "--no-plots"]
    assert main([*args, "--one-shot", "2"]) == 0
    before = (run_copy / "eval" / "pairsDevTest" / "one_shot.json").read_bytes()
    capsys.readouterr()
    code, _, err = run(capsys, *args, "--one-shot", "2", "100000")
    assert code == 2
    one_line_error(err, "one-shot N = 100000: peopleDevTest.txt has", "N can be at most")
    assert (run_copy / "eval" / "pairsDevTest" / "one_shot.json").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--one-shot", "0"], "--one-shot: N must be at least 2"),
    (["--one-shot", "-5"], "--one-shot: N must be at least 2"),
    (["--one-shot", "2", "--trials", "0"], "--trials: expected at least 1 trial"),
    (["--trials", "10"], "--trials sets the trials of --one-shot"),
    (["--bootstrap", "1"], "--bootstrap: expected 0 (no intervals) or a whole number of 2 to "
                           "100,000 resamples, got 1"),
    (["--bootstrap", "-1"], "--bootstrap: expected 0"),
])
def test_bad_evaluation_options_fail_before_anything_is_written(capsys, cli_home, run_copy,
                                                                 args, message):
    code, _, err = run(capsys, "--data-dir", cli_home, "evaluate", run_copy, "--pairs",
                       "pairsDevTest.txt", "--no-progress", *args)
    assert code == 2
    one_line_error(err, message)
    assert not (run_copy / "eval").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("model.width=0", "override 'model.width=0': model.width must be an integer of at least 1"),
    ("data.size=8", "resface cannot take the 3x8x8 images that data.channels and data.size"),
])
def test_a_value_a_component_refuses_fails_before_a_run_folder_exists(capsys, cli_home, tmp_path,
                                                                      override, message):
    code, _, err = run(capsys, "--data-dir", cli_home, "train", "default", "--set", *TINY,
                       override, "--runs-dir", tmp_path / "runs", "--no-progress")
    assert code == 2
    one_line_error(err, message)
    assert not (tmp_path / "runs").exists()


def test_resuming_a_run_stopped_before_its_first_checkpoint(capsys, cli_home, run_copy):
    shutil.rmtree(run_copy / "checkpoints")
    code, _, err = run(capsys, "--data-dir", cli_home, "train", "--resume", run_copy,
                       "--no-progress")
    assert code == 2
    one_line_error(err, "no latest checkpoint", "stopped before its first epoch ended")


def test_two_trainers_of_one_run_are_not_allowed(capsys, cli_home, run_copy):
    with file_lock(run_copy / ".train.lock", "hold the run in this test"):
        code, _, err = run(capsys, "--data-dir", cli_home, "train", "--resume", run_copy,
                           "--no-progress")
    assert code == 2
    one_line_error(err, str(run_copy / ".train.lock"), "another process holds this lock")


def test_a_run_being_trained_is_not_evaluated(capsys, cli_home, run_copy):
    # evaluate beside `train --resume` scored the old model and wrote its metrics beside the
    # new model.json, both exiting 0
    with file_lock(run_copy / ".train.lock", "hold the run in this test"):
        code, _, err = run(capsys, "--data-dir", cli_home, "evaluate", run_copy, "--pairs",
                           "pairsDevTest.txt", "--no-progress", "--bootstrap", "0")
    assert code == 2 and not (run_copy / "eval").exists()
    one_line_error(err, str(run_copy / ".train.lock"), f"cannot evaluate {run_copy} now")


@pytest.mark.parametrize("error, code", [
    (WorkFailedError("training diverged at epoch 3, step 7: loss became nan"), 1),
    (ConfigError("optim.lr: expected a number above 0"), 2),
])
def test_failed_work_exits_1_and_bad_input_2_from_any_command(capsys, monkeypatch, error, code):
    def command(args):
        raise error

    monkeypatch.setattr(train_commands, "_configs", command)
    assert run(capsys, "configs") == (code, "", f"siamface: error: {error}\n")
