"""siamface: one-shot face verification with Siamese neural networks on LFW.

The Python API (``siamface.api``) is available from here: ``siamface.load_verifier``,
``siamface.Verifier``, ``siamface.Gallery``, ``siamface.train``, ``siamface.evaluate``,
``siamface.run``. It is
imported on first use, so that ``import siamface`` (and ``siamface --help``) stay quick.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("Gallery", "Identification", "Verification", "Verifier", "evaluate", "load_verifier",
        "run", "train")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from siamface import api

        return getattr(api, name)
    raise AttributeError(f"module 'siamface' has no attribute {name!r}")
