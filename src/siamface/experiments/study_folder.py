"""A study folder: the one place that knows its files.

    spec.yaml              the spec the study was started with (every default filled in)
    study.json             the study's name and storage URL (password hidden)
    study.db               the Optuna storage, a SQLite file (unless --storage named another)
    study.db.claim.lock    the workers' lock beside that file (``claim.TrialClaim`` names it)
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
from siamface.utils.atomic import write_json_atomic, write_text_atomic
from siamface.utils.files import read_json_object, read_json_object_if_present

TRIAL_FILE = "trial.json"


class StudyFolderError(SpecError):
    """A study folder is missing its files or belongs to another spec; the message says which."""


class StudyFolder:
    """One study folder.

    Args:
        path: The folder (it need not exist yet; ``prepare`` makes it).
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

    def trial_dir(self, number: int) -> Path:
        return self.trials_dir / f"{number:04d}"

    @staticmethod
    def is_study(path: str | Path) -> bool:
        return (Path(path) / "spec.yaml").is_file() and (Path(path) / "study.json").is_file()

    # -- the spec and the storage ------------------------------------------------------------

    def prepare(self, spec: SearchSpec, storage_url: str) -> None:
        """Make the folder for ``spec``, or check that it already holds the same spec.

        Raises:
            StudyFolderError: The folder holds a study of a different spec.
        """
        if self.spec_path.is_file():
            if self.spec().to_dict() != spec.to_dict():
                raise StudyFolderError(
                    f"{self.spec_path}: this study was started with a different spec than "
                    f"{spec.source}; continue it with `siamface search --resume {self.path}` "
                    "or give another --study-dir")
            return
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.spec_path, yaml.safe_dump(spec.to_dict(), sort_keys=False))
        write_json_atomic(self.study_path, {"name": spec.name, "storage": storage_url})

    def spec(self) -> SearchSpec:
        if not self.spec_path.is_file():
            raise StudyFolderError(f"{self.spec_path} not found: {self.path} is not a study "
                                   "folder (`siamface search SPEC` makes one)")
        return load_spec(self.spec_path)

    def study_info(self) -> dict[str, Any]:
        if not self.study_path.is_file():
            raise StudyFolderError(f"{self.study_path} not found: {self.path} is not a study "
                                   "folder")
        return read_json_object(self.study_path, error=StudyFolderError)

    def update_info(self, **values: Any) -> None:
        write_json_atomic(self.study_path, {**self.study_info(), **values})

    # -- the trials --------------------------------------------------------------------------

    def write_trial(self, number: int, **record: Any) -> dict[str, Any]:
        """Merge ``record`` into trials/NNNN/trial.json (made if new); return the record."""
        path = self.trial_dir(number) / TRIAL_FILE
        old = read_json_object_if_present(path, error=StudyFolderError) or {}
        new = {**old, "number": number, **record}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, new)
        return new

    def trial(self, number: int) -> dict[str, Any] | None:
        path = self.trial_dir(number) / TRIAL_FILE
        return read_json_object_if_present(path, error=StudyFolderError)

    def trials(self) -> list[dict[str, Any]]:
        """Every trial's record, by number."""
        paths = sorted(self.trials_dir.glob(f"*/{TRIAL_FILE}"))
        return [read_json_object(p, error=StudyFolderError) for p in paths]

    def run_dir(self, number: int) -> Path | None:
        """The trial's run folder (the one folder in trials/NNNN with a config.yaml)."""
        found = sorted(p.parent for p in self.trial_dir(number).glob("*/config.yaml"))
        return found[-1] if found else None
