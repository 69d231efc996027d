"""Training/validation splits of pairs, the identity-leakage check, and pair mining.

Face verification is tested on people the model never saw, so model selection should be too:
`split_pairs_by_person` holds out whole people; `training_split` is the split every run makes
of its scope's pairs. `split_pairs_random` is the split most student projects use; it lets the
same people appear on both sides, which makes validation accuracy optimistic, so it says so
with an `IdentityLeakageWarning`. `check_no_leakage` runs before
every training run against the test people. `mine_pairs` draws fresh pairs from the training
people's images (LFW's "unrestricted" setting).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from siamface.data.people import TrainingScope, pair_people
from siamface.data.protocol import ImageRef, Pair
from siamface.errors import ConfigError, SiamfaceError, SiamfaceWarning


class IdentityLeakageWarning(SiamfaceWarning):
    """People appear in both the training and the validation pairs."""


class LeakageError(SiamfaceError, ValueError):
    """People of the test set appear in a set used for training or model selection."""


def split_pairs_by_person(
    pairs: Sequence[Pair],
    image_counts: Mapping[str, int],
    val_fraction: float,
    seed: int = 0,
    restricted: bool = False,
) -> tuple[list[Pair], list[Pair]]:
    """Split pairs (e.g. pairsDevTrain) into person-disjoint training and validation pairs.

    Every pair goes to the side of its left person. Validation people are drawn in a seeded
    random order and kept when they fit: their matching and non-matching pairs must stay
    within ``val_fraction`` of each kind, so both sides keep the input's balance. People who
    are only ever on the right of a pair carry no pairs and go to validation with probability
    ``val_fraction``. A non-matching pair whose right person landed on the other side is
    re-paired: its right image becomes a random image (seeded; person first, then image) of
    another person of the left person's side, one that makes no duplicate pair. No pair is lost.

    ``restricted`` keeps to LFW's image-restricted rules, under which a pair may not be made up
    from the people's names: people are then drawn in whole groups, those the pairs link (a
    non-matching pair links its two people), so that no pair straddles the sides and none is
    re-paired. pairsDevTrain's largest such group has 18 of its 2,132 people.

    Args:
        pairs: The pairs to split.
        image_counts: Images per person, to draw the replacement images from.
        val_fraction: The share of pairs to hold out, in (0, 1).
        seed: Seeds the draw of validation people and of replacement images.
        restricted: Hold out linked groups of people; re-pair nothing.

    Returns:
        ``(train, val)``, each in input order; no person appears in both.

    Raises:
        ConfigError: Naming ``data.val_fraction``: no pair fits the validation share, or a
            straddling pair has nobody to re-pair with.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    missing = sorted(pair_people(pairs) - image_counts.keys())
    if missing:
        raise ValueError(f"{len(missing)} people of the pairs have no image count: {missing[:10]}")
    rng = np.random.default_rng(seed)

    # The units drawn: single people, or (restricted) the groups the pairs link; each unit's
    # load is its [matching, non-matching] pairs, counted at their left person.
    units = _linked_groups(pairs) if restricted else [[n] for n in sorted(pair_people(pairs))]
    unit_of = {name: i for i, unit in enumerate(units) for name in unit}
    load = np.zeros((len(units), 2))
    for p in pairs:
        load[unit_of[p.left.name], 0 if p.same else 1] += 1
    total = np.array([sum(p.same for p in pairs), sum(not p.same for p in pairs)])
    target = np.round(val_fraction * total)

    val_people: set[str] = set()
    taken = np.zeros(2)
    for i in rng.permutation(len(units)):
        if not load[i].any():
            if rng.random() < val_fraction:
                val_people.update(units[i])
        elif np.all(taken + load[i] <= target):
            val_people.update(units[i])
            taken += load[i]
    if not taken.any():
        raise ConfigError(
            f"data.val_fraction: no person's pairs fit in {val_fraction} of {len(pairs)} pairs; "
            "use a larger fraction or more pairs"
        )

    sides = {True: sorted(val_people), False: sorted(pair_people(pairs) - val_people)}
    used = {p.key for p in pairs if (p.left.name in val_people) == (p.right.name in val_people)}
    train: list[Pair] = []
    val: list[Pair] = []
    for p in pairs:
        in_val = p.left.name in val_people
        if in_val != (p.right.name in val_people):  # only non-matching pairs can straddle
            p = _repair(p, sides[in_val], image_counts, used, rng)
            used.add(p.key)
        (val if in_val else train).append(p)
    return train, val


