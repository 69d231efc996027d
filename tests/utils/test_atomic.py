import errno
import json
import threading
from types import SimpleNamespace

import pytest

from siamface.utils import atomic
from siamface.utils.atomic import (
    atomic_path,
    is_temporary,
    new_folder,
    write_error,
    write_json_atomic,
)


def test_write_json_atomic_round_trip(tmp_path):
    target = tmp_path / "sub" / "x.json"
    write_json_atomic(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_write_error_says_the_disk_is_full_only_when_it_is(tmp_path, monkeypatch):
    nearly_full = SimpleNamespace(total=100, used=100, free=0)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: nearly_full)
    denied = OSError(errno.EACCES, "Permission denied")  # its own errno: that is the reason
    assert str(write_error(tmp_path / "a", denied)) == f"Permission denied writing {tmp_path / 'a'}"
    full = OSError(errno.ENOSPC, "No space left on device")
    assert str(write_error(tmp_path / "a", full)) == (
        f"no space left on device writing {tmp_path / 'a'}")
    hidden = RuntimeError("file write failed")  # no errno (torch.save): the free space tells
    assert str(write_error(tmp_path / "a", hidden)).startswith("no space left on device")
    monkeypatch.setattr(atomic.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=1 << 30, used=0, free=1 << 30))
    assert str(write_error(tmp_path / "a", hidden)) == f"file write failed writing {tmp_path / 'a'}"


def test_the_temporary_of_a_write_in_progress_is_known_as_one(tmp_path):
    with atomic_path(tmp_path / "gallery.json") as tmp:
        assert is_temporary(tmp.name) and tmp.parent == tmp_path
    assert not is_temporary("gallery.json") and not is_temporary("notes.tmp")
    # a user's own hidden .tmp file is not one (an export would have removed it)
    assert not is_temporary(".notes.tmp") and not is_temporary(".my.draft.tmp")
    assert is_temporary(".export.k2_9qzab.tmp")  # tempfile's eight random characters


def test_a_new_folder_in_a_file_is_refused_naming_it(tmp_path):
    (tmp_path / "runs").write_text("notes")
    with pytest.raises(NotADirectoryError, match=r"runs: is a file; expected a folder"):
        new_folder(tmp_path / "runs", "default-20261207-101010")
    assert (tmp_path / "runs").read_text() == "notes"


def test_a_new_folder_is_claimed_by_mkdir_so_two_at_once_each_get_their_own(tmp_path):
    names = set()

    def claim():
        names.add(new_folder(tmp_path / "runs", "repeat-default-20261207-101010").name)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert names == {"repeat-default-20261207-101010",
                     *(f"repeat-default-20261207-101010-{k}" for k in range(2, 9))}
