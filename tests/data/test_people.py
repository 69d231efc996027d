"""Who is in which set: people files, pairs files, DevTrain/DevTest, identity labels."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from siamface.data.lfw import DataNotFoundError, LFWDataset, open_lfw
from siamface.data.people import (
    dev_test_people,
    dev_train_people,
    evaluation_people,
    file_people,
    pair_people,
    person_ids,
    person_images,
    scope_people,
    training_scope,
    view2_fold_people,
)
from siamface.data.protocol import ImageRef, Pair, read_pairs, read_people

TRAIN = "pairsDevTrain.txt"


def fake_lfw(tmp_path, files: dict[str, str], counts: dict[str, int] | None = None):
    """What the people module reads of an LFWDataset, over real protocol files."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    lfw = types.SimpleNamespace(
        image_counts=counts or {},
        protocol_dir=tmp_path,
        protocol_names=lambda: sorted(files),
        read_people=lambda name: read_people(tmp_path / name),
        read_pairs=lambda name: read_pairs(tmp_path / name),
    )
    lfw.is_imported = lambda path: LFWDataset.is_imported(lfw, path)
    return lfw


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


def test_the_imported_file_is_known_however_its_path_is_spelled(tmp_path, monkeypatch):
    lfw = fake_lfw(tmp_path, {"pairsDevTest.txt": PAIRS,
                              "peopleDevTest.txt": "4\nAl\t3\nBo\t1\nCy\t2\nDi\t5\n"}, COUNTS)
    monkeypatch.chdir(tmp_path)
    relative = read_pairs(Path("pairsDevTest.txt"))  # as `--pairs ./pairsDevTest.txt` reads it
    assert evaluation_people(lfw, relative) == (["Al", "Cy", "Di"], "peopleDevTest.txt")


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


VIEW2_FILES = {
    # three folds: {Al, Bo}, {Cy, Di}, {Ed}; the pairs of each fold are among its own people
    "people.txt": "3\n2\nAl\t2\nBo\t1\n2\nCy\t2\nDi\t1\n1\nEd\t2\n",
    "pairs.txt": "3\t1\nAl\t1\t2\nAl\t1\tBo\t1\nCy\t1\t2\nCy\t2\tDi\t1\n"
                 "Ed\t1\t2\nEd\t1\tAl\t1\n",
    "pairsDevTrain.txt": "1\nAl\t1\t2\nAl\t1\tCy\t1\n",
    "pairsDevTest.txt": "1\nEd\t1\t2\nEd\t1\tDi\t1\n",
}


def test_view1_scope_is_devtrain_with_devtest_held_out(tmp_path):
    scope = training_scope(fake_lfw(tmp_path, VIEW2_FILES))
    assert scope.name == "View 1"
    assert len(scope.pairs) == 2 and scope.people == {"Al", "Cy"}
    assert scope.held_out == {"Ed", "Di"} and scope.held_out_name == "DevTest"


def test_view2_scope_holds_out_one_fold(tmp_path, monkeypatch):
    monkeypatch.setattr("siamface.data.people.VIEW2_FOLDS", 3)
    lfw = fake_lfw(tmp_path, VIEW2_FILES)
    scope = training_scope(lfw, 1)
    assert scope.name == "View 2, fold 1 held out" and scope.held_out_name == "fold 1"
    assert scope.held_out == {"Cy", "Di"}
    # the other folds' people, and everyone in their pairs (Ed's pair names Al of fold 0)
    assert scope.people == {"Al", "Bo", "Ed"}
    assert [p.fold for p in scope.pairs] == [0, 0, 2, 2]
    with pytest.raises(ValueError, match="a fold from 0 to 2, got 3"):
        training_scope(lfw, 3)


def test_the_people_a_run_may_have_seen_are_its_scopes(tmp_path, monkeypatch):
    monkeypatch.setattr("siamface.data.people.VIEW2_FOLDS", 3)
    lfw = fake_lfw(tmp_path, VIEW2_FILES)
    assert scope_people(lfw) == {"Al", "Cy"}  # DevTrain's
    assert scope_people(lfw, 1) == {"Al", "Bo", "Ed"}  # folds 0 and 2, and their pairs'
    (tmp_path / "people-only").mkdir()
    only_people = fake_lfw(tmp_path / "people-only", {"peopleDevTrain.txt": "1\nAl\t2\n"})
    assert scope_people(only_people) == {"Al"}  # View 1 needs no other file for it


def test_view2_scope_needs_both_files_with_ten_folds(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    only_pairs = fake_lfw(tmp_path / "a", {"pairs.txt": VIEW2_FILES["pairs.txt"]})
    with pytest.raises(DataNotFoundError, match=r"people\.txt not imported"):
        training_scope(only_pairs, 0)
    three = fake_lfw(tmp_path / "b", VIEW2_FILES)
    with pytest.raises(DataNotFoundError, match=r"needs 10 folds in pairs\.txt and people\.txt; "
                                                r"found 3 and 3"):
        training_scope(three, 0)


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
