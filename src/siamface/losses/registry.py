"""LOSSES: every pair loss, built by name."""

from __future__ import annotations

from typing import Any

from siamface.losses.base import PairLoss
from siamface.utils.registry import Registry

LOSSES: Registry[PairLoss] = Registry("loss")


def build_loss(name: str, **kwargs: Any) -> PairLoss:
    """Build the loss registered as ``name``.

    Args:
        name: One of ``list_losses()``.
        **kwargs: The loss's options (e.g. ``margin`` for "contrastive").
    """
    return LOSSES.build(name, **kwargs)


def list_losses() -> list[str]:
    """Names of the registered losses."""
    return LOSSES.names()
