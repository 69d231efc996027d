"""Atomically written files get the mode the umask gives any other file (not mkstemp's 0600)."""

import os
import stat

import pytest

from siamface.utils.atomic import umask_mode, write_text_atomic


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
