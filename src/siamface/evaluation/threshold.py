"""Choosing a decision threshold on validation pairs, scikit-learn style.

The project fits a :class:`ThresholdSelector` on VALIDATION scores only and then applies the
frozen ``threshold_`` to test pairs; fitting it on test pairs would report an optimistic
accuracy. Criteria are built by name from :data:`THRESHOLD_CRITERIA`.
"""

from __future__ import annotations

import numpy as np

from siamface.evaluation.metrics import (
    accuracy,
    equal_error_rate,
    tar_at_far,
    validate_scores,
    validate_scores_labels,
)
from siamface.utils.registry import Registry

# A criterion maps validation (scores, labels, target_far) to a threshold.
THRESHOLD_CRITERIA: Registry[float] = Registry("threshold criterion")


class NotFittedError(ValueError, AttributeError):
    """Raised when a selector is used before ``fit`` (like scikit-learn's NotFittedError)."""


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold maximising accuracy, placed between samples, and that accuracy.

    Candidates are the midpoints between adjacent distinct scores, plus one point below the
    lowest score (everything same) and one above the highest (everything different), each half
    a neighbouring gap away. A midpoint, not a sample's own score, because any threshold in the
    open gap gives the same validation accuracy and the middle of the gap leaves the most room
    either side for test scores that land close to the validation ones.

    When several candidates reach the best accuracy (a plateau, or several separate optima),
    the middle one is taken (the lower middle for an even count): the end of a plateau sits
    next to a validation error and tends to move it onto test errors, and the middle is the
    stable choice under small changes in the validation set. The result is deterministic.

    Args:
        scores: (n,) validation scores, higher = same person.
        labels: (n,) 0/1 labels, both classes present.

    Returns:
        ``(threshold, accuracy)``.
    """
    s, y = validate_scores_labels(scores, labels)
    values, inverse = np.unique(s, return_inverse=True)  # (k,) ascending distinct scores
    pos = np.bincount(inverse, weights=y, minlength=values.size)  # (k,) positives per value
    neg = np.bincount(inverse, weights=1 - y, minlength=values.size)
    # Candidate j (0..k) predicts same for every score >= values[j] (none when j = k):
    # correct = positives at or above + negatives below.
    pos_below = np.r_[0.0, np.cumsum(pos)]  # (k + 1,)
    neg_below = np.r_[0.0, np.cumsum(neg)]
    correct = (pos_below[-1] - pos_below) + neg_below  # (k + 1,)
    gaps = np.diff(values)
    edge = gaps[0] / 2 if gaps.size else 0.5  # half the nearest gap beyond each end
    top = gaps[-1] / 2 if gaps.size else 0.5
    candidates = np.r_[values[0] - edge, values[:-1] + gaps / 2, values[-1] + top]  # (k + 1,)
    best = np.flatnonzero(correct == correct.max())
    j = int(best[(best.size - 1) // 2])
    return float(candidates[j]), float(correct[j] / s.size)


@THRESHOLD_CRITERIA.register("accuracy")
def _accuracy_criterion(scores: np.ndarray, labels: np.ndarray, target_far: float | None) -> float:
    return best_accuracy_threshold(scores, labels)[0]


@THRESHOLD_CRITERIA.register("eer")
def _eer_criterion(scores: np.ndarray, labels: np.ndarray, target_far: float | None) -> float:
    return equal_error_rate(scores, labels)[1]


@THRESHOLD_CRITERIA.register("far")
def _far_criterion(scores: np.ndarray, labels: np.ndarray, target_far: float | None) -> float:
    if target_far is None:
        raise ValueError("criterion 'far' needs target_far, e.g. target_far=0.001")
    return tar_at_far(scores, labels, target_far)[1]


class ThresholdSelector:
    """Learns a score threshold from validation pairs; predicts same for ``score >= threshold_``.

    Args:
        criterion: ``"accuracy"`` (maximise accuracy, see :func:`best_accuracy_threshold`),
            ``"eer"`` (the equal-error-rate threshold) or ``"far"`` (the threshold of the
            largest TAR with FAR <= ``target_far``).
        target_far: The FAR target, required with ``criterion="far"`` and only then.

    Attributes (set by ``fit``):
        threshold_: The chosen threshold.
        score_: Accuracy on the fitted (validation) pairs at ``threshold_``.
    """

    def __init__(self, criterion: str = "accuracy", target_far: float | None = None) -> None:
        self.criterion = criterion
        self.target_far = target_far

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> ThresholdSelector:
        """Choose ``threshold_`` on validation ``scores`` and ``labels``; returns ``self``.

        Args:
            scores: (n,) validation scores, higher = same person.
            labels: (n,) 0/1 labels, both classes present.
        """
        choose = THRESHOLD_CRITERIA.get(self.criterion)
        if self.target_far is not None and self.criterion != "far":
            raise ValueError(
                f"target_far={self.target_far!r} is only used with criterion='far', "
                f"not criterion={self.criterion!r}"
            )
        s, y = validate_scores_labels(scores, labels)
        self.threshold_ = float(choose(s, y, self.target_far))
        self.score_ = accuracy(s, y, self.threshold_)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """0/1 predictions (1 = same person) for ``scores`` of shape (n,)."""
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this ThresholdSelector is not fitted yet; call fit() first")
        return (validate_scores(scores) >= self.threshold_).astype(np.int64)

    def __repr__(self) -> str:
        return f"ThresholdSelector(criterion={self.criterion!r}, target_far={self.target_far!r})"
