"""The precision of forward passes: fp32, or bf16 autocast where the hardware makes it faster.

bf16 means ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward pass (the
embedding and the head); losses, metrics and optimizer state stay fp32. ``auto`` picks bf16 only
where it is known to be faster than fp32:

- a CPU with AMX-BF16 (measured on an Intel Xeon, 2026-12-04: torch.mm 5.8x, a ResFace step
  1.64x, a koch2015 step 3.44x; ``default`` over 5 seeds 0.849 on pairsDevTest against 0.861 in
  fp32, with the same validation AUC: ``benchmarks/results/``);
- a CPU with AVX512-BF16, native bf16 dot products without AMX (measured on a Zen 4 class
  AMD EPYC, 2026-12-02: torch.mm 2.5x, a ResFace step 1.48x, a koch2015 step 2.09x; ``default``
  over 3 seeds 0.862 on pairsDevTest against 0.854 in fp32: ``benchmarks/results/``).

On a CPU without any bf16 instructions (AVX2 only) PyTorch emulates bf16, several times slower
than fp32 (a ResFace step 0.31x), so there ``auto`` is fp32: it never picks a precision slower
than fp32. The same holds where ONEDNN_MAX_CPU_ISA caps oneDNN below the CPU's bf16
instructions: ``auto`` goes by the features oneDNN may use (``machine.usable_features``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from siamface.utils import machine

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(requested: str, features: Mapping[str, bool]) -> str:
    """The precision to run in: "fp32" or "bf16".

    Args:
        requested: "auto", "fp32" or "bf16"; the last two are returned as they are.
        features: CPU feature flags, as ``siamface.utils.machine.cpu_features`` returns them.

    Raises:
        ValueError: ``requested`` is not one of PRECISIONS.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    native_bf16 = features.get("amx_bf16", False) or features.get("avx512_bf16", False)
    return "bf16" if native_bf16 else "fp32"


def choose_precision(requested: str) -> str:
    """``resolve_precision`` on the CPU features oneDNN may use on this machine.

    Args:
        requested: "auto", "fp32" or "bf16".
    """
    return resolve_precision(requested, machine.usable_cpu_features())


def precision_record(requested: str) -> dict[str, Any]:
    """What a run folder records: the precision asked for, the one used and what chose it (the
    CPU's features and any cap on oneDNN's instruction set; siamface runs on the CPU).

    Args:
        requested: "auto", "fp32" or "bf16".
    """
    return {
        "requested": requested,
        "used": choose_precision(requested),
        "device_type": "cpu",
        "cpu_features": dict(machine.cpu_features()),
        "onednn_isa_limit": machine.onednn_isa_limit(),
    }


def autocast(precision: str) -> AbstractContextManager[Any]:
    """A context for the CPU forward pass: bf16 autocast for "bf16", a no-op for "fp32".

    Args:
        precision: A resolved precision, "fp32" or "bf16".
    """
    import torch  # here: the command line reads PRECISIONS without loading PyTorch

    if precision not in ("fp32", "bf16"):
        raise ValueError(f"autocast takes a resolved precision (fp32 or bf16), got {precision!r}")
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
