import re
from pathlib import Path

from experiments.conftest import FIXED, write_spec
from siamface.cli.main import main
from siamface.cli.train import EPOCH_COLUMNS, format_epoch_header


def epoch_rows(out: str) -> list[list[str]]:
    """The lines of ``out`` that are rows of the per-epoch table, split into their cells."""
    rows = [line.split() for line in out.splitlines()]
    return [r for r in rows if len(r) == len(EPOCH_COLUMNS) and r[0].isdigit()
            and re.fullmatch(r"\d+s", r[-1])]


def test_search_compare_and_report_from_the_command_line(synthetic_home: Path, tmp_path: Path,
                                                         capsys):
    spec = write_spec(tmp_path / "spec.yaml", name="cli", n_trials=1)
    home = ["--data-dir", str(synthetic_home)]
    assert main([*home, "search", str(spec), "--studies-dir", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "trial 0: complete val_loss" in out and "study cli: 1 complete" in out
    assert [row[0] for row in epoch_rows(out)] == ["1", "2", "3"]  # its epochs, as they end
    assert out.count(format_epoch_header()) == 1
    study = tmp_path / "cli"
    assert main([*home, "search", "--resume", str(study), "--no-progress"]) == 0
    assert "\ntrial 0:" not in "\n" + capsys.readouterr().out  # nothing left to run
    assert main(["compare", str(study)]) == 0
    assert (study / "comparison.csv").is_file() and (study / "figures/runtimes.png").is_file()
    assert main(["report", str(study)]) == 0
    assert (study / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_a_bad_spec_or_a_missing_study_is_one_line(tmp_path: Path, capsys):
    spec = write_spec(tmp_path / "spec.yaml", objective="test_acc")
    assert main(["search", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"siamface: error: {spec}: objective must be") and err.count("\n") == 1
    assert main(["search", "--resume", str(tmp_path / "nothing")]) == 2
    assert "is not a study folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_repeat_prints_mean_std_min_max(synthetic_home: Path, tmp_path: Path, capsys):
    args = ["--data-dir", str(synthetic_home), "repeat", "default", "--seeds", "0", "1",
            "--set", *FIXED, "train.epochs=1", "--runs-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 seeds (0 1):" in out and "val_auc" in out and "repeat folder:" in out
    assert [row[0] for row in epoch_rows(out)] == ["1", "1"]  # each seed's epoch, as it ends
    assert out.count(format_epoch_header()) == 2  # the table's header, before each seed's rows
    (folder,) = tmp_path.glob("repeat-*")
    home = ["--data-dir", str(synthetic_home)]
    assert main([*home, "repeat", "--resume", str(folder), "--no-progress"]) == 0  # done: kept
    assert "2 seeds (0 1):" in capsys.readouterr().out
    assert main([*home, "repeat", "--resume", str(folder), "--seeds", "3", "--evaluate"]) == 2
    assert "as it was planned; drop --seeds, --evaluate" in capsys.readouterr().err
    assert main([*home, "repeat", "default"]) == 2
    assert "name a config and --seeds" in capsys.readouterr().err


def test_a_study_whose_every_trial_failed_exits_non_zero(synthetic_home: Path, tmp_path: Path,
                                                         capsys):
    # the config takes this fraction, but no person's pairs fit in it once the data is split
    spec = write_spec(tmp_path / "spec.yaml", name="doomed", n_trials=1, space={
        "data.val_fraction": {"type": "categorical", "choices": [1.0e-9]}})
    code = main(["--data-dir", str(synthetic_home), "search", str(spec), "--studies-dir",
                 str(tmp_path), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1 and "study doomed: 1 failed" in out
    assert "every trial of doomed failed" in err


def test_report_writes_only_an_html_file(tmp_path: Path, capsys):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8 a photo")
    assert main(["report", str(tmp_path), "--out", str(photo)]) == 2
    assert "--out: expected a .html file" in capsys.readouterr().err
    assert photo.read_bytes() == b"\xff\xd8 a photo"


def test_view2_refuses_a_bad_fold_before_announcing_a_folder(tmp_path: Path, capsys):
    code = main(["view2", "default", "--folds", "10", "--runs-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "--folds: expected different folds" in err


def test_a_studies_folder_given_where_it_would_be_ignored_is_refused(tmp_path, capsys):
    assert main(["search", "default-tpe", "--study-dir", str(tmp_path / "s"), "--studies-dir",
                 str(tmp_path)]) == 2
    assert "--study-dir names the study folder itself; drop --studies-dir" in (
        capsys.readouterr().err)
    assert main(["search", "--resume", str(tmp_path / "s"), "--studies-dir", str(tmp_path)]) == 2
    assert "drop SPEC, --study-dir and --studies-dir" in capsys.readouterr().err
