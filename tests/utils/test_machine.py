import pytest

from siamface.utils import machine
from siamface.utils.machine import (
    CPU_FEATURES,
    machine_info,
    onednn_isa_limit,
    parse_cpu_features,
    usable_cores,
    usable_features,
)

AMD_ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni

processor\t: 1
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni
"""

XEON_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu avx avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8
"""


def test_an_avx2_only_cpu_has_no_bf16_features():
    assert parse_cpu_features(AMD_ZEN3) == {
        "avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False,
    }


def test_a_xeon_with_amx_has_every_feature():
    assert parse_cpu_features(XEON_AMX) == dict.fromkeys(CPU_FEATURES, True)


def test_flags_are_matched_whole_not_as_prefixes():
    # "avx512_bf16x" or "amx_bf16_extra" are not the features themselves
    text = "flags\t: avx512fx avx512_bf16x amx_bf16_extra\n"
    assert parse_cpu_features(text) == dict.fromkeys(CPU_FEATURES, False)


def test_no_flags_line_means_no_features():
    assert parse_cpu_features("") == dict.fromkeys(CPU_FEATURES, False)


def test_machine_info_reports_this_machines_features(monkeypatch):
    assert set(machine_info()["cpu_features"]) == set(CPU_FEATURES)
    every = dict.fromkeys(CPU_FEATURES, True)  # a CPU this machine is not
    monkeypatch.setattr(machine, "cpu_features", lambda: every)
    assert machine_info()["cpu_features"] == every


AMX_FEATURES = dict.fromkeys(CPU_FEATURES, True)


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"ONEDNN_MAX_CPU_ISA": "avx2"}, "AVX2"),  # oneDNN reads the name in any case
    ({"DNNL_MAX_CPU_ISA": " AVX512_CORE "}, "AVX512_CORE"),  # the old name still counts
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "DNNL_MAX_CPU_ISA": "AVX2"}, "AVX512_CORE_BF16"),
    ({"ONEDNN_MAX_CPU_ISA": "ALL"}, None),
    ({"ONEDNN_MAX_CPU_ISA": "default"}, None),
    ({"ONEDNN_MAX_CPU_ISA": ""}, None),
])
def test_the_onednn_cap_is_read_from_either_variable_the_new_one_first(environ, expected):
    assert onednn_isa_limit(environ) == expected


@pytest.mark.parametrize(("limit", "usable"), [
    (None, set(CPU_FEATURES)),
    ("AVX2", {"avx2"}),
    ("AVX2_VNNI_2", {"avx2"}),  # bf16 conversions, but no bf16 dot products
    ("AVX512_CORE", {"avx2", "avx512f"}),
    ("AVX512_CORE_BF16", {"avx2", "avx512f", "avx512_bf16"}),
    ("AVX10_1_512_AMX", set(CPU_FEATURES)),
    ("SSE41", set()),
    ("NOT_AN_ISA", set(CPU_FEATURES)),  # oneDNN ignores a name it does not know
])
def test_a_cap_takes_away_the_features_above_it(limit, usable):
    features = usable_features(AMX_FEATURES, limit)
    assert {name for name, has in features.items() if has} == usable
    assert set(features) == set(CPU_FEATURES)


def test_a_cap_never_adds_a_feature_the_cpu_lacks():
    zen3 = parse_cpu_features(AMD_ZEN3)
    assert usable_features(zen3, "AVX512_CORE_AMX") == zen3


def test_machine_info_records_the_instruction_set_caps(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    info = machine_info()
    assert info["onednn_isa_limit"] == "AVX2"
    assert info["aten_cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX")


def test_the_cores_recorded_are_those_the_process_may_run_on(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert machine_info()["cores"] == 1  # one of the host's cores given to it, as taskset does


@pytest.mark.parametrize(("affinity", "cpu_count", "expected"), [
    ({0, 3}, 64, 2),  # a container's or taskset's cores, not the host's 64
    (None, 8, 8),  # no CPU affinity outside Linux: the count
    (None, None, 1),  # a count Python cannot tell: still one core to run on
])
def test_usable_cores_are_the_process_affinity_else_the_count(monkeypatch, affinity,
                                                              cpu_count, expected):
    if affinity is None:
        monkeypatch.delattr(machine.os, "sched_getaffinity", raising=False)
    else:
        monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: affinity)
    monkeypatch.setattr(machine.os, "cpu_count", lambda: cpu_count)
    assert usable_cores() == expected
