"""SiameseNet: one backbone call per pair batch, score = head(embed, embed), clear input errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamface.models import PairScores, SiameseNet
from siamface.models.heads import EuclideanHead, WeightedL1Head


class CountingBackbone(nn.Module):
    """Flatten + Linear, recording the batch size of every call."""

    def __init__(self, in_features: int = 12, out_dim: int = 3) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.fc = nn.Linear(in_features, out_dim)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.fc(torch.flatten(x, 1))


def make_net() -> SiameseNet:
    torch.manual_seed(0)
    return SiameseNet(CountingBackbone(), WeightedL1Head(3))


def test_forward_embeds_both_sides_in_one_backbone_call() -> None:
    net = make_net()
    x1, x2 = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2)
    net(x1, x2)
    assert net.backbone.calls == [10]


def test_forward_equals_score_of_separate_embeddings() -> None:
    net = make_net()
    x1, x2 = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2)
    scores = net(x1, x2)
    expected = net.score(net.embed(x1), net.embed(x2))
    assert isinstance(scores, PairScores)
    torch.testing.assert_close(scores.logits, expected.logits)
    torch.testing.assert_close(scores.distances, expected.distances)
    # and the left side really is x1: pair i is (x1[i], x2[i]), not shuffled within the batch
    e1, e2 = net.embed(x1), net.embed(x2)
    torch.testing.assert_close(scores.distances, (e1 - e2).abs().mean(dim=1))


def test_out_dim_is_the_backbones() -> None:
    assert make_net().out_dim == 3


def test_backbone_without_out_dim_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive integer `out_dim`"):
        SiameseNet(nn.Flatten(), WeightedL1Head(3))


def test_head_for_another_embedding_size_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"expects 4-d embeddings but backbone .* produces 3-d"):
        SiameseNet(CountingBackbone(out_dim=3), EuclideanHead(4))


@pytest.mark.parametrize(
    "x",
    [torch.rand(3, 2, 2), torch.randint(0, 255, (2, 3, 2, 2), dtype=torch.uint8)],
    ids=["3-d", "uint8"],
)
def test_embed_rejects_non_image_batches(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"expected a \(B, C, H, W\) floating-point image batch"):
        make_net().embed(x)


def test_forward_rejects_sides_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"differ in shape: \(2, 3, 2, 2\) vs \(3, 3, 2, 2\)"):
        make_net()(torch.rand(2, 3, 2, 2), torch.rand(3, 3, 2, 2))


def test_score_rejects_mismatched_embeddings() -> None:
    with pytest.raises(ValueError, match=r"got \(2, 3\) and \(3, 3\)"):
        make_net().score(torch.rand(2, 3), torch.rand(3, 3))
