"""SiameseNet: one shared backbone embeds both images, a head turns the two embeddings into scores.

Every model in siamface is a SiameseNet. What varies is the backbone (any ``nn.Module`` mapping
``(B, C, H, W)`` images to ``(B, D)`` embeddings and carrying an ``out_dim`` attribute, ``D``) and
the head (see ``heads.py``), which compares two embeddings and must be symmetric in them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class PairScores(NamedTuple):
    """What a Siamese model says about a batch of B pairs.

    Attributes:
        logits: (B,) unnormalised scores; higher = more likely the same person, and
            ``sigmoid(logits)`` is the model's probability. Decisions compare the logit with
            the threshold chosen on validation pairs (``Run.threshold``), not with 0.
        distances: (B,) non-negative dissimilarities in embedding space; lower = more alike.
            Contrastive losses train on these.
    """

    logits: torch.Tensor
    distances: torch.Tensor


class SiameseNet(nn.Module):
    """A backbone shared by both sides of a pair, and a symmetric head.

    Args:
        backbone: Maps ``(B, C, H, W)`` float images in [0, 1] to ``(B, D)`` embeddings and has an
            integer ``out_dim`` attribute equal to ``D``.
        head: Maps two ``(B, D)`` embeddings to ``PairScores``; has a ``dim`` attribute equal to
            ``D`` and gives the same scores when its two inputs are swapped.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        out_dim = getattr(backbone, "out_dim", None)
        if not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError(
                f"backbone {type(backbone).__name__} must have a positive integer `out_dim` "
                f"attribute (its embedding size), got {out_dim!r}"
            )
        if getattr(head, "dim", None) != out_dim:
            raise ValueError(
                f"head {type(head).__name__} expects {getattr(head, 'dim', None)}-d embeddings "
                f"but backbone {type(backbone).__name__} produces {out_dim}-d ones"
            )
        self.backbone = backbone
        self.head = head

    @property
    def out_dim(self) -> int:
        """The embedding size D."""
        return self.backbone.out_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of images.

        Args:
            x: (B, C, H, W) float images in [0, 1].

        Returns:
            (B, D) embeddings.
        """
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(
                "expected a (B, C, H, W) floating-point image batch with values in [0, 1], "
                f"got shape {tuple(x.shape)} and dtype {x.dtype}"
            )
        return self.backbone(x)

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        """Compare two batches of embeddings pairwise.

        Args:
            e1: (B, D) embeddings of the left images.
            e2: (B, D) embeddings of the right images.

        Returns:
            PairScores with (B,) logits and distances.
        """
        if e1.shape != e2.shape or e1.ndim != 2:
            raise ValueError(
                "expected two (B, D) embedding batches of the same shape, "
                f"got {tuple(e1.shape)} and {tuple(e2.shape)}"
            )
        return self.head(e1, e2)

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        """The head's probe-independent form of (G, D) gallery embeddings, for ``logit_matrix``."""
        return self.head.prepare_gallery(gallery)

    def logit_matrix(self, probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """(P, G) logits of (P, D) probe embeddings against a ``prepare_gallery`` gallery: the
        same numbers ``score`` gives for each pair, without forming the P * G pairs."""
        return self.head.logit_matrix(probes, prepared)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> PairScores:
        """Score B pairs of images.

        Args:
            x1: (B, C, H, W) left images, floats in [0, 1].
            x2: (B, C, H, W) right images, same shape as ``x1``.

        Returns:
            PairScores with (B,) logits and distances.
        """
        if x1.shape != x2.shape:
            raise ValueError(
                f"the two sides of a pair batch differ in shape: {tuple(x1.shape)} vs "
                f"{tuple(x2.shape)}"
            )
        # One backbone call on (2B, C, H, W) instead of two on (B, C, H, W): half the kernel
        # launches and better use of the cores. With BatchNorm in training mode both sides also
        # share the same batch statistics, which keeps the pair symmetric.
        e = self.embed(torch.cat([x1, x2]))  # (2B, D)
        b = x1.shape[0]
        return self.score(e[:b], e[b:])  # (B, D) and (B, D)
