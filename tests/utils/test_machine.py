from siamface.utils import machine
from siamface.utils.machine import CPU_FEATURES, machine_info, parse_cpu_features

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


def test_machine_info_reports_this_machines_features():
    features = machine_info()["cpu_features"]
    assert set(features) == set(CPU_FEATURES)
    assert features == machine.cpu_features()
