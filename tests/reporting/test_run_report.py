import json

import pytest

from siamface.config import load_config, save_resolved
from siamface.errors import SiamfaceError
from siamface.reporting.run_report import run_report, write_run_report
from siamface.run_folder import Run

SUMMARY = (
    "epoch,train_loss,train_acc,val_loss,val_acc,val_auc,val_threshold,lr,seconds\n"
    "1,0.9,0.6,0.8,0.65,0.7,-0.5,0.003,60\n"
    "2,0.7,0.7,0.6,0.75,0.82,-0.25,0.0015,90\n"
)
METRICS = {
    "run": "r", "pairs_file": "pairsDevTest.txt", "best_epoch": 2, "loss": 0.51234,
    "pairs": 1000, "matching": 500, "threshold": -0.25, "accuracy": 0.823,
    "accuracy_at_p05": 0.8111, "auc": 0.9012, "eer": 0.181, "eer_threshold": 0.0,
    "confusion": {"tn": 412, "fp": 88, "fn": 89, "tp": 411}, "oracle_accuracy": 0.83,
    "tar_at_far_0.01": 0.412, "tar_at_far_0.001": 0.201,
    "accuracy_ci95": [0.799, 0.846], "auc_ci95": [0.88, 0.92],
}


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))


@pytest.fixture
def run_dir(tmp_path):
    """A finished run folder written by hand: the files train_run and evaluate_run leave."""
    run = tmp_path / "default-20260101-000000"
    run.mkdir()
    config = load_config("default")
    save_resolved(config, run / "config.yaml")
    write(run / "summary.csv", SUMMARY)
    write(run / "data.json", {"setting": "unrestricted (identity labels)", "train_people": 1009,
                              "train_images": 5494, "val_pairs": 440, "val_matching": 220,
                              "val_people": 363, "sampling": "identities", "split": "person"})
    write(run / "model.json", {
        "config": config.to_dict(), "threshold": -0.25, "best_epoch": 2,
        "stopped_because": "epochs",
        "validation": {"epoch": 2, "val_loss": 0.6, "val_acc": 0.75, "val_auc": 0.82,
                       "val_threshold": -0.25},
    })
    write(run / "environment.json", {
        "machine": {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "loadavg": [1.0, 2.0, 3.0],
                    "platform": "Linux", "python": "3.11.7", "date": "2026-01-01T00:00:00",
                    "versions": {"siamface": "0.1.0", "torch": "2.13.0", "numpy": None}},
        "data": {"variant": "lfw-deepfunneled", "checksums": {"pairs.txt": "ab" * 32}},
        "git_commit": "abc123", "command": ["siamface", "run"],
    })
    return run


def test_report_has_every_section_and_formats_the_files_numbers(run_dir):
    text = run_report(Run(run_dir))
    for heading in ("# Run default-20260101-000000", "## Configuration", "## Data",
                    "## Training", "## Test results", "## Environment"):
        assert f"\n{heading}\n" in f"\n{text}\n", heading
    assert "| model | resface (width 24, embedding_dim 128, dropout 0.2, head \"cosine\") |" in text
    assert "| training people | 1,009 |" in text and "| training images | 5,494 |" in text
    # training: chosen epoch, threshold, total time (60 + 90 s), the chosen row in bold
    assert "2 epochs in 2.5 minutes (stopped: epochs)" in text
    assert "epoch 2, chosen by `val_auc`" in text and "-0.2500 (logit)" in text
    assert "| **2** | 0.7000 | 0.7000 | 0.6000 | 0.7500 | 0.8200 | 1.50e-03 | 90.0 |" in text
    assert "| torch 2.13.0" not in text and "siamface 0.1.0, torch 2.13.0 |" in text  # no None
    assert "No evaluation yet" in text
    assert "## LFW View 2" not in text


def test_the_data_section_says_which_people_a_view2_fold_trained_on(run_dir):
    view1 = "no DevTest person is trained or validated on"
    assert view1 in run_report(Run(run_dir))
    assert "second image replaced by another person's" in run_report(Run(run_dir))  # default
    save_resolved(load_config("default", ["data.view2_fold=3"]), run_dir / "config.yaml")
    text = run_report(Run(run_dir))
    assert view1 not in text
    assert ("Trained and validated on View 2's folds but 3 (pairs.txt and people.txt, DevTest's "
            "people among them); fold 3's people are held out") in text


def test_a_restricted_runs_report_says_its_validation_pairs_are_the_files_own(run_dir):
    save_resolved(load_config("restricted"), run_dir / "config.yaml")
    text = run_report(Run(run_dir))
    assert "The validation pairs are the file's own" in text and "replaced" not in text


def test_report_shows_test_metrics_with_intervals_and_links_only_existing_figures(run_dir):
    folder = run_dir / "eval" / "pairsDevTest"
    write(folder / "metrics.json", METRICS)
    write(folder / "roc.png", "png")
    text = run_report(Run(run_dir))
    assert "### pairsDevTest.txt" in text
    assert "| accuracy at the validation threshold | 0.8230 | [0.7990, 0.8460] |" in text
    assert "| ROC AUC | 0.9012 | [0.8800, 0.9200] |" in text
    assert "| TAR at FAR 0.1% | 0.2010 | - |" in text
    assert "| bce loss, mean over pairs | 0.5123 | - |" in text
    assert "| different | 412 | 88 |" in text and "| same | 89 | 411 |" in text
    assert "[ROC](eval/pairsDevTest/roc.png)" in text
    assert "gallery_wrong.png" not in text and "scores.png" not in text


