import numpy as np
import pytest

from siamface.evaluation.identification import one_shot_curve
from siamface.evaluation.oneshot import (
    n_way_one_shot_scored,
    sample_one_shot_trials,
    score_trials,
    wilson_interval,
)

# 12 people with 3 images each, then 4 people with a single image (never probes).
LABELS = np.r_[np.repeat(np.arange(12), 3), np.arange(12, 16)]
SAME = (LABELS[:, None] == LABELS[None, :]).astype(float)  # (40, 40) perfect similarity


def matrix(similarity):
    """A pair scorer that reads a precomputed (M, M) similarity matrix."""
    return lambda i, j: similarity[i, j]


def test_trials_follow_the_rules():
    trials = sample_one_shot_trials(LABELS, n_way=5, n_trials=500, seed=0)
    probes, cands = trials.probes, trials.candidates
    assert cands.shape == (500, 5)
    # Column 0 is another image of the probe's person.
    assert np.all(LABELS[cands[:, 0]] == LABELS[probes])
    assert np.all(cands[:, 0] != probes)
    # The other N - 1 are one image each of N - 1 distinct other people.
    others = LABELS[cands[:, 1:]]
    assert np.all(others != LABELS[probes][:, None])
    assert all(len(set(row)) == 4 for row in others)
    # Single-image people never probe, but do appear as distractors.
    assert np.all(LABELS[probes] < 12)
    assert np.isin(np.arange(12, 16), others).all()


def test_trials_are_deterministic_per_seed():
    a = sample_one_shot_trials(LABELS, 5, 100, seed=3)
    b = sample_one_shot_trials(LABELS, 5, 100, seed=3)
    c = sample_one_shot_trials(LABELS, 5, 100, seed=4)
    np.testing.assert_array_equal(a.candidates, b.candidates)
    np.testing.assert_array_equal(a.probes, b.probes)
    assert not np.array_equal(a.candidates, c.candidates)


def test_perfect_similarity_scores_one():
    accuracy, (low, high) = n_way_one_shot_scored(matrix(SAME), LABELS, n_way=10, n_trials=200)
    assert accuracy == 1.0
    assert high == 1.0 and 0.95 < low < 1.0


def test_inverted_similarity_scores_zero():
    assert n_way_one_shot_scored(matrix(-SAME), LABELS, n_way=4, n_trials=100).accuracy == 0.0


def test_random_scores_give_about_one_over_n():
    # A fresh random similarity for every comparison: the true candidate is top with prob 1/N.
    rng = np.random.default_rng(0)
    for n in (2, 5, 10):
        result = n_way_one_shot_scored(lambda i, j: rng.random(i.size), LABELS, n, n_trials=4000)
        assert result.accuracy == pytest.approx(1 / n, abs=0.025)
        assert result.ci[0] < 1 / n < result.ci[1]


def test_ties_get_fractional_credit():
    # Constant similarity: every candidate ties, so each trial is worth 1/N.
    result = n_way_one_shot_scored(matrix(np.zeros((40, 40))), LABELS, 4, 50)
    assert result.accuracy == pytest.approx(0.25)
    trials = sample_one_shot_trials(LABELS, 3, 1, seed=0)
    row = {int(c): s for c, s in zip(trials.candidates[0], [2.0, 2.0, 1.0], strict=True)}
    credit = score_trials(trials, lambda i, j: np.array([row[int(x)] for x in j]))
    assert credit.tolist() == [0.5]  # a 2-way tie at the top


def blind_to_person_zero():
    """Perfect similarity, except that probes of person 0 see every candidate as equal."""
    sim = SAME.copy()
    sim[LABELS == 0] = 0.0
    return sim


def test_known_mixture_accuracy():
    # Probes of person 0 earn 1/N (all tied); everyone else is perfect. With the 12 eligible
    # people chosen uniformly the expected accuracy is 11/12 + (1/12)(1/N) = 0.9375 for N = 4.
    result = n_way_one_shot_scored(matrix(blind_to_person_zero()), LABELS, n_way=4,
                                   n_trials=6000, seed=1)
    assert result.accuracy == pytest.approx(11 / 12 + 1 / 48, abs=0.01)


def test_accuracy_vs_n_curve():
    curve = one_shot_curve(matrix(blind_to_person_zero()), LABELS, (2, 5, 16), n_trials=6000)
    assert list(curve) == [2, 5, 16]
    for n, result in curve.items():
        assert result.accuracy == pytest.approx(11 / 12 + 1 / (12 * n), abs=0.01)


def test_wilson_interval_by_hand():
    # p = 0.5, n = 100, z = 1.95996: centre 0.5, half = z sqrt(0.0025 + z^2/40000) / (1 + z^2/100)
    low, high = wilson_interval(50, 100)
    assert (low, high) == pytest.approx((0.40383, 0.59617), abs=1e-5)


@pytest.mark.parametrize("n", [1, 7, 13, 1000])
def test_wilson_interval_holds_its_rate_at_none_and_all(n):
    assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0
    for successes in (0, n // 2, n):
        low, high = wilson_interval(successes, n)
        assert low <= successes / n <= high


@pytest.mark.parametrize(("successes", "n"), [(0, 0), (12, 10), (-1, 10)])
def test_wilson_interval_refuses_counts_no_trial_gives(successes, n):
    # (0, 0) divided by zero; 12 of 10 gave an upper bound of 1.2
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(successes, n)


@pytest.mark.parametrize(
    ("labels", "n_way", "message"),
    [
        (np.arange(5), 3, "no person has two images"),
        (np.array([0, 0, 1, 1]), 3, "need 3 people"),
        (np.array([0, 0, 1, 1]), 1, "at least 2"),
        (np.array([0.0, 0.0, 1.0]), 2, "integer"),
    ],
)
def test_bad_inputs(labels, n_way, message):
    with pytest.raises(ValueError, match=message):
        sample_one_shot_trials(labels, n_way, 10)
