"""Embed images with a trained model, each distinct image once; score pairs of embeddings."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from siamface.data.cache import ImageCache
from siamface.data.protocol import ImageRef
from siamface.models.io import embed, to_model_input
from siamface.models.siamese import SiameseNet
from siamface.run_folder import Run
from siamface.utils.precision import autocast, choose_precision

SCORE_CHUNK = 65_536  # pairs per head call: bounds the (chunk, D) gathers to a few MB


@torch.inference_mode()
def embed_images(
    model: SiameseNet,
    images: np.ndarray,
    indices: np.ndarray,
    batch_size: int = 256,
    flip_tta: bool = True,
    precision: str = "auto",
) -> torch.Tensor:
    """Embed ``images[indices]`` in evaluation mode, fed as NHWC tensors (faster on the CPU,
    whatever memory format the model trained in).

    Args:
        model: A SiameseNet; switched to eval mode for the call and restored afterwards.
        images: (N, C, H, W) uint8 array (a memory-mapped cache is fine).
        indices: (M,) rows of ``images`` to embed, in the order wanted.
        batch_size: Images per forward pass.
        flip_tta: Average the embeddings of each image and its mirror image (see
            ``siamface.models.io.embed``).
        precision: "auto", "fp32" or "bf16" (autocast of the forward pass; see
            ``siamface.utils.precision``).

    Returns:
        (M, D) float32 embeddings (cast back from bf16 when the forward pass ran in it).
    """
    precision = choose_precision(precision)
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, len(indices), batch_size):
            chunk = np.sort(indices[start : start + batch_size])  # sorted reads from a memmap
            order = np.argsort(np.argsort(indices[start : start + batch_size]))
            x = to_model_input(images[chunk])  # (b, C, H, W), channels last
            with autocast(precision):
                e = embed(model, x, flip_tta).float()
            out.append(e[torch.from_numpy(order)])
        return torch.cat(out) if out else torch.empty(0, model.out_dim)
    finally:
        model.train(was_training)


def embed_run_images(run: Run, cache: ImageCache, refs: list[ImageRef],
                     precision: str | None = None) -> torch.Tensor:
    """(M, D) embeddings of LFW images by a run's model, at its ``train.eval_batch_size`` and
    in its ``train.precision`` as this machine resolves "auto": how every evaluation of a run
    embeds.

    Args:
        precision: Another precision: the one the run was validated in, for its gallery
            calibration, whose scores are to agree with the threshold chosen there.
    """
    train = run.config.train
    return embed_images(run.model, cache.images, cache.indices(refs), train.eval_batch_size,
                        precision=precision or train.precision)


def score_embedding_pairs(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          embeddings: torch.Tensor, left: np.ndarray,
                          right: np.ndarray) -> np.ndarray:
    """(P,) float64 scores of pairs of embedded images, SCORE_CHUNK pairs a head call.

    Args:
        score: (B, D), (B, D) -> (B,) logits: a model's head.
        embeddings: (M, D) embeddings.
        left, right: (P,) rows of ``embeddings``, a pair's two sides.
    """
    out = np.empty(len(left), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(left), SCORE_CHUNK):
            i = torch.from_numpy(np.asarray(left[start : start + SCORE_CHUNK]))
            j = torch.from_numpy(np.asarray(right[start : start + SCORE_CHUNK]))
            out[start : start + len(i)] = score(embeddings[i], embeddings[j]).double().numpy()
    return out
