"""Mean squared error between the probability and the 0/1 target (one seed project used it)."""

from __future__ import annotations

import torch

from siamface.losses.base import PairLoss
from siamface.losses.registry import LOSSES
from siamface.models.siamese import PairScores


@LOSSES.register("mse")
class MSELoss(PairLoss):
    """``(sigmoid(logit) - y)^2``, bounded in [0, 1].

    Unlike BCE its gradient vanishes on confident mistakes (the sigmoid saturates), which is why
    BCE is the default; it is here to reproduce projects that trained this way.
    """

    def pair_losses(self, scores: PairScores, target: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(scores.logits) - target).pow(2)
