"""Score pairs of cached images: embed every distinct image once, then compare embeddings."""

from __future__ import annotations

import numpy as np
import torch

from siamface.evaluation.embed import embed_images
from siamface.models.siamese import PairScores, SiameseNet
from siamface.utils.precision import choose_precision


def score_index_pairs(
    model: SiameseNet,
    images: np.ndarray,
    pairs: np.ndarray,
    batch_size: int = 256,
    flip_tta: bool = True,
    precision: str = "auto",
) -> PairScores:
    """Score pairs given as rows of an image array.

    A pairs file of P pairs names at most 2P images, and usually fewer distinct ones; embedding
    each distinct image once, instead of once per pair, never does more work and often less.

    Args:
        model: The Siamese model.
        images: (N, C, H, W) uint8 images.
        pairs: (P, 2) row indices into ``images``.
        batch_size: Images per forward pass.
        flip_tta: See ``embed_images``.
        precision: "auto", "fp32" or "bf16", for the embedding; the head (one small layer)
            scores in fp32 whatever it is, as verify, identify and the server score, so that a
            threshold chosen here means the same there.

    Returns:
        PairScores of (P,) float32 logits and distances, on the CPU.
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    distinct, inverse = np.unique(pairs, return_inverse=True)  # (U,), (P*2,)
    precision = choose_precision(precision)
    emb = embed_images(model, images, distinct, batch_size, flip_tta,
                       precision=precision)  # (U, D)
    inverse = torch.from_numpy(inverse.reshape(pairs.shape))  # (P, 2)
    with torch.inference_mode():  # (bf16 logits had tied half of 1,000 distinct fp32 ones)
        scores = model.score(emb[inverse[:, 0]], emb[inverse[:, 1]])
    return PairScores(scores.logits, scores.distances)
