"""Open-set identification measures on score matrices worked out by hand."""

import warnings

import numpy as np
import pytest

from siamface.evaluation.metrics import MetricError
from siamface.evaluation.open_set import (
    MAX_TARGET_FPIR,
    FpirResolutionWarning,
    ImpostorTail,
    cmc,
    dir_at,
    fpir,
    named_wrongly,
    rank_probes,
    threshold_at_fpir,
)

# Gallery: people 0, 1, 2. Probes: person 0 and 1 (mated), people 5 and 6 (impostors).
SCORES = np.array([
    [0.9, 0.2, 0.1],  # person 0: own 0.9, first
    [0.8, 0.5, 0.1],  # person 1: own 0.5, second behind person 0's 0.8
    [0.3, 0.6, 0.2],  # person 5: best 0.6
    [0.1, 0.2, 0.4],  # person 6: best 0.4
])
PROBES = np.array([0, 1, 5, 6])
GALLERY = np.array([0, 1, 2])


def test_ranks_and_best_scores_by_hand():
    r = rank_probes(SCORES, PROBES, GALLERY)
    assert r.mated_rank.tolist() == [1, 2]
    assert r.mated_score.tolist() == [0.9, 0.5] and r.mated_best.tolist() == [0.9, 0.8]
    assert r.nonmated_best.tolist() == [0.6, 0.4]


def test_cmc_fpir_dir_and_wrong_names_by_hand():
    r = rank_probes(SCORES, PROBES, GALLERY)
    assert cmc(r, [1, 2, 3]) == {1: 0.5, 2: 1.0, 3: 1.0}
    assert fpir(r, 0.5) == 0.5 and fpir(r, 0.7) == 0.0 and fpir(r, 0.4) == 1.0
    assert dir_at(r, 0.5) == 0.5 and dir_at(r, 0.95) == 0.0
    assert named_wrongly(r, 0.5) == 0.5 and named_wrongly(r, 0.85) == 0.0


def test_a_tie_is_broken_at_random_and_credited_as_expected():
    r = rank_probes(np.array([[0.5, 0.5, 0.1]]), np.array([0]), GALLERY)
    assert r.mated_rank.tolist() == [1.5]
    assert cmc(r, [1, 2]) == {1: 0.5, 2: 1.0}  # first half the time
    assert dir_at(r, 0.5) == 0.5 and named_wrongly(r, 0.5) == 0.5
    assert dir_at(r, 0.6) == 0.0 and named_wrongly(r, 0.6) == 0.0  # nobody passes 0.6
    everyone = rank_probes(np.zeros((1, 4)), np.array([0]), np.arange(4))  # a 4-way tie
    assert cmc(everyone, [1, 2, 3, 4]) == {1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0}
    assert dir_at(everyone, 0.0) == 0.25 and named_wrongly(everyone, 0.0) == 0.75


def test_threshold_at_fpir_lets_through_exactly_the_allowed_impostors():
    best = np.array([0.6, 0.4, 0.9, 0.1])
    for target, passing in ((0.0, 0), (0.25, 1), (0.5, 2), (0.74, 2), (0.75, 3)):
        t = threshold_at_fpir(best, target)
        assert int((best >= t).sum()) == passing, target
    hundred = np.arange(100.0)
    t = threshold_at_fpir(hundred, 0.29)  # floor(0.29 * 100) is 28 in floating point
    assert int((hundred >= t).sum()) == 29


def test_gallery_threshold_by_hand():
    tail = ImpostorTail.from_scores(np.arange(100.0)[::-1])  # scores 0, 1, ..., 99
    assert tail.pairs == 100 and tail.scores.tolist() == [99, 98, 97, 96, 95, 94, 93, 92, 91,
                                                           90, 89]  # top 10% and one more
    one = tail.threshold(gallery_size=1, target_fpir=0.1)
    assert 89 < one.threshold < 90 and not one.extrapolated  # 10 of 100 pass
    ten = tail.threshold(gallery_size=10, target_fpir=0.1)
    assert 98 < ten.threshold < 99  # 1% per comparison: 1 - 0.99^10 = 9.6% <= 10%
    huge = tail.threshold(gallery_size=100, target_fpir=0.01)
    assert huge.extrapolated and huge.threshold > 99  # beyond what 100 scores resolve


def test_the_tail_gives_the_thresholds_all_scores_give():
    scores = np.random.default_rng(1).normal(size=10_001)
    tail = ImpostorTail.from_scores(scores)
    for size in (1, 3, 50):
        for target in (0.001, 0.01, MAX_TARGET_FPIR):
            t = tail.threshold(size, target).threshold
            allowed = 1 - (1 - target) ** (1 / size)  # one comparison's pass rate
            assert np.mean(scores >= t) <= allowed
            lower = scores[scores < t].max()  # the lowest such threshold: one score lower ...
            assert np.mean(scores >= lower) > allowed  # ... lets too many through


