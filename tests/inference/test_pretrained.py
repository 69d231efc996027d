"""The pretrained option's folder: its threshold and gallery calibration from DevTrain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from siamface.data.lfw import open_lfw
from siamface.data.people import TRAIN_PAIRS, pair_people, person_images
from siamface.data.splits import split_pairs_by_person
from siamface.inference.pretrained import (
    CALIBRATION_FILE,
    PRETRAINED_FILE,
    PretrainedVerifier,
    write_pretrained,
)
from siamface.run_folder import write_impostor_tail


@pytest.fixture(scope="module")
def pretrained_folder(synthetic_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dlib-resnet")
    write_pretrained(folder, open_lfw(synthetic_home))
    return folder


def different_person_pairs(lfw) -> int:
    """How many image pairs of two different validation people there are, counted by hand."""
    _, val = split_pairs_by_person(lfw.read_pairs(TRAIN_PAIRS).pairs, lfw.image_counts, 0.2, 0)
    _, ids = person_images(sorted(pair_people(val)), lfw.image_counts)
    per_person = np.bincount(ids)
    return int((per_person.sum() ** 2 - (per_person ** 2).sum()) // 2)


def test_the_folder_keeps_a_gallery_calibration_from_validation_people(pretrained_folder,
                                                                      synthetic_home):
    info = json.loads((pretrained_folder / PRETRAINED_FILE).read_text())
    pairs = different_person_pairs(open_lfw(synthetic_home))
    assert pairs > 0 and info["gallery_calibration"]["pairs"] == pairs
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
