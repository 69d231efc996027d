import math

import numpy as np
import pytest
import torch
from torch import nn

from siamface.evaluation import embed
from siamface.evaluation.identification import (
    head_scorer,
    one_shot_curve,
)
from siamface.models.heads import build_head
from siamface.models.siamese import SiameseNet


class Flat(nn.Module):
    """A backbone that is never called here: the tests hand the head embeddings directly."""

    out_dim = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class Flat5(Flat):
    out_dim = 5


def cosine_model() -> SiameseNet:
    return SiameseNet(Flat(), build_head("cosine", 2))  # logit = 10 cos - 5


def test_head_scorer_gives_the_heads_logits_for_index_pairs(monkeypatch):
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-2.0, 0.0]])
    expected = [10 * 0 - 5, 10 * math.sqrt(0.5) - 5, 10 * 1 - 5, 10 * -1 - 5]
    left, right = np.array([0, 0, 2, 3]), np.array([1, 2, 2, 0])
    scores = head_scorer(cosine_model(), emb)(left, right)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    monkeypatch.setattr(embed, "SCORE_CHUNK", 3)  # chunks of 3 and 1 give the same
    np.testing.assert_allclose(head_scorer(cosine_model(), emb)(left, right), expected,
                               rtol=1e-6)


def test_one_shot_curve_is_perfect_on_separated_people_and_chance_on_identical_images():
    # five people, three images each, each person on their own axis of R^5 (plus small noise)
    labels = np.repeat(np.arange(5), 3)
    rng = np.random.default_rng(0)
    separated = torch.from_numpy(np.eye(5)[labels] + 0.01 * rng.standard_normal((15, 5))).float()
    model = SiameseNet(Flat5(), build_head("cosine", 5))
    curve = one_shot_curve(head_scorer(model, separated), labels, [2, 5], n_trials=200)
    assert [r.accuracy for r in curve.values()] == [1.0, 1.0]
    # identical embeddings tie every candidate: credit 1/N per trial, exactly
    same = torch.ones(15, 5)
    curve = one_shot_curve(head_scorer(model, same), labels, [2, 4, 5], n_trials=50)
    assert {n: r.accuracy for n, r in curve.items()} == pytest.approx({2: 0.5, 4: 0.25, 5: 0.2})
    low, high = curve[5].ci
    assert low < 0.2 < high


