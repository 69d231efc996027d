"""LOSSES: the registered names, build errors, and what every loss must do."""

from __future__ import annotations

import pytest
import torch

from siamface.losses import PairLoss, build_loss, list_losses
from siamface.models import PairScores


def test_registered_losses() -> None:
    assert list_losses() == ["bce", "contrastive", "mse"]
    with pytest.raises(KeyError, match="unknown loss 'hinge'; choose one of: bce, contrastive"):
        build_loss("hinge")


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_is_a_finite_scalar_with_finite_gradients(name: str) -> None:
    logits = torch.tensor([100.0, -100.0, 0.0, 3.0], requires_grad=True)
    distances = torch.tensor([0.0, 1e3, 0.5, 2.0], requires_grad=True)
    loss = build_loss(name)(PairScores(logits, distances), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert isinstance(build_loss(name), PairLoss)
    assert loss.shape == () and torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    for t in (logits, distances):
        assert t.grad is None or torch.isfinite(t.grad).all()


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_prefers_the_right_answer(name: str) -> None:
    loss = build_loss(name)
    target = torch.tensor([1.0, 0.0])
    right = PairScores(torch.tensor([4.0, -4.0]), torch.tensor([0.1, 3.0]))
    wrong = PairScores(torch.tensor([-4.0, 4.0]), torch.tensor([3.0, 0.1]))
    assert loss(right, target) < loss(wrong, target)
