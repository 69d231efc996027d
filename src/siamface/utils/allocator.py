"""Keep memory that was freed inside the process, instead of handing it back to the OS.

Why: glibc serves every allocation above its mmap threshold (32 MiB at most) with a fresh
``mmap`` and unmaps it again on ``free``. A training step allocates and frees the same large
activation and gradient buffers every step, so every step page-faults and zero-fills them
anew: koch2015 took 246,000 minor page faults (~1 GB) per 32-pair step. Serving large blocks
from the heap (``M_MMAP_MAX = 0``) and never trimming it (``M_TRIM_THRESHOLD`` at its maximum)
lets later steps reuse pages that are already mapped. Measured on the development machine:
koch2015 3.8-4.1 -> 3.0-3.4 s a step, default 0.46 -> 0.35-0.38 s a step, for 5-30% more
peak resident memory (benchmarks/README.md). Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
INT_MAX = 2**31 - 1


def is_glibc() -> bool:
    """Whether this process runs on Linux with the GNU C library."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse, for the rest of the process.

    Returns:
        True when the settings were applied; False on other platforms or C libraries, where
        nothing is changed.
    """
    if not is_glibc():
        return False
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mallopt returns 1 on success
    return libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1
