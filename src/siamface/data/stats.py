"""Dataset and protocol-file statistics (`siamface data stats`).

Everything here but ``lfw_stats``, which reads an imported copy's protocol files, is pure: it
works on image counts and parsed protocol files, returning frozen dataclasses
that `dataclasses.asdict` turns into JSON; `siamface.reporting.dataset_report` writes them as
stats.md, stats.json and plots.

The overlaps are the point of the report as much as the counts: View 1's training and test
files share nobody, while pairsDevTrain and View 2's pairs.txt share many people, so a model
trained on pairsDevTrain must not be scored on pairs.txt.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from siamface.data.lfw import LFWDataset
from siamface.data.people import (
    PAIRS_FILES,
    PEOPLE_FILES,
    TEST_PAIRS,
    TEST_PEOPLE,
    TRAIN_PAIRS,
    TRAIN_PEOPLE,
    VIEW2_PAIRS,
)
from siamface.data.protocol import PairsFile, PeopleFile

MORE_THAN = (1, 2, 5, 10, 20, 50, 100)  # report how many people have more than N images
OVERLAPS = (  # (training file, file it must not share people with)
    (TRAIN_PAIRS, TEST_PAIRS),
    (TRAIN_PEOPLE, TEST_PEOPLE),
    (TRAIN_PAIRS, VIEW2_PAIRS),
)

Counts = tuple[tuple[int, int], ...]  # (value, number of people with it), ascending by value
Ranking = tuple[tuple[str, int], ...]  # (person, count), highest count first, then by name


@dataclass(frozen=True)
class DatasetStats:
    """People and images of the whole dataset.

    Args:
        people: Number of people.
        images: Number of images.
        histogram: (images per person, people with that many).
        more_than: (N, people with more than N images) for N in `MORE_THAN`.
        top: The people with the most images.
    """

    people: int
    images: int
    histogram: Counts
    more_than: tuple[tuple[int, int], ...]
    top: Ranking


@dataclass(frozen=True)
class PairsStats:
    """What a pairs file is made of.

    Args:
        file: The file name.
        pairs: Number of pairs.
        matching: Number of matching pairs.
        non_matching: Number of non-matching pairs.
        folds: Number of folds (1 for View 1).
        matching_people: Distinct people in matching pairs.
        non_matching_people: Distinct people in non-matching pairs.
        shared_people: People in both matching and non-matching pairs.
        images: Distinct images used.
        top_matching: People in the most matching pairs.
        top_non_matching: People in the most non-matching pairs.
        matching_histogram: (matching pairs a person is in, people).
        non_matching_histogram: (non-matching pairs a person is in, people).
    """

    file: str
    pairs: int
    matching: int
    non_matching: int
    folds: int
    matching_people: int
    non_matching_people: int
    shared_people: int
    images: int
    top_matching: Ranking
    top_non_matching: Ranking
    matching_histogram: Counts
    non_matching_histogram: Counts


@dataclass(frozen=True)
class PeopleStats:
    """What a people file lists.

    Args:
        file: The file name.
        folds: Number of folds (1 for View 1).
        people: Number of people.
        images: Their images in total.
    """

    file: str
    folds: int
    people: int
    images: int


@dataclass(frozen=True)
class Overlap:
    """People two files have in common.

    Args:
        first: The first (training) file.
        second: The second (test) file.
        first_people: People in the first.
        second_people: People in the second.
        shared: People in both.
        examples: Up to 10 of them, sorted.
    """

    first: str
    second: str
    first_people: int
    second_people: int
    shared: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class LFWStats:
    """Everything the dataset report shows.

    Args:
        variant: The LFW variant (``lfw-deepfunneled``, ...).
        dataset: Whole-dataset statistics.
        pairs: One entry per imported pairs file.
        people: One entry per imported people file.
        overlaps: One entry per pair of `OVERLAPS` whose files are both imported.
        missing: Protocol files that are not imported and were skipped.
    """

    variant: str
    dataset: DatasetStats
    pairs: tuple[PairsStats, ...]
    people: tuple[PeopleStats, ...]
    overlaps: tuple[Overlap, ...]
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        return dataclasses.asdict(self)


def _ranking(counter: Mapping[str, int], top: int) -> Ranking:
    return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top])


def _histogram(values: Iterable[int]) -> Counts:
    return tuple(sorted(Counter(values).items()))


def dataset_stats(image_counts: Mapping[str, int], top: int = 20) -> DatasetStats:
    """Statistics of the images per person.

    Args:
        image_counts: Person -> number of images.
        top: How many of the people with the most images to list.
    """
    counts = list(image_counts.values())
    return DatasetStats(
        people=len(counts),
        images=sum(counts),
        histogram=_histogram(counts),
        more_than=tuple((n, sum(c > n for c in counts)) for n in MORE_THAN),
        top=_ranking(image_counts, top),
    )


def pairs_stats(pairs_file: PairsFile, top: int = 10) -> PairsStats:
    """Statistics of one pairs file.

    Args:
        pairs_file: The parsed file.
        top: How many of the most frequent people to list, per kind of pair.
    """
    # A person counts once per pair they are in (non-matching pairs never name anyone twice).
    in_matching = Counter(p.left.name for p in pairs_file.matching)
    in_non_matching = Counter(name for p in pairs_file.non_matching for name in p.people)
    return PairsStats(
        file=pairs_file.path.name,
        pairs=len(pairs_file),
        matching=len(pairs_file.matching),
        non_matching=len(pairs_file.non_matching),
        folds=pairs_file.folds,
        matching_people=len(in_matching),
        non_matching_people=len(in_non_matching),
        shared_people=len(in_matching.keys() & in_non_matching.keys()),
        images=len(pairs_file.images()),
        top_matching=_ranking(in_matching, top),
        top_non_matching=_ranking(in_non_matching, top),
        matching_histogram=_histogram(in_matching.values()),
        non_matching_histogram=_histogram(in_non_matching.values()),
    )


def people_stats(people_file: PeopleFile) -> PeopleStats:
    """Statistics of one people file."""
    return PeopleStats(
        file=people_file.path.name,
        folds=len(people_file.folds),
        people=len(people_file),
        images=sum(entry.count for entry in people_file.entries),
    )


def people_overlap(
    first: str, first_people: Iterable[str], second: str, second_people: Iterable[str]
) -> Overlap:
    """The people that two files share.

    Args:
        first: Name of the first file.
        first_people: Its people.
        second: Name of the second file.
        second_people: Its people.
    """
    a, b = set(first_people), set(second_people)
    shared = sorted(a & b)
    return Overlap(first, second, len(a), len(b), len(shared), tuple(shared[:10]))


def lfw_stats(lfw: LFWDataset, top: int = 20, top_in_pairs: int = 10) -> LFWStats:
    """All statistics of an imported LFW copy; protocol files it lacks are listed as missing.

    Args:
        lfw: The imported copy.
        top: How many of the people with the most images to list.
        top_in_pairs: How many of the most frequent people to list per pairs file and kind.
    """
    people_of: dict[str, frozenset[str]] = {}
    pairs, people, missing = [], [], []
    for name in (*PAIRS_FILES, *PEOPLE_FILES):
        try:
            lfw.protocol_path(name)
        except FileNotFoundError:
            missing.append(name)
            continue
        if name in PAIRS_FILES:
            pairs_file = lfw.read_pairs(name)
            pairs.append(pairs_stats(pairs_file, top_in_pairs))
            people_of[name] = pairs_file.people()
        else:
            people_file = lfw.read_people(name)
            people.append(people_stats(people_file))
            people_of[name] = people_file.people()
    overlaps = tuple(
        people_overlap(a, people_of[a], b, people_of[b])
        for a, b in OVERLAPS
        if a in people_of and b in people_of
    )
    return LFWStats(
        variant=lfw.variant,
        dataset=dataset_stats(lfw.image_counts, top),
        pairs=tuple(pairs),
        people=tuple(people),
        overlaps=overlaps,
        missing=tuple(missing),
    )
