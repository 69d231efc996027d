"""keep_freed_memory: a freed large block is reused without new page faults (glibc only).

Each case runs in a fresh interpreter, because the setting lasts for the whole process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from siamface.utils.allocator import is_glibc

# Allocate, touch and free 64 MiB, then count the minor page faults of doing it once more.
PROBE = """
import ctypes, resource, sys
from siamface.utils.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 * 2**20
def touch_and_free():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
touch_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch_and_free()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not is_glibc(), reason="mallopt tuning applies to glibc only")
def test_freed_block_is_reused_without_page_faults() -> None:
    pages = 64 * 2**20 // 4096  # 16,384 pages of 4 KiB
    assert faults("default") > pages // 2  # glibc's default: a fresh mmap, faulted page by page
    assert faults("keep") < pages // 100  # kept in the heap: its pages are already mapped
