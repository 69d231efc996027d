"""The pipeline's own rules (its end-to-end runs are in test_end_to_end.py and tests/cli/)."""

from __future__ import annotations

import os

from inference.conftest import write_tiny_run
from siamface.data.lfw import open_lfw
from siamface.pipeline import resolve_pairs
from siamface.run_folder import Run


def test_the_imported_pairs_file_gets_its_own_folder_however_its_path_is_spelled(
        synthetic_home, tmp_path, monkeypatch):
    run, lfw = Run(write_tiny_run(tmp_path / "run")), open_lfw(synthetic_home)
    imported = lfw.protocol_path("pairsDevTest.txt")
    monkeypatch.chdir(tmp_path)
    for spelling in ("pairsDevTest.txt", str(imported), os.path.relpath(imported)):
        pairs_file, folder = resolve_pairs(run, lfw, spelling)
        assert folder == run.eval_dir("pairsDevTest.txt"), spelling
        assert pairs_file.path == imported
    copy = tmp_path / "pairsDevTest.txt"  # the same bytes elsewhere: a file of its own
    copy.write_bytes(imported.read_bytes())
    assert resolve_pairs(run, lfw, str(copy))[1] != run.eval_dir("pairsDevTest.txt")
