"""Every figure of metrics.json (``verification_metrics``) on pairs worked out by hand."""

import numpy as np
import pytest

from siamface.evaluation.report import verification_metrics

# test_metrics.py's worked example, read as logits: 4 same (1) and 4 different (0) pairs.
LOGITS = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2])
LABELS = np.array([1, 1, 0, 1, 0, 1, 0, 0])
# A validation threshold that is neither the EER's (0.6) nor the best on these pairs: at 0.61
# the 0.6 positive is missed, so each figure below has a value of its own.
THRESHOLD = 0.61


def worked_example_metrics() -> dict:
    # 4 negatives resolve FAR steps of 1/4: FAR 1% and 0.1% are met at FAR 0 (and warned)
    with pytest.warns(UserWarning, match="resolution"):
        return verification_metrics(LOGITS, LABELS, THRESHOLD, n_bootstrap=0)


def test_every_figure_of_the_worked_example_by_hand():
    out = worked_example_metrics()
    assert set(out) == {"pairs", "matching", "threshold", "accuracy", "accuracy_at_p05", "auc",
                        "eer", "eer_threshold", "confusion", "oracle_accuracy",
                        "tar_at_far_0.01", "tar_at_far_0.001", "far_resolution"}
    assert (out["pairs"], out["matching"], out["threshold"]) == (8, 4, 0.61)
    # logit >= 0.61 -> same: {.9:1, .8:1, .7:0} -> TP 2, FP 1; below: {.6:1, .4:1} -> FN 2,
    # {.55:0, .3:0, .2:0} -> TN 3. Accuracy (2 + 3) / 8.
    assert out["confusion"] == {"tn": 3, "fp": 1, "fn": 2, "tp": 2}
    assert out["accuracy"] == 0.625


def test_accuracy_at_p05_is_at_logit_zero_not_at_the_threshold():
    # sigmoid(logit) >= 0.5 is logit >= 0: every logit here is positive, so every pair is
    # called the same person and only the 4 matching ones are right: 4 / 8.
    assert worked_example_metrics()["accuracy_at_p05"] == 0.5


def test_auc_and_eer_by_hand():
    out = worked_example_metrics()
    # concordant (pos, neg) pairs: 0.9: 4, 0.8: 4, 0.6: 3, 0.4: 2 -> 13 of 4 * 4
    assert out["auc"] == pytest.approx(13 / 16)
    # at 0.6, FAR = 1/4 (the 0.7 negative) and FRR = 1/4 (the 0.4 positive): they cross there
    assert out["eer"] == pytest.approx(0.25)
    assert out["eer_threshold"] == pytest.approx(0.6)


def test_tar_at_far_oracle_accuracy_and_far_resolution_by_hand():
    out = worked_example_metrics()
    # FAR 0 lets the pairs above the top negative (0.7) through: 0.9 and 0.8, TAR 2/4
    assert out["tar_at_far_0.01"] == 0.5 and out["tar_at_far_0.001"] == 0.5
    # right at each threshold (same at and above it): >=0.9: 5, >=0.8: 6, >=0.7: 5, >=0.6: 6,
    # >=0.55: 5, >=0.4: 6, >=0.3: 5, >=0.2: 4, above all: 4 -> the best is 6 / 8
    assert out["oracle_accuracy"] == 0.75
    assert out["far_resolution"] == 0.25  # one of the 4 different-person pairs


def test_intervals_are_of_accuracy_at_the_threshold_and_of_auc():
    # perfectly separated at 0.5, so every stratified resample (two of each class) is too:
    # accuracy 1 and AUC 1 in each, the interval a point. At logit 0 every pair would be
    # called the same: accuracy 0.5 in every resample.
    logits, labels = np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])
    with pytest.warns(UserWarning, match="resolution"):  # 2 negatives: FAR steps of 1/2
        out = verification_metrics(logits, labels, 0.5, n_bootstrap=50, seed=3)
    assert out["accuracy"] == 1.0 and out["accuracy_at_p05"] == 0.5
    assert out["accuracy_ci95"] == [1.0, 1.0]
    assert out["auc_ci95"] == [1.0, 1.0]


def test_the_worked_examples_intervals_hold_their_estimates_and_follow_the_seed():
    with pytest.warns(UserWarning, match="resolution"):
        a = verification_metrics(LOGITS, LABELS, THRESHOLD, n_bootstrap=200, seed=1)
        b = verification_metrics(LOGITS, LABELS, THRESHOLD, n_bootstrap=200, seed=1)
    assert a == b
    low, high = a["accuracy_ci95"]
    assert 0.0 <= low <= 0.625 <= high <= 1.0
    low, high = a["auc_ci95"]
    assert 0.0 <= low <= 13 / 16 <= high <= 1.0
