"""A study folder: the one place that knows its files.

    spec.yaml              the spec the study was started with (every default filled in)
    study.json             the study's name and storage URL (password hidden; null: study.db)
    study.db               the Optuna storage, a SQLite file (unless --storage named another)
    study.db.claim.lock    the workers' lock beside that file (``claim.TrialClaim`` names it)
    .study.lock            held while a worker starts the study (checks and records it)
    trials/NNNN/trial.json the trial's record: number, state, params, value, reason, run
    trials/NNNN/<run>/     the trial's ordinary run folder (kept when pruned or failed)
    trials/NNNN/tensorboard/  its event files, when the tensorboard extra is installed
    comparison.csv, comparison.md, figures/, report.html   written by compare and report

trial.json is written when a trial starts (state "running") and again when it ends, so a
trial whose process was killed still has a record; the search marks it failed afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from siamface.experiments.spec import SearchSpec, SpecError, load_spec
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic, write_text_atomic
from siamface.utils.files import is_inside, number_at, read_json_object

TRIAL_FILE = "trial.json"
STATES = ("running", "complete", "pruned", "failed")  # a trial record's


class StudyFolderError(SpecError):
    """A study folder is missing its files or belongs to another spec; the message says which."""


class StudyFolder:
    """One study folder.

    Args:
        path: The folder (it need not exist yet; ``start`` makes it).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"StudyFolder({str(self.path)!r})"

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.yaml"

    @property
    def study_path(self) -> Path:
        return self.path / "study.json"

    @property
    def db_path(self) -> Path:
        return self.path / "study.db"

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def start_lock_path(self) -> Path:
        """Held while a worker starts the study, so that two never record it at once."""
        return self.path / ".study.lock"

    def trial_dir(self, number: int) -> Path:
        return self.trials_dir / f"{number:04d}"

    @staticmethod
    def is_study(path: str | Path) -> bool:
        folder = StudyFolder(path)
        return folder.spec_path.is_file() and folder.study_path.is_file()

    # -- the spec and the storage ------------------------------------------------------------

    def holds(self, spec: SearchSpec, storage: str | None) -> bool:
        """Whether the folder holds the study of ``spec`` already, stored in ``storage`` (None:
        the folder's own study.db); False for a new or empty folder, which ``start`` makes
        the study's.

        Raises:
            StudyFolderError: The folder holds a study of a different spec or storage, or other
                files (a run folder, say): a study's records would be mixed with them.
        """
        if self.path.exists() and not self.path.is_dir():
            raise StudyFolderError(f"{self.path} is a file: a study is kept in a folder; give "
                                   "a new or empty --study-dir")
        if not self.spec_path.is_file():
            # a study's own files without spec.yaml: another worker is starting it
            others = [p.name for p in self.path.iterdir() if not self._owns(p.name)] \
                if self.path.is_dir() else []
            if others:
                raise StudyFolderError(f"{self.path} holds {others[0]} and no study (no "
                                       "spec.yaml); give a new or empty --study-dir")
            return False
        if self.spec().to_dict() != spec.to_dict():
            raise StudyFolderError(
                f"{self.spec_path}: this study was started with a different spec than "
                f"{spec.source}; continue it with `siamface search --resume {self.path}` "
                "or give another --study-dir")
        recorded = self.storage()
        if recorded != self._own_db_as_none(storage):  # its trials would overwrite these
            where = "its own study.db" if recorded is None else recorded
            fix = "drop --storage" if recorded is None else f"give --storage {recorded}"
            raise StudyFolderError(f"{self.study_path}: this study is stored in {where}, not "
                                   f"{storage or 'its own study.db'}; {fix} to continue it, "
                                   "or give another --study-dir")
        return True

    def start(self, spec: SearchSpec, storage: str | None) -> None:
        """Make the folder the study of ``spec``, stored in ``storage`` (None: the folder's own
        study.db, wherever the folder is moved)."""
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        # study.json first: a worker that sees spec.yaml finds the storage recorded
        write_json_atomic(self.study_path, {"name": spec.name,
                                            "storage": self._own_db_as_none(storage)})
        write_text_atomic(self.spec_path, yaml.safe_dump(spec.to_dict(), sort_keys=False))

    def storage(self) -> str | None:
        """The URL the study is stored in (its password hidden), None for its own study.db."""
        return self._own_db_as_none(self.study_info()["storage"])

    def _own_db_as_none(self, url: str | None) -> str | None:
        """None for a SQLite URL of this folder's study.db (as studies before 2026-12-07
        recorded it), else ``url``."""
        from sqlalchemy.engine import make_url

        try:
            parsed = make_url(url) if url is not None else None
        except Exception:  # not a URL SQLAlchemy reads: compared as it is
            return url
        if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database \
                and Path(parsed.database).resolve() == self.db_path.resolve():
            return None
        return url

    def _owns(self, name: str) -> bool:
        """Whether a file of this name in the folder is the study's (study.db's journal, the
        locks, and a file being written atomically, included)."""
        name = name.removeprefix(".")
        return name in (self.spec_path.name, self.trials_dir.name) or name.startswith(
            ("study.", self.spec_path.name))

    def spec(self) -> SearchSpec:
        if not self.spec_path.is_file():
            raise StudyFolderError(f"{self.spec_path} not found: {self.path} is not a study "
                                   "folder (`siamface search SPEC` makes one)")
        return load_spec(self.spec_path)

    def study_info(self) -> dict[str, Any]:
        if not self.study_path.is_file():
            raise StudyFolderError(f"{self.study_path} not found: {self.path} is not a study "
                                   "folder")
        info = read_json_object(self.study_path, ("name", "storage"), StudyFolderError)
        if info["storage"] is not None and (not isinstance(info["storage"], str)
                                            or not info["storage"]):
            raise StudyFolderError(f"{self.study_path}: storage is {info['storage']!r}, "
                                   "expected the study's storage URL, or null for its study.db")
        return info

    def update_info(self, **values: Any) -> None:
        write_json_atomic(self.study_path, {**self.study_info(), **values})

    # -- the trials --------------------------------------------------------------------------

    def write_trial(self, number: int, **record: Any) -> dict[str, Any]:
        """Merge ``record`` into trials/NNNN/trial.json (made if new); return the record."""
        path = self.trial_dir(number) / TRIAL_FILE
        old = checked_record(path, number) if path.is_file() else {}
        new = {**old, "number": number, **record}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, new)
        return new

    def trial(self, number: int) -> dict[str, Any] | None:
        """Trial ``number``'s record (checked: ``checked_record``), or None if it has none."""
        path = self.trial_dir(number) / TRIAL_FILE
        return checked_record(path, number) if path.is_file() else None

    def trials(self) -> list[dict[str, Any]]:
        """Every trial's record, by number."""
        paths = sorted(self.trials_dir.glob(f"*/{TRIAL_FILE}"))
        return [checked_record(p, _folder_number(p)) for p in paths]

    def run_dir(self, number: int) -> Path | None:
        """The trial's run folder (the one folder in trials/NNNN with a config.yaml)."""
        run = Run.newest_in(self.trial_dir(number))
        return None if run is None else run.path


