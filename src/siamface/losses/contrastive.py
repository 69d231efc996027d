"""Contrastive loss (Hadsell, Chopra & LeCun 2006, "Dimensionality Reduction by Learning an
Invariant Mapping", eq. 4) on the distances."""

from __future__ import annotations

import math

import torch

from siamface.errors import ConfigError
from siamface.losses.base import PairLoss
from siamface.losses.registry import LOSSES
from siamface.models.siamese import PairScores
from siamface.utils.settings import FLOAT32_MAX, is_positive_float32

MAX_MARGIN = math.sqrt(FLOAT32_MAX)  # a margin whose square overflows makes every loss inf


@LOSSES.register("contrastive")
class ContrastiveLoss(PairLoss):
    """``y * d^2 / 2 + (1 - y) * max(0, margin - d)^2 / 2``.

    Convention: y = 1 for a same-person pair, as everywhere in siamface. Hadsell et al. write
    Y = 0 for similar pairs, so their two terms appear here swapped. Same-person pairs are pulled
    together; different-person pairs are pushed apart until they are ``margin`` away, and cost
    nothing beyond it. Pair it with the "euclidean" head built with the same margin.

    Args:
        margin: Distance beyond which a different-person pair costs nothing (> 0, at most
            MAX_MARGIN).
    """

    reads = "distances"

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if not (is_positive_float32(margin) and margin <= MAX_MARGIN):
            raise ConfigError(f"margin must be positive, at most {MAX_MARGIN:.1e} (its "
                              f"square a float32), got {margin!r}")
        self.margin = margin

    def pair_losses(self, scores: PairScores, target: torch.Tensor) -> torch.Tensor:
        d = scores.distances  # (B,)
        pull = d.pow(2) / 2
        push = (self.margin - d).clamp(min=0).pow(2) / 2
        return torch.where(target == 1, pull, push)  # (not target * pull: 0 * inf is NaN)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