def _linked_groups(pairs: Sequence[Pair]) -> list[list[str]]:
    """The people of ``pairs`` in groups that the pairs link, each sorted, in order of their
    first name (so that one seed draws one split)."""
    parent = {name: name for name in pair_people(pairs)}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]  # halve the path as it is walked
            name = parent[name]
        return name

    for p in pairs:
        parent[root(p.left.name)] = root(p.right.name)
    groups: dict[str, list[str]] = {}
    for name in sorted(parent):
        groups.setdefault(root(name), []).append(name)
    return sorted(groups.values())


def _repair(
    pair: Pair,
    side: Sequence[str],
    image_counts: Mapping[str, int],
    used: Collection[frozenset[ImageRef]],
    rng: np.random.Generator,
) -> Pair:
    """``pair`` with its right image replaced by a free image of another person of ``side``."""
    # People in random order, the first with an image that makes a new pair wins: uniform over
    # people, then over their free images, and it never loops when few free images are left.
    for i in rng.permutation(len(side)):
        name = side[i]
        if name == pair.left.name:
            continue
        free = [
            ImageRef(name, k)
            for k in range(1, image_counts[name] + 1)
            if frozenset((pair.left, ImageRef(name, k))) not in used
        ]
        if free:
            return replace(pair, right=free[rng.integers(len(free))])
    raise ConfigError(
        f"data.val_fraction: cannot re-pair the non-matching pair of line {pair.line} "
        f"({pair.left.filename}, {pair.right.filename}): nobody else on its side has a free "
        "image; use another fraction or more pairs"
    )


def split_pairs_random(
    pairs: Sequence[Pair], val_fraction: float, seed: int = 0
) -> tuple[list[Pair], list[Pair]]:
    """Split pairs at random, ignoring who is in them, as the seed projects did.

    People end up on both sides, so validation measures partly memorised identities; an
    `IdentityLeakageWarning` says how many. Prefer `split_pairs_by_person`.

    Args:
        pairs: The pairs to split.
        val_fraction: The share of pairs to hold out, in (0, 1).
        seed: Seeds the draw.

    Returns:
        ``(train, val)``, each in input order.

    Raises:
        ConfigError: Naming ``data.val_fraction``: it leaves a side without pairs.
    """
    n_val = round(val_fraction * len(pairs))
    if not 0 < n_val < len(pairs):
        raise ConfigError(f"data.val_fraction: {val_fraction} of {len(pairs)} pairs leaves a side "
                          "empty; use another fraction or more pairs")
    in_val = np.zeros(len(pairs), dtype=bool)
    in_val[np.random.default_rng(seed).permutation(len(pairs))[:n_val]] = True
    train = [p for p, v in zip(pairs, in_val, strict=True) if not v]
    val = [p for p, v in zip(pairs, in_val, strict=True) if v]
    shared = pair_people(train) & pair_people(val)
    if shared:
        warnings.warn(
            IdentityLeakageWarning(
                f"{len(shared)} of {len(pair_people(pairs))} people appear in both the training "
                "and the validation pairs, so validation accuracy will be optimistic; "
                "data.split: person holds out whole people"
            ),
            stacklevel=2,
        )
    return train, val


class SplitSettings(Protocol):
    """What a run's split is made of: its data section's settings (``DataConfig``)."""

    split: str  # "person" (``split_pairs_by_person``) or "random" (``split_pairs_random``)
    val_fraction: float  # the share of pairs held out for validation

    @property
    def restricted(self) -> bool:
        """LFW's image-restricted rules: the person split makes up no pair."""
        ...


def training_split(scope: TrainingScope, image_counts: Mapping[str, int], data: SplitSettings,
                   seed: int) -> tuple[list[Pair], list[Pair]]:
    """The pairs of a run's scope split into training and validation pairs, as every run
    splits them (its training and everything that uses its validation people): pairsDevTrain
    (View 1), or pairs.txt without the held-out fold (View 2).

    Args:
        scope: The run's scope (``training_scope``).
        image_counts: Images per person (the person split re-pairs straddling pairs).
        data: The run's data settings (``config.data``).
        seed: The run's seed.
    """
    if data.split == "person":
        return split_pairs_by_person(scope.pairs, image_counts, data.val_fraction, seed,
                                     data.restricted)
    return split_pairs_random(scope.pairs, data.val_fraction, seed)  # warns


def check_no_leakage(
    train_people: Iterable[str],
    test_people: Iterable[str],
    what: str = "training",
    against: str = "test",
) -> None:
    """Raise `LeakageError` when a person of the test set also appears in ``train_people``.

    Args:
        train_people: The people a model learns from or is selected on.
        test_people: The people it is tested on (e.g. those of pairsDevTest).
        what: Names the first set in the message ("training", "validation", ...).
        against: Names the second set in the message.
    """
    shared = sorted(set(train_people) & set(test_people))
    if shared:
        shown = ", ".join(shared[:10]) + (
            f" and {len(shared) - 10} more" if len(shared) > 10 else ""
        )
        raise LeakageError(
            f"{len(shared)} people appear in both the {what} set and the {against} set: {shown}; "
            f"expected no shared people (a model tested on people it trained on scores too high)"
        )


