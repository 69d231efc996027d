"""file_lock between two processes: the second waits with a notice, or times out in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from siamface.errors import SiamfaceError
from siamface.utils.lock import LockTimeoutError, file_lock

WAITER = textwrap.dedent(
    """
    import sys
    from siamface.utils.lock import file_lock

    with file_lock(sys.argv[1], "test the lock", timeout=float(sys.argv[2])):
        print("acquired", flush=True)
    """
)

# Holds the lock until its stdin is closed.
HOLDER = (
    "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire();"
    " print('held', flush=True); sys.stdin.read()"
)


def waiter(path, timeout: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WAITER, str(path), str(timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_second_process_waits_for_the_lock_with_a_notice(tmp_path):
    path = tmp_path / "home" / ".siamface.lock"
    with file_lock(path, "hold the lock"):
        proc = waiter(path, timeout=120)
        notice = proc.stderr.readline()  # printed only once it found the lock taken
        assert notice.startswith(f"siamface: waiting for another process to release {path}")
        assert "before we test the lock" in notice
        assert proc.poll() is None  # still waiting
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (0, "acquired\n", "")


def test_no_notice_when_the_lock_is_free(tmp_path):
    proc = waiter(tmp_path / "x.lock", timeout=120)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (0, "acquired\n", "")


def test_waiting_too_long_is_one_line_naming_the_lock(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockTimeoutError) as err, file_lock(path, "import LFW", timeout=0.2):
            pytest.fail("the lock was acquired while another process held it")
    finally:
        holder.communicate("", timeout=120)
    message = str(err.value)
    assert message.startswith(f"{path}: another process still holds this lock after 0.2 s")
    assert "cannot import LFW" in message and "\n" not in message
    assert isinstance(err.value, SiamfaceError) and isinstance(err.value, TimeoutError)
    with file_lock(path, "import LFW", timeout=0):  # free again once the holder is gone
        pass
