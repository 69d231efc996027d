import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from inference.conftest import write_tiny_run
from siamface.experiments.compare import (
    CompareError,
    Row,
    compare,
    comparison_csv,
    comparison_markdown,
    param_importances,
    tell_apart,
    write_comparison,
)
from siamface.experiments.study_folder import StudyFolder, StudyFolderError
from siamface.run_folder import Run
from siamface.utils.files import DamagedFileError


def test_a_study_has_a_row_per_trial_with_the_varying_keys(finished_study: Path):
    comparison = compare([finished_study])
    assert len(comparison.rows) == 4
    assert comparison.varying == ["optim.lr", "optim.momentum"]  # nothing else differs
    rows = list(csv.DictReader(io.StringIO(comparison_csv(comparison))))
    assert sorted(r["state"] for r in rows) == ["complete", "failed", "failed", "failed"]
    (done,) = [r for r in rows if r["state"] == "complete"]
    record = next(r for r in StudyFolder(finished_study).trials() if r["state"] == "complete")
    # the chosen epoch's, as the objective (summary.csv keeps 6 digits)
    assert float(done["val_loss"]) == pytest.approx(record["value"], rel=1e-5)
    assert done["chosen_epoch"] and float(done["train_seconds"]) > 0
    assert float(done["eval_seconds"]) > 0 and done["pairsDevTest_acc"]
    impossible = next(r for r in rows if r["optim.momentum"] == "0.9")
    assert impossible["epochs"] == "" and impossible["pairsDevTest_acc"] == ""


def test_runs_and_studies_compare_together(finished_study: Path):
    run = StudyFolder(finished_study).run_dir(0) or next(finished_study.glob("trials/*/*/"))
    comparison = compare([finished_study, run])
    assert len(comparison.rows) == 5 and comparison.rows[-1].label == run.name
    table = comparison_markdown(comparison)
    assert table.splitlines()[0].startswith("| run | optim.lr | optim.momentum | state |")


def test_write_comparison_draws_every_figure(finished_study: Path, tmp_path: Path):
    written = write_comparison(compare([finished_study]), tmp_path)
    assert {"csv", "markdown", "curves", "runtimes", "finished: history"} <= set(written)
    for name, path in written.items():
        if path.suffix == ".png":
            assert Image.open(path).size[0] > 100, name
    # one complete trial: no parameter importance can be computed
    assert "finished: importances" not in written and param_importances(
        StudyFolder(finished_study)) == {}


def test_two_studies_of_one_name_keep_a_figure_each(finished_study: Path, tmp_path: Path):
    import shutil

    copies = [shutil.copytree(finished_study, tmp_path / side / "finished") for side in "ab"]
    written = write_comparison(compare(copies), tmp_path / "out")
    histories = sorted(p.name for p in (tmp_path / "out" / "figures").glob("*-history.png"))
    assert histories == ["a-finished-history.png", "b-finished-history.png"]
    assert {"a/finished: history", "b/finished: history"} <= set(written)


@pytest.mark.parametrize("own", ["notes.txt", "figures/sketch.pdf", "figures/my-plot.png",
                                 "figures"])
def test_a_folder_holding_the_users_own_files_is_refused_and_left_as_it_was(
        finished_study: Path, tmp_path: Path, own):
    out = tmp_path / "out"
    if own != "notes.txt":  # an earlier comparison's folder, with something of the user's in it
        write_comparison(compare([finished_study]), out)
        if own == "figures":  # a file where the figures go
            shutil.rmtree(out / "figures")
    (out / own).parent.mkdir(parents=True, exist_ok=True)
    (out / own).write_text("mine")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(CompareError, match=rf"^{re.escape(str(out))} holds {re.escape(own)}, "
                                           "not a comparison's: write the comparison into a "
                                           "new or empty folder"):
        write_comparison(compare([finished_study]), out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / own).read_text() == "mine"


