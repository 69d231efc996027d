import shutil

import numpy as np
import pytest

from siamface.data.importer import import_lfw
from siamface.data.lfw import open_lfw
from siamface.data.people import dev_test_people
from siamface.data.splits import IdentityLeakageWarning, LeakageError
from siamface.training.batches import IdentityBatches, PairBatches
from siamface.training.inputs import prepare_inputs

from .conftest import tiny


def names_of(cache, rows):
    return {cache.refs[r].name for r in np.asarray(rows).ravel()}


def test_identity_inputs_keep_devtest_and_validation_people_out_of_training(synthetic_home):
    lfw = open_lfw(synthetic_home)
    inputs = prepare_inputs(tiny(), lfw, progress=False)
    assert isinstance(inputs.batches, IdentityBatches)
    trained = names_of(inputs.cache, np.concatenate(inputs.batches.groups))
    validated = names_of(inputs.cache, inputs.val_pairs)
    test = dev_test_people(lfw)
    assert trained and validated
    assert not trained & test and not validated & test and not trained & validated
    assert set(np.unique(inputs.val_target)) == {0.0, 1.0}
    assert inputs.description["setting"] == "unrestricted (identity labels)"
    assert inputs.description["val_pairs"] == len(inputs.val_pairs)


def test_pair_inputs_use_pairs_dev_train_and_label_mined_pairs(synthetic_home):
    lfw = open_lfw(synthetic_home)
    restricted = prepare_inputs(tiny("data.sampling=pairs"), lfw, progress=False)
    assert isinstance(restricted.batches, PairBatches)
    assert restricted.description["setting"] == "restricted"
    n_train = restricted.description["train_pairs"]
    assert len(restricted.batches.pairs) == n_train
    assert n_train + restricted.description["val_pairs"] == len(lfw.read_pairs("pairsDevTrain.txt"))
    mined = prepare_inputs(tiny("data.sampling=pairs", "data.mined_pairs=10"), lfw, progress=False)
    assert mined.description["setting"] == "unrestricted (mined pairs)"
    assert len(mined.batches.pairs) == n_train + 10
    trained = names_of(mined.cache, mined.batches.pairs)
    assert not trained & dev_test_people(lfw)
    assert not trained & names_of(mined.cache, mined.val_pairs)


def test_random_split_warns_about_identity_leakage(synthetic_home):
    with pytest.warns(IdentityLeakageWarning,
                      match="people appear in both the training and the validation pairs, so "
                            "validation accuracy will be optimistic; data.split: person holds "
                            "out whole people"):
        prepare_inputs(tiny("data.split=random", "data.sampling=pairs"), open_lfw(synthetic_home),
                       progress=False)


def test_a_devtest_person_in_training_data_is_refused(synthetic_home, tmp_path):
    # Rewrite peopleDevTest so that it names a DevTrain person, then re-import.
    src = tmp_path / "src"
    shutil.copytree(synthetic_home / "lfw" / "images", src / "lfw-deepfunneled")
    for f in (synthetic_home / "lfw" / "protocol").iterdir():
        shutil.copy(f, src / f.name)
    train_person = sorted(open_lfw(synthetic_home).read_people("peopleDevTrain.txt").names)[0]
    people = (src / "peopleDevTest.txt").read_text().splitlines()
    people[0] = str(int(people[0]) + 1)
    (src / "peopleDevTest.txt").write_text("\n".join([*people, f"{train_person}\t2"]) + "\n")
    from siamface.utils.hashing import sha256_file

    (src / "SHA256SUMS").write_text(
        "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(src.glob("*.txt")))
    )
    home = tmp_path / "home"
    import_lfw([src], home, progress=False)
    with pytest.raises(LeakageError, match=train_person):
        prepare_inputs(tiny(), open_lfw(home), progress=False)
