"""Verification metrics in pure NumPy: ROC, AUC, EER, TAR@FAR, accuracy, confusion matrix, BCE.

Conventions shared by every function here:

- ``scores`` is a 1-D float array where higher means "more likely the same person" (logits,
  probabilities, negated distances: any monotone score works).
- ``labels`` is a 1-D array of 0/1 (bool, int or float holding only 0 and 1); 1 = same person.
- A pair is predicted "same" when ``score >= threshold``.

The ROC is exact: one point per distinct score, so tied scores move FAR and TAR together (a
diagonal segment) instead of in an arbitrary order chosen by a sort.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from siamface.errors import SiamfaceError, SiamfaceWarning


class FarResolutionWarning(SiamfaceWarning):
    """A FAR target finer than the negative pairs can resolve; TAR at FAR = 0 is reported."""


class MetricError(SiamfaceError, ValueError):
    """Scores or labels a metric cannot be computed from; the message says why."""


FARS = (0.01, 0.001)  # the false accept rates an evaluation gives the TAR at


def tar_key(far: float) -> str:
    """The key of the TAR at ``far`` in metrics.json and the records built from it:
    "tar_at_far_0.01" for 1%."""
    return f"tar_at_far_{far:g}"


def validate_scores(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a 1-D float64 array, or raise ValueError saying what is wrong.

    Args:
        scores: Anything array-like of real numbers.
        name: What to call the array in error messages.
    """
    s = np.asarray(scores)
    if s.ndim != 1:
        raise MetricError(f"{name} must be a 1-D array, got shape {s.shape}")
    if s.size == 0:
        raise MetricError(f"{name} is empty")
    if s.dtype.kind not in "biuf":
        raise MetricError(f"{name} must be real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MetricError(f"{name} must be finite; {name}[{i}] = {s[i]} ({int(bad.sum())} bad)")
    return s


def validate_scores_labels(
    scores: np.ndarray, labels: np.ndarray, *, both_classes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check a (scores, labels) pair and return them as float64 and int64 arrays.

    Args:
        scores: 1-D finite scores, higher = same person.
        labels: 1-D labels holding only 0 and 1, as long as ``scores``.
        both_classes: Also require at least one 0 and one 1 (needed by ROC-based metrics).
    """
    s = validate_scores(scores)
    y = np.asarray(labels)
    if y.ndim != 1:
        raise MetricError(f"labels must be a 1-D array, got shape {y.shape}")
    if y.shape != s.shape:
        raise MetricError(f"scores and labels differ in length: {s.size} scores, {y.size} labels")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        shown = np.unique(y)[:5] if y.dtype.kind in "biuf" else y.dtype
        raise MetricError(f"labels must hold only 0 and 1 (1 = same person), got {shown}")
    y = y.astype(np.int64)
    if both_classes:
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == y.size:
            kind = "same (1)" if n_pos == 0 else "different (0)"
            raise MetricError(f"this metric needs both classes, but there is no {kind} pair")
    return s, y


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact ROC: one point per distinct score, starting at (FAR, TAR) = (0, 0).

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels, both classes present.

    Returns:
        ``(far, tar, thresholds)``, each of length ``k + 1`` for ``k`` distinct scores.
        ``thresholds[0] = +inf`` (nothing predicted same, the (0, 0) point); ``thresholds[i]``
        for ``i >= 1`` is the i-th largest distinct score and ``far[i]``/``tar[i]`` are the
        rates when predicting same for ``score >= thresholds[i]``. FAR and TAR never decrease
        and end at (1, 1).
    """
    s, y = validate_scores_labels(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]  # (n,) descending scores
    # The last index of each run of equal scores: all tied pairs cross the threshold together.
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # (k,)
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    far = np.r_[0.0, fp / (y.size - y.sum())]
    tar = np.r_[0.0, tp / y.sum()]
    thresholds = np.r_[np.inf, s[last]]
    return far, tar, thresholds


def tar_on_grid(far: np.ndarray, tar: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The TAR an ROC reaches at each FAR of ``grid``: the best point whose FAR is at most it.

    Curves sampled on one grid can be averaged point by point (vertical averaging, as the
    mean ROC over View 2's folds is drawn).

    Args:
        far: (k,) FARs of the ROC points, non-decreasing from 0 (``roc_curve``).
        tar: (k,) their TARs, non-decreasing.
        grid: (g,) FARs in [0, 1].

    Returns:
        (g,) TARs.
    """
    far, tar, grid = np.asarray(far), np.asarray(tar), np.asarray(grid)
    if far.size == 0 or far[0] != 0 or np.any(np.diff(far) < 0) or np.any(np.diff(tar) < 0):
        raise ValueError("far and tar must be an ROC from roc_curve: non-decreasing from far 0")
    if not np.all((grid >= 0) & (grid <= 1)):  # written so that NaN fails too
        raise ValueError("grid FARs must lie in [0, 1]")
    return tar[np.searchsorted(far, grid, side="right") - 1]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the exact ROC by the trapezoidal rule.

    This equals the Mann-Whitney probability P(score_pos > score_neg) + 0.5 P(equal): a tie
    gives a diagonal ROC segment, whose trapezoid counts exactly half of the tied pairs.

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels, both classes present.
    """
    far, tar, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The equal error rate, where FAR = FRR (= 1 - TAR), and a threshold for it.

    FAR and FRR are followed along the ROC with straight lines between its points. At the
    first point where FAR >= FRR the two curves have crossed; if they are not equal there,
    the crossing is found by linear interpolation on the segment from the previous point,
    i.e. ``eer = far[i-1] + a (far[i] - far[i-1])`` with ``a`` where FAR - FRR = 0.

    The threshold is interpolated in score space at the same fraction ``a`` between the two
    points' thresholds (when the previous point is the (0, 0) point with threshold +inf, the
    highest score is returned). Used as a hard threshold it realises one of the two
    neighbouring ROC points, not the interpolated one: a single threshold cannot hit the
    exact crossing when it falls between samples.

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels, both classes present.

    Returns:
        ``(eer, threshold)``.
    """
    far, tar, thresholds = roc_curve(scores, labels)
    gap = far - (1.0 - tar)  # FAR - FRR: -1 at the (0, 0) start, +1 at the (1, 1) end
    i = int(np.argmax(gap >= 0))  # first point at or past the crossing; always i >= 1
    a = -gap[i - 1] / (gap[i] - gap[i - 1])  # in (0, 1]; 1 when the curves meet at point i
    eer = far[i - 1] + a * (far[i] - far[i - 1])
    if gap[i] == 0 or i == 1:  # exact hit, or the previous point is (0, 0) at +inf
        return float(eer), float(thresholds[i])
    return float(eer), float(thresholds[i - 1] + a * (thresholds[i] - thresholds[i - 1]))


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float) -> tuple[float, float]:
    """The largest TAR whose FAR is at most ``far``, and its threshold (no interpolation).

    Among ROC points with FAR <= ``far`` the largest TAR is taken; if several points share it,
    the one with the smallest FAR (highest threshold) is returned.

    With ``n_neg`` different-person pairs FAR moves in steps of ``1 / n_neg``, so a target
    below that (FAR 0.1% with 500 negatives, whose resolution is 0.2%) can only be met by
    FAR = 0: the result is then TAR at FAR = 0, which is pessimistic, and a
    `FarResolutionWarning` says so. The threshold is +inf when even the best-scored pair is a
    negative and FAR must be 0 (nothing can be accepted).

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels, both classes present.
        far: Target false accept rate in [0, 1].

    Returns:
        ``(tar, threshold)``.
    """
    if not 0.0 <= far <= 1.0:
        raise MetricError(f"far must be in [0, 1], got {far}")
    far_pts, tar_pts, thresholds = roc_curve(scores, labels)
    n_neg = int(np.size(labels) - np.sum(labels))
    if 0.0 < far < 1.0 / n_neg:
        warnings.warn(
            f"FAR {far:g} is below the resolution 1/{n_neg} = {1.0 / n_neg:.3g} of {n_neg} "
            "negative pairs; reporting TAR at FAR = 0 instead",
            FarResolutionWarning,
            stacklevel=2,
        )
    ok = far_pts <= far  # a prefix, since FAR never decreases along the curve
    best = tar_pts[ok].max()
    i = int(np.argmax(ok & (tar_pts == best)))
    return float(tar_pts[i]), float(thresholds[i])


def checked_threshold(threshold: float) -> float:
    """``threshold`` as a float; NaN, which every comparison would quietly call "below", is
    refused."""
    t = float(threshold)
    if np.isnan(t):
        raise MetricError("the threshold must be a number, got NaN")
    return t


def predicted_same(scores: np.ndarray, threshold: float) -> np.ndarray:
    """(n,) 1 where a pair is predicted "same" (``score >= threshold``), else 0."""
    return (np.asarray(scores) >= checked_threshold(threshold)).astype(np.int64)


def accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Fraction of pairs classified correctly when predicting same for ``score >= threshold``.

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels (one class alone is fine).
        threshold: Decision threshold.
    """
    s, y = validate_scores_labels(scores, labels, both_classes=False)
    return float(np.mean(predicted_same(s, threshold) == y))


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """The 2x2 count matrix ``[[TN, FP], [FN, TP]]`` (rows: true label, columns: predicted).

    Args:
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels (one class alone is fine).
        threshold: Predict same when ``score >= threshold``.
    """
    s, y = validate_scores_labels(scores, labels, both_classes=False)
    predicted = predicted_same(s, threshold)
    # (true, predicted) -> flat index 2 * true + predicted: 0 TN, 1 FP, 2 FN, 3 TP
    return np.bincount(2 * y + predicted, minlength=4).reshape(2, 2)


@dataclass(frozen=True)
class ConfusionCounts:
    """Named access to a confusion matrix; rates are NaN when their class is absent."""

    tn: int
    fp: int
    fn: int
    tp: int

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> ConfusionCounts:
        """Build from the ``[[TN, FP], [FN, TP]]`` array of :func:`confusion_matrix`."""
        m = np.asarray(matrix)
        if m.shape != (2, 2):
            raise MetricError(f"a confusion matrix is 2x2 [[TN, FP], [FN, TP]], got {m.shape}")
        return cls(tn=int(m[0, 0]), fp=int(m[0, 1]), fn=int(m[1, 0]), tp=int(m[1, 1]))

    @property
    def total(self) -> int:
        return self.tn + self.fp + self.fn + self.tp

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.total if self.total else float("nan")

    @property
    def tar(self) -> float:
        """True accept rate TP / (TP + FN) (recall of same-person pairs)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def far(self) -> float:
        """False accept rate FP / (FP + TN)."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")

    def as_dict(self) -> dict[str, int]:
        return {"tn": self.tn, "fp": self.fp, "fn": self.fn, "tp": self.tp}


def confusion_counts(scores: np.ndarray, labels: np.ndarray, threshold: float) -> ConfusionCounts:
    """:func:`confusion_matrix` with named fields (``.tn``, ``.fp``, ``.fn``, ``.tp``)."""
    return ConfusionCounts.from_matrix(confusion_matrix(scores, labels, threshold))
