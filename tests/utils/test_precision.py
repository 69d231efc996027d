import pytest
import torch

from siamface.utils import machine
from siamface.utils.precision import (
    autocast,
    choose_precision,
    precision_record,
    resolve_precision,
)

AVX2_ONLY = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
AVX512_BF16 = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}
AMX = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": True}


@pytest.mark.parametrize(("features", "expected"), [
    (AVX2_ONLY, "fp32"),  # bf16 is emulated there: several times slower than fp32
    (AVX512_BF16, "bf16"),  # native bf16 dot products: measured faster on Zen 4
    (AMX, "bf16"),
    ({}, "fp32"),  # nothing known about the CPU
])
def test_auto_picks_bf16_only_on_a_cpu_with_native_bf16(features, expected):
    assert resolve_precision("auto", features) == expected


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
@pytest.mark.parametrize("features", [AVX2_ONLY, AMX])
def test_an_explicit_precision_is_kept(requested, features):
    assert resolve_precision(requested, features) == requested


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", AMX)


@pytest.mark.parametrize(("features", "expected"),
                         [(AVX2_ONLY, "fp32"), (AVX512_BF16, "bf16"), (AMX, "bf16")])
def test_choose_precision_reads_the_machines_features(monkeypatch, onednn_cap, features,
                                                     expected):
    monkeypatch.setattr(machine, "cpu_features", lambda: features)
    onednn_cap(None)
    assert choose_precision("auto") == expected
    record = precision_record("auto")
    assert record == {"requested": "auto", "used": expected, "device_type": "cpu",
                      "cpu_features": features, "onednn_isa_limit": None}


@pytest.mark.parametrize(("limit", "expected"), [
    ("AVX2", "fp32"),  # oneDNN would emulate bf16: measured 12x slower than fp32 on Zen 4
    ("AVX512_CORE", "fp32"),  # AVX-512 without its bf16 instructions: 2.3x slower
    ("AVX512_CORE_BF16", "bf16"),  # native bf16 dot products stay usable
])
def test_auto_goes_by_what_onednn_may_use_under_a_cap(monkeypatch, onednn_cap, limit,
                                                      expected):
    monkeypatch.setattr(machine, "cpu_features", lambda: AMX)
    onednn_cap(limit)
    assert choose_precision("auto") == expected
    assert choose_precision("bf16") == "bf16"  # asked for by name: kept
    record = precision_record("auto")
    assert record["used"] == expected
    assert record["cpu_features"] == AMX  # the hardware's own, beside the cap
    assert record["onednn_isa_limit"] == limit


def test_bf16_autocast_runs_a_linear_layer_in_bf16_and_fp32_leaves_it_alone():
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    plain = layer(x)
    with autocast("bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast("fp32"):
        assert torch.equal(layer(x), plain)


def test_autocast_wants_a_resolved_precision():
    with pytest.raises(ValueError, match="resolved"):
        autocast("auto")
