"""Scoring pairs of cached images: each distinct image embedded once, the head in fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from siamface.evaluation.embed import embed_images
from siamface.evaluation.verify import score_index_pairs
from siamface.models import build_model
from siamface.models.heads import WeightedL1Head
from siamface.models.siamese import SiameseNet


class RecordingBrightness(nn.Module):
    """An image's mean pixel value (0-255) as its 1-d embedding, recording every one it embeds."""

    out_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = x.mean(dim=(1, 2, 3))[:, None] * 255  # (B, 1)
        self.seen += [round(v) for v in e[:, 0].tolist()]
        return e


def test_each_distinct_image_is_embedded_once():
    backbone = RecordingBrightness()
    model = SiameseNet(backbone, WeightedL1Head(1))
    with torch.no_grad():  # logit = |e1 - e2|
        model.head.fc.weight.fill_(1.0)
        model.head.fc.bias.zero_()
    images = np.stack([np.full((3, 4, 4), v, dtype=np.uint8) for v in (10, 20, 30, 40)])
    pairs = np.array([[0, 1], [1, 0], [2, 2], [0, 2]])  # 8 sides, of 3 distinct images
    scores = score_index_pairs(model, images, pairs, flip_tta=False, precision="fp32")
    assert sorted(backbone.seen) == [10, 20, 30]  # image 3 (40) is in no pair
    # |10 - 20|, |20 - 10|, |30 - 30|, |10 - 30|
    assert scores.logits.tolist() == pytest.approx([10.0, 10.0, 0.0, 20.0], abs=1e-4)


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
