"""Reading a gallery calibration file back as an ImpostorTail."""

import pytest
import torch

from inference.conftest import write_tiny_run
from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import open_lfw
from siamface.data.people import pair_people, person_images, training_scope
from siamface.data.splits import training_split
from siamface.evaluation.gallery_calibration import kept_tail, validation_impostor_scores
from siamface.run_folder import Run, RunFolderError, read_impostor_tail, write_impostor_tail


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
    _, val = training_split(training_scope(lfw), lfw.image_counts, data.split,
                            data.val_fraction, run.config.seed, data.restricted)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    scores, people = validation_impostor_scores(run, cache, lfw)
    assert people == len(pair_people(val))
    if sampling == "pairs":
        assert data.restricted and scores.size == sum(not p.same for p in val)
    else:  # every image pair of two different validation people
        _, ids = person_images(sorted(pair_people(val)), lfw.image_counts)
        assert scores.size == sum(ids[i] != ids[j] for i in range(len(ids))
                                  for j in range(i + 1, len(ids)))
