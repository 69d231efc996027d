"""The LFW View 2 protocol: ten-fold cross-validated verification accuracy.

pairs.txt holds ten folds of 300 same and 300 different pairs. For each fold in turn, the
decision threshold is fit on the other nine folds and accuracy is measured on the held-out
fold; LFW reports the mean of the ten accuracies and its standard error. Only the threshold is
fit on View 2 here (``best_accuracy_threshold``): the network itself is trained on View 1 data
(pairsDevTrain / peopleDevTrain), so the scores are computed once and only the threshold
changes between folds. It never trains on pairs.txt's pairs, but it does on many of their
people (see protocol10.py); LFW's own protocol, a model per fold, is ``siamface view2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamface.evaluation.metrics import accuracy, roc_auc, validate_scores_labels
from siamface.evaluation.threshold import best_accuracy_threshold


@dataclass(frozen=True, eq=False)
class TenFoldResult:
    """Per-fold results of :func:`ten_fold_accuracy`, in ascending fold-id order.

    Attributes:
        folds: (K,) fold ids.
        accuracies: (K,) test accuracy of each fold at the threshold fit on the others.
        thresholds: (K,) the threshold used for each fold.
        aucs: (K,) ROC AUC of each fold's own pairs (threshold-free).
    """

    folds: np.ndarray
    accuracies: np.ndarray
    thresholds: np.ndarray
    aucs: np.ndarray

    @property
    def mean(self) -> float:
        """Mean accuracy over folds (LFW's mu)."""
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        """Sample standard deviation of the fold accuracies (divides by K - 1, as LFW does)."""
        return float(self.accuracies.std(ddof=1))

    @property
    def sem(self) -> float:
        """Standard error of the mean, std / sqrt(K): the "+-" LFW results are quoted with."""
        return self.std / float(np.sqrt(self.accuracies.size))

    @property
    def mean_auc(self) -> float:
        return float(self.aucs.mean())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (plain floats and lists)."""
        return {
            "mean_accuracy": self.mean,
            "std": self.std,
            "sem": self.sem,
            "mean_auc": self.mean_auc,
            "folds": [
                {"fold": int(f), "accuracy": float(a), "threshold": float(t), "auc": float(u)}
                for f, a, t, u in zip(
                    self.folds, self.accuracies, self.thresholds, self.aucs, strict=True
                )
            ],
        }


def ten_fold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> TenFoldResult:
    """LFW View 2 accuracy: each fold tested at the accuracy-maximising threshold of the others.

    Works for any number K >= 2 of folds (LFW has ten); the standard error divides by sqrt(K).

    Args:
        scores: (n,) pair scores, higher = same person.
        labels: (n,) 0/1 labels, 1 = same person.
        folds: (n,) integer fold id of each pair (e.g. ``Pair.fold`` from pairs.txt); every
            fold must hold both same and different pairs.
    """
    s, y = validate_scores_labels(scores, labels)
    f = np.asarray(folds)
    if f.shape != s.shape or f.dtype.kind not in "iu":
        raise ValueError(
            f"folds must be a 1-D integer array as long as scores ({s.size}), "
            f"got {f.dtype} {f.shape}"
        )
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {ids.size}")

    accuracies, thresholds, aucs = [], [], []
    for fold in ids:
        test = f == fold
        if y[test].min() == y[test].max():
            raise ValueError(f"fold {fold} holds only one class; each fold needs both")
        threshold, _ = best_accuracy_threshold(s[~test], y[~test])
        thresholds.append(threshold)
        accuracies.append(accuracy(s[test], y[test], threshold))
        aucs.append(roc_auc(s[test], y[test]))
    return TenFoldResult(ids, np.array(accuracies), np.array(thresholds), np.array(aucs))
