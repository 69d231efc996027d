"""The first run on a machine without a local LFW copy: `siamface run` downloads LFW, then goes
on; offline it stops at once with one line naming both ways out."""

import json
import shutil
import socket

from conftest import make_lfw_tree
from data import test_fetch as fetch_tests
from siamface.cli.main import main
from siamface.data import sources
from siamface.data.sources import RemoteFile

from .conftest import COUNTS, TINY, write_protocol

# A local HTTP server on 127.0.0.1 that the tests fill (tests/data/test_fetch.py's fixture).
fetch_server = fetch_tests.server

QUICK = [*TINY, "train.epochs=1", "--bootstrap", "0", "--one-shot", "--no-plots"]


def serve_trainable_lfw(server, tmp_path, monkeypatch) -> list[str]:
    """Serve an lfw_funneled archive of the CLI's 24 people and their pairs files, with their
    sha256 in the built-in table; returns the server's request log."""
    base, served, log = server
    make_lfw_tree(tmp_path / "first_run_tree" / "lfw_funneled", COUNTS, size=40)
    shutil.make_archive(str(served / "lfw-funneled"), "gztar", tmp_path / "first_run_tree",
                        "lfw_funneled")
    write_protocol(served)  # pairs files of those people (the people files are not served)
    fetch_tests.serve_table(monkeypatch, base, served)
    return log


def test_run_with_no_copy_downloads_lfw_then_trains_and_evaluates(fetch_server, tmp_path,
                                                                  monkeypatch, capsys):
    log = serve_trainable_lfw(fetch_server, tmp_path, monkeypatch)
    home, runs = tmp_path / "home", tmp_path / "runs"
    args = ["--data-dir", str(home), "run", "--runs-dir", str(runs), "--set", *QUICK]
    assert main(args) == 0  # progress bars on, as a new user sees them
    captured = capsys.readouterr()

    assert f"no LFW copy in {home}: downloading it" in captured.out
    assert sorted(log) == ["/lfw-funneled.tar.gz", "/pairs.txt", "/pairsDevTest.txt",
                           "/pairsDevTrain.txt"]
    for name in ("lfw-funneled.tgz", "pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt"):
        assert f"{name}: 100%" in captured.err  # each download has its own named bar
    assert "Downloading file" not in captured.err  # pooch's own log lines stay quiet
    manifest = json.loads((home / "lfw" / "manifest.json").read_text())
    assert (manifest["variant"], manifest["images"]) == ("lfw_funneled", sum(COUNTS.values()))
    assert "LFW (lfw_funneled): 24 people, 75 images" in captured.out
    (run_dir,) = runs.iterdir()
    assert (run_dir / "eval" / "pairsDevTest" / "metrics.json").is_file()
    assert "siamface run: default, evaluated once on pairsDevTest.txt" in captured.out

    # the next run finds the imported copy: nothing is downloaded again
    assert main([*args, "--no-progress"]) == 0
    assert "downloading" not in capsys.readouterr().out
    assert len(log) == 4


def test_run_offline_with_no_copy_fails_at_once_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/lfw.tgz"
    monkeypatch.setattr(sources, "ARCHIVES", {"lfw_funneled": RemoteFile("lfw-funneled.tgz",
                                                                         url, "0" * 64)})
    home = tmp_path / "home"
    assert main(["--data-dir", str(home), "run", "--runs-dir", str(tmp_path / "runs")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"siamface: error: cannot connect to {url} (Connection refused); ")
    assert "connect to the network and run this again" in line
    assert "`siamface data import PATH`" in line
    assert not (tmp_path / "runs").exists()
    assert not [path for path in home.rglob("*") if path.is_file()]
