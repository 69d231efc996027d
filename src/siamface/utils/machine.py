"""What machine and software a result was measured on, for run folders and benchmark JSON."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Mapping
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


# oneDNN runs PyTorch's CPU convolutions and matrix products, and ONEDNN_MAX_CPU_ISA (or its old
# name DNNL_MAX_CPU_ISA; the new name wins) caps the instruction set it may use. Capped below the
# CPU's bf16 instructions it emulates bf16: on a Zen 4 with AVX512-BF16 (2026-12-07) a `default`
# step in bf16 took 3.16 s under AVX2 and 0.51 s under AVX512_CORE, against 0.22-0.26 s in fp32.
ONEDNN_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")

# Each oneDNN cap (its cpu_isa names; aliases share a line) and the CPU_FEATURES it leaves usable.
_BELOW_AVX512 = frozenset({"avx2"})
_AVX512 = _BELOW_AVX512 | {"avx512f"}
_BF16 = _AVX512 | {"avx512_bf16"}
_AMX = _BF16 | {"amx_bf16"}
ONEDNN_ISA_FEATURES: dict[str, frozenset[str]] = {
    "SSE41": frozenset(), "AVX": frozenset(),
    "AVX2": _BELOW_AVX512, "AVX2_VNNI": _BELOW_AVX512,
    "AVX2_VNNI_2": _BELOW_AVX512,  # bf16 conversions only, no bf16 dot products
    "AVX512_CORE": _AVX512, "AVX512_CORE_VNNI": _AVX512,
    "AVX512_CORE_BF16": _BF16, "AVX512_CORE_FP16": _BF16, "AVX10_1_512": _BF16,
    "AVX10_2_512": _BF16,
    "AVX512_CORE_AMX": _AMX, "AVX10_1_512_AMX": _AMX,
    "AVX512_CORE_AMX_FP16": _AMX, "AVX10_1_512_AMX_FP16": _AMX, "AVX10_2_512_AMX_2": _AMX,
}


def onednn_isa_limit(environ: Mapping[str, str] = os.environ) -> str | None:
    """The oneDNN instruction-set cap set in ``environ`` (upper case), or None where none is.

    A name oneDNN does not know is returned too; ``usable_features`` treats it as no cap, as
    oneDNN does.

    Args:
        environ: The environment to read (this process's by default).
    """
    for name in ONEDNN_ISA_VARIABLES:
        value = environ.get(name, "").strip().upper()
        if value and value not in ("ALL", "DEFAULT"):
            return value
    return None


def usable_features(features: Mapping[str, bool], limit: str | None) -> dict[str, bool]:
    """``features`` less those that oneDNN, capped at ``limit``, may not use.

    Args:
        features: CPU feature flags, as ``cpu_features`` returns them.
        limit: A oneDNN cpu_isa name (``onednn_isa_limit``); None or an unknown name: no cap.
    """
    allowed = ONEDNN_ISA_FEATURES.get(limit or "", frozenset(CPU_FEATURES))
    return {name: has and name in allowed for name, has in features.items()}


def usable_cpu_features() -> dict[str, bool]:
    """This machine's CPU_FEATURES that oneDNN may use under this process's cap."""
    return usable_features(cpu_features(), onednn_isa_limit())


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's CPU affinity, not the
    host's count), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # (no affinity outside Linux)


def machine_info() -> dict[str, Any]:
    """CPU, its features, cores, torch threads, load average, Python and library versions, and
    the time."""
    import torch  # here: cpu_features alone (the command line's precision choice) needs none

    return {
        "cpu": cpu_name(),
        "cpu_features": dict(cpu_features()),
        "onednn_isa_limit": onednn_isa_limit(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": package_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
