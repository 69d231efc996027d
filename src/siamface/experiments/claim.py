"""The lock that lets one worker of a study at a time decide whether to start a trial.

Every worker counts the study's started trials before it starts one. Two workers that count at
the same moment both see one trial left and both start it: the study ends a trial over
``n_trials`` (CI saw 7 of 6). So a worker holds this lock from its count until its new trial
exists in the storage (Optuna has made it "running"), then lets go while the trial trains.

The lock lives where the workers meet, chosen by the storage URL's database:

- PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a key made from the study's
  name; MySQL: ``GET_LOCK``. Workers on many machines share it, and a worker that dies loses
  it with its connection.
- SQLite: a lock file beside the database file (workers on one machine; the OS drops it when
  its holder dies). An in-memory database has one worker, so no lock.
- Any other database: no lock, with a warning that a study may run a trial or two over.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

from siamface.errors import SiamfaceWarning


class UnlockedStudyWarning(SiamfaceWarning):
    """The storage's database has no lock we know: concurrent workers may overshoot."""


class TrialClaim:
    """A lock shared by every worker of the study ``study_name`` stored at ``url``.

    ``acquire`` waits for it; ``release`` lets go and may be called when not held (the search
    releases it when its trial starts, and again, harmlessly, after the trial).

    Args:
        url: The study's SQLAlchemy storage URL.
        study_name: The study's name (one lock per study, not per database).
    """

    def __init__(self, url: str, study_name: str) -> None:
        self.url = url
        self.study_name = study_name
        self._release: Any = None  # how to let go of the lock held now; None when not held

    def acquire(self) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        dialect = url.get_backend_name()
        if dialect == "sqlite":
            self._release = self._lock_file(url.database)
        elif dialect in ("postgresql", "mysql", "mariadb"):
            self._release = self._lock_in_database(dialect)
        else:
            warnings.warn(
                f"workers of one study on {dialect} are not kept from starting a trial at the "
                "same moment: the study may run a trial or two over n_trials (PostgreSQL, "
                "MySQL and SQLite are locked)", UnlockedStudyWarning, stacklevel=2)
            self._release = lambda: None

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def _lock_file(self, database: str | None) -> Any:
        if not database or database == ":memory:":
            return lambda: None
        from filelock import FileLock

        lock = FileLock(f"{database}.claim.lock")
        lock.acquire()
        return lock.release

    def _lock_in_database(self, dialect: str) -> Any:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        connection = engine.connect()
        if dialect == "postgresql":
            key = int.from_bytes(self._digest()[:8], "big", signed=True)  # a bigint
            lock, unlock = "SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"
        else:
            key = f"siamface-{self._digest().hex()[:40]}"  # GET_LOCK names: 64 chars at most
            lock, unlock = "SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)"
        connection.execute(text(lock), {"key": key})

        def release() -> None:
            try:
                connection.execute(text(unlock), {"key": key})
            finally:  # closing the session drops the lock too, should the unlock fail
                connection.close()
                engine.dispose()

        return release

    def _digest(self) -> bytes:
        return hashlib.sha256(f"siamface study {self.study_name}".encode()).digest()
