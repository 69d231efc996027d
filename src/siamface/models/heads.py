"""Heads: compare two embeddings and return PairScores (logits: higher = same; distances).

Every head is built by name from ``HEADS`` with the embedding size ``dim`` as its first argument,
keeps it as ``self.dim`` (SiameseNet checks it against the backbone), and is symmetric: swapping
``e1`` and ``e2`` gives exactly the same scores, because every head only sees ``|e1 - e2|``,
``(e1 - e2)^2`` or ``e1 * e2``.

A head's ``logits_follow_distances`` says whether its logits fall as its distances grow,
whatever its own weights: a loss that trains the distances alone (contrastive) leaves those
weights as they began, so only such a head's logits rank pairs as the distances do.

Identification compares one probe with a whole gallery, so every head also scores one-to-many:
``prepare_gallery(g)`` does once what does not depend on the probe (normalising, squared norms)
and ``logit_matrix(probes, prepared)`` gives the (P, G) logits, equal to ``forward`` on every
pair, as one matrix product where the head allows it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from siamface.errors import ConfigError
from siamface.models.siamese import PairScores
from siamface.utils.registry import Registry
from siamface.utils.settings import (
    FLOAT32_FINITE,
    FLOAT32_POSITIVE,
    is_finite_float32,
    is_positive_float32,
)

HEADS: Registry[nn.Module] = Registry("head", supplied=("dim",))
CHUNK_ELEMENTS = 1 << 24  # floats of one chunk of WeightedL1Head.logit_matrix (64 MiB)


@HEADS.register("weighted_l1")
class WeightedL1Head(nn.Module):
    """The paper's head: ``p = sigmoid(sum_j alpha_j |e1_j - e2_j| + b)`` (Koch et al. 2015).

    The alphas and b are one ``nn.Linear(dim, 1)``, so an initialiser that walks the model's
    Linear layers (koch2015 applies the paper's FC rule) covers them too; standalone they keep
    PyTorch's default Linear init. ``distances`` is the mean absolute difference, an unweighted
    L1 distance that does not depend on the learned alphas.

    Args:
        dim: Embedding size D.
    """

    # its logits weigh each dimension's difference: a loss on distances alone leaves them out
    logits_follow_distances: ClassVar[bool] = False

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.fc = nn.Linear(dim, 1)  # alpha: (1, D), b: (1,)

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        diff = (e1 - e2).abs()  # (B, D), symmetric in e1 and e2
        return PairScores(logits=self.fc(diff).squeeze(-1), distances=diff.mean(dim=-1))

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        return gallery  # |p - g| has no part that depends on g alone

    def logit_matrix(self, probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        # No matrix product computes sum_j alpha_j |p_j - g_j|: the (c, G, D) differences are
        # formed a chunk of probes at a time, at most CHUNK_ELEMENTS floats each.
        rows = max(1, CHUNK_ELEMENTS // max(1, prepared.numel()))
        alpha, b = self.fc.weight[0], self.fc.bias[0]  # (D,), ()
        return torch.cat([(p[:, None, :] - prepared[None]).abs() @ alpha + b
                          for p in probes.split(rows)])  # (P, G)


@HEADS.register("euclidean")
class EuclideanHead(nn.Module):
    """Euclidean distance, for contrastive training, with a learned logistic read-out.

    ``d = sqrt(sum_j (e1_j - e2_j)^2 + eps)`` and ``logit = scale * (offset - d)``. The eps keeps
    the gradient of the square root finite (0/0 otherwise) when both embeddings coincide.
    ``offset`` starts at ``margin / 2``, halfway between where the contrastive loss pulls
    same-person pairs (d = 0) and pushes different ones (d >= margin), so that thresholding
    ``sigmoid(logit)`` at 0.5 is sensible from the start; ``scale`` starts at 1 and is kept
    positive through a log parameter, so a larger distance always means a lower logit. A
    contrastive loss only reads ``distances``, so it leaves scale and offset untouched; BCE or MSE
    on the logits trains them.

    Args:
        dim: Embedding size D.
        margin: The contrastive margin the distances are trained against (> 0).
        eps: Added inside the square root (> 0).
    """

    logits_follow_distances: ClassVar[bool] = True  # scale > 0: logits fall as d grows

    def __init__(self, dim: int, margin: float = 1.0, eps: float = 1e-12) -> None:
        super().__init__()
        for key, value in (("margin", margin), ("eps", eps)):
            if not is_positive_float32(value):
                raise ConfigError(f"{key} must be {FLOAT32_POSITIVE}, got {value!r}")
        self.dim = dim
        self.margin = margin
        self.eps = eps
        self.log_scale = nn.Parameter(torch.zeros(()))  # scale = exp(0) = 1
        self.offset = nn.Parameter(torch.tensor(margin / 2))

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        d = ((e1 - e2).pow(2).sum(dim=-1) + self.eps).sqrt()  # (B,)
        return PairScores(logits=self.log_scale.exp() * (self.offset - d), distances=d)

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        return with_squared_norms(gallery)  # (G, D + 1)

    def logit_matrix(self, probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        d = (squared_distances(probes, prepared) + self.eps).sqrt()  # (P, G)
        return self.log_scale.exp() * (self.offset - d)


@HEADS.register("cosine")
class CosineHead(nn.Module):
    """Cosine similarity of L2-normalised embeddings: ``logit = s * cos + b``, ``d = 1 - cos``.

    cos lies in [-1, 1], so with s = 1 the probability could never leave [0.27, 0.73] and BCE
    would keep pushing forever; s starts at 10 (kept positive through a log parameter, as in
    NormFace-style scaled softmax). b starts at -5 so that p = 0.5 at cos = 0.5: in high
    dimensions unrelated embeddings are nearly orthogonal (cos ~ 0), so the first decision
    boundary sits halfway between "unrelated" and "identical" rather than at cos = 0, where half
    of all random pairs would be called the same person.

    Args:
        dim: Embedding size D.
        scale: Initial s (> 0).
        bias: Initial b.
    """

    logits_follow_distances: ClassVar[bool] = True  # s > 0: logits fall as d = 1 - cos grows

    def __init__(self, dim: int, scale: float = 10.0, bias: float = -5.0) -> None:
        super().__init__()
        if not is_positive_float32(scale):
            raise ConfigError(f"scale must be {FLOAT32_POSITIVE}, got {scale!r}")
        if not is_finite_float32(bias):
            raise ConfigError(f"bias must be {FLOAT32_FINITE}, got {bias!r}")
        self.dim = dim
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        cos = (F.normalize(e1, dim=-1) * F.normalize(e2, dim=-1)).sum(dim=-1)  # (B,)
        return PairScores(logits=self.log_scale.exp() * cos + self.bias, distances=1 - cos)

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        return F.normalize(gallery, dim=-1)  # (G, D) unit rows, once for every probe

    def logit_matrix(self, probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(probes, dim=-1) @ prepared.T  # (P, G): one matrix product
        return self.log_scale.exp() * cos + self.bias


def with_squared_norms(gallery: torch.Tensor) -> torch.Tensor:
    """(G, D) -> (G, D + 1): each row followed by its squared norm (for ``squared_distances``)."""
    return torch.cat([gallery, gallery.pow(2).sum(dim=1, keepdim=True)], dim=1)


def squared_distances(probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
    """(P, G) squared Euclidean distances from (P, D) probes to a ``with_squared_norms`` gallery.

    ``|p - g|^2 = |p|^2 + [-2p, 1] . [g, |g|^2]``: one matrix product. Rounding can take a
    near-zero distance slightly below zero, hence the clamp.
    """
    left = torch.cat([-2 * probes, torch.ones(len(probes), 1, dtype=probes.dtype)], dim=1)
    return (probes.pow(2).sum(dim=1, keepdim=True) + left @ prepared.T).clamp_min(0)


def build_head(name: str, dim: int, /, **kwargs: Any) -> nn.Module:
    """Build the head registered as ``name`` for ``dim``-d embeddings.

    Its options are a model's ``head_kwargs``: a value of the wrong type, or one the head
    refuses, is a ConfigError keyed ``head_kwargs.<key>``, which building the model from its
    config section leads with the section (``model.head_kwargs.eps``).

    Args:
        name: One of ``list_heads()``.
        dim: Embedding size D.
        **kwargs: The head's own options (e.g. ``margin`` for "euclidean").
    """
    unknown = HEADS.unknown_key(name, kwargs)
    if unknown is not None:
        takes = ", ".join(HEADS.valid_keys(name) or []) or "no options"
        raise ConfigError(f"head_kwargs.{unknown}: not an option of the {name} head; "
                          f"it takes {takes}")
    HEADS.check_types(name, kwargs, "head_kwargs")
    try:
        return HEADS.build(name, dim=dim, **kwargs)
    except ConfigError as err:  # the head's own, keyed by its argument: "eps must be ..."
        raise ConfigError(f"head_kwargs.{err}") from None


def list_heads() -> list[str]:
    """Names of the registered heads."""
    return HEADS.names()
