import numpy as np
import pytest

from siamface.errors import ConfigError
from siamface.evaluation.bootstrap import Interval, bootstrap_ci, check_bootstrap
from siamface.evaluation.metrics import accuracy, roc_auc


def gaussian_scores(n_per_class, seed):
    """Same pairs ~ N(1, 1), different pairs ~ N(-1, 1): AUC = Phi(2 / sqrt 2) = 0.921."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_per_class, int), np.zeros(n_per_class, int)]
    return rng.normal(2.0 * labels - 1.0), labels


def test_interval_contains_estimate_and_truth():
    scores, labels = gaussian_scores(200, seed=1)
    ci = bootstrap_ci(roc_auc, scores, labels, n_resamples=300)
    assert isinstance(ci, Interval)
    estimate, low, high = ci
    assert estimate == roc_auc(scores, labels)
    assert low < estimate < high
    assert low < 0.921 < high


def test_interval_narrows_with_more_data():
    small = bootstrap_ci(roc_auc, *gaussian_scores(50, seed=2), n_resamples=300)
    large = bootstrap_ci(roc_auc, *gaussian_scores(800, seed=2), n_resamples=300)
    # The width shrinks like 1/sqrt(n): 16x the data, about a quarter of the width.
    assert (large.high - large.low) < 0.4 * (small.high - small.low)


def test_deterministic_per_seed_and_level_orders_widths():
    scores, labels = gaussian_scores(60, seed=3)
    a = bootstrap_ci(roc_auc, scores, labels, n_resamples=200, seed=7)
    assert bootstrap_ci(roc_auc, scores, labels, n_resamples=200, seed=7) == a
    assert bootstrap_ci(roc_auc, scores, labels, n_resamples=200, seed=8) != a
    narrow = bootstrap_ci(roc_auc, scores, labels, n_resamples=200, seed=7, level=0.5)
    assert a.low < narrow.low <= narrow.high < a.high


def test_stratified_resamples_keep_class_counts():
    scores, labels = gaussian_scores(5, seed=4)
    labels[-2:] = 1  # 7 same, 3 different
    seen = []

    def record(s, y):
        seen.append(int(y.sum()))
        return float(y.mean())

    bootstrap_ci(record, scores, labels, n_resamples=50)
    assert seen == [7] * 51  # the full data, then every resample
    seen.clear()
    bootstrap_ci(record, scores, labels, n_resamples=50, stratified=False)
    assert len(set(seen[1:])) > 1  # unstratified: the class balance varies


def test_constant_metric_gives_a_zero_width_interval():
    scores, labels = gaussian_scores(20, seed=5)
    perfect = np.where(labels == 1, 10.0, -10.0)
    assert bootstrap_ci(roc_auc, perfect, labels, n_resamples=50) == (1.0, 1.0, 1.0)
    # Any metric of (scores, labels) works, e.g. accuracy at a threshold fixed beforehand.
    est, low, high = bootstrap_ci(lambda s, y: accuracy(s, y, 0.0), scores, labels, n_resamples=50)
    assert low <= est <= high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_resamples": 1}, "n_resamples"), ({"level": 1.0}, "level"), ({"level": 0}, "level")],
)
def test_bad_arguments(kwargs, message):
    scores, labels = gaussian_scores(5, seed=0)
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(roc_auc, scores, labels, **kwargs)


@pytest.mark.parametrize("n", [0, 2, 1000, np.int64(5), 100_000])
def test_no_intervals_or_two_to_a_hundred_thousand_resamples_pass(n):
    check_bootstrap(n)


@pytest.mark.parametrize("n", [1, -1, 2.0, True, "50", None, 100_001, 10**20])
def test_a_count_that_gives_no_interval_or_takes_for_ever_is_refused_by_its_name(n):
    with pytest.raises(ConfigError, match=rf"^--bootstrap: expected 0 \(no intervals\) or a whole "
                                          rf"number of 2 to 100,000 resamples, got {n!r}$"):
        check_bootstrap(n, "--bootstrap")
