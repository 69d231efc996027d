"""PairLoss: the shared input checks and the (weighted) mean, through a loss whose per-pair
loss is simply the logit."""

from __future__ import annotations

import pytest
import torch

from siamface.losses import PairLoss
from siamface.models import PairScores


class LogitLoss(PairLoss):
    def pair_losses(self, scores: PairScores, target: torch.Tensor) -> torch.Tensor:
        return scores.logits


def scores_of(logits: list[float]) -> PairScores:
    t = torch.tensor(logits)
    return PairScores(t, t.abs())


def test_unweighted_is_the_mean() -> None:
    loss = LogitLoss()(scores_of([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert loss.item() == 2.5


def test_weighted_mean_divides_by_the_weight_sum() -> None:
    scores, target = scores_of([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.0, 1.0, 0.0])
    w = torch.tensor([1.0, 0.0, 3.0, 0.0])
    assert LogitLoss()(scores, target, w).item() == (1 * 1 + 3 * 3) / 4  # 2.5
    assert LogitLoss()(scores, target, 10 * w).item() == 2.5  # only relative weights matter
    w2 = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert LogitLoss()(scores, target, w2).item() == 3.0  # (2 + 4) / 2


def test_bool_and_integer_targets_are_accepted() -> None:
    scores = scores_of([1.0, 3.0])
    assert LogitLoss()(scores, torch.tensor([True, False])).item() == 2.0
    assert LogitLoss()(scores, torch.tensor([1, 0])).item() == 2.0


def test_the_base_cannot_be_used_without_the_hook() -> None:
    with pytest.raises(TypeError, match="abstract"):
        PairLoss()


@pytest.mark.parametrize(
    ("scores", "target", "message"),
    [
        (scores_of([[1.0, 2.0]]), torch.ones(1, 2), r"logits of shape \(B,\) with B >= 1"),
        (scores_of([]), torch.ones(0), r"logits of shape \(B,\) with B >= 1, got \(0,\)"),
        (
            PairScores(torch.zeros(3), torch.zeros(2)),
            torch.ones(3),
            r"logits \(3,\) and distances \(2,\) must have the same shape",
        ),
        (scores_of([1.0, 2.0]), torch.ones(3), r"target must have the logits' shape \(2,\)"),
        (scores_of([1.0, 2.0]), torch.ones(2, 1), r"got \(2, 1\)"),
        (
            scores_of([1.0, 2.0, 3.0]),
            torch.tensor([1.0, 0.5, 2.0]),
            r"only 0 \(different\) and 1 \(same\), found \[0.5, 2.0\]",
        ),
        (scores_of([1.0]), torch.tensor([float("nan")]), "only 0"),
    ],
    ids=["2-d", "empty", "distances", "target-length", "target-2-d", "soft-target", "nan"],
)
def test_bad_scores_and_targets_are_rejected(
    scores: PairScores, target: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LogitLoss()(scores, target)


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (torch.ones(3), r"weight must have the logits' shape \(2,\), got \(3,\)"),
        (torch.tensor([1.0, -0.5]), "finite and non-negative"),
        (torch.tensor([1.0, float("inf")]), "finite and non-negative"),
        (torch.tensor([float("nan"), 1.0]), "finite and non-negative"),
        (torch.zeros(2), "must not be all zero"),
    ],
    ids=["length", "negative", "inf", "nan", "all-zero"],
)
def test_bad_weights_are_rejected(weight: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogitLoss()(scores_of([1.0, 2.0]), torch.tensor([1.0, 0.0]), weight)
