"""What machine and software a result was measured on, for run folders and benchmark JSON."""

from __future__ import annotations

import os
import platform
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("siamface", "torch", "numpy", "pillow", "scikit-learn", "safetensors", "pyyaml")

# The /proc/cpuinfo flags that decide fp32 and bf16 speed: AVX2 (256-bit FMA), AVX-512,
# AVX512-BF16 (bf16 dot products in vector registers) and AMX-BF16 (bf16 tile matrix units).
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else whatever platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_cpu_features(cpuinfo: str) -> dict[str, bool]:
    """Which of CPU_FEATURES the first processor's ``flags`` line of ``cpuinfo`` names.

    Args:
        cpuinfo: The text of /proc/cpuinfo.
    """
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {feature: feature in flags for feature in CPU_FEATURES}


@lru_cache(maxsize=1)
def cpu_features() -> dict[str, bool]:
    """CPU_FEATURES of this machine from /proc/cpuinfo (all False where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    return parse_cpu_features(text)


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def machine_info() -> dict[str, Any]:
    """CPU, its features, cores, torch threads, load average, Python and library versions, and
    the time."""
    import torch  # here: cpu_features alone (the command line's precision choice) needs none

    return {
        "cpu": cpu_name(),
        "cpu_features": dict(cpu_features()),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": package_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
