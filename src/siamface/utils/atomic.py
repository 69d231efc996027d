"""Atomic file writes: a reader sees the old file or the complete new one, never half of one;
and new folders, claimed by mkdir (``new_folder``).

The temporary file is made by mkstemp, which creates it readable by its owner only (0600); it
is given the mode open() would have given it (0666 less the umask) once written, just before it
replaces ``path`` (a writer may have made the file anew: safetensors' save_file does), so that
an atomically written file is shared like any other.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import safetensors

from siamface.errors import SiamfaceError, reason_of


class WriteError(SiamfaceError, OSError):
    """A file could not be written (a full disk, no permission); the message names it.

    Args:
        message: The one-line message.
        errno_: The OSError's errno, when there was one.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


# What a failed write raises: an OSError, or safetensors' SafetensorError, which quotes the
# OSError in its text ("I/O error: No space left on device (os error 28)") without its errno.
WRITE_FAILURES = (OSError, safetensors.SafetensorError)
_QUOTED_ERRNO = re.compile(r"\(os error (\d+)\)")


def write_error(path: Path, err: BaseException) -> WriteError:
    """A one-line WriteError naming ``path``; "no space left on device" when the disk is full.

    The errno is the error's own or the one its text quotes (a SafetensorError's); where there
    is none (torch.save's RuntimeError hides it), the free space decides.
    """
    errno_ = getattr(err, "errno", None)
    if errno_ is None and (quoted := _QUOTED_ERRNO.search(str(err))):
        errno_ = int(quoted[1])
    try:
        full = errno_ == errno.ENOSPC or (errno_ is None and _free_space(path) < 1 << 20)
    except OSError:
        full = False
    if full:
        reason = "no space left on device"
    elif errno_ is not None:
        reason = getattr(err, "strerror", None) or os.strerror(errno_)
    else:
        reason = reason_of(err)
    return WriteError(f"{reason} writing {path}", errno_)


def _free_space(path: Path) -> int:
    """The free bytes on the disk of ``path``, measured at its nearest folder that exists (a
    checkpoint's epoch folder is made only once its files are written)."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


_UMASK_LOCK = threading.Lock()  # umask_mode sets the process's umask for a moment
# tempfile's names: the prefix, eight of its random characters, the suffix
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of ``atomic_path``'s temporaries (``.<name>.<random>.tmp``,
    or a folder made so): a write in progress, or one a crash left behind; not a user's own
    ``.notes.tmp``."""
    return _TEMPORARY.fullmatch(name) is not None


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` is left untouched; a failed
    write (``WRITE_FAILURES``: a full disk) becomes a WriteError that names ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, umask_mode(0o666))
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except WriteError:
        raise
    except WRITE_FAILURES as err:
        raise write_error(path, err) from err
    finally:
        tmp_path.unlink(missing_ok=True)


def require_folder(path: str | os.PathLike[str]) -> None:
    """Refuse a path where a folder is to be, or is to be made, that is a file instead."""
    if Path(path).exists() and not Path(path).is_dir():
        raise NotADirectoryError(f"{path}: is a file; expected a folder (or a path to make one)")


def umask_mode(mode: int) -> int:
    """``mode`` less the process's umask: what open() (0o666) or mkdir() (0o777) would give.

    For files and folders made by mkstemp or mkdtemp, which ignore the umask (0600, 0700).
    """
    with _UMASK_LOCK:  # two threads at once would leave 022 for good
        umask = os.umask(0o022)  # the umask can only be read by setting it: set it back
        os.umask(umask)
    return mode & ~umask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def new_folder(parent: str | os.PathLike[str], name: str) -> Path:
    """Make ``parent/name``, or ``name-2``, ``name-3``... where it exists, and return it.

    mkdir is the claim: two processes that start in the same second (their names hold the
    time) each get a folder of their own.

    Raises:
        NotADirectoryError: ``parent`` is a file.
    """
    require_folder(parent)
    Path(parent).mkdir(parents=True, exist_ok=True)
    for k in itertools.count(1):
        path = Path(parent) / (name if k == 1 else f"{name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
