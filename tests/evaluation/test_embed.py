"""Embedding images in the order asked, and scoring pairs of embeddings in chunks: the chunk
size never changes a score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from siamface.evaluation import embed
from siamface.evaluation.embed import embed_images, score_embedding_pairs
from siamface.models.heads import WeightedL1Head
from siamface.models.siamese import SiameseNet


class Brightness(nn.Module):
    """An image's mean pixel value (0-255) as its 1-d embedding: it names the image it saw."""

    out_dim = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))[:, None] * 255


def test_images_come_back_in_the_order_asked_across_batches():
    model = SiameseNet(Brightness(), WeightedL1Head(1))
    # three flat images of 10, 20 and 30: a mirror image is the same, so flip TTA keeps them
    images = np.stack([np.full((3, 4, 4), v, dtype=np.uint8) for v in (10, 20, 30)])
    # batch 1 asks for [2, 0], read sorted as [0, 2] and put back; batch 2 is [1]
    out = embed_images(model, images, np.array([2, 0, 1]), batch_size=2, precision="fp32")
    assert out[:, 0].tolist() == pytest.approx([30.0, 10.0, 20.0], abs=1e-4)
    in_order = embed_images(model, images, np.array([0, 1, 2]), batch_size=2, precision="fp32")
    assert torch.equal(out, in_order[[2, 0, 1]])


def test_pairs_score_alike_in_chunks_of_any_size(monkeypatch):
    emb = torch.arange(12, dtype=torch.float32).reshape(4, 3)  # (4, D=3)
    left, right = np.array([0, 1, 2, 3, 0]), np.array([1, 2, 3, 0, 0])
    calls = []

    def dot(a, b):  # (B, D), (B, D) -> (B,)
        calls.append(len(a))
        return (a * b).sum(dim=1)

    expected = [(emb[i] * emb[j]).sum().item() for i, j in zip(left, right, strict=True)]
    assert score_embedding_pairs(dot, emb, left, right).tolist() == expected
    monkeypatch.setattr(embed, "SCORE_CHUNK", 2)
    calls.clear()
    scores = score_embedding_pairs(dot, emb, left, right)
    assert scores.dtype == np.float64 and scores.tolist() == expected
    assert calls == [2, 2, 1]
