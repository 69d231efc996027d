"""The precision of forward passes: fp32, or bf16 autocast where the hardware makes it faster.

bf16 means ``torch.autocast(device_type, dtype=torch.bfloat16)`` around the forward pass (the
embedding and the head); losses, metrics and optimizer state stay fp32. ``auto`` picks bf16 only
where it is known to be faster than fp32:

- a CPU with AMX-BF16 (measured: torch.mm 5.4x, a ResFace step 1.7x, a koch2015 step 3.4x);
- a CUDA GPU.

Everywhere else, AVX512-BF16 without AMX included, ``auto`` is fp32: there bf16 has not been
measured faster, and on a CPU without any bf16 instructions (AVX2 only) PyTorch emulates it,
several times slower than fp32. So ``auto`` never picks a precision slower than fp32.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from siamface.utils import machine

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(requested: str, features: Mapping[str, bool],
                      device_type: str = "cpu") -> str:
    """The precision to run in: "fp32" or "bf16".

    Args:
        requested: "auto", "fp32" or "bf16"; the last two are returned as they are.
        features: CPU feature flags, as ``siamface.utils.machine.cpu_features`` returns them.
        device_type: Where the forward pass runs: "cpu" or "cuda".

    Raises:
        ValueError: ``requested`` is not one of PRECISIONS.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    if device_type == "cuda":
        return "bf16"
    return "bf16" if features.get("amx_bf16", False) else "fp32"


def choose_precision(requested: str, device_type: str = "cpu") -> str:
    """``resolve_precision`` on this machine's CPU features.

    Args:
        requested: "auto", "fp32" or "bf16".
        device_type: "cpu" or "cuda".
    """
    return resolve_precision(requested, machine.cpu_features(), device_type)


def precision_record(requested: str, device_type: str = "cpu") -> dict[str, Any]:
    """What a run folder records: the precision asked for, the one used and what chose it.

    Args:
        requested: "auto", "fp32" or "bf16".
        device_type: "cpu" or "cuda".
    """
    features = dict(machine.cpu_features())
    return {
        "requested": requested,
        "used": resolve_precision(requested, features, device_type),
        "device_type": device_type,
        "cpu_features": features,
    }


def autocast(precision: str, device_type: str = "cpu") -> AbstractContextManager[Any]:
    """A context for the forward pass: bf16 autocast for "bf16", a no-op for "fp32".

    Args:
        precision: A resolved precision, "fp32" or "bf16".
        device_type: "cpu" or "cuda".
    """
    import torch  # here: the command line reads PRECISIONS without loading PyTorch

    if precision not in ("fp32", "bf16"):
        raise ValueError(f"autocast takes a resolved precision (fp32 or bf16), got {precision!r}")
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
