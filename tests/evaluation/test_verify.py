"""Scoring pairs of cached images: each distinct image embedded once, the head in fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamface.evaluation.embed import embed_images
from siamface.evaluation.verify import score_index_pairs
from siamface.models import build_model


@pytest.mark.parametrize("head", ["weighted_l1", "euclidean", "cosine"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_pairs_score_as_their_embeddings_do_with_the_head_in_fp32(precision, head):
    torch.manual_seed(0)
    model = build_model("resface", input_size=32, width=4, embedding_dim=8, head=head).eval()
    images = np.random.default_rng(0).integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    pairs = np.array([[0, 1], [1, 0], [2, 2], [3, 5], [5, 4], [0, 4]])
    scores = score_index_pairs(model, images, pairs, batch_size=4, precision=precision)
    emb = embed_images(model, images, np.arange(6), precision=precision)  # (6, D) float32
    with torch.inference_mode():  # the head as verify, identify and the server run it
        expected = model.score(emb[pairs[:, 0]], emb[pairs[:, 1]])
    # bf16 logits would round these: a threshold chosen on them would mean another thing
    assert scores.logits.dtype == torch.float32
    assert torch.allclose(scores.logits, expected.logits, rtol=1e-6, atol=1e-6)
    assert torch.allclose(scores.distances, expected.distances, rtol=1e-6, atol=1e-6)
    assert scores.logits[0] == pytest.approx(float(scores.logits[1]), abs=1e-6)  # symmetric