def test_comparing_again_into_a_comparison_leaves_none_of_its_old_figures(
        finished_study: Path, tmp_path: Path):
    out = tmp_path / "out"
    study = shutil.copytree(finished_study, tmp_path / "s1")
    write_comparison(compare([study]), out)
    assert (out / "figures" / "s1-history.png").is_file()
    run = StudyFolder(finished_study).run_dir(0) or next(finished_study.glob("trials/*/*/"))
    written = write_comparison(compare([run]), out)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        Path(p).name for p in written.values() if Path(p).suffix == ".png")
    assert not (out / "figures" / "s1-history.png").exists()


@pytest.mark.parametrize(("edit", "message"), [
    ({"value": float("nan")}, r"value is nan, but a complete trial's objective is a finite"),
    ({"params": {"optim.lr": 5.0, "optim.momentum": None}},
     r"params\.optim\.lr is 5\.0, which is not in the spec's space"),
])
def test_an_edited_complete_trial_is_named_not_a_traceback(finished_study: Path,
                                                           tmp_path: Path, edit, message):
    import shutil

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    [done] = [r for r in StudyFolder(copy).trials() if r["state"] == "complete"]
    path = StudyFolder(copy).trial_dir(done["number"]) / "trial.json"
    path.write_text(json.dumps({**done, **edit}))
    with pytest.raises(StudyFolderError, match=rf"{done['number']:04d}/trial\.json: {message}"):
        write_comparison(compare([copy]), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_open_set_results_get_their_columns(tmp_path: Path):
    run = Run(write_tiny_run(tmp_path / "run"))
    run.write_summary([{"epoch": 1, "train_loss": 0.5, "train_acc": 0.7, "val_loss": 0.6,
                        "val_acc": 0.65, "val_auc": 0.7, "val_threshold": 0.0, "lr": 0.1,
                        "seconds": 2.0}])
    gallery = {"gallery_size": 10, "cmc": {"1": {"rate": 0.8}},
               "dir_at_fpir": {"0.01": {"dir": {"rate": 0.3}}}}
    run.open_set_dir.mkdir(parents=True)
    (run.open_set_dir / "open_set.json").write_text(json.dumps({"galleries": [
        gallery, {"gallery_size": 999, "skipped": "DevTest has only 496 people"}]}))
    (row,) = compare([run.path]).rows
    assert row.values["open_set_10_rank1"] == 0.8 and row.values["open_set_10_dir1%"] == 0.3
    assert not any(k.startswith("open_set_999") for k in row.values)  # skipped: no column


def test_test_metrics_come_as_written_and_null_when_they_could_not_be_computed(tmp_path: Path):
    run = Run(write_tiny_run(tmp_path / "run"))
    folder = run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text('{"accuracy": 0.75, "auc": null, "seconds": 1.5}')
    (row,) = compare([run.path]).rows
    assert row.values["pairsDevTest_acc"] == 0.75 and row.values["pairsDevTest_auc"] is None
    assert row.values["eval_seconds"] == 1.5


def test_a_summary_without_some_columns_leaves_their_cells_empty(tmp_path: Path):
    run = Run(write_tiny_run(tmp_path / "run"))  # a KeyError: 'seconds' before
    run.summary_path.write_text("epoch,train_loss,val_auc\n1,0.5,0.7\n")
    (row,) = compare([run.path]).rows
    assert row.values["train_seconds"] is None and row.values["val_loss"] is None
    assert row.values["val_auc"] == 0.7
    assert "| run |" in comparison_markdown(compare([run.path]))


def test_runs_of_one_name_in_different_folders_are_told_apart(tmp_path: Path):
    runs = [write_tiny_run(tmp_path / parent / "run") for parent in ("x/a", "y/a", "b")]
    comparison = compare([*runs, write_tiny_run(tmp_path / "lone")])
    assert [row.label for row in comparison.rows] == ["x/a/run", "y/a/run", "b/run", "lone"]
    written = write_comparison(comparison, tmp_path / "out")
    assert "| y/a/run |" in written["markdown"].read_text()
    twice = compare([tmp_path / "b/run", tmp_path / "b/run"])  # one folder: one name
    assert [row.label for row in twice.rows] == ["run", "run"]


@pytest.mark.parametrize(("file", "content", "message"), [
    ("metrics", {"accuracy": "0.9x", "auc": 0.9}, r"metrics.json: accuracy is '0.9x', expected a"),
    ("metrics", {"accuracy": 0.9, "auc": True}, r"metrics.json: auc is True, expected a number"),
    ("metrics", {"accuracy": 0.9, "auc": float("inf")}, r"metrics.json: auc is inf, expected a"),
    ("metrics", {"accuracy": 0.9, "auc": 0.9, "seconds": []}, r"metrics.json: seconds is \[\]"),
    ("open_set", {"galleries": [{"gallery_size": 10, "cmc": {}}]},
     r"open_set.json: no galleries.0.cmc.1.rate: the file was damaged or edited"),
    ("open_set", {"galleries": [{"gallery_size": 10, "cmc": {"1": {"rate": 0.8}},
                                 "dir_at_fpir": {"0.01": {"dir": {"rate": "high"}}}}]},
     r"open_set.json: galleries.0.dir_at_fpir.0.01.dir.rate is 'high', expected a number"),
    ("open_set", {"galleries": 5}, r"open_set.json: galleries is 5, expected a list"),
    ("open_set", {"galleries": "10"}, r"open_set.json: galleries is '10', expected a list"),
])
def test_a_damaged_result_file_is_named_with_its_key(tmp_path: Path, file, content, message):
    run = Run(write_tiny_run(tmp_path / "run"))
    folder = run.open_set_dir if file == "open_set" else run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / f"{file}.json").write_text(json.dumps(content))
    with pytest.raises(DamagedFileError, match=message):
        compare([run.path])