def mine_pairs(
    image_counts: Mapping[str, int],
    n_pairs: int,
    seed: int = 0,
    people: Iterable[str] | None = None,
) -> list[Pair]:
    """Draw distinct pairs from the images of ``people`` (LFW's "unrestricted" setting).

    Half the pairs (rounded down) are matching, the rest non-matching. Matching pairs draw a
    person uniformly among those with two or more images and fresh pairs left, then two
    different images; non-matching pairs draw two different people uniformly, then an image
    of each. People, not images, are drawn uniformly, so the 530 images of one person do not
    swamp everybody else. People with one image only feed non-matching pairs.

    Args:
        image_counts: Images per person.
        n_pairs: How many pairs to draw.
        seed: Seeds the draw.
        people: Whom to draw from (e.g. the training people); everyone in ``image_counts``
            when None.

    Returns:
        The pairs in random order, with ``fold=None`` and ``line=0``.

    Raises:
        ValueError: Unknown people.
        ConfigError: Naming ``data.mined_pairs``: fewer distinct pairs exist than were asked for.
    """
    names = sorted(image_counts if people is None else set(people))
    unknown = [name for name in names if name not in image_counts]
    if unknown:
        raise ValueError(f"{len(unknown)} people have no image count: {unknown[:10]}")
    counts = np.array([image_counts[name] for name in names], dtype=np.int64)  # (P,)
    rng = np.random.default_rng(seed)
    same = _mine_matching(names, counts, n_pairs // 2, rng)
    different = _mine_non_matching(names, counts, n_pairs - n_pairs // 2, rng)
    mined = same + different
    return [mined[i] for i in rng.permutation(len(mined))]


def _mine_matching(
    names: Sequence[str], counts: np.ndarray, n: int, rng: np.random.Generator
) -> list[Pair]:
    capacity = counts * (counts - 1) // 2  # (P,) distinct matching pairs per person
    if n > capacity.sum():
        raise ConfigError(
            f"data.mined_pairs: cannot mine {n} distinct matching pairs: {len(names)} people "
            f"have {capacity.sum()}; ask for fewer"
        )
    taken = np.zeros_like(capacity)
    seen: set[tuple[int, int, int]] = set()
    out: list[Pair] = []
    while len(out) < n:
        # Draw a batch among people with fresh pairs left; repeats are skipped, and people
        # who run out leave the pool before the next batch, so this always finishes.
        eligible = np.flatnonzero(taken < capacity)
        who = eligible[rng.integers(len(eligible), size=n - len(out))]  # (B,)
        first = rng.integers(counts[who])  # (B,) 0-based
        second = rng.integers(counts[who] - 1)  # (B,) 0-based, skipping `first`
        second += second >= first
        for p, a, b in zip(who.tolist(), first.tolist(), second.tolist(), strict=True):
            key = (p, min(a, b), max(a, b))
            if key not in seen:  # a fresh pair, so `p` had one left
                seen.add(key)
                taken[p] += 1
                out.append(Pair(ImageRef(names[p], a + 1), ImageRef(names[p], b + 1), True))
    return out


def _mine_non_matching(
    names: Sequence[str], counts: np.ndarray, n: int, rng: np.random.Generator
) -> list[Pair]:
    total = int(counts.sum())
    capacity = total * (total - 1) // 2 - int((counts * (counts - 1) // 2).sum())
    if n > capacity:
        raise ConfigError(
            f"data.mined_pairs: cannot mine {n} distinct non-matching pairs: {len(names)} people "
            f"have {capacity}; ask for fewer"
        )
    seen: set[frozenset[tuple[int, int]]] = set()
    out: list[Pair] = []
    while len(out) < n:
        m = n - len(out)
        left = rng.integers(len(names), size=m)  # (B,)
        right = rng.integers(len(names) - 1, size=m)  # (B,) skipping `left`
        right += right >= left
        a = rng.integers(counts[left])  # (B,) 0-based image indices
        b = rng.integers(counts[right])
        for p, q, i, j in zip(left.tolist(), right.tolist(), a.tolist(), b.tolist(), strict=True):
            key = frozenset(((p, i), (q, j)))
            if key not in seen:
                seen.add(key)
                out.append(Pair(ImageRef(names[p], i + 1), ImageRef(names[q], j + 1), False))
    return out
