import numpy as np
import pytest
from PIL import Image

from siamface.evaluation.metrics import confusion_matrix, equal_error_rate, roc_curve, tar_at_far
from siamface.reporting.eval_plots import (
    plot_confusion_matrix,
    plot_one_shot_curve,
    plot_roc,
    plot_score_histograms,
)

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, size=300)
SCORES = RNG.normal(2.0 * LABELS - 1.0)


def assert_png(path, parent):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 200
        assert np.unique(np.asarray(image.convert("L"))).size > 10  # something was drawn
    assert sorted(p.name for p in parent.iterdir()) == [path.name]  # no temp file left


@pytest.mark.parametrize("log_far", [False, True])
def test_roc_plot(tmp_path, log_far):
    far, tar, _ = roc_curve(SCORES, LABELS)
    eer, _ = equal_error_rate(SCORES, LABELS)
    tar_01, _ = tar_at_far(SCORES, LABELS, 0.1)
    out = plot_roc(
        far, tar, tmp_path / "roc.png", auc=0.9, eer=eer, tar_at_far={0.1: tar_01}, log_far=log_far
    )
    assert out == tmp_path / "roc.png"
    assert_png(out, tmp_path)


def test_histogram_plot(tmp_path):
    out = plot_score_histograms(SCORES, LABELS, tmp_path / "hist.png", threshold=0.1, bins=20)
    assert_png(out, tmp_path)


def test_confusion_matrix_plot(tmp_path):
    out = plot_confusion_matrix(confusion_matrix(SCORES, LABELS, 0.0), tmp_path / "cm.png")
    assert_png(out, tmp_path)


def test_one_shot_curve_plot(tmp_path):
    out = plot_one_shot_curve(
        [2, 5, 10, 20],
        [0.9, 0.7, 0.6, 0.5],
        [0.85, 0.65, 0.55, 0.45],
        [0.95, 0.75, 0.65, 0.55],
        tmp_path / "oneshot.png",
    )
    assert_png(out, tmp_path)


def test_bad_input_keeps_the_old_file(tmp_path):
    target = tmp_path / "roc.png"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="same length"):
        plot_roc(np.zeros(3), np.zeros(4), target)
    with pytest.raises(ValueError, match="2x2"):
        plot_confusion_matrix(np.zeros((3, 3)), target)
    assert target.read_bytes() == b"old"