def test_the_study_page_says_which_trial_was_scored_on_the_test_pairs(finished_study: Path,
                                                                      tmp_path: Path):
    import shutil

    from siamface.experiments.report import write_html_report

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    folder = StudyFolder(copy)
    best = folder.study_info()["evaluated_trial"]
    assert "(scored once on pairsDevTest.txt)." in write_html_report(copy).read_text()
    other = next(r["number"] for r in folder.trials() if r["number"] != best)
    folder.update_info(evaluated_trial=other)  # scored when it led; a better trial came later
    page = write_html_report(copy).read_text()
    assert "(scored once on pairsDevTest.txt)." not in page and (
        f"not scored on a test file; trial <code>{other:04d}</code> was, when it was the best"
        in page)


@pytest.mark.parametrize("file", ["repeat.json", "view2.json"])
def test_report_on_a_repeat_or_view2_folder_says_what_it_takes(tmp_path: Path, file):
    from siamface.experiments.report import ReportError, write_html_report

    (tmp_path / file).write_text("{}")
    with pytest.raises(ReportError, match=r"folder: `siamface report` takes a run or a study; "
                                          r"`siamface compare .*` tables its runs"):
        write_html_report(tmp_path)


def test_an_edited_evaluated_trial_is_named_not_a_traceback(finished_study: Path,
                                                           tmp_path: Path):
    import shutil

    from siamface.experiments.report import write_html_report

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    StudyFolder(copy).update_info(evaluated_trial="best")
    with pytest.raises(StudyFolderError, match=r"study\.json: evaluated_trial is 'best', "
                                               "expected the number of the trial"):
        write_html_report(copy)


def test_studies_of_one_name_are_told_apart_whatever_their_trial_numbers(tmp_path: Path):
    rows = [Row(f"finished/{n:04d}", {}, {}, folder=tmp_path / side / "finished")
            for side, n in (("a", 3), ("b", 4), ("a", 5))]
    tell_apart(rows)
    assert [row.label for row in rows] == ["a/finished/0003", "b/finished/0004",
                                           "a/finished/0005"]


def test_an_out_folder_that_is_a_file_is_refused_naming_it(finished_study: Path, tmp_path: Path):
    (tmp_path / "out").write_text("notes")
    with pytest.raises(NotADirectoryError, match=r"out: is a file; expected a folder"):
        write_comparison(compare([finished_study]), tmp_path / "out")
