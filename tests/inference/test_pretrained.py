"""The pretrained option's folder: its threshold and gallery calibration from DevTrain."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from siamface.config import load_config
from siamface.data.lfw import open_lfw
from siamface.data.people import TRAIN_PAIRS, pair_people, person_images
from siamface.data.splits import split_pairs_by_person
from siamface.inference.align import FaceChoiceError
from siamface.inference.pretrained import (
    CALIBRATION_FILE,
    PRETRAINED_FILE,
    DistanceScorer,
    PretrainedError,
    PretrainedVerifier,
    read_pretrained,
    write_pretrained,
)
from siamface.run_folder import write_impostor_tail


@pytest.fixture(scope="module")
def pretrained_folder(synthetic_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dlib-resnet")
    write_pretrained(folder, open_lfw(synthetic_home))
    return folder


def default_validation_pairs(lfw) -> list:
    """The validation pairs of a run of the default recipe."""
    data = load_config("default").data
    assert data.split == "person" and data.view2_fold is None
    _, val = split_pairs_by_person(lfw.read_pairs(TRAIN_PAIRS).pairs, lfw.image_counts,
                                   data.val_fraction, load_config("default").seed)
    return val


def different_person_pairs(lfw) -> int:
    """How many image pairs of two different validation people there are, counted by hand."""
    _, ids = person_images(sorted(pair_people(default_validation_pairs(lfw))), lfw.image_counts)
    per_person = np.bincount(ids)
    return int((per_person.sum() ** 2 - (per_person ** 2).sum()) // 2)


def test_the_folder_keeps_a_gallery_calibration_from_validation_people(pretrained_folder,
                                                                      synthetic_home):
    info = json.loads((pretrained_folder / PRETRAINED_FILE).read_text())
    pairs = different_person_pairs(open_lfw(synthetic_home))
    assert pairs > 0 and info["gallery_calibration"]["pairs"] == pairs
    # the threshold comes from the pairs a run of the default recipe validates on
    assert info["validation"]["pairs"] == len(default_validation_pairs(open_lfw(synthetic_home)))
    verifier = PretrainedVerifier.from_folder(pretrained_folder)
    tail = verifier.calibration
    assert tail is not None and tail.pairs == pairs
    assert len(tail.scores) == pairs // 10 + 1  # the top tenth (MAX_TARGET_FPIR), and one
    assert np.all(np.diff(tail.scores) <= 0)


def test_a_calibration_of_another_model_is_ignored(pretrained_folder, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / PRETRAINED_FILE).write_bytes((pretrained_folder / PRETRAINED_FILE).read_bytes())
    write_impostor_tail(folder / CALIBRATION_FILE, torch.tensor([2.0, 1.0]), 10, 3,
                        model_sha256="0" * 64)
    assert PretrainedVerifier.from_folder(folder).calibration is None


def test_a_folder_holding_other_files_is_refused_before_any_work(synthetic_home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text("{}")
    with pytest.raises(PretrainedError, match=f"{run}: expected a new or empty folder"):
        write_pretrained(run, open_lfw(synthetic_home))
    assert sorted(p.name for p in run.iterdir()) == ["model.json"]


def test_a_test_file_not_imported_is_refused_before_anything_is_written(synthetic_home,
                                                                        tmp_path):
    from siamface.data.lfw import DataNotFoundError

    folder = tmp_path / "dlib"
    with pytest.raises(DataNotFoundError, match=r"pairs\.txt"):
        write_pretrained(folder, open_lfw(synthetic_home), test_pairs="pairs.txt")
    assert not folder.exists() or not any(folder.iterdir())


def test_a_folder_a_stopped_command_left_is_taken_again(pretrained_folder, synthetic_home,
                                                        tmp_path):
    folder = tmp_path / "stopped"
    folder.mkdir()  # stopped after its calibration, before pretrained.json (an older order)
    (folder / CALIBRATION_FILE).write_bytes((pretrained_folder / CALIBRATION_FILE).read_bytes())
    write_pretrained(folder, open_lfw(synthetic_home))
    assert (folder / PRETRAINED_FILE).is_file()


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("scale", -5.0, "'scale' must be positive, got -5.0"),
    ("scale", None, "'scale' must be a finite number, got None"),
    ("threshold", "Infinity", "'threshold' must be a finite number, got inf"),
    ("offset", "NaN", "'offset' must be a finite number, got nan"),
])
def test_a_description_that_would_mislead_is_refused(pretrained_folder, tmp_path, key, value,
                                                      problem):
    folder = tmp_path / "edited"
    folder.mkdir()
    text = (pretrained_folder / PRETRAINED_FILE).read_text()
    info = json.loads(text)
    info[key] = float(value) if isinstance(value, str) else value
    (folder / PRETRAINED_FILE).write_text(json.dumps(info))
    with pytest.raises(PretrainedError, match=f"{folder / PRETRAINED_FILE}: {problem}"):
        read_pretrained(folder)


@pytest.mark.parametrize("name", [["dlib-resnet"], {"a": 1}, "resnet-9", None])
def test_a_name_that_is_not_a_known_models_is_named(tmp_path, name):
    info = {"format": "siamface-pretrained", "name": name, "scale": 1, "offset": 0,
            "threshold": 0}
    (tmp_path / PRETRAINED_FILE).write_text(json.dumps(info))
    with pytest.raises(PretrainedError, match=re.escape(
            f"{tmp_path / PRETRAINED_FILE}: 'name' must be one of 'dlib-resnet', got {name!r}")):
        read_pretrained(tmp_path)


@pytest.mark.parametrize("face", [True, 0.5, -1])
def test_a_face_that_is_not_a_rank_is_refused(face):
    verifier = PretrainedVerifier(DistanceScorer(1.0, 0.0), 0.0, detect=False)
    with pytest.raises(FaceChoiceError, match="face must be a face's rank"):
        verifier.align(np.zeros((250, 250, 3), np.uint8), face)
