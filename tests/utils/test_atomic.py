import errno
import json
import resource
import signal
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import safetensors
import safetensors.torch
from torch import nn

from siamface.models.io import save_weights
from siamface.utils import atomic
from siamface.utils.atomic import (
    WriteError,
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



def test_a_full_disk_while_safetensors_writes_is_one_line_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"the weights saved before")
    monkeypatch.setattr(atomic.shutil, "disk_usage",  # the errno it quotes decides, not this
                        lambda path: SimpleNamespace(total=1 << 40, used=0, free=1 << 40))

    def full(tensors, filename, metadata=None):  # what safetensors raises: no errno, no OSError
        Path(filename).write_bytes(b"half")
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on "
                                          f'device (os error 28) at path "{tmp_path}/.tmpA1b2C3"')

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(WriteError) as info:
        save_weights(nn.Linear(2, 2), target)
    assert str(info.value) == f"no space left on device writing {target}"
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"the weights saved before"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left


def test_a_real_safetensors_write_failure_is_a_write_error(tmp_path):
    target = tmp_path / "model.safetensors"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    default = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(WriteError) as info:
            save_weights(nn.Linear(64, 64), target)  # 16 kB of weights
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, default)
    assert str(info.value) == f"File too large writing {target}"
    assert info.value.errno == errno.EFBIG
    assert list(tmp_path.iterdir()) == []


def test_the_free_space_is_measured_at_the_nearest_folder_that_exists(tmp_path, monkeypatch):
    real, measured = atomic.shutil.disk_usage, []

    def nearly_full(path):
        measured.append(Path(path))
        real(path)  # a folder yet to be made raises, as it does
        return SimpleNamespace(total=100, used=100, free=0)

    monkeypatch.setattr(atomic.shutil, "disk_usage", nearly_full)
    hidden = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 12352 vs "
                          "12244")  # torch.save's full disk: no errno
    target = tmp_path / "checkpoints" / "epoch-002" / "trainer_state.pt"
    assert str(write_error(target, hidden)) == f"no space left on device writing {target}"
    assert measured == [tmp_path]

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
