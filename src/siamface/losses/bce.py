"""Binary cross-entropy on the logits: the paper's loss (Koch et al. 2015, section 3.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamface.losses.base import PairLoss
from siamface.losses.registry import LOSSES
from siamface.models.siamese import PairScores


@LOSSES.register("bce")
class BCELoss(PairLoss):
    """``-[y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(logit)``.

    Computed from the logit with the log-sum-exp form, never from p, so that confident
    mistakes (logits of +-100, where p rounds to exactly 0 or 1) give a large finite loss and a
    finite gradient instead of log(0).
    """

    def pair_losses(self, scores: PairScores, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(scores.logits, target, reduction="none")
