"""Mini-batches as "images plus the index pairs to compare".

Every batch, whatever the sampling, is a ``PairBatch``: the cache indices of M images, and B
pairs ``(left[b], right[b])`` of positions into those M images with a target (1 = same person)
and an optional weight. The trainer embeds the M images once and scores the B pairs, so the two
ways to train a Siamese network share one code path:

- ``PairBatches`` (the restricted LFW setting): a batch of B given pairs; M = 2B, each pair's two
  images augmented independently, as the paper and the seed projects did.
- ``IdentityBatches`` (the unrestricted setting): P people x K images each; every one of the
  PK(PK-1)/2 pairs in the batch is compared. One backward pass then trains on ~8,000 pairs for
  the cost of embedding 128 images, which is what makes a CPU run reach high accuracy quickly.

The order of batches in epoch ``e`` depends only on ``(seed, e)``, so a resumed run draws exactly
the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from siamface.errors import ConfigError


@dataclass(frozen=True)
class PairBatch:
    """One training step's data.

    Attributes:
        images: (M,) cache indices of the images to embed.
        left: (B,) positions into ``images`` of each pair's first image.
        right: (B,) positions into ``images`` of each pair's second image.
        target: (B,) float32, 1.0 for the same person and 0.0 otherwise.
        weight: (B,) float32 per-pair weights summing to 1, or None for a plain mean.
    """

    images: np.ndarray
    left: np.ndarray
    right: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None = None


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator for one epoch: a function of (seed, epoch) only, so resume is exact."""
    return np.random.default_rng([seed, epoch])


class PairBatches:
    """Shuffled batches of fixed pairs, e.g. the training part of pairsDevTrain.

    Args:
        pairs: (N, 2) cache indices of each pair's two images.
        target: (N,) 1 for matching pairs, 0 for non-matching ones.
        batch_size: Pairs per batch; the last, smaller batch of an epoch is kept.
        seed: Seed of the per-epoch shuffles.
    """

    def __init__(self, pairs: np.ndarray, target: np.ndarray, batch_size: int, seed: int) -> None:
        pairs = np.asarray(pairs, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) != len(target) or not len(pairs):
            raise ValueError(
                f"need (N, 2) pairs and N targets with N > 0, got {pairs.shape} and {len(target)}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.pairs = pairs
        self.target = np.asarray(target, dtype=np.float32)
        self.batch_size = batch_size
        self.seed = seed

    def __len__(self) -> int:
        return -(-len(self.pairs) // self.batch_size)

    def epoch(self, epoch: int) -> Iterator[PairBatch]:
        """Yield the batches of ``epoch`` in a shuffled order."""
        order = epoch_rng(self.seed, epoch).permutation(len(self.pairs))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            b = len(chosen)
            # Left images first, then right images: pair b compares positions b and B + b.
            images = np.concatenate([self.pairs[chosen, 0], self.pairs[chosen, 1]])  # (2B,)
            yield PairBatch(images, np.arange(b), np.arange(b, 2 * b), self.target[chosen])


class IdentityBatches:
    """P people x K images per batch, with every pair inside the batch compared.

    There are far more different-person pairs in a batch than same-person ones (with P=32, K=4:
    192 vs 7,936), so each class gets half of the total weight; otherwise the loss would be
    dominated by easy negatives.

    Args:
        identities: (N,) identity label of each candidate image.
        images: (N,) cache index of each candidate image. Only people with at least 2 images
            are sampled (a lone image can never form a matching pair).
        people_per_batch: P.
        images_per_person: K (>= 2). People with fewer than K images are sampled with
            replacement among their images.
        steps_per_epoch: Batches per epoch; default: enough to show each image about once.
        seed: Seed of the per-epoch draws.
    """

    def __init__(
        self,
        identities: np.ndarray,
        images: np.ndarray,
        people_per_batch: int,
        images_per_person: int,
        seed: int,
        steps_per_epoch: int | None = None,
    ) -> None:
        identities = np.asarray(identities)
        images = np.asarray(images, dtype=np.int64)
        if identities.shape != images.shape or identities.ndim != 1:
            raise ValueError(
                f"identities and images must be 1-D of one length, got {identities.shape} and "
                f"{images.shape}"
            )
        if images_per_person < 2:
            raise ValueError(f"images_per_person must be at least 2, got {images_per_person}")
        people, counts = np.unique(identities, return_counts=True)
        self.groups = [images[identities == p] for p in people[counts >= 2]]
        if len(self.groups) < max(people_per_batch, 2):
            raise ConfigError(
                f"data.identities_per_batch: need at least max(P, 2) = "
                f"{max(people_per_batch, 2)} people with 2 or more images, found "
                f"{len(self.groups)} in the training people (data.min_images_per_person "
                "keeps only people with that many); lower data.identities_per_batch or "
                "data.min_images_per_person"
            )
        self.people_per_batch = people_per_batch
        self.images_per_person = images_per_person
        self.seed = seed
        n_images = sum(len(g) for g in self.groups)
        self.steps_per_epoch = steps_per_epoch or max(
            1, n_images // (people_per_batch * images_per_person)
        )
        # The pair structure is the same for every batch: compute it once.
        pk = people_per_batch * images_per_person
        self._left, self._right = np.triu_indices(pk, k=1)  # (B,), (B,) with B = PK(PK-1)/2
        person = np.repeat(np.arange(people_per_batch), images_per_person)  # (PK,)
        self._target = (person[self._left] == person[self._right]).astype(np.float32)
        n_same = self._target.sum()
        self._weight = np.where(
            self._target > 0, 0.5 / n_same, 0.5 / (len(self._target) - n_same)
        ).astype(np.float32)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch(self, epoch: int) -> Iterator[PairBatch]:
        """Yield ``steps_per_epoch`` batches of P people x K images."""
        rng = epoch_rng(self.seed, epoch)
        k = self.images_per_person
        for _ in range(self.steps_per_epoch):
            people = rng.choice(len(self.groups), self.people_per_batch, replace=False)
            images = np.concatenate(
                [rng.choice(self.groups[p], k, replace=len(self.groups[p]) < k) for p in people]
            )  # (PK,)
            yield PairBatch(images, self._left, self._right, self._target, self._weight)
