import json
import socket

from siamface.cli.main import main
from siamface.cli.run import format_seconds
from siamface.data import sources
from siamface.data.home import ENV_VAR
from siamface.data.sources import RemoteFile
from siamface.run_folder import Run

from .conftest import TINY


def test_run_end_to_end_imports_trains_evaluates_once_and_reports(lfw_sources, tmp_path,
                                                                  monkeypatch, capsys):
    home, runs = tmp_path / "home", tmp_path / "runs"
    monkeypatch.setenv(ENV_VAR, str(home))  # as `make run` would find it
    args = ["run", "--import", str(lfw_sources), "--runs-dir", str(runs), "--set", *TINY,
            "--bootstrap", "20", "--one-shot", "2", "3", "--trials", "100", "--no-plots",
            "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    (run_dir,) = runs.iterdir()

    # 1. data and its statistics
    assert (home / "lfw" / "manifest.json").is_file()
    assert "LFW (lfw-deepfunneled): 24 people, 75 images; 24 people have 2 or more images" in out
    assert "pairsDevTrain.txt / pairsDevTest.txt: disjoint" in out
    assert "pairsDevTrain.txt / pairs.txt: share 11 people" in out
    # 2. training, 3. one evaluation on pairsDevTest, 4. the report
    assert "config: default (seed 0)" in out and f"run folder: {run_dir}" in out
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == ["pairsDevTest"]
    metrics = json.loads((run_dir / "eval" / "pairsDevTest" / "metrics.json").read_text())
    one_shot = json.loads((run_dir / "eval" / "pairsDevTest" / "one_shot.json").read_text())
    report = (run_dir / "report.md").read_text()
    assert "## Test results" in report and "### N-way one-shot identification" in report
    # 5. the closing table, from the files just written
    final = out[out.index("siamface run: default, evaluated once on pairsDevTest.txt"):]
    lo, hi = metrics["accuracy_ci95"]
    assert f"DevTest accuracy  {metrics['accuracy']:.4f}  95% CI [{lo:.4f}, {hi:.4f}]" in final
    assert f"DevTest AUC       {metrics['auc']:.4f}" in final
    assert f"3-way one-shot    {one_shot['results'][1]['accuracy']:.4f}" in final
    assert f"report            {run_dir / 'report.md'}" in final
    # 6. where the time went: every phase, in run order, in timings.json and the closing table
    timings = Run(run_dir).timings()
    assert list(timings) == [
        "imports", "data", "image cache and batches", "training steps", "validation",
        "checkpoints and logs", "model and calibration", "evaluation set-up", "evaluation",
        "one-shot", "report"]
    assert f"time              {sum(timings.values()) / 60:.1f} min: " in final
    assert "training steps" in final.split("time  ")[1].splitlines()[0]

    # importing the same files again is a no-op (the manifest is not rewritten)
    manifest = (home / "lfw" / "manifest.json").read_text()
    assert main(["run", "--import", str(lfw_sources), "--runs-dir", str(runs), "--set", *TINY,
                 "train.epochs=1", "--bootstrap", "0", "--one-shot", "--no-plots",
                 "--no-progress"]) == 0
    assert (home / "lfw" / "manifest.json").read_text() == manifest
    assert "one-shot" not in capsys.readouterr().out.split("siamface run: default")[1]


def test_run_checks_the_config_before_touching_data(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path), "run", "--set", "train.epochz=1"])
    assert code == 2
    assert "unknown key 'train.epochz'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_run_without_data_fetches_and_fails_fast_offline_with_the_import_hint(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = RemoteFile("lfw-funneled.tgz", f"http://127.0.0.1:{port}/lfw.tgz", "0" * 64)
    monkeypatch.setattr(sources, "ARCHIVES", {"lfw_funneled": closed})
    assert main(["--data-dir", str(tmp_path), "run", "--runs-dir", str(tmp_path / "runs")]) == 2
    captured = capsys.readouterr()
    assert f"no LFW copy in {tmp_path}: downloading it" in captured.out
    assert "siamface run --import PATH" in captured.err
    assert not (tmp_path / "runs").exists()


def test_run_needs_devtest_before_it_trains(lfw_sources, tmp_path, capsys):
    only_train = [lfw_sources / "lfw-deepfunneled", lfw_sources / "pairsDevTrain.txt",
                  lfw_sources / "peopleDevTrain.txt"]
    code = main(["--data-dir", str(tmp_path / "home"), "run", "--import", *map(str, only_train),
                 "--runs-dir", str(tmp_path / "runs"), "--set", *TINY])
    assert code == 2
    assert "no protocol file 'pairsDevTest.txt'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_run_refuses_a_view2_fold_before_it_trains(lfw_sources, tmp_path, capsys):
    # a fold's run trains on DevTest's people: its test would be refused only after training
    code = main(["--data-dir", str(tmp_path / "home"), "run", "--import", str(lfw_sources),
                 "--runs-dir", str(tmp_path / "runs"), "--set", *TINY, "data.view2_fold=3"])
    assert code == 2
    assert ("data.view2_fold=3: a run on a View 2 fold trains on DevTest's people, so it cannot "
            "end with a test on pairsDevTest.txt") in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_time_row_names_the_longest_phases_and_counts_the_rest():
    seconds = {"data": 3.2, "training steps": 165.4, "validation": 8.0, "report": 0.4,
               "imports": 1.6, "one-shot": 1.0, "figures": 1.8}
    assert format_seconds(seconds) == (
        "3.0 min: training steps 165 s, validation 8 s, data 3 s, figures 2 s, imports 2 s, "
        "2 more 1 s")
    assert format_seconds({"a": 30.0}) == "0.5 min: a 30 s"