def test_links_into_an_eval_folder_with_a_space_are_percent_encoded(run_dir):
    # "eval/my pairs-…/roc.png" ended the Markdown link at the space: shown as raw text
    folder = run_dir / "eval" / "my pairs-0123456789ab"
    write(folder / "metrics.json", {**METRICS, "pairs_file": "my pairs.txt"})
    write(folder / "roc.png", "png")
    text = run_report(Run(run_dir))
    assert "![ROC on my pairs.txt](eval/my%20pairs-0123456789ab/roc.png)" in text
    assert "(eval/my%20pairs-0123456789ab/scores.csv)" in text


def test_report_shows_one_shot_and_the_view2_caveat(run_dir):
    folder = run_dir / "eval" / "pairsDevTest"
    write(folder / "one_shot.json", {
        "people_file": "peopleDevTest.txt", "people": 602, "images": 3708, "trials": 1000,
        "seen_people": 0,
        "results": [{"n_way": 20, "accuracy": 0.41, "ci95": [0.38, 0.44], "chance": 0.05}],
    })
    ten_fold = {"all_pairs": 0.86, "unseen_pairs": 0.85}
    write(run_dir / "eval" / "ten-fold" / "ten_fold.json", {
        "folds": 10, "caveat": "NOT a clean LFW View 2 result: counts here.",
        "overlap": {"training_people": 4038, "pairs_people": 4281, "shared_people": 2985},
        **{key: {"pairs": 6000 if key == "all_pairs" else 1147,
                 "matching": 3000 if key == "all_pairs" else 870,
                 "ten_fold": {"mean_accuracy": acc, "sem": 0.004}, "auc": 0.9,
                 "accuracy_at_validation_threshold": 0.8, "majority_baseline": 0.5}
           for key, acc in ten_fold.items()},
    })
    text = run_report(Run(run_dir))
    assert "### N-way one-shot identification (peopleDevTest.txt people)" in text
    assert "| 20 | 0.4100 | [0.3800, 0.4400] | 0.0500 |" in text
    assert "Caveat" not in text
    assert "> **NOT a clean LFW View 2 result: counts here.**" in text
    assert "| all (contaminated) | 6,000 | 3,000 | 0.8600 ± 0.0040 |" in text
    assert "| people outside DevTrain | 1,147 | 870 | 0.8500 ± 0.0040 |" in text


def test_write_run_report_draws_the_curves_and_writes_report_md(run_dir):
    path = write_run_report(Run(run_dir))
    assert path == run_dir / "report.md"
    assert (run_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "![Learning curves](learning_curves.png)" in path.read_text()


def test_an_unfinished_run_has_no_report(run_dir):
    (run_dir / "model.json").unlink()
    with pytest.raises(FileNotFoundError, match="is not a finished run"):
        write_run_report(Run(run_dir))
    assert not (run_dir / "report.md").exists() and not (run_dir / "learning_curves.png").exists()


def test_a_photo_folders_evaluation_has_no_loss_and_still_reports(run_dir):
    metrics = {k: v for k, v in METRICS.items() if k != "loss"}  # evaluate --folder writes none
    write(run_dir / "eval" / "my_people-0123456789ab" / "metrics.json",
          {**metrics, "pairs_file": "my_people/ (photos)"})
    text = run_report(Run(run_dir))
    assert "### my\\_people/ (photos)" in text  # "_" escaped: shown as typed
    assert "| bce loss, mean over pairs | - | - |" in text


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "not valid JSON"), ("[]", "expected a JSON object, got list"),
    ('{"pairs_file": "x"}', "missing 'pairs'"), (b"\xff\xfe", "bytes that are not UTF-8"),
])
def test_a_damaged_metrics_file_is_named(run_dir, content, problem):
    path = run_dir / "eval" / "pairsDevTest" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SiamfaceError, match=rf"{path}: {problem}"):
        run_report(Run(run_dir))


@pytest.mark.parametrize(("file", "edit", "problem"), [
    ("eval/pairsDevTest/metrics.json", lambda d: d.update(confusion={}), "missing 'tn'"),
    ("eval/pairsDevTest/one_shot.json", lambda d: d.pop("people_file"),
     "missing 'people_file'"),
    ("eval/pairsDevTest/one_shot.json", lambda d: d.update(trials="50"),
     "a value of another kind"),
    ("model.json", lambda d: d.pop("validation"), "missing 'validation'"),
    ("environment.json", lambda d: d.pop("data"), "missing 'data'"),
])
def test_a_result_file_missing_a_key_is_named_not_a_traceback(run_dir, file, edit, problem):
    # a KeyError here also ended every later `evaluate` after its results were written
    write(run_dir / "eval" / "pairsDevTest" / "metrics.json", METRICS)
    write(run_dir / "eval" / "pairsDevTest" / "one_shot.json", {
        "people_file": "peopleDevTest.txt", "people": 602, "images": 3708, "trials": 1000,
        "results": [{"n_way": 20, "accuracy": 0.41, "ci95": [0.38, 0.44], "chance": 0.05}]})
    run_report(Run(run_dir))  # whole, they report
    data = json.loads((run_dir / file).read_text())
    edit(data)
    write(run_dir / file, data)
    with pytest.raises(SiamfaceError, match=rf"{run_dir / file}: {problem}"):
        run_report(Run(run_dir))


def test_markup_in_the_runs_name_is_shown_as_typed(tmp_path, run_dir):
    named = tmp_path / "*em*-20260101-000000"
    run_dir.rename(named)
    assert run_report(Run(named)).startswith("# Run \\*em\\*-20260101-000000\n")
