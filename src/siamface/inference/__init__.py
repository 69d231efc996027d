"""Using a trained model: find and align faces in photos, verify pairs, identify against a
gallery, export for deployment.

The names below are imported on first use, so that a module that needs only detection and
alignment (a server's photo process) does not load PyTorch with the model code.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AlignedFace": "align", "FaceAligner": "align", "read_photo": "align",
    "FaceBox": "face_detection", "FaceDetector": "face_detection",
    "NoFaceError": "face_detection",
    "Candidate": "gallery", "Gallery": "gallery", "Identification": "gallery",
    "Verification": "verifier", "Verifier": "verifier",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"siamface.inference.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'siamface.inference' has no attribute {name!r}")
