"""benchmarks/bench_main_job.py: which target a run is held to."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_main_job import TARGET_WORK, target_of  # noqa: E402

ZEN3 = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
ZEN4 = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}
AMX = dict.fromkeys(ZEN4, True)


@pytest.mark.parametrize(("features", "wall", "seconds", "passed"), [
    (AMX, 161.2, 180.0, True),
    (AMX, 202.1, 180.0, False),
    (ZEN3, 359.0, 360.0, True),
    (ZEN3, 361.0, 360.0, False),
    (ZEN4, 287.0, None, None),  # a kind without a target of its own
])
def test_a_run_of_the_target_work_is_held_to_its_kinds_target(features, wall, seconds, passed):
    target = target_of(features, None, TARGET_WORK, wall)
    assert (target["seconds"], target["passed"]) == (seconds, passed)
    assert "capped_to" not in target


def test_other_work_has_no_target():
    assert target_of(AMX, None, ["train.epochs=40"], 100.0)["passed"] is None


@pytest.mark.parametrize(("features", "limit", "capped_to"), [
    (ZEN4, "AVX2", "avx2"),  # a Zen 4 standing in for the Zen 3 kind
    (AMX, "AVX512_CORE_BF16", "avx512_bf16"),
])
def test_a_capped_run_is_a_stand_in_and_meets_no_target(features, limit, capped_to):
    target = target_of(features, limit, TARGET_WORK, 10.0)  # fast enough for any target
    assert target["capped_to"] == capped_to
    assert target["seconds"] is None and target["passed"] is None
    assert limit in target["why_no_target"]


def test_a_cap_above_what_the_cpu_has_changes_nothing():
    target = target_of(ZEN3, "AVX512_CORE_AMX", TARGET_WORK, 300.0)
    assert target == {"seconds": 360.0, "cpu_kind": "avx2", "passed": True}
