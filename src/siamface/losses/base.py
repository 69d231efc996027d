"""PairLoss: the checks and the (weighted) mean every pair loss shares; subclasses give one hook.

A subclass implements ``pair_losses(scores, target) -> (B,)``, the loss of each pair, and nothing
else: the base checks the inputs, turns the target into the logits' dtype and averages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from siamface.models.siamese import PairScores


class PairLoss(nn.Module, ABC):
    """Base class of the losses on ``PairScores`` (higher logit / lower distance = same person).

    ``loss(scores, target, weight)`` returns the mean of the per-pair losses, or with weights
    ``sum_i w_i l_i / sum_i w_i``: weights are relative, so scaling them all changes nothing
    and the loss stays on the same scale as the unweighted one.

    Attributes:
        reads: Which of the scores the loss trains, "logits" or "distances".
    """

    reads: ClassVar[str] = "logits"

    def forward(
        self,
        scores: PairScores,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Average loss of a batch of B pairs.

        Args:
            scores: The model's PairScores, logits and distances of shape (B,).
            target: (B,) 1 for a same-person pair, 0 for a different-person pair (float, int or
                bool; converted to the logits' dtype).
            weight: Optional (B,) non-negative per-pair weights, not all zero.

        Returns:
            The scalar loss.
        """
        logits, distances = scores
        if logits.ndim != 1 or logits.numel() == 0:
            raise ValueError(
                f"expected logits of shape (B,) with B >= 1, got {tuple(logits.shape)}"
            )
        if distances.shape != logits.shape:
            raise ValueError(
                f"logits {tuple(logits.shape)} and distances {tuple(distances.shape)} "
                "must have the same shape (B,)"
            )
        if target.shape != logits.shape:
            raise ValueError(
                f"target must have the logits' shape {tuple(logits.shape)}, "
                f"got {tuple(target.shape)}"
            )
        target = target.to(logits.dtype)
        if not ((target == 0) | (target == 1)).all():
            bad = target[(target != 0) & (target != 1)]
            raise ValueError(
                f"target must contain only 0 (different) and 1 (same), found {bad[:5].tolist()}"
            )
        losses = self.pair_losses(PairScores(logits, distances), target)  # (B,)
        if weight is None:
            return losses.mean()
        if weight.shape != logits.shape:
            raise ValueError(
                f"weight must have the logits' shape {tuple(logits.shape)}, "
                f"got {tuple(weight.shape)}"
            )
        weight = weight.to(losses.dtype)
        if not torch.isfinite(weight).all() or (weight < 0).any():
            raise ValueError("weight must be finite and non-negative")
        total = weight.sum()
        if total == 0:
            raise ValueError("weight must not be all zero")
        return (weight * losses).sum() / total

    @abstractmethod
    def pair_losses(self, scores: PairScores, target: torch.Tensor) -> torch.Tensor:
        """The loss of each pair.

        Args:
            scores: Checked PairScores, logits and distances of shape (B,).
            target: (B,) floats, 1 = same, 0 = different.

        Returns:
            (B,) per-pair losses.
        """
