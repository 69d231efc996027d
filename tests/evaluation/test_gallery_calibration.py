"""Reading a gallery calibration file back as an ImpostorTail."""

import numpy as np
import pytest
import torch

from inference.conftest import write_tiny_run
from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import open_lfw
from siamface.data.people import pair_people, training_scope
from siamface.data.splits import training_split
from siamface.evaluation import gallery_calibration
from siamface.evaluation.gallery_calibration import (
    impostor_scores,
    kept_tail,
    validation_impostor_scores,
)
from siamface.run_folder import Run, RunFolderError, read_impostor_tail, write_impostor_tail

# 4 images: person 7's two, then person 8's and person 9's. An image's embedding is its row
# number, and a pair (i, j) scores 10 i + j: each score names the pair it is of.
ROWS = torch.arange(4.0)[:, None]  # (4, D=1)
IDS = np.array([7, 7, 8, 9])


def pair_code(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 10 * a[:, 0] + b[:, 0]


def test_impostor_scores_score_each_pair_of_two_different_people_once():
    # of the 6 pairs i < j, (0, 1) is person 7 twice; the 5 left score 2, 3, 12, 13 and 23
    scores = impostor_scores(ROWS, IDS, pair_code, seed=0)
    assert sorted(scores.tolist()) == [2.0, 3.0, 12.0, 13.0, 23.0]


def test_a_sample_of_impostor_pairs_keeps_to_two_different_people(monkeypatch):
    monkeypatch.setattr(gallery_calibration, "MAX_VALIDATION_PAIRS", 3)
    for seed in range(10):  # a sample of 3 of all 6 pairs would take (0, 1) half the time
        scores = impostor_scores(ROWS, IDS, pair_code, seed)
        pairs = [divmod(int(s), 10) for s in scores]  # 10 i + j -> (i, j)
        assert len(set(pairs)) == 3, seed  # 3 of the 5, none twice
        assert all(i < j and IDS[i] != IDS[j] for i, j in pairs), seed


def test_a_file_keeping_too_few_scores_is_refused_naming_it(tmp_path):
    path = tmp_path / "gallery_calibration.safetensors"
    write_impostor_tail(path, torch.tensor([999.0, 998.0]), 1000, 40, "a" * 64)
    with pytest.raises(RunFolderError, match=r"gallery_calibration\.safetensors: .*got 2"):
        kept_tail(read_impostor_tail(path, "a" * 64), path)


def test_a_whole_file_reads_back_and_none_stays_none(tmp_path):
    path = tmp_path / "gallery_calibration.safetensors"
    write_impostor_tail(path, torch.tensor([3.0, 2.0]), 10, 5, "a" * 64)
    tail = kept_tail(read_impostor_tail(path, "a" * 64), path)
    assert tail.pairs == 10 and tail.scores.tolist() == [3.0, 2.0]
    assert kept_tail(read_impostor_tail(path, "b" * 64), path) is None


@pytest.mark.parametrize("sampling", ["identities", "pairs"])
def test_a_restricted_runs_impostors_are_its_validation_non_matching_pairs(
        synthetic_home, tmp_path, sampling):
    # under LFW's image-restricted rules two images are of different people only where a pair
    # says so: every pair of two validation people's images, told apart by name, broke them
    run = Run(write_tiny_run(tmp_path / "run", overrides=[f"data.sampling={sampling}",
                                                          "data.val_fraction=0.3"]))
    lfw = open_lfw(synthetic_home)
    data = run.config.data
    _, val = training_split(training_scope(lfw), lfw.image_counts, data, run.config.seed)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    scores, people = validation_impostor_scores(run, cache, lfw)
    assert people == len(pair_people(val))
    if sampling == "pairs":
        assert data.restricted and scores.size == sum(not p.same for p in val)
    else:  # every image pair of two different validation people: with c_k images of person
        # k, all (sum c)^2 ordered pairs less the sum c_k^2 of one person's, halved
        counts = [lfw.image_counts[name] for name in pair_people(val)]
        assert scores.size == (sum(counts) ** 2 - sum(c * c for c in counts)) // 2
