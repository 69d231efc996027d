"""Percentile bootstrap confidence intervals for any metric of (scores, labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from siamface.errors import ConfigError
from siamface.evaluation.metrics import validate_scores_labels
from siamface.utils.files import is_number

Metric = Callable[[np.ndarray, np.ndarray], float]

N_BOOTSTRAP = 1000  # resamples for an interval, unless asked otherwise
MAX_BOOTSTRAP = 100_000  # more only costs time (1e8 ran for minutes, 1e12 asked for 7 TiB)


class Interval(NamedTuple):
    """A point estimate with a confidence interval; unpacks as ``(estimate, low, high)``."""

    estimate: float
    low: float
    high: float


def bootstrap_ci(
    metric: Metric,
    scores: np.ndarray,
    labels: np.ndarray,
    n_resamples: int = N_BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
    stratified: bool = True,
) -> Interval:
    """Percentile bootstrap interval of ``metric(scores, labels)``.

    Each resample draws pairs with replacement. Stratified resampling draws the same-person
    pairs and the different-person pairs separately, keeping both class counts fixed: AUC,
    EER and TAR@FAR are then defined in every resample, and the interval reflects sampling
    of pairs within each class, which is how verification benchmarks are built (a fixed number
    of positive and negative pairs). Unstratified resampling can draw a single-class resample
    on tiny data, and a metric that needs both classes then raises its ValueError.

    Each resample's indices are drawn per class in one vectorised call; the metric is called
    once per resample, since an arbitrary metric cannot be batched, and it dominates the cost
    (drawing all resamples up front would only add an (n_resamples, n) index array to memory).

    Args:
        metric: Function of ``(scores, labels)`` returning a float, e.g. ``roc_auc`` or
            ``lambda s, y: accuracy(s, y, threshold)`` (a threshold fixed in advance).
        scores: (n,) scores, higher = same person.
        labels: (n,) 0/1 labels.
        n_resamples: Number of bootstrap resamples.
        level: Confidence level of the two-sided interval, in (0, 1).
        seed: Seed of the resampling; the same seed gives the same interval.
        stratified: Resample within each class (default) instead of over all pairs.

    Returns:
        ``Interval(estimate, low, high)``: the metric on the full data and the
        ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled metric.
    """
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    s, y = validate_scores_labels(scores, labels, both_classes=False)
    estimate = float(metric(s, y))

    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in (0, 1)] if stratified else [np.arange(y.size)]
    groups = [g for g in groups if g.size]
    stats = np.empty(n_resamples)  # (n_resamples,)
    for r in range(n_resamples):
        row = np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in groups])  # (n,)
        stats[r] = metric(s[row], y[row])
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high))


def check_bootstrap(n_resamples: int, name: str = "n_bootstrap") -> None:
    """Refuse a number of resamples that cannot give an interval (0: no intervals) or that
    is over MAX_BOOTSTRAP, naming the setting as ``name``."""
    if not (is_number(n_resamples, int)
            and (n_resamples == 0 or 2 <= n_resamples <= MAX_BOOTSTRAP)):
        raise ConfigError(f"{name}: expected 0 (no intervals) or a whole number of 2 to "
                          f"{MAX_BOOTSTRAP:,} resamples, got {n_resamples!r}")
