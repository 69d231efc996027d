"""Atomically written files get the mode the umask gives any other file (not mkstemp's 0600)."""

import os
import stat

import pytest
from torch import nn

from siamface.models.io import save_weights
from siamface.utils.atomic import atomic_path, umask_mode, write_text_atomic


@pytest.fixture
def umask():
    """Run the test under a chosen umask, then restore the old one."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_follows_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "x.json"
    write_text_atomic(target, "{}")
    plain = tmp_path / "plain.txt"
    plain.write_text("")
    assert stat.S_IMODE(target.stat().st_mode) == expected == stat.S_IMODE(plain.stat().st_mode)


def test_umask_mode_reads_the_umask_and_leaves_it_unchanged(umask):
    umask(0o027)
    assert umask_mode(0o666) == 0o640
    assert umask_mode(0o777) == 0o750
    assert os.umask(0o027) == 0o027


def test_a_file_its_writer_made_anew_gets_the_umask_mode_too(tmp_path, umask):
    # safetensors' save_file replaces the temporary file with one of its own (mode 0600)
    umask(0o022)
    weights = tmp_path / "model.safetensors"
    with atomic_path(weights) as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644


def test_saved_model_weights_are_readable_by_others(tmp_path, umask):
    umask(0o022)
    save_weights(nn.Linear(2, 1), tmp_path / "model.safetensors")
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o644
