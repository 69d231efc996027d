import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from siamface.experiments.compare import (
    compare,
    comparison_csv,
    comparison_markdown,
    param_importances,
    write_comparison,
)
from siamface.experiments.study_folder import StudyFolder


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
