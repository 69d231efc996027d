"""Assemble what a run trains and validates on, with the hygiene checks that keep results true.

Validation always comes from the run's scope (``data.people.training_scope``): pairsDevTrain's
people under View 1, a person-disjoint split by default; the other nine folds under View 2.
No image of the held-out people (DevTest, or View 2's held-out fold) is trained or validated
on, and no statistic is taken over them: their protocol files are opened only for the names
that training and validation must not contain. (The image cache, built once for every run and
evaluation, preprocesses all of LFW, each image on its own.)
"""

from __future__ import annotations

import warnings
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from siamface.config import Config
from siamface.data.cache import ImageCache, load_or_build_cache
from siamface.data.lfw import LFWDataset
from siamface.data.people import (
    TRAIN_PAIRS,
    TRAIN_PEOPLE,
    TrainingScope,
    pair_people,
    person_images,
    training_scope,
)
from siamface.data.protocol import Pair
from siamface.data.splits import check_no_leakage, mine_pairs, training_split
from siamface.errors import SiamfaceWarning
from siamface.training.batches import IdentityBatches, PairBatches


class PartialProtocolWarning(SiamfaceWarning):
    """A protocol file the run could use is not imported; it trains on what is."""


@dataclass
class TrainingInputs:
    """Everything the trainer needs about the data.

    Attributes:
        cache: The preprocessed images (all of LFW; only training rows are ever sampled).
        batches: The training batch sampler.
        val_pairs: (V, 2) cache rows of the validation pairs.
        val_target: (V,) 1.0 for matching validation pairs.
        description: Counts and settings, saved in the run folder and shown in reports.
    """

    cache: ImageCache
    batches: PairBatches | IdentityBatches
    val_pairs: np.ndarray
    val_target: np.ndarray
    description: dict[str, Any] = field(default_factory=dict)


def _pair_rows(cache: ImageCache, pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    rows = cache.indices([r for p in pairs for r in (p.left, p.right)]).reshape(-1, 2)  # (N, 2)
    return rows, np.array([p.same for p in pairs], dtype=np.float32)


def prepare_inputs(config: Config, lfw: LFWDataset, progress: bool = True) -> TrainingInputs:
    """Build the cache, split the scope's pairs, check for leakage and make the batch sampler.

    Args:
        config: The run configuration (its ``data``, ``train.batch_size`` and ``seed``).
        lfw: The imported LFW copy.
        progress: Show a progress bar if the cache has to be built.

    Raises:
        LeakageError: A held-out person (DevTest, or View 2's held-out fold) would be trained
            or validated on, or (person split) a person is on both sides of the validation split.
    """
    data, seed = config.data, config.seed
    scope = _scope(lfw, data.view2_fold)
    cache = load_or_build_cache(lfw, data.preprocessing_settings(), progress=progress)
    train, val = training_split(scope, lfw.image_counts, data, seed)
    val_people = pair_people(val)

    # -- training data: the pairs themselves, or identity batches over DevTrain people's images
    pool = scope.people - val_people
    training = (_pair_training(config, lfw, cache, pool, train) if data.sampling == "pairs"
                else _identity_training(config, lfw, cache, pool))
    batches, train_people = training.batches, training.people

    # -- hygiene: no held-out person in training or validation; the split itself is clean
    check_no_leakage(train_people, scope.held_out, "training", scope.held_out_name)
    check_no_leakage(val_people, scope.held_out, "validation", scope.held_out_name)
    if data.split == "person":
        check_no_leakage(train_people, val_people, "training", "validation")

    val_rows, val_target = _pair_rows(cache, val)
    description = {
        "protocol": scope.name,
        "setting": training.setting,
        "sampling": data.sampling,
        "split": data.split,
        "train_people": len(train_people),
        "val_people": len(val_people),
        "val_pairs": len(val),
        "val_matching": int(val_target.sum()),
        "steps_per_epoch": len(batches),
        "cache_key": cache.key,
        **training.sizes,
    }
    return TrainingInputs(cache, batches, val_rows, val_target, description)


class _Training(NamedTuple):
    """What a run trains on: its batches, their people, the setting's name and sizes."""

    batches: PairBatches | IdentityBatches
    people: set[str]
    setting: str
    sizes: dict[str, int]


def _pair_training(config: Config, lfw: LFWDataset, cache: ImageCache, pool: Set[str],
                   train: list[Pair]) -> _Training:
    """Batches of the training pairs, and of ``data.mined_pairs`` more drawn from ``pool``."""
    data, seed = config.data, config.seed
    mined = (mine_pairs(lfw.image_counts, data.mined_pairs, seed, people=sorted(pool))
             if data.mined_pairs else [])
    rows, target = _pair_rows(cache, train + mined)
    return _Training(PairBatches(rows, target, config.train.batch_size, seed),
                     pair_people(train) | pair_people(mined),
                     "unrestricted (mined pairs)" if mined else "restricted",
                     {"train_pairs": len(train), "mined_pairs": len(mined)})


def _identity_training(config: Config, lfw: LFWDataset, cache: ImageCache,
                       pool: Set[str]) -> _Training:
    """P x K identity batches over the images of the people of ``pool`` with enough of them."""
    data = config.data
    people = {name for name in pool
              if lfw.image_counts[name] >= max(2, data.min_images_per_person)}
    refs, ids = person_images(sorted(people), lfw.image_counts)
    batches = IdentityBatches(ids, cache.indices(refs), data.identities_per_batch,
                              data.images_per_identity, config.seed)
    return _Training(batches, people, "unrestricted (identity labels)",
                     {"train_images": len(refs)})


def _scope(lfw: LFWDataset, view2_fold: int | None) -> TrainingScope:
    """The run's scope, with a warning when only pairsDevTrain names View 1's training people."""
    if view2_fold is None and TRAIN_PEOPLE not in lfw.protocol_names():
        warnings.warn(
            f"{TRAIN_PEOPLE} is not imported; drawing training people from {TRAIN_PAIRS} only",
            PartialProtocolWarning, stacklevel=3,
        )
    return training_scope(lfw, view2_fold)
