"""MSE on sigmoid(logits): hand-computed values, bounds and its vanishing gradient."""

from __future__ import annotations

import math

import torch

from siamface.losses import build_loss
from siamface.models import PairScores


def scores_of(logits: list[float]) -> PairScores:
    t = torch.tensor(logits, requires_grad=True)
    return PairScores(t, torch.zeros(len(logits)))


def test_hand_computed_values() -> None:
    mse = build_loss("mse")
    # logit 0 -> p = 0.5: (0.5 - 1)^2 = 0.25
    assert abs(mse(scores_of([0.0]), torch.tensor([1.0])).item() - 0.25) < 1e-7
    # logit ln 3 -> p = 0.75: different (0.75)^2 = 0.5625, same (0.25)^2 = 0.0625
    ln3 = math.log(3)
    assert abs(mse(scores_of([ln3]), torch.tensor([0.0])).item() - 0.5625) < 1e-6
    assert abs(mse(scores_of([ln3]), torch.tensor([1.0])).item() - 0.0625) < 1e-6
    batch = mse(scores_of([0.0, ln3]), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 3.0]))
    assert abs(batch.item() - (0.25 + 3 * 0.5625) / 4) < 1e-6  # 0.484375


def test_extreme_logits_are_bounded_and_their_gradient_vanishes() -> None:
    scores = scores_of([100.0, -100.0])
    loss = build_loss("mse")(scores, torch.tensor([0.0, 1.0]))
    assert loss.item() == 1.0  # both maximally wrong: (1 - 0)^2 and (0 - 1)^2
    loss.backward()
    # the saturated sigmoid kills the gradient of a confident mistake (BCE's would be +-1/B)
    assert torch.isfinite(scores.logits.grad).all()
    assert scores.logits.grad.abs().max().item() < 1e-30
