import csv
import json
import re
import shutil

import pytest

from siamface.cli.main import main
from siamface.utils.precision import choose_precision


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of the shared run, to evaluate into."""
    return shutil.copytree(trained_run.run_dir, tmp_path / trained_run.run_dir.name)


def evaluate(home, run_dir, *args):
    return main(["--data-dir", str(home), "evaluate", str(run_dir), *args, "--no-progress"])


def test_evaluate_prints_the_summary_and_writes_metrics_figures_and_report(
    cli_home, run_copy, capsys
):
    assert evaluate(cli_home, run_copy, "--pairs", "pairsDevTest.txt", "--bootstrap", "50") == 0
    out = capsys.readouterr().out
    folder = run_copy / "eval" / "pairsDevTest"
    m = json.loads((folder / "metrics.json").read_text())
    model = json.loads((run_copy / "model.json").read_text())
    assert m["pairs"] == 16 and m["matching"] == 8 and m["threshold"] == model["threshold"]
    assert m["far_resolution"] == 1 / 8  # 8 non-matching pairs: TAR at FAR 1% is at FAR 0
    assert m["precision"] == choose_precision(model["config"]["train"]["precision"])
    lo, hi = m["accuracy_ci95"]
    # the printed table is metrics.json's numbers
    assert out.startswith(f"pairsDevTest.txt: 16 pairs (8 matching), model of epoch "
                          f"{model['best_epoch']}, threshold {model['threshold']:.4f}")
    assert f"accuracy at validation threshold  {m['accuracy']:.4f}  95% CI [{lo:.4f}, {hi:.4f}]" \
        in out
    for label, key in (("accuracy at p = 0.5", "accuracy_at_p05"), ("EER", "eer"),
                       ("TAR at FAR 1%", "tar_at_far_0.01"),
                       ("TAR at FAR 0.1%", "tar_at_far_0.001"),
                       ("loss", "loss")):  # each number on its own label's row
        assert re.search(rf"^  {re.escape(label)} +{m[key]:.4f}$", out, re.M), label
    c = m["confusion"]
    assert c["tn"] + c["fp"] == 8 and c["fn"] + c["tp"] == 8
    assert f"different  {c['tn']:>10,}  {c['fp']:>10,}" in out
    for name in ("metrics.json", "scores.csv", "roc.png", "scores.png", "confusion.png"):
        assert (folder / name).is_file(), name
    with (folder / "scores.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["line", "left", "left_number", "right", "right_number", "same",
                             "logit", "probability", "distance", "predicted_same", "correct"]
    assert [int(r["line"]) for r in rows] == list(range(2, 18))  # after the count line
    assert sum(int(r["same"]) for r in rows) == 8
    assert sum(int(r["correct"]) for r in rows) / 16 == pytest.approx(m["accuracy"])
    assert sum(int(r["predicted_same"]) for r in rows) == c["tp"] + c["fp"]
    assert out.rstrip().endswith(f"report: {run_copy / 'report.md'}")
    assert "### pairsDevTest.txt" in (run_copy / "report.md").read_text()


def test_a_result_on_devtrain_people_prints_its_caveat(cli_home, run_copy, capsys):
    assert evaluate(cli_home, run_copy, "--pairs", "pairsDevTest.txt", "--bootstrap", "0") == 0
    assert "caveat" not in capsys.readouterr().out
    assert evaluate(cli_home, run_copy, "--pairs", "pairsDevTrain.txt", "--bootstrap", "0") == 0
    seen = json.loads((run_copy / "eval" / "pairsDevTrain" / "metrics.json").read_text())
    assert seen["seen_people"] > 0
    assert (f"  caveat: {seen['seen_people']} of these people are among those the run was "
            "trained or validated on\n") in capsys.readouterr().out


def test_one_shot_and_ten_fold(cli_home, run_copy, capsys):
    code = evaluate(cli_home, run_copy, "--pairs", "pairsDevTest.txt", "--bootstrap", "0",
                    "--no-plots", "--one-shot", "2", "4", "--trials", "200", "--ten-fold")
    assert code == 0
    out = capsys.readouterr().out

    one_shot = json.loads((run_copy / "eval" / "pairsDevTest" / "one_shot.json").read_text())
    # peopleDevTest's 8 people all have 3 or 4 images: 28 images, none of them DevTrain people
    assert (one_shot["people"], one_shot["images"], one_shot["seen_people"]) == (8, 28, 0)
    assert [r["n_way"] for r in one_shot["results"]] == [2, 4]
    assert [r["chance"] for r in one_shot["results"]] == [0.5, 0.25]
    assert "N-way one-shot identification: 28 images of 8 people of peopleDevTest.txt" in out
    assert not (run_copy / "eval" / "pairsDevTest" / "one_shot.png").exists()  # --no-plots

    ten = json.loads((run_copy / "eval" / "ten-fold" / "ten_fold.json").read_text())
    # pairs.txt: per fold two DevTrain pairs and two DevTest-only pairs (see conftest)
    assert ten["overlap"]["training_people"] == 16
    assert ten["overlap"]["pairs_with_shared_people"] == 20
    assert ten["all_pairs"]["pairs"] == 40 and ten["unseen_pairs"]["pairs"] == 20
    assert len(ten["unseen_pairs"]["ten_fold"]["folds"]) == 10
    assert "!! NOT a clean LFW View 2 result" in out
    assert "pairs of people outside DevTrain: 20 pairs (10 matching)" in out
    assert "## LFW View 2" in (run_copy / "report.md").read_text()


def test_evaluating_again_without_one_shot_names_the_results_it_replaces(
        cli_home, run_copy, capsys):
    args = ("--pairs", "pairsDevTest.txt", "--bootstrap", "0", "--no-plots")
    assert evaluate(cli_home, run_copy, *args, "--one-shot", "2", "--trials", "50") == 0
    capsys.readouterr()
    assert evaluate(cli_home, run_copy, *args) == 0
    folder = run_copy / "eval" / "pairsDevTest"
    assert (f"siamface: note: {folder}: replaced by this evaluation, which did not make "
            "one_shot.json again") in capsys.readouterr().err
    assert not (folder / "one_shot.json").exists()


def test_a_pairs_file_whose_name_is_not_utf8_is_refused_before_anything_is_written(
        cli_home, run_copy, tmp_path, capsys):
    odd = tmp_path / "pairs\udcff.txt"  # the name os.listdir gives a file named b"pairs\xff.txt"
    shutil.copyfile(cli_home / "lfw" / "protocol" / "pairsDevTest.txt", odd)
    assert evaluate(cli_home, run_copy, "--pairs", str(odd), "--bootstrap", "0") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bytes that are not UTF-8; rename it" in err
    assert not (run_copy / "eval").exists()
    assert evaluate(cli_home, run_copy, "--pairs", "pairsDevTest.txt", "--bootstrap", "0",
                    "--no-plots") == 0  # and the run is evaluated as ever


def test_ten_fold_alone_needs_no_pairs_file(cli_home, run_copy):
    assert evaluate(cli_home, run_copy, "--ten-fold") == 0
    assert not (run_copy / "eval" / "pairsDevTest").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to evaluate"),
        (["--ten-fold", "--one-shot", "5"], "--one-shot draws its people from the --pairs"),
        (["--pairs", "pairsNope.txt"], "no protocol file 'pairsNope.txt'"),
    ],
)
def test_bad_requests_fail_with_one_line(cli_home, run_copy, capsys, args, message):
    assert evaluate(cli_home, run_copy, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_unfinished_run_is_refused(cli_home, tmp_path, capsys):
    assert evaluate(cli_home, tmp_path, "--pairs", "pairsDevTest.txt") == 2
    assert "not a run folder (no config.yaml)" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text("")  # one that began training
    assert evaluate(cli_home, tmp_path, "--pairs", "pairsDevTest.txt") == 2
    assert "is not a finished run" in capsys.readouterr().err


def test_identification_in_a_home_too_small_for_any_gallery_records_each_as_skipped_with_why(
        cli_home, run_copy, capsys):
    # The tiny home's DevTest has 8 people, and the CLI's gallery sizes are 10, 100 and all of
    # them: none can be measured here (tests/evaluation/test_open_set_eval.py measures some),
    # so this proves the CLI's wiring: its refusal, open_set.json, no figure, the report section.
    # identification has no bootstrap intervals: asking for them is refused, not ignored
    assert evaluate(cli_home, run_copy, "--identification", "--bootstrap", "0") == 2
    assert "--bootstrap sets the intervals of --pairs and --folder" in capsys.readouterr().err
    assert evaluate(cli_home, run_copy, "--identification") == 0
    out = capsys.readouterr().out
    assert "Open-set identification: 8 DevTest people" in out
    folder = run_copy / "eval" / "open-set"
    results = json.loads((folder / "open_set.json").read_text())
    assert (results["people"], results["eligible_people"]) == (8, 8)
    why = {g["gallery_size"]: g.get("skipped") for g in results["galleries"]}
    assert list(why) == [10, 100, 8]  # 8: all of them
    only_8 = "DevTest has only 8 people with two or more images to enrol"
    assert why == {10: only_8, 100: only_8,
                   8: "every DevTest person is enrolled: nobody is left to be an impostor"}
    for size, reason in why.items():
        assert f"  {size:>8,}  skipped: {reason}" in out
    assert not (folder / "cmc.png").exists() and not (folder / "dir_fpir.png").exists()
    report = (run_copy / "report.md").read_text()
    assert "## Open-set identification (DevTest people)" in report
    assert "at a 1% FPIR target" in report
    assert ("| enrolled | rank-1 | rank-5 | DIR at FPIR 1% | DIR at FPIR 10% | impostors named "
            "(gallery threshold, 95% CI) |") in report
    assert "cmc.png" not in report and "dir_fpir.png" not in report
    for size in why:
        skipped = next(line for line in report.splitlines()
                       if line.startswith(f"| {size} | skipped"))
        assert skipped.count(" | ") == 7  # as many cells as the header
