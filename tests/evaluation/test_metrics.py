import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from siamface.evaluation.metrics import (
    FARS,
    ConfusionCounts,
    accuracy,
    confusion_counts,
    confusion_matrix,
    equal_error_rate,
    roc_auc,
    roc_curve,
    tar_at_far,
    tar_key,
    tar_on_grid,
    validate_scores_labels,
)

# The worked example used throughout: 4 same (1) and 4 different (0) pairs, no ties.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2])
LABELS = np.array([1, 1, 0, 1, 0, 1, 0, 0])


def mann_whitney(scores, labels):
    """P(pos > neg) + 0.5 P(pos == neg) by brute force over all (pos, neg) pairs."""
    pos, neg = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def test_roc_curve_worked_example():
    far, tar, thresholds = roc_curve(SCORES, LABELS)
    # Walking down the sorted scores, a 1 adds 1/4 to TAR and a 0 adds 1/4 to FAR:
    # inf:(0,0) .9:(0,.25) .8:(0,.5) .7:(.25,.5) .6:(.25,.75) .55:(.5,.75) .4:(.5,1)
    # .3:(.75,1) .2:(1,1)
    np.testing.assert_allclose(far, [0, 0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1])
    np.testing.assert_allclose(tar, [0, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, *SCORES])


def test_tar_on_grid_takes_the_best_point_at_or_below_each_far():
    far, tar, _ = roc_curve(SCORES, LABELS)  # the worked example's points, above
    grid = np.array([0.0, 0.1, 0.25, 0.3, 0.5, 0.74, 1.0])
    # FAR 0 reaches TAR 0.5 (before the first negative); 0.25 -> 0.75; 0.5 -> 1
    np.testing.assert_allclose(tar_on_grid(far, tar, grid), [0.5, 0.5, 0.75, 0.75, 1, 1, 1])
    with pytest.raises(ValueError, match="must be an ROC"):
        tar_on_grid(far[::-1], tar[::-1], grid)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        tar_on_grid(far, tar, np.array([1.5]))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):  # was a perfect TAR of 1
        tar_on_grid(far, tar, np.array([np.nan]))


def test_roc_curve_is_order_invariant():
    perm = np.random.default_rng(0).permutation(SCORES.size)
    for a, b in zip(roc_curve(SCORES, LABELS), roc_curve(SCORES[perm], LABELS[perm]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_roc_auc_worked_example():
    # Concordant (pos, neg) pairs, counting for each positive the negatives below it:
    # 0.9 > {0.7, 0.55, 0.3, 0.2}: 4; 0.8: 4; 0.6 > {0.55, 0.3, 0.2}: 3; 0.4 > {0.3, 0.2}: 2.
    # (4 + 4 + 3 + 2) / (4 * 4) = 13 / 16 = 0.8125.
    # Trapezoids of the curve above: .25*.5 + .25*.75 + .25*1 + .25*1 = 0.8125.
    assert roc_auc(SCORES, LABELS) == pytest.approx(13 / 16)


def test_ties_give_one_diagonal_point_and_half_credit():
    scores = np.array([0.5, 0.5, 0.5, 0.2])
    labels = np.array([1, 0, 1, 0])
    far, tar, thresholds = roc_curve(scores, labels)
    # The three tied pairs cross together: (0,0) -> (0.5, 1) -> (1, 1).
    np.testing.assert_allclose(far, [0, 0.5, 1])
    np.testing.assert_allclose(tar, [0, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.5, 0.2])
    # Pairs: (.5 vs .5) tie = 0.5, (.5 vs .2) = 1, for each of the 2 positives: 3 / 4.
    assert roc_auc(scores, labels) == pytest.approx(0.75)


def test_perfect_inverted_and_constant_classifiers():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    assert roc_auc(scores, labels) == 1.0
    assert roc_auc(-scores, labels) == 0.0
    assert roc_auc(np.zeros(5), labels) == 0.5
    assert equal_error_rate(scores, labels)[0] == 0.0
    assert tar_at_far(scores, labels, 0.0) == (1.0, 0.3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=40).filter(
        lambda xs: 0 < sum(b for _, b in xs) < len(xs)
    )
)
def test_auc_is_mann_whitney_and_matches_sklearn(pairs):
    # Small integer scores make ties common.
    scores = np.array([s for s, _ in pairs], dtype=float) / 3
    labels = np.array([b for _, b in pairs], dtype=int)
    auc = roc_auc(scores, labels)
    assert auc == pytest.approx(mann_whitney(scores, labels), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    far, tar, _ = roc_curve(scores, labels)
    assert far[0] == tar[0] == 0 and far[-1] == tar[-1] == 1
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert far.size == np.unique(scores).size + 1


def test_eer_exact_crossing():
    # FRR = 1 - TAR along the curve: 1, .75, .5, .5, .25, ... and FAR: 0, 0, 0, .25, .25, ...
    # At threshold 0.6 FAR = FRR = 0.25 exactly.
    assert equal_error_rate(SCORES, LABELS) == pytest.approx((0.25, 0.6))


def test_eer_interpolated_crossing():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 1, 0])
    # Points (FAR, FRR): inf (0, 1), .9 (0, 2/3), .8 (.5, 2/3), .7 (.5, 1/3), .6 (.5, 0), ...
    # FAR - FRR goes -1/6 at 0.8 to +1/6 at 0.7: they cross half way, at FAR = FRR = 0.5,
    # and the threshold is interpolated half way, 0.75.
    eer, threshold = equal_error_rate(scores, labels)
    assert eer == pytest.approx(0.5)
    assert threshold == pytest.approx(0.75)


