"""Choosing a decision threshold on validation pairs.

A threshold is chosen on VALIDATION scores only and then applied, frozen, to test pairs;
choosing it on test pairs would report an optimistic accuracy (``evaluation.report`` reports
that oracle accuracy too, labelled as an upper bound).
"""

from __future__ import annotations

import numpy as np

from siamface.evaluation.metrics import validate_scores_labels


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
    mid = values[:-1] / 2 + values[1:] / 2  # halved first: no overflow at +-1e308
    half = (mid - values[:-1]) if values.size > 1 else np.array([0.5])
    edge, top = half[0], half[-1]  # half the nearest gap beyond each end
    with np.errstate(over="ignore"):  # an end beyond the float range is replaced below
        candidates = np.r_[values[0] - edge, mid, values[-1] + top]  # (k + 1,)
    # Candidate j must lie in (values[j-1], values[j]]; in a gap of one float step the middle
    # rounds onto an end, and beyond +-1e308 an end overflows: take the nearest float inside.
    inside = np.r_[-np.inf, values] < candidates
    inside &= candidates <= np.r_[values, np.inf]
    inside &= np.isfinite(candidates)
    nearest = np.r_[np.nextafter(values[0], -np.inf), values[1:],
                    np.nextafter(values[-1], np.inf)]
    candidates = np.where(inside, candidates, nearest)
    best = np.flatnonzero(correct == correct.max())
    j = int(best[(best.size - 1) // 2])
    return float(candidates[j]), float(correct[j] / s.size)
