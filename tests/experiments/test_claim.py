"""The study's claim lock: a second holder waits until the first lets go."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from siamface.experiments.claim import TrialClaim, UnlockedStudyWarning


def assert_claims_exclude(claim: Callable[[], TrialClaim]) -> None:
    """Two claims on one study: the second acquires only after the first releases."""
    first, second = claim(), claim()
    first.acquire()
    got = threading.Event()

    def take() -> None:
        second.acquire()
        got.set()

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    try:
        assert not got.wait(0.5), "the second claim did not wait for the first"
        first.release()
        assert got.wait(10), "the second claim never got the lock"
    finally:
        first.release()
        waiter.join(10)
        second.release()


def assert_acquires(claim: TrialClaim) -> None:
    """``claim`` is acquired and released within 10 s, on a thread of its own (a file lock
    belongs to the thread that took it), so that a lock never let go fails the test instead of
    hanging it."""

    done = threading.Event()

    def take_and_give_back() -> None:
        claim.acquire()
        claim.release()
        done.set()

    threading.Thread(target=take_and_give_back, daemon=True).start()
    assert done.wait(10), "the claim is still held by someone else"


def test_sqlite_claims_exclude_each_other(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert_claims_exclude(lambda: TrialClaim(url, "s"))
    assert (tmp_path / "study.db.claim.lock").exists()


def test_release_is_harmless_when_not_held(tmp_path: Path):
    claim = TrialClaim(f"sqlite:///{tmp_path / 'study.db'}", "s")
    claim.release()
    claim.acquire()
    claim.release()
    claim.release()
    assert_acquires(TrialClaim(f"sqlite:///{tmp_path / 'study.db'}", "s"))  # it let go


def test_an_in_memory_study_needs_no_lock():
    claim = TrialClaim("sqlite://", "s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        claim.acquire()
    claim.release()


def test_a_database_without_a_known_lock_warns():
    claim = TrialClaim("oracle+oracledb://u@localhost/db", "s")
    with pytest.warns(UnlockedStudyWarning, match="oracle.*over n_trials"):
        claim.acquire()
    claim.release()
