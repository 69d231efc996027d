import numpy as np
import pytest

from siamface.evaluation.metrics import accuracy
from siamface.evaluation.threshold import best_accuracy_threshold

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2])
LABELS = np.array([1, 1, 0, 1, 0, 1, 0, 0])


def test_best_accuracy_worked_example():
    # Correct pairs when predicting same for score >= t, t in each gap (8 pairs):
    #   > .9: 4 | .8-.9: 5 | .7-.8: 6 | .6-.7: 5 | .55-.6: 6 | .4-.55: 5 | .3-.4: 6 | .2-.3: 5
    #   < .2: 4.
    # Three separate optima (6/8) at midpoints 0.75, 0.575, 0.35; the middle one is 0.575.
    threshold, acc = best_accuracy_threshold(SCORES, LABELS)
    assert threshold == pytest.approx(0.575)
    assert acc == 0.75 == accuracy(SCORES, LABELS, threshold)


def test_plateau_picks_its_middle_and_never_a_sample():
    scores = np.array([0, 1, 1, 2, 2, 3], dtype=float)
    labels = np.array([0, 0, 1, 0, 1, 1])
    # Candidates -0.5, 0.5, 1.5, 2.5, 3.5 give 3, 4, 4, 4, 3 correct: the plateau is
    # 0.5..2.5 (each tied score holds one pair of each class), its middle 1.5.
    assert best_accuracy_threshold(scores, labels) == (1.5, 4 / 6)


def test_even_number_of_optima_takes_the_lower_middle():
    # Candidates 0.5, 1.5, 2.5, 3.5, 4.5 give 2, 3, 2, 3, 2 correct: optima 1.5 and 3.5.
    assert best_accuracy_threshold(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]))[0] == 1.5


def test_separable_data_threshold_is_midway_between_the_classes():
    scores = np.array([-3.0, -1.0, 2.0, 4.0])
    assert best_accuracy_threshold(scores, np.array([0, 0, 1, 1])) == (0.5, 1.0)


def test_thresholds_beyond_the_scores_are_half_a_gap_out():
    # Candidates 0.5, 1.5, 2.5, 3.5, 4.5 give 3, 2, 1, 0, 1 correct: "everything same" wins,
    # and its threshold sits half the lowest gap (1 - 2) below the lowest score: 1 - 0.5.
    threshold, acc = best_accuracy_threshold(np.array([1.0, 2, 3, 4]), np.array([1, 1, 1, 0]))
    assert (threshold, acc) == (0.5, 0.75)
    # Labels 0, 1, 0, 0 give 1, 2, 1, 2, 3 correct: "everything different" wins, half the top
    # gap above the highest score: 4 + 0.5.
    threshold, acc = best_accuracy_threshold(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 0]))
    assert (threshold, acc) == (4.5, 0.75)


@pytest.mark.parametrize("scores", [[1.0, np.nextafter(1.0, 2.0)], [-1e308, 1e308]])
def test_the_threshold_gives_the_accuracy_it_reports_where_midpoints_fail(scores):
    # a one-step gap's middle rounded onto the lower score, and 1e308 - -1e308 overflowed to
    # an infinite threshold: both reported 1.0 for a threshold that gives 0.5
    scores, labels = np.array(scores), np.array([0, 1])
    threshold, acc = best_accuracy_threshold(scores, labels)
    assert acc == 1.0 and accuracy(scores, labels, threshold) == 1.0
    assert scores[0] < threshold <= scores[1]


def test_scores_of_one_class_are_refused():
    with pytest.raises(ValueError, match="no same"):
        best_accuracy_threshold(SCORES, np.zeros(8, dtype=int))


def test_the_threshold_generalises_on_held_out_gaussian_scores():
    # Two unit Gaussians at -1 and +1: the Bayes threshold is 0 with accuracy Phi(1) = 0.841.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=4000)
    scores = rng.normal(2.0 * labels - 1.0)
    threshold, _ = best_accuracy_threshold(scores[:2000], labels[:2000])
    assert abs(threshold) < 0.2
    assert accuracy(scores[2000:], labels[2000:], threshold) == pytest.approx(
        0.841, abs=0.02
    )
