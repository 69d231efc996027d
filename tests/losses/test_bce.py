"""BCE on logits: hand-computed values and stability at extreme logits."""

from __future__ import annotations

import math

import torch

from siamface.losses import build_loss
from siamface.models import PairScores


def scores_of(logits: list[float]) -> PairScores:
    t = torch.tensor(logits, requires_grad=True)
    return PairScores(t, torch.zeros(len(logits)))


def test_hand_computed_values() -> None:
    bce = build_loss("bce")
    # logit 0, same: -ln sigmoid(0) = ln 2 = 0.693147...
    assert abs(bce(scores_of([0.0]), torch.tensor([1.0])).item() - 0.6931471805599453) < 1e-6
    # logit 2: same -> ln(1 + e^-2) = 0.126928...; different -> ln(1 + e^2) = 2.126928...
    assert abs(bce(scores_of([2.0]), torch.tensor([1.0])).item() - 0.1269280110429725) < 1e-6
    assert abs(bce(scores_of([2.0]), torch.tensor([0.0])).item() - 2.1269280110429727) < 1e-6
    batch = bce(scores_of([0.0, 2.0, 2.0]), torch.tensor([1.0, 1.0, 0.0]))
    assert abs(batch.item() - 0.9823344008819635) < 1e-6  # the mean of the three


def test_weights() -> None:
    bce = build_loss("bce")
    loss = bce(scores_of([0.0, 2.0]), torch.tensor([1.0, 0.0]), torch.tensor([3.0, 1.0]))
    expected = (3 * math.log(2) + math.log(1 + math.e**2)) / 4  # 1.0516...
    assert abs(loss.item() - expected) < 1e-6


def test_extreme_logits_give_finite_losses_and_gradients() -> None:
    scores = scores_of([100.0, -100.0, 100.0, -100.0])
    loss = build_loss("bce")(scores, torch.tensor([0.0, 1.0, 1.0, 0.0]))
    # two confident mistakes cost 100 each (ln(1 + e^100) = 100 + 4e-44), the right ones ~0
    assert torch.isfinite(loss) and abs(loss.item() - 50.0) < 1e-4
    loss.backward()
    # d/dlogit = (sigmoid(logit) - y) / B
    torch.testing.assert_close(scores.logits.grad, torch.tensor([0.25, -0.25, 0.0, 0.0]))