def _folder_number(path: Path) -> int:
    """The trial number of trials/NNNN/trial.json."""
    name = path.parent.name
    if not (name.isascii() and name.isdigit()):
        raise StudyFolderError(f"{path}: a trial's folder is named by its number (0000, 0001, "
                               f"...), not {name!r}")
    return int(name)


def checked_record(path: Path, number: int) -> dict[str, Any]:
    """The trial record in ``path``, which must be trial ``number``'s: its number, a known
    state, its parameters, numbers (or null) where numbers are kept, and its run's folder
    named as one beside the record (or null).

    Raises:
        StudyFolderError: Naming the file and the field (the file was damaged or edited).
    """
    record = read_json_object(path, ("number", "state", "params"), StudyFolderError)
    if record["number"] != number or isinstance(record["number"], bool):
        raise StudyFolderError(f"{path}: number is {record['number']!r}, but the folder is "
                               f"trial {number}'s")
    if record["state"] not in STATES:
        raise StudyFolderError(f"{path}: state is {record['state']!r}, expected one of "
                               f"{', '.join(STATES)}")
    if not isinstance(record["params"], dict):
        raise StudyFolderError(f"{path}: params is {record['params']!r}, expected an object")
    for key in ("value", "seconds", "eval_seconds"):
        if key in record:
            number_at(record, (key,), path, error=StudyFolderError)
    run = record.get("run")
    if run is not None and not (is_inside(run) and len(Path(run).parts) == 1):
        raise StudyFolderError(f"{path}: run is {run!r}, expected the name of the run's folder "
                               "beside it, or null")
    return record