def test_a_gallery_threshold_keeps_impostors_near_the_target_fpir():
    rng = np.random.default_rng(0)
    tail = ImpostorTail.from_scores(rng.normal(size=200_000))  # as from validation
    for size in (10, 50):
        t = tail.threshold(size, target_fpir=0.05).threshold
        impostors = rng.normal(size=(4000, size)).max(axis=1)  # best score of each impostor
        rate = float(np.mean(impostors >= t))
        assert rate == pytest.approx(0.05, abs=0.012), size  # 3 standard errors


def test_bad_inputs_are_metric_errors():
    with pytest.raises(MetricError, match=r"scores must be \(P, G\) = \(4, 3\)"):
        rank_probes(SCORES[:, :2], PROBES, GALLERY)
    with pytest.raises(MetricError, match="enrolled once"):
        rank_probes(SCORES, PROBES, np.array([0, 0, 2]))
    with pytest.raises(MetricError, match="finite"):
        rank_probes(np.full((4, 3), np.nan), PROBES, GALLERY)
    only_impostors = rank_probes(SCORES[2:], PROBES[2:], GALLERY)
    with pytest.raises(MetricError, match="no mated probe"):
        cmc(only_impostors, [1])
    with pytest.raises(MetricError, match="no non-mated probe"):
        fpir(rank_probes(SCORES[:2], PROBES[:2], GALLERY), 0.5)
    with pytest.raises(MetricError, match="target FPIR"):
        threshold_at_fpir(np.array([0.1]), 1.0)
    with pytest.raises(MetricError, match="gallery_size >= 1"):
        ImpostorTail.from_scores(np.arange(3.0)).threshold(0)
    with pytest.raises(MetricError, match=r"target_fpir <= 0\.1"):
        ImpostorTail.from_scores(np.arange(3.0)).threshold(5, 0.2)
    with pytest.raises(MetricError, match="finite"):
        ImpostorTail.from_scores(np.array([0.1, np.nan]))


@pytest.mark.parametrize("scores", [[0.3, np.nan], [0.3, np.inf], [[0.3, 0.2]], []])
def test_threshold_at_fpir_refuses_scores_it_cannot_keep_its_promise_on(scores):
    # NaN gave a NaN threshold and +inf one that let half the impostors through at target 0
    with pytest.raises(MetricError, match="non-empty 1-D array of finite"):
        threshold_at_fpir(np.array(scores), 0.0)


@pytest.mark.parametrize("people", [np.array([0.2, 0.7]), np.array(["ann", "bo"])])
def test_rank_probes_takes_integer_people_only(people):
    # int() merged 0.2 and 0.7 into person 0: probe 0.7 was ranked second behind itself
    with pytest.raises(MetricError, match="integer ids"):
        rank_probes(np.array([[0.9, 0.1], [0.2, 0.8]]), people, people)


@pytest.mark.parametrize("measure", [fpir, named_wrongly, dir_at])
def test_a_nan_threshold_is_refused_not_counted_as_passing_nobody(measure):
    with pytest.raises(MetricError, match="NaN"):
        measure(rank_probes(SCORES, PROBES, GALLERY), np.nan)


@pytest.mark.parametrize("size", [2.5, np.nan])
def test_a_gallery_size_is_a_whole_number_of_people(size):
    with pytest.raises(MetricError, match="gallery_size >= 1"):
        ImpostorTail.from_scores(np.arange(3.0)).threshold(size)


def test_a_tail_shorter_than_its_pair_count_needs_is_refused():
    full = ImpostorTail.from_scores(np.arange(1000.0))  # keeps the top 101 of 1000
    assert full.scores.size == 101 and full.threshold(1, 0.1).threshold > 899
    # two scores of 1000 pairs: the 10% threshold, 899, would have been read as 998
    with pytest.raises(MetricError, match=r"1000 pairs keeps their 101\+ highest .* got 2"):
        ImpostorTail(np.array([999.0, 998.0]), 1000)
    with pytest.raises(MetricError, match="descending"):
        ImpostorTail(full.scores[::-1].copy(), 1000)
    with pytest.raises(MetricError, match="got 3 scores"):
        ImpostorTail(np.arange(3.0)[::-1].copy(), 2)  # more scores than pairs


def test_an_fpir_finer_than_the_impostors_resolve_warns_and_lets_none_through():
    impostors = np.linspace(0.0, 1.0, 20)
    with pytest.warns(FpirResolutionWarning, match="FPIR 0.01 is below the resolution 1/20"):
        t = threshold_at_fpir(impostors, 0.01)
    assert t > impostors.max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        threshold_at_fpir(impostors, 0.0)  # asked for FPIR 0: nothing to warn of
        threshold_at_fpir(impostors, 0.05)  # one in 20 may pass
