"""The pipeline's own rules (its end-to-end runs are in test_end_to_end.py and tests/cli/)."""

from __future__ import annotations

import os
import re
import warnings

import pytest

from inference.conftest import write_tiny_run
from siamface import pipeline
from siamface.config import TrainConfig
from siamface.data import fetch
from siamface.data.lfw import DataNotFoundError, open_lfw
from siamface.errors import SiamfaceError
from siamface.pipeline import (
    OtherCopyWarning,
    OversubscribedWarning,
    apply_process_settings,
    environment,
    evaluate,
    get_data,
    resolve_pairs,
)
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


def test_a_home_whose_copy_is_unfinished_is_not_called_empty_when_lfw_is_fetched(
        tmp_path, monkeypatch, capsys):
    class Offline(SiamfaceError):
        pass

    def offline(home, progress):
        raise Offline("offline")

    monkeypatch.setattr(fetch, "fetch_lfw", offline)
    (tmp_path / "lfw" / "images").mkdir(parents=True)  # an import killed before its manifest
    with pytest.raises(Offline):
        get_data(tmp_path, [], progress=False, on_fetch=print)
    assert capsys.readouterr().out == (f"an unfinished or damaged LFW copy in {tmp_path}: "
                                       "downloading it\n")


def test_a_copy_kept_aside_by_an_import_cut_off_is_never_downloaded_over(tmp_path, monkeypatch):
    def must_not_fetch(home, progress):
        raise AssertionError("fetched LFW over the copy kept in .lfw-old")

    monkeypatch.setattr(fetch, "fetch_lfw", must_not_fetch)
    (tmp_path / ".lfw-old" / "images").mkdir(parents=True)  # killed between the two renames
    with pytest.raises(DataNotFoundError, match=r"the one before it is kept in .*\.lfw-old"):
        get_data(tmp_path, [], progress=False)


def test_a_run_evaluated_on_another_lfw_copy_says_so(synthetic_home, view2_home, tmp_path):
    run = Run(write_tiny_run(tmp_path / "run"))
    run.write_environment(environment(open_lfw(synthetic_home)))  # trained on this copy
    with warnings.catch_warnings():
        warnings.simplefilter("error", OtherCopyWarning)  # the same copy: nothing to say
        evaluate(run, open_lfw(synthetic_home), ["pairsDevTest.txt"], n_bootstrap=0,
                 plots=False, progress=False)
    with pytest.warns(OtherCopyWarning, match=r"run was trained on another LFW copy than the "
                                              r"one in .* \(the images, .*differ; "
                                              r"environment\.json records the first\)"):
        evaluate(run, open_lfw(view2_home), ["pairsDevTest.txt"], n_bootstrap=0, plots=False,
                 progress=False)


def test_a_result_on_the_runs_own_training_people_carries_a_caveat(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    run = Run(write_tiny_run(tmp_path / "run"))
    out = evaluate(run, lfw, ["pairsDevTest.txt", "pairsDevTrain.txt"], n_bootstrap=0,
                   plots=False, progress=False)
    train_people = len({n for p in lfw.read_pairs("pairsDevTrain.txt").pairs for n in p.people})
    assert out.metrics["pairsDevTest.txt"]["seen_people"] == 0
    assert out.metrics["pairsDevTrain.txt"]["seen_people"] == train_people > 0
    report = run.report_path.read_text()
    assert report.count("**Caveat:**") == 1
    assert (f"**Caveat:** {train_people} of these people are among those the run was trained "
            "or validated on.") in report


def test_a_folder_given_as_a_pairs_file_is_named_as_a_folder(synthetic_home, tmp_path):
    run = Run(write_tiny_run(tmp_path / "run"))
    with pytest.raises(IsADirectoryError, match=rf"^{re.escape(str(tmp_path))}: is a folder, not a "
                                            "pairs file$"):
        resolve_pairs(run, open_lfw(synthetic_home), str(tmp_path))


@pytest.mark.parametrize(("threads", "warned"), [(2, False), (3, True)])
def test_more_threads_than_the_process_has_cores_is_warned_of(monkeypatch, threads, warned):
    monkeypatch.setattr(pipeline, "usable_cores", lambda: 2)
    set_to = []
    monkeypatch.setattr(pipeline.torch, "set_num_threads", set_to.append)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_process_settings(TrainConfig(threads=threads))
    said = [str(w.message) for w in caught if issubclass(w.category, OversubscribedWarning)]
    assert said == ([f"train.threads is {threads}, but this process may run on 2 core(s): "
                     "threads beyond them wait on each other; set train.threads=2 or null"]
                    if warned else [])
    assert set_to == [threads]  # asked for: still done
