"""Contrastive loss (Hadsell et al. 2006) on distances: hand-computed values, margin, errors."""

from __future__ import annotations

import pytest
import torch

from siamface.losses import build_loss
from siamface.models import PairScores


def scores_of(distances: list[float], logits: list[float] | None = None) -> PairScores:
    d = torch.tensor(distances, requires_grad=True)
    return PairScores(torch.tensor(logits or [0.0] * len(distances)), d)


@pytest.mark.parametrize(
    ("d", "same", "expected"),
    [
        (0.3, 1.0, 0.045),  # 0.3^2 / 2
        (0.3, 0.0, 0.245),  # (1 - 0.3)^2 / 2
        (1.5, 1.0, 1.125),  # 1.5^2 / 2
        (1.5, 0.0, 0.0),  # beyond the margin: free
        (1.0, 0.0, 0.0),  # at the margin: free
        (0.0, 0.0, 0.5),  # (1 - 0)^2 / 2
    ],
)
def test_hand_computed_values_with_margin_1(d: float, same: float, expected: float) -> None:
    loss = build_loss("contrastive")(scores_of([d]), torch.tensor([same]))
    assert abs(loss.item() - expected) < 1e-7


def test_margin_argument() -> None:
    loss = build_loss("contrastive", margin=2.0)
    assert loss.margin == 2.0 and "margin=2.0" in repr(loss)
    # different pair at d = 0.5: (2 - 0.5)^2 / 2 = 1.125; at 1.5 (inside margin 2): 0.125
    value = loss(scores_of([0.5, 1.5]), torch.tensor([0.0, 0.0]))
    assert abs(value.item() - (1.125 + 0.125) / 2) < 1e-7


def test_reads_distances_not_logits() -> None:
    loss = build_loss("contrastive")
    target = torch.tensor([1.0, 0.0])
    a = loss(scores_of([0.3, 0.3], logits=[5.0, -5.0]), target)
    b = loss(scores_of([0.3, 0.3], logits=[-7.0, 9.0]), target)
    assert a.item() == b.item() == pytest.approx((0.045 + 0.245) / 2)


def test_gradients_pull_same_pairs_and_push_close_different_pairs() -> None:
    scores = scores_of([0.5, 0.5, 2.0])
    build_loss("contrastive")(scores, torch.tensor([1.0, 0.0, 0.0])).backward()
    # d/dd: same d -> 0.5; different -(m - d) -> -0.5; beyond the margin 0; all over B = 3
    torch.testing.assert_close(scores.distances.grad, torch.tensor([0.5, -0.5, 0.0]) / 3)


def test_large_distances_are_finite() -> None:
    loss = build_loss("contrastive")(scores_of([1e4, 1e4]), torch.tensor([1.0, 0.0]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(1e8 / 4)


def test_a_different_pair_far_beyond_the_margin_costs_nothing_not_nan() -> None:
    # d^2 / 2 overflows float32 at d = 1e20; the pair is beyond the margin, so it costs 0
    loss = build_loss("contrastive")(scores_of([1e20, 0.5]), torch.tensor([0.0, 1.0]))
    assert loss.item() == pytest.approx(0.125 / 2)  # (0 + 0.5^2 / 2) / 2


@pytest.mark.parametrize("margin", [0.0, -1.0, 1e20, float("nan")])
def test_margin_must_be_positive_and_its_square_a_float32(margin: float) -> None:
    with pytest.raises(ValueError, match=r"margin must be positive, at most 1\.8e\+19 \(its "
                                         r"square a float32\)"):
        build_loss("contrastive", margin=margin)
