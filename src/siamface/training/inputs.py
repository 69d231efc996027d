"""Assemble what a run trains and validates on, with the hygiene checks that keep results true.

Validation always comes from pairsDevTrain's people (a person-disjoint split by default), and
nothing here reads an image of DevTest: the DevTest files are opened only for the names of the
people that training and validation must not contain.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siamface.config import Config
from siamface.data.cache import ImageCache, load_or_build_cache
from siamface.data.lfw import LFWDataset
from siamface.data.people import (
    TRAIN_PAIRS,
    TRAIN_PEOPLE,
    dev_test_people,
    dev_train_people,
    pair_people,
    person_ids,
)
from siamface.data.protocol import ImageRef, Pair
from siamface.data.splits import check_no_leakage, dev_train_split, mine_pairs
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
    """Build the cache, split pairsDevTrain, check for leakage and make the batch sampler.

    Args:
        config: The run configuration (its ``data``, ``train.batch_size`` and ``seed``).
        lfw: The imported LFW copy.
        progress: Show a progress bar if the cache has to be built.

    Raises:
        LeakageError: A DevTest person would be trained or validated on, or (person split) a
            person is on both sides of the validation split.
    """
    data, seed = config.data, config.seed
    cache = load_or_build_cache(lfw, data.preprocessing_settings(), progress=progress)
    train, val = dev_train_split(lfw, data.split, data.val_fraction, seed)
    val_people = pair_people(val)

    # -- training data: the pairs themselves, or identity batches over DevTrain people's images
    if data.sampling == "pairs":
        mined: list[Pair] = []
        if data.mined_pairs:
            pool = sorted(_training_pool(lfw) - val_people)
            mined = mine_pairs(lfw.image_counts, data.mined_pairs, seed, people=pool)
        rows, target = _pair_rows(cache, train + mined)
        batches: PairBatches | IdentityBatches = PairBatches(
            rows, target, config.train.batch_size, seed
        )
        train_people = pair_people(train) | pair_people(mined)
        setting = "unrestricted (mined pairs)" if mined else "restricted"
        sizes = {"train_pairs": len(train), "mined_pairs": len(mined)}
    else:
        pool = {
            name
            for name in _training_pool(lfw) - val_people
            if lfw.image_counts[name] >= max(2, data.min_images_per_person)
        }
        refs = [ImageRef(n, k) for n in sorted(pool) for k in range(1, lfw.image_counts[n] + 1)]
        batches = IdentityBatches(
            person_ids(refs),
            cache.indices(refs),
            data.identities_per_batch,
            data.images_per_identity,
            seed,
        )
        train_people = pool
        setting = "unrestricted (identity labels)"
        sizes = {"train_images": len(refs)}

    # -- hygiene: no DevTest person in training or validation; the split itself is clean
    held_out = dev_test_people(lfw)
    check_no_leakage(train_people, held_out, "training", "DevTest")
    check_no_leakage(val_people, held_out, "validation", "DevTest")
    if data.split == "person":
        check_no_leakage(train_people, val_people, "training", "validation")

    val_rows, val_target = _pair_rows(cache, val)
    description = {
        "setting": setting,
        "sampling": data.sampling,
        "split": data.split,
        "train_people": len(train_people),
        "val_people": len(val_people),
        "val_pairs": len(val),
        "val_matching": int(val_target.sum()),
        "steps_per_epoch": len(batches),
        "cache_key": cache.key,
        **sizes,
    }
    return TrainingInputs(cache, batches, val_rows, val_target, description)


def _training_pool(lfw: LFWDataset) -> frozenset[str]:
    """The DevTrain people, with a warning when only pairsDevTrain names them."""
    if TRAIN_PEOPLE not in lfw.protocol_names():
        warnings.warn(
            f"{TRAIN_PEOPLE} is not imported; drawing training people from {TRAIN_PAIRS} only",
            PartialProtocolWarning, stacklevel=3,
        )
    return dev_train_people(lfw)
