"""Reading a gallery calibration file back as an ImpostorTail."""

import pytest
import torch

from siamface.evaluation.gallery_calibration import kept_tail
from siamface.run_folder import RunFolderError, read_impostor_tail, write_impostor_tail


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
