"""Who is in which set: the one place that answers "the people of X" for LFW's protocol.

LFW's View 1 splits its people into DevTrain (peopleDevTrain.txt, whose pairs are
pairsDevTrain.txt) and DevTest (peopleDevTest.txt, pairsDevTest.txt); View 2 (people.txt,
pairs.txt) splits them into ten folds. A set's people are those of its people file and of its
pairs file, whichever are imported (the pairs' people are a subset when both are).

What a run may learn from is its `TrainingScope`: under View 1 (every run unless it names a
View 2 fold) DevTrain, its validation split included, with DevTest held out; under View 2 with
fold k held out, the other nine folds' people and pairs, with fold k's people held out. The
held-out people's names are read only so that training and validation can be checked against
them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from siamface.data.lfw import DataNotFoundError, LFWDataset
from siamface.data.protocol import ImageRef, Pair, PairsFile, PeopleFile

TRAIN_PAIRS = "pairsDevTrain.txt"
TRAIN_PEOPLE = "peopleDevTrain.txt"
TEST_PAIRS = "pairsDevTest.txt"
TEST_PEOPLE = "peopleDevTest.txt"
VIEW2_PAIRS = "pairs.txt"
VIEW2_PEOPLE = "people.txt"
PAIRS_FILES = (TRAIN_PAIRS, TEST_PAIRS, VIEW2_PAIRS)
PEOPLE_FILES = (TRAIN_PEOPLE, TEST_PEOPLE, VIEW2_PEOPLE)
PEOPLE_OF_PAIRS = {TRAIN_PAIRS: TRAIN_PEOPLE, TEST_PAIRS: TEST_PEOPLE, VIEW2_PAIRS: VIEW2_PEOPLE}


def pair_people(pairs: Iterable[Pair]) -> set[str]:
    """Everyone who appears in ``pairs``."""
    return {name for p in pairs for name in p.people}


def file_people(lfw: LFWDataset, *names: str) -> set[str]:
    """Everyone named in those of the protocol files ``names`` that are imported.

    People files contribute their entries, pairs files everyone in a pair; a file that is not
    imported contributes nothing (the caller decides whether an empty set is an error).
    """
    imported = set(lfw.protocol_names())
    people: set[str] = set()
    for name in names:
        if name in imported and name in PEOPLE_FILES:
            people |= set(lfw.read_people(name).names)
        elif name in imported:
            people |= set(lfw.read_pairs(name).people())
    return people


def _set_people(lfw: LFWDataset, people_file: str, pairs_file: str, what: str) -> frozenset[str]:
    people = file_people(lfw, people_file, pairs_file)
    if not people:
        raise DataNotFoundError(
            f"neither {people_file} nor {pairs_file} is imported in {lfw.protocol_dir}, so "
            f"{what} are unknown; import them (`siamface data import {people_file}` adds it "
            "to the images imported)"
        )
    return frozenset(people)


def dev_train_people(lfw: LFWDataset) -> frozenset[str]:
    """The DevTrain people: everyone a run may train or validate on."""
    return _set_people(lfw, TRAIN_PEOPLE, TRAIN_PAIRS, "the people a run may train on")


def dev_test_people(lfw: LFWDataset) -> frozenset[str]:
    """The DevTest people: no run may train or validate on any of them."""
    return _set_people(lfw, TEST_PEOPLE, TEST_PAIRS,
                       "the test people (whom no run may train on)")


def evaluation_people(lfw: LFWDataset, pairs_file: PairsFile) -> tuple[list[str], str]:
    """The people that identification on the side of ``pairs_file`` draws from, and the file
    they were read from.

    For an imported protocol file the matching people file is used when imported (it lists
    everyone of that side of the protocol, not only those drawn into pairs); else the pairs
    file's own people. People with a single image are left out: they could be distractors but
    never probes, and the task is stated over people who can be both.

    Args:
        lfw: The imported LFW copy.
        pairs_file: A parsed pairs file, e.g. pairsDevTest.txt.
    """
    name = pairs_file.path.name
    people_name = PEOPLE_OF_PAIRS.get(name)
    imported = lfw.is_imported(pairs_file.path)
    if imported and people_name is not None and people_name in lfw.protocol_names():
        names, source = set(lfw.read_people(people_name).names), people_name
    else:
        names = set(pairs_file.people())
        source = name if imported else str(pairs_file.path)
    return sorted(n for n in names if lfw.image_counts[n] >= 2), source


def person_ids(refs: Sequence[ImageRef], names: Sequence[str] | None = None) -> np.ndarray:
    """Integer identity labels of ``refs``: the index of each ref's person in ``names``.

    Args:
        refs: The images to label.
        names: The identities in label order; the sorted names of ``refs`` when None.

    Returns:
        ``(N,)`` int64 labels.
    """
    names = sorted({ref.name for ref in refs}) if names is None else list(names)
    repeated = [name for name, k in Counter(names).items() if k > 1]
    if repeated:
        raise ValueError(f"names must be distinct; repeated: {repeated[:10]}")
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({ref.name for ref in refs} - index.keys())
    if unknown:
        raise ValueError(f"{len(unknown)} people of refs are not in names: {unknown[:10]}")
    return np.fromiter((index[ref.name] for ref in refs), dtype=np.int64, count=len(refs))


def person_images(
    people: Sequence[str], image_counts: Mapping[str, int]
) -> tuple[list[ImageRef], np.ndarray]:
    """Every image of ``people`` and the integer identity of each (its person's position).

    Args:
        people: The people, in the order that defines their ids.
        image_counts: Images per person.
    """
    refs = [ImageRef(name, k) for name in people for k in range(1, image_counts[name] + 1)]
    return refs, person_ids(refs, people)


def view2_fold_people(lfw: LFWDataset,
                      people_file: PeopleFile | None = None) -> tuple[frozenset[str], ...]:
    """The people of each of View 2's ten folds (people.txt, or ``people_file`` when it was
    read already), in fold order."""
    people_file = people_file or lfw.read_people(VIEW2_PEOPLE)
    return tuple(frozenset(e.name for e in fold) for fold in people_file.folds)


VIEW2_FOLDS = 10


@dataclass(frozen=True)
class TrainingScope:
    """What a run may train and validate on, and whom it must never see.

    Attributes:
        name: How results name the setting, e.g. "View 1" or "View 2, fold 3 held out".
        pairs: The pairs the validation split is cut from; the restricted setting trains on
            the rest of them.
        people: The people whose images the unrestricted setting may train on (the
            validation people are taken out by the caller).
        held_out: The people no training or validation may contain.
        held_out_name: How messages name them ("DevTest", "fold 3").
    """

    name: str
    pairs: tuple[Pair, ...]
    people: frozenset[str]
    held_out: frozenset[str]
    held_out_name: str


def scope_people(lfw: LFWDataset, view2_fold: int | None = None) -> frozenset[str]:
    """Everyone a run of that scope may have trained or validated on, whom a result on needs
    a caveat: DevTrain's people for View 1 (``dev_train_people``), the other nine folds' (and
    their pairs') for View 2."""
    if view2_fold is None:
        return dev_train_people(lfw)
    return training_scope(lfw, view2_fold).people


def scope_files(view2_fold: int | None = None) -> tuple[str, ...]:
    """The protocol files ``training_scope`` reads (whichever of them are imported): View 1's
    four, or View 2's two."""
    if view2_fold is None:
        return TRAIN_PAIRS, TRAIN_PEOPLE, TEST_PAIRS, TEST_PEOPLE
    return VIEW2_PAIRS, VIEW2_PEOPLE


def training_scope(lfw: LFWDataset, view2_fold: int | None = None) -> TrainingScope:
    """The scope of a run: View 1 (``view2_fold`` None) or View 2 with ``view2_fold`` held out.

    Args:
        lfw: The imported LFW copy.
        view2_fold: None, or the 0-based fold of pairs.txt / people.txt to hold out.

    Raises:
        DataNotFoundError: The protocol files the scope needs are not imported.
        ValueError: ``view2_fold`` is not a fold of View 2.
    """
    if view2_fold is None:
        pairs = lfw.read_pairs(TRAIN_PAIRS).pairs
        return TrainingScope("View 1", tuple(pairs), dev_train_people(lfw),
                             dev_test_people(lfw), "DevTest")
    if not 0 <= view2_fold < VIEW2_FOLDS:
        raise ValueError(f"view2_fold must be a fold from 0 to {VIEW2_FOLDS - 1}, "
                         f"got {view2_fold}")
    missing = [n for n in (VIEW2_PAIRS, VIEW2_PEOPLE) if n not in lfw.protocol_names()]
    if missing:
        raise DataNotFoundError(
            f"{' and '.join(missing)} not imported in {lfw.protocol_dir}: View 2's folds need "
            f"both; import them (`siamface data import {' '.join(missing)}` adds them to the "
            "images imported)"
        )
    pairs_file, people_file = lfw.read_pairs(VIEW2_PAIRS), lfw.read_people(VIEW2_PEOPLE)
    if pairs_file.folds != VIEW2_FOLDS or len(people_file.folds) != VIEW2_FOLDS:
        raise DataNotFoundError(
            f"View 2 needs {VIEW2_FOLDS} folds in {VIEW2_PAIRS} and {VIEW2_PEOPLE}; found "
            f"{pairs_file.folds} and {len(people_file.folds)}"
        )
    folds = view2_fold_people(lfw, people_file)
    held_out = folds[view2_fold] | pair_people(pairs_file.fold(view2_fold))
    pairs = tuple(p for p in pairs_file.pairs if p.fold != view2_fold)
    people = frozenset().union(*(f for k, f in enumerate(folds) if k != view2_fold))
    return TrainingScope(f"View 2, fold {view2_fold} held out", pairs,
                         people | pair_people(pairs), held_out, f"fold {view2_fold}")
