"""Heads: hand-computed scores on tiny vectors, symmetry, initial values, gradients."""

from __future__ import annotations

import math
import re

import pytest
import torch

from siamface.errors import ConfigError
from siamface.models import heads
from siamface.models.heads import (
    CosineHead,
    EuclideanHead,
    WeightedL1Head,
    build_head,
    list_heads,
)


def test_registered_heads() -> None:
    assert list_heads() == ["cosine", "euclidean", "weighted_l1"]
    with pytest.raises(KeyError, match="unknown head 'l2'"):
        build_head("l2", 3)
    head = build_head("euclidean", 3, margin=4.0)
    assert isinstance(head, EuclideanHead) and head.dim == 3 and head.margin == 4.0


def test_weighted_l1_by_hand() -> None:
    head = WeightedL1Head(3)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
        head.fc.bias.fill_(0.25)
    e1 = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    e2 = torch.tensor([[0.0, 4.0, 1.0], [0.0, 0.0, 0.0]])
    scores = head(e1, e2)
    # |e1 - e2| = [1, 2, 2]: 1*1 - 2*2 + 0.5*2 + 0.25 = -1.75, mean = 5/3; identical: b, 0
    torch.testing.assert_close(scores.logits, torch.tensor([-1.75, 0.25]))
    torch.testing.assert_close(scores.distances, torch.tensor([5 / 3, 0.0]))


def test_euclidean_by_hand() -> None:
    head = EuclideanHead(2, margin=2.0)
    assert head.log_scale.exp().item() == 1.0 and head.offset.item() == 1.0  # offset = margin / 2
    e1 = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    e2 = torch.tensor([[0.0, 4.0], [1.0, 1.0]])
    scores = head(e1, e2)
    # d = sqrt(9 + 16) = 5 -> logit = 1 * (1 - 5) = -4; identical -> d = sqrt(1e-12) = 1e-6
    torch.testing.assert_close(scores.distances, torch.tensor([5.0, 1e-6]))
    torch.testing.assert_close(scores.logits, torch.tensor([-4.0, 1.0 - 1e-6]))
    with torch.no_grad():
        head.log_scale.fill_(math.log(2.0))
    torch.testing.assert_close(head(e1, e2).logits[0], torch.tensor(-8.0))  # 2 * (1 - 5)


def test_euclidean_gradient_is_finite_where_embeddings_coincide() -> None:
    e = torch.tensor([[0.5, -1.0]], requires_grad=True)
    scores = EuclideanHead(2)(e, e.detach().clone())
    scores.distances.sum().backward()
    assert torch.isfinite(e.grad).all()


def test_cosine_by_hand() -> None:
    head = CosineHead(2)
    e1 = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 2.0]])
    e2 = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [5.0, 5.0]])
    scores = head(e1, e2)
    # cos = 1/sqrt(2), -1, 1 -> logit = 10 cos - 5, distance = 1 - cos
    cos = torch.tensor([1 / math.sqrt(2), -1.0, 1.0])
    torch.testing.assert_close(scores.logits, 10 * cos - 5)
    torch.testing.assert_close(scores.distances, 1 - cos)
    assert abs(scores.logits[0].item() - 2.0710678) < 1e-6


def test_cosine_ignores_embedding_length() -> None:
    head = CosineHead(4)
    e1, e2 = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(head(7 * e1, 0.1 * e2).logits, head(e1, e2).logits)


@pytest.mark.parametrize("name", list_heads())
def test_heads_are_exactly_symmetric(name: str) -> None:
    torch.manual_seed(0)
    head = build_head(name, 16)
    e1, e2 = torch.randn(8, 16), torch.randn(8, 16)
    a, b = head(e1, e2), head(e2, e1)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.distances, b.distances)


@pytest.mark.parametrize("name", ["euclidean", "cosine"])  # weighted_l1's alphas take any sign
def test_larger_distance_means_lower_logit(name: str) -> None:
    head = build_head(name, 2)
    e1 = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    e2 = torch.tensor([[1.0, 0.1], [0.5, 1.0], [-1.0, 0.2]])
    scores = head(e1, e2)
    assert (scores.distances.diff() > 0).all() and (scores.logits.diff() < 0).all()


@pytest.mark.parametrize("name", list_heads())
def test_logits_train_every_head_parameter(name: str) -> None:
    head = build_head(name, 5)
    head(torch.randn(4, 5), torch.randn(4, 5)).logits.sum().backward()
    for pname, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("euclidean", {"margin": 0.0}, "margin must be positive"),
        ("cosine", {"scale": -1.0}, "scale must be positive"),
    ],
)
def test_invalid_options(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_head(name, 3, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("euclidean", {"eps": "x"}, "head_kwargs.eps: expected a finite number, got 'x'"),
        ("euclidean", {"eps": -1.0}, "head_kwargs.eps must be positive: a number from 1.2e-38"),
        ("euclidean", {"margin": 1e300}, "head_kwargs.margin must be positive: a number from"),
        ("cosine", {"scale": 1e300}, "head_kwargs.scale must be positive: a number from"),
        ("cosine", {"scale": 1e-300}, "head_kwargs.scale must be positive: a number from"),
        ("cosine", {"bias": 1e300}, "head_kwargs.bias must be finite: a number within +-3.4e+38"),
    ],
)
def test_options_that_are_nan_or_inf_in_float32_are_refused_keyed_as_head_kwargs(
        name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        build_head(name, 3, **kwargs)


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("euclidean", {"margn": 2.0}, "head_kwargs.margn: not an option of the euclidean head; "
                                  "it takes margin, eps"),
    ("weighted_l1", {"margin": 2.0}, "head_kwargs.margin: not an option of the weighted_l1 "
                                     "head; it takes no options"),
    ("cosine", {"dim": 4}, "head_kwargs.dim: not an option of the cosine head; "
                           "it takes scale, bias"),  # the embedding size is the model's
])
def test_an_option_the_head_does_not_take_is_named_with_those_it_does(
        name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        build_head(name, 3, **kwargs)


@pytest.mark.parametrize("name", list_heads())
def test_logit_matrix_equals_the_pairwise_logits(name: str, monkeypatch) -> None:
    torch.manual_seed(0)
    head = build_head(name, 8)
    with torch.no_grad():
        for p in head.parameters():  # away from the initial values, so every term counts
            p.add_(0.3 * torch.randn_like(p))
    probes, gallery = torch.randn(5, 8), torch.randn(7, 8)
    gallery[3] = probes[1]  # a zero distance, where the Euclidean expansion could go negative
    pairs = head(probes.repeat_interleave(7, 0), gallery.repeat(5, 1)).logits.reshape(5, 7)
    monkeypatch.setattr(heads, "CHUNK_ELEMENTS", 2 * 7 * 8)  # weighted_l1: 3 chunks of probes
    with torch.no_grad():
        matrix = head.logit_matrix(probes, head.prepare_gallery(gallery))
    assert matrix.shape == (5, 7)
    torch.testing.assert_close(matrix, pairs.detach(), atol=1e-4, rtol=1e-5)


def test_squared_distances_by_hand() -> None:
    prepared = heads.with_squared_norms(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert prepared.tolist() == [[3.0, 4.0, 25.0], [0.0, 0.0, 0.0]]
    d2 = heads.squared_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), prepared)
    assert d2.tolist() == [[25.0, 0.0], [0.0, 25.0]]
