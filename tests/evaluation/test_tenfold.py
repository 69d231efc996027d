import json

import numpy as np
import pytest

from siamface.evaluation.tenfold import ten_fold_accuracy


def make_folds(per_fold):
    """Concatenate ten folds given as {fold: (positive scores, negative scores)}."""
    scores, labels, folds = [], [], []
    for fold in range(1, 11):
        pos, neg = per_fold.get(fold, ([2.0] * 4, [0.0] * 4))
        scores += [*pos, *neg]
        labels += [1] * len(pos) + [0] * len(neg)
        folds += [fold] * (len(pos) + len(neg))
    return np.array(scores), np.array(labels), np.array(folds)


def test_one_bad_pair_in_one_fold():
    # Folds 2..10: positives 2, negatives 0. Fold 1 has one positive at -1.
    # Testing fold 1: the other nine are separable, threshold 1 (midway 0..2), and the -1
    # positive is missed: 7/8. Testing any other fold: the training folds include the -1
    # positive, but 1 is still the unique best threshold (1 error of 72 vs 36 at -0.5), so 8/8.
    result = ten_fold_accuracy(*make_folds({1: ([-1.0, 2.0, 2.0, 2.0], [0.0] * 4)}))
    np.testing.assert_array_equal(result.folds, np.arange(1, 11))
    np.testing.assert_allclose(result.accuracies, [0.875] + [1.0] * 9)
    np.testing.assert_allclose(result.thresholds, [1.0] * 10)
    # mean = (0.875 + 9) / 10 = 0.9875; deviations -0.1125 and 9 x 0.0125;
    # std = sqrt((0.1125^2 + 9 * 0.0125^2) / 9) = sqrt(0.0015625) = 0.0395285;
    # sem = std / sqrt(10) = 0.0125.
    assert result.mean == pytest.approx(0.9875)
    assert result.std == pytest.approx(0.0395285, abs=1e-7)
    assert result.sem == pytest.approx(0.0125)
    # Fold 1's AUC: 3 positives above all 4 negatives, the -1 one above none: 12/16.
    np.testing.assert_allclose(result.aucs, [0.75] + [1.0] * 9)
    assert result.mean_auc == pytest.approx(0.975)


def test_threshold_never_sees_the_test_fold():
    # Fold 5 lives on its own scale (positives 10, negatives 5): within itself it is perfectly
    # separable at 7.5, but the threshold from the other nine folds is 1, so every pair of
    # fold 5 is called same: accuracy 1/2. (For the other folds, 1 is still best: 4 errors on
    # fold 5's negatives, against 32 for any threshold between 2 and 5.)
    result = ten_fold_accuracy(*make_folds({5: ([10.0] * 4, [5.0] * 4)}))
    assert result.accuracies[4] == 0.5
    assert result.thresholds[4] == 1.0
    assert result.aucs[4] == 1.0
    assert result.mean == pytest.approx(0.95)


def test_fold_order_and_ids_do_not_matter():
    scores, labels, folds = make_folds({3: ([2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 0.0, 0.0])})
    perm = np.random.default_rng(0).permutation(scores.size)
    a = ten_fold_accuracy(scores, labels, folds)
    b = ten_fold_accuracy(scores[perm], labels[perm], folds[perm] * 7)
    np.testing.assert_array_equal(a.accuracies, b.accuracies)
    np.testing.assert_array_equal(b.folds, np.arange(1, 11) * 7)


def test_as_dict_is_json_ready():
    summary = ten_fold_accuracy(*make_folds({})).as_dict()
    assert json.loads(json.dumps(summary))["mean_accuracy"] == 1.0
    assert summary["sem"] == 0.0
    assert [f["fold"] for f in summary["folds"]] == list(range(1, 11))


def test_bad_folds():
    scores, labels, folds = make_folds({})
    with pytest.raises(ValueError, match="integer"):
        ten_fold_accuracy(scores, labels, folds.astype(float))
    with pytest.raises(ValueError, match="as long as scores"):
        ten_fold_accuracy(scores, labels, folds[:-1])
    with pytest.raises(ValueError, match="at least 2 folds"):
        ten_fold_accuracy(scores, labels, np.ones_like(folds))
    with pytest.raises(ValueError, match="fold 1 holds only one class"):
        ten_fold_accuracy(scores, np.where(folds == 1, 1, labels), folds)