def test_eer_before_first_score_returns_top_score_not_inf():
    # Every pair tied: the only points are (0, 0) and (1, 1); they cross at 0.5.
    eer, threshold = equal_error_rate(np.ones(4), np.array([0, 1, 0, 1]))
    assert eer == pytest.approx(0.5)
    assert threshold == 1.0


def test_tar_at_far_worked_example():
    assert tar_at_far(SCORES, LABELS, 0.25) == (0.75, 0.6)
    assert tar_at_far(SCORES, LABELS, 0.3) == (0.75, 0.6)  # FAR 0.5 would exceed 0.3
    assert tar_at_far(SCORES, LABELS, 0.5) == (1.0, 0.4)
    assert tar_at_far(SCORES, LABELS, 1.0) == (1.0, 0.4)  # lowest FAR reaching TAR 1
    assert tar_at_far(SCORES, LABELS, 0.0) == (0.5, 0.8)


def test_tar_at_far_below_resolution_warns_and_uses_far_zero():
    # 4 negatives: FAR moves in steps of 0.25, so 0.1 can only be met by FAR = 0.
    with pytest.warns(UserWarning, match="resolution"):
        assert tar_at_far(SCORES, LABELS, 0.1) == (0.5, 0.8)


def test_tar_at_far_infinite_threshold_when_top_pair_is_negative():
    assert tar_at_far(np.array([0.9, 0.5]), np.array([0, 1]), 0.0) == (0.0, math.inf)


def test_accuracy_and_confusion_matrix_at_threshold():
    # score >= 0.6 -> same: {.9:1, .8:1, .7:0, .6:1} -> TP 3, FP 1; below: {.55:0, .4:1, .3:0,
    # .2:0} -> TN 3, FN 1.
    m = confusion_matrix(SCORES, LABELS, 0.6)
    np.testing.assert_array_equal(m, [[3, 1], [1, 3]])
    assert m.dtype.kind == "i"
    counts = confusion_counts(SCORES, LABELS, 0.6)
    assert counts == ConfusionCounts(tn=3, fp=1, fn=1, tp=3)
    assert (counts.accuracy, counts.tar, counts.far) == (0.75, 0.75, 0.25)
    assert accuracy(SCORES, LABELS, 0.6) == 0.75
    # The threshold is inclusive: at 0.61 the 0.6 positive becomes a miss.
    assert accuracy(SCORES, LABELS, 0.61) == 0.625
    assert counts.as_dict() == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    with pytest.raises(ValueError, match="NaN"):  # was 0.5: every pair "different"
        accuracy(SCORES, LABELS, np.nan)


def test_confusion_counts_rates_are_nan_without_the_class():
    counts = confusion_counts(np.array([0.2, 0.7]), np.array([1, 1]), 0.5)
    assert (counts.tp, counts.fn) == (1, 1)
    assert math.isnan(counts.far)
    with pytest.raises(ValueError, match="2x2"):
        ConfusionCounts.from_matrix(np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (np.zeros((2, 2)), np.zeros(4), "1-D"),
        (np.zeros(3), np.array([0, 1]), "differ in length"),
        (np.array([0.1, np.nan]), np.array([0, 1]), r"finite; scores\[1\]"),
        (np.array([0.1, 0.2]), np.array([0, 2]), "only 0 and 1"),
        (np.array([0.1, 0.2]), np.array(["a", "b"]), "only 0 and 1"),
        (np.array([0.1, 0.2]), np.array([1, 1]), "no different"),
        (np.array([0.1, 0.2]), np.array([0, 0]), "no same"),
        (np.array([]), np.array([]), "empty"),
    ],
)
def test_bad_inputs_raise_clear_errors(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(scores, labels)


def test_one_class_is_fine_where_no_rate_needs_both():
    s, y = validate_scores_labels([0.3, 0.4], [True, True], both_classes=False)
    assert y.dtype == np.int64 and y.tolist() == [1, 1]
    assert accuracy(s, y, 0.35) == 0.5
    with pytest.raises(ValueError, match="far must be in"):
        tar_at_far(SCORES, LABELS, 1.5)


def test_the_tar_keys_name_each_far_as_metrics_json_has_always_written_it():
    assert [tar_key(far) for far in FARS] == ["tar_at_far_0.01", "tar_at_far_0.001"]
    assert tar_key(1e-4) == "tar_at_far_0.0001"
