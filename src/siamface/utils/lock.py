"""A lock file that lets one process at a time write into a data home or a run folder.

The lock is an OS file lock (``filelock``: flock on Unix), so it is released when its holder
exits, even by a crash: the lock file left behind never blocks anyone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from siamface.errors import SiamfaceError

# The lock file in a data home, held by imports and by image-cache builds.
DATA_HOME_LOCK = ".siamface.lock"
# How long a second process waits for the first to finish (a full import or cache build of
# LFW takes a minute or two).
WAIT_TIMEOUT_S = 30 * 60


class LockTimeoutError(SiamfaceError, TimeoutError):
    """Another process held a lock for longer than we were willing to wait."""


@contextmanager
def file_lock(
    path: str | os.PathLike[str], doing: str, timeout: float | None = None
) -> Iterator[None]:
    """Hold the lock file ``path`` (created if needed) for the duration of the block.

    When another process holds it, say so in one line on stderr, then wait for it.

    Args:
        path: The lock file.
        doing: What the lock is taken for, e.g. ``"import LFW into /data"``.
        timeout: Seconds to wait at most; None for WAIT_TIMEOUT_S; 0 fails at once, without
            the waiting notice.

    Raises:
        LockTimeoutError: The lock was still held after ``timeout`` seconds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    timeout = WAIT_TIMEOUT_S if timeout is None else timeout
    lock = FileLock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        if timeout == 0:
            raise LockTimeoutError(
                f"{path}: another process holds this lock, so we cannot {doing} now; let it "
                "finish, then run this again"
            ) from None
        print(
            f"siamface: waiting for another process to release {path} before we {doing} "
            f"(at most {timeout:g} s)",
            file=sys.stderr,
            flush=True,
        )
        try:
            lock.acquire(timeout=timeout)
        except Timeout as err:
            raise LockTimeoutError(
                f"{path}: another process still holds this lock after {timeout:g} s, so we "
                f"cannot {doing}; let it finish, then run this again"
            ) from err
    try:
        yield
    finally:
        lock.release()
