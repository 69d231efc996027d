"""Siamese models: build one by name with ``build_model``; every model is a ``SiameseNet``.

Importing this package imports every model module, so that each registers itself in ``MODELS``.
"""

from siamface.models import koch2015, resface  # noqa: F401  (register "koch2015", "resface")
from siamface.models.complexity import count_flops, count_parameters
from siamface.models.heads import HEADS, build_head, list_heads
from siamface.models.registry import MODELS, build_model, list_models
from siamface.models.siamese import PairScores, SiameseNet

__all__ = [
    "HEADS",
    "MODELS",
    "PairScores",
    "SiameseNet",
    "build_head",
    "build_model",
    "count_flops",
    "count_parameters",
    "list_heads",
    "list_models",
]
