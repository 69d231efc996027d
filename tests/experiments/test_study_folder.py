"""The study folder: which folder may hold a study, and the records it keeps, checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from siamface.experiments.spec import spec_from_dict
from siamface.experiments.study_folder import StudyFolder, StudyFolderError

from .conftest import tiny_spec

SERVER = "postgresql://worker:***@db.example/studies"  # a storage shared by workers


def started(tmp_path: Path, storage: str | None = None) -> StudyFolder:
    folder = StudyFolder(tmp_path / "s")
    spec = spec_from_dict(tiny_spec(name="s"))
    assert folder.holds(spec, storage) is False  # new
    folder.path.mkdir(parents=True)
    folder.start(spec, storage)
    return folder


def test_a_started_study_is_continued_only_with_its_spec_and_storage(tmp_path):
    folder = started(tmp_path)
    spec = spec_from_dict(tiny_spec(name="s"))
    assert folder.holds(spec, None) is True
    assert folder.holds(spec, f"sqlite:///{folder.db_path}") is True  # its own, named
    with pytest.raises(StudyFolderError, match="started with a different spec"):
        folder.holds(spec_from_dict(tiny_spec(name="s", n_trials=9)), None)
    # another database: its trials would be numbered from 0 again and overwrite these records
    with pytest.raises(StudyFolderError, match=r"stored in its own study\.db, not postgresql://"
                                               r".*; drop --storage to continue it"):
        folder.holds(spec, SERVER)
    shared = started(tmp_path / "shared", SERVER)
    assert shared.holds(spec, SERVER) is True
    with pytest.raises(StudyFolderError, match=f"give --storage {re.escape(SERVER)} to"):
        shared.holds(spec, None)


def test_a_moved_study_goes_on_with_its_own_database(tmp_path):
    folder = started(tmp_path / "a")
    moved = StudyFolder(folder.path.rename(tmp_path / "b"))
    assert moved.holds(spec_from_dict(tiny_spec(name="s")), None) is True
    assert moved.storage() is None


def test_a_study_that_recorded_its_database_by_url_reads_as_its_own(tmp_path):
    folder = started(tmp_path)  # as studies recorded their study.db before 2026-12-07
    folder.study_path.write_text(json.dumps({"name": "s",
                                             "storage": f"sqlite:///{folder.db_path}"}))
    assert folder.storage() is None


def test_a_folder_holding_other_files_is_not_made_a_study(tmp_path):
    spec = spec_from_dict(tiny_spec(name="s"))
    run = StudyFolder(tmp_path / "run")  # a run folder given as --study-dir
    run.path.mkdir()
    (run.path / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(StudyFolderError, match=r"run holds config\.yaml and no study"):
        run.holds(spec, None)
    # the study's own files without spec.yaml: another worker is starting the same study
    starting = StudyFolder(tmp_path / "s")
    (starting.path / "trials").mkdir(parents=True)
    for name in ("study.db", "study.db.claim.lock", "study.json", ".spec.yaml.x1y2z3w4.tmp",
                 ".study.lock"):
        (starting.path / name).write_text("")
    assert starting.holds(spec, None) is False


@pytest.mark.parametrize(("info", "message"), [
    ({"name": "s"}, "study.json: missing 'storage'"),
    ({"name": "s", "storage": 5}, "study.json: storage is 5, expected the study's storage"),
    ({"name": "s", "storage": ""}, "study.json: storage is '', expected the study's storage"),
])
def test_a_damaged_study_json_is_named(tmp_path, info, message):
    folder = started(tmp_path)
    folder.study_path.write_text(json.dumps(info))
    with pytest.raises(StudyFolderError, match=message):
        folder.study_info()


RECORD = {"number": 0, "state": "complete", "params": {"optim.lr": 0.001}, "value": 0.5}


def test_records_round_trip(tmp_path):
    folder = started(tmp_path)
    folder.write_trial(0, **{k: v for k, v in RECORD.items() if k != "number"})
    assert folder.trial(0) == RECORD and folder.trials() == [RECORD]
    assert folder.trial(1) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"number": 3}, "number is 3, but the folder is trial 0's"),
    ({"number": "zero"}, "number is 'zero', but the folder is trial 0's"),
    ({"state": "done"}, "state is 'done', expected one of running, complete, pruned, failed"),
    ({"params": None}, "params is None, expected an object"),
    ({"value": "high"}, "value is 'high', expected a number"),
    ({"eval_seconds": True}, "eval_seconds is True, expected a number"),
    # its run is read (and scored, by search --evaluate) from the trial's own folder only
    ({"run": 5}, "run is 5, expected the name of the run's folder beside it, or null"),
    ({"run": "/tmp/elsewhere"}, "run is '/tmp/elsewhere', expected the name of the run's"),
    ({"run": "../0001/default-x"}, r"run is '\.\./0001/default-x', expected the name"),
    ({"run": "a/b"}, "run is 'a/b', expected the name of the run's folder beside it"),
])
def test_a_damaged_trial_record_is_named_with_its_field(tmp_path, change, message):
    folder = started(tmp_path)
    path = folder.trial_dir(0) / "trial.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**RECORD, **change}))
    for read in (lambda: folder.trial(0), folder.trials):
        with pytest.raises(StudyFolderError, match=f"trial.json: {message}"):
            read()


def test_a_trial_folder_not_named_by_its_number_is_named(tmp_path):
    folder = started(tmp_path)
    (folder.trials_dir / "best").mkdir()
    (folder.trials_dir / "best" / "trial.json").write_text(json.dumps(RECORD))
    with pytest.raises(StudyFolderError, match=r"named by its number .* not 'best'"):
        folder.trials()
