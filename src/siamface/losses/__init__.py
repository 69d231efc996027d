"""Pair losses: build one by name with ``build_loss``; every loss is a ``PairLoss``.

Importing this package imports every loss module, so that each registers itself in ``LOSSES``.
"""

from siamface.losses import bce, contrastive, mse  # noqa: F401  (register the losses)
from siamface.losses.base import PairLoss
from siamface.losses.registry import LOSSES, build_loss, list_losses

__all__ = ["LOSSES", "PairLoss", "build_loss", "list_losses"]
