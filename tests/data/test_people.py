"""Who is in which set: people files, pairs files, DevTrain/DevTest, identity labels."""

from __future__ import annotations

import types

import numpy as np
import pytest

from siamface.data.lfw import DataNotFoundError, open_lfw
from siamface.data.people import (
    dev_test_people,
    dev_train_people,
    evaluation_people,
    file_people,
    pair_people,
    person_ids,
    person_images,
    view2_fold_people,
)
from siamface.data.protocol import ImageRef, Pair, read_pairs, read_people

TRAIN = "pairsDevTrain.txt"


def fake_lfw(tmp_path, files: dict[str, str], counts: dict[str, int] | None = None):
    """What the people module reads of an LFWDataset, over real protocol files."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return types.SimpleNamespace(
        image_counts=counts or {},
        protocol_dir=tmp_path,
        protocol_names=lambda: sorted(files),
        read_people=lambda name: read_people(tmp_path / name),
        read_pairs=lambda name: read_pairs(tmp_path / name),
    )


def test_pair_people_is_everyone_on_either_side():
    pairs = [Pair(ImageRef("Al", 1), ImageRef("Al", 2), True),
             Pair(ImageRef("Bo", 1), ImageRef("Cy", 1), False)]
    assert pair_people(pairs) == {"Al", "Bo", "Cy"}
    assert pair_people([]) == set()


def test_file_people_reads_people_and_pairs_files_that_are_imported(synthetic_home):
    lfw = open_lfw(synthetic_home)
    devtest = set(lfw.read_people("peopleDevTest.txt").names)
    assert file_people(lfw, "peopleDevTest.txt") == devtest
    assert file_people(lfw, "pairsDevTest.txt") <= devtest
    # a file that is not imported contributes nobody
    assert file_people(lfw, "people.txt") == set()
    assert file_people(lfw, "peopleDevTest.txt", "peopleDevTrain.txt") == set(lfw.image_counts)


def test_dev_train_and_dev_test_people_are_the_union_of_their_files(tmp_path):
    files = {"pairsDevTrain.txt": "1\nAl\t1\t2\nAl\t1\tBo\t1\n",
             "peopleDevTrain.txt": "2\nAl\t2\nCy\t1\n",
             "pairsDevTest.txt": "1\nDi\t1\t2\nDi\t1\tEd\t1\n"}
    lfw = fake_lfw(tmp_path, files)
    assert dev_train_people(lfw) == {"Al", "Bo", "Cy"}
    assert dev_test_people(lfw) == {"Di", "Ed"}
    (tmp_path / "only_pairs").mkdir()
    only_pairs = fake_lfw(tmp_path / "only_pairs", {TRAIN: files[TRAIN]})
    assert dev_train_people(only_pairs) == {"Al", "Bo"}
    with pytest.raises(DataNotFoundError, match=r"neither peopleDevTest\.txt nor"):
        dev_test_people(only_pairs)
    with pytest.raises(DataNotFoundError, match=r"neither peopleDevTrain\.txt nor"):
        dev_train_people(fake_lfw(tmp_path / "only_pairs", {}))


COUNTS = {"Al": 3, "Bo": 1, "Cy": 2, "Di": 5, "Ed": 2}
PAIRS = "1\nAl\t1\t2\nAl\t1\tBo\t1\n"  # people: Al, Bo


def test_evaluation_people_come_from_the_people_file_without_single_image_people(tmp_path):
    lfw = fake_lfw(tmp_path, {"pairsDevTest.txt": PAIRS,
                              "peopleDevTest.txt": "4\nAl\t3\nBo\t1\nCy\t2\nDi\t5\n"}, COUNTS)
    pairs = lfw.read_pairs("pairsDevTest.txt")
    assert evaluation_people(lfw, pairs) == (["Al", "Cy", "Di"], "peopleDevTest.txt")


def test_evaluation_people_fall_back_to_the_pairs_file(tmp_path):
    lfw = fake_lfw(tmp_path, {"pairsDevTest.txt": PAIRS}, COUNTS)
    assert evaluation_people(lfw, lfw.read_pairs("pairsDevTest.txt")) == (["Al"],
                                                                          "pairsDevTest.txt")


def test_a_pairs_file_from_elsewhere_names_its_own_people_and_path(tmp_path):
    lfw = fake_lfw(tmp_path, {"pairsDevTest.txt": PAIRS,
                              "peopleDevTest.txt": "4\nAl\t3\nBo\t1\nCy\t2\nDi\t5\n"}, COUNTS)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "pairsDevTest.txt").write_text(PAIRS)  # same name, not imported
    outside = read_pairs(tmp_path / "mine" / "pairsDevTest.txt")
    assert evaluation_people(lfw, outside) == (["Al"], str(tmp_path / "mine" / "pairsDevTest.txt"))


def test_view2_fold_people(tmp_path):
    lfw = fake_lfw(tmp_path, {"people.txt": "2\n2\nAl\t1\nBo\t2\n1\nCy\t3\n"})
    assert view2_fold_people(lfw) == (frozenset({"Al", "Bo"}), frozenset({"Cy"}))


def test_person_ids() -> None:
    refs = [ImageRef("B", 1), ImageRef("A", 2), ImageRef("B", 3), ImageRef("C", 1)]
    ids = person_ids(refs)
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, 1, 2]
    assert person_ids(refs, ["C", "B", "A", "D"]).tolist() == [1, 2, 1, 0]
    assert person_ids([]).shape == (0,)
    with pytest.raises(ValueError, match=r"not in names: \['C'\]"):
        person_ids(refs, ["A", "B"])
    with pytest.raises(ValueError, match="repeated"):
        person_ids(refs, ["A", "B", "C", "A"])


def test_person_images_lists_every_image_with_its_persons_id():
    refs, ids = person_images(["Bo", "Al"], {"Al": 2, "Bo": 3, "Cy": 4})
    assert refs == [ImageRef("Bo", 1), ImageRef("Bo", 2), ImageRef("Bo", 3),
                    ImageRef("Al", 1), ImageRef("Al", 2)]
    assert ids.tolist() == [0, 0, 0, 1, 1] and ids.dtype == np.int64
