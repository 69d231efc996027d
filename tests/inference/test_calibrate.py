"""measure_frame: re-measures the constants align.py uses, and refuses meaningless input."""

from __future__ import annotations

import pytest
from PIL import Image

from siamface.inference.align import FACE_CENTER, FACE_SIDE
from siamface.inference.calibrate import main, measure_frame


@pytest.mark.real_data
def test_remeasured_calibration_agrees_with_the_constants(lfw_faces, tmp_path):
    # 40 images instead of the 500 the constants came from: the medians move by a pixel or two.
    paths = []
    for k, face in enumerate(lfw_faces):
        paths.append(tmp_path / f"{k}.png")
        face.save(paths[-1])
    cal = measure_frame(paths)
    assert cal.images == 40 and cal.detected >= 36
    assert cal.center == pytest.approx(FACE_CENTER, abs=3)
    assert cal.side == pytest.approx(FACE_SIDE, abs=8)
    assert cal.side_iqr < 25


def test_mixed_frame_sizes_are_refused(tmp_path):
    for name, size in (("a.png", (250, 250)), ("b.png", (100, 100))):
        Image.new("L", size, 128).save(tmp_path / name)
    with pytest.raises(ValueError, match="one size"):
        measure_frame([tmp_path / "a.png", tmp_path / "b.png"])


def test_no_face_anywhere_is_refused(tmp_path):
    Image.new("L", (250, 250), 128).save(tmp_path / "flat.png")
    with pytest.raises(ValueError, match="no face found in any of the 1 images"):
        measure_frame([tmp_path / "flat.png"])


def test_a_folder_without_lfw_images_is_one_usage_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2
    assert "nowhere: no <Name>/<Name>_NNNN.jpg images there" in capsys.readouterr().err
