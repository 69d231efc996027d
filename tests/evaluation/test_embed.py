"""Scoring pairs of embeddings in chunks: the chunk size never changes a score."""

from __future__ import annotations

import numpy as np
import torch

from siamface.evaluation import embed
from siamface.evaluation.embed import score_embedding_pairs


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
