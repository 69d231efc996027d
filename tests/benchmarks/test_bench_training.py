"""benchmarks/bench_training.py: run keys and the FLOP-per-cycle rules under a oneDNN cap."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_training import bf16_flop_per_cycle, cpu_identity, flop_per_cycle, run_id  # noqa: E402

ZEN4 = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}
XEON = {"vendor_id": "GenuineIntel", "cpu family": "6",
        "flags": "fpu fma avx2 avx512f avx512_bf16 amx_bf16 amx_tile"}


def test_a_run_is_keyed_by_time_and_kind_and_a_capped_one_says_so():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d-avx512_bf16", run_id(ZEN4))
    assert run_id(ZEN4, ZEN4).endswith("-avx512_bf16")
    avx2 = {**dict.fromkeys(ZEN4, False), "avx2": True}
    assert run_id(ZEN4, avx2).endswith("-avx512_bf16-capped-avx2")


@pytest.mark.parametrize(("limit", "fp32", "bf16"), [
    (None, 64, 1024),  # AVX-512 FMA and AMX tiles
    ("AVX512_CORE_BF16", 64, 128),  # no tiles: AVX512-BF16 dot products
    ("AVX2", 32, None),  # bf16 emulated: no bf16 peak
])
def test_the_peaks_follow_what_onednn_may_use(onednn_cap, limit, fp32, bf16):
    onednn_cap(limit)
    identity = cpu_identity(XEON)
    assert flop_per_cycle(*identity)[0] == fp32
    assert bf16_flop_per_cycle(*identity)[0] == bf16
    assert "fma" in identity[2]  # flags outside the cap's concern are kept
