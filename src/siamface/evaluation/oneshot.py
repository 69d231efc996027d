"""N-way one-shot identification (Koch et al. 2015, section 4.3), on faces.

One trial: a probe image of person A, and N candidates: one other image of A and one image
each of N - 1 other people. The trial is correct when A's candidate scores highest against
the probe. Koch et al. report this on Omniglot with N = 20; here it runs on face images with
integer identity labels, from a similarity matrix or from a callback that scores index pairs
(for a learned head, where the full M x M matrix would be too large to compute).

Sampling, per trial: the probe's person is drawn uniformly among people with at least two
images (so prolific people such as George W Bush do not dominate), then two distinct images
of that person (probe and true candidate), then N - 1 distinct other people uniformly among
everyone else and one image of each uniformly.

Ties at the top score give fractional credit 1 / (number tied at the maximum), the expected
result of breaking the tie at random: a constant similarity scores 1 / N, not 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

# score_pairs(left, right) -> scores: (K,) image indices, (K,) indices -> (K,) similarities
PairScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

ONE_SHOT_TRIALS = 1000  # trials for each N, unless asked otherwise
MAIN_JOB_ONE_SHOT = (2, 5, 10, 20)  # the N-way tasks the main job (siamface run) scores


class OneShotResult(NamedTuple):
    """Accuracy over the trials and its Wilson interval; unpacks as ``(accuracy, (low, high))``."""

    accuracy: float
    ci: tuple[float, float]


@dataclass(frozen=True, eq=False)
class OneShotTrials:
    """Sampled trials: ``candidates[:, 0]`` is always the probe's own person.

    Attributes:
        probes: (T,) image index of each trial's probe.
        candidates: (T, N) candidate image indices; column 0 is the same-person image.
    """

    probes: np.ndarray
    candidates: np.ndarray


def sample_one_shot_trials(
    labels: np.ndarray, n_way: int, n_trials: int, seed: int = 0
) -> OneShotTrials:
    """Draw ``n_trials`` N-way trials from identity ``labels`` (deterministic for a seed).

    Args:
        labels: (M,) integer identity of each image.
        n_way: N, the number of candidates per trial (at least 2).
        n_trials: Number of trials (at least 1).
        seed: Seed of the sampling.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a non-empty 1-D integer array, got {y.dtype} {y.shape}")
    if n_way < 2:
        raise ValueError(f"n_way must be at least 2, got {n_way}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    people, counts = np.unique(y, return_counts=True)  # (P,), (P,)
    if people.size < n_way:
        raise ValueError(f"{n_way}-way trials need {n_way} people, but labels hold {people.size}")
    eligible = np.flatnonzero(counts >= 2)  # people that can be probes
    if eligible.size == 0:
        raise ValueError("no person has two images, so no probe has a same-person candidate")

    order = np.argsort(y, kind="stable")  # image indices grouped by person, in people order
    starts = np.r_[0, np.cumsum(counts)[:-1]]  # (P,) where each person's images begin in order
    rng = np.random.default_rng(seed)

    person = eligible[rng.integers(0, eligible.size, size=n_trials)]  # (T,)
    a = rng.integers(0, counts[person])  # (T,) probe position within the person
    b = rng.integers(0, counts[person] - 1)  # (T,) a different position: skip over a
    b += b >= a
    probes = order[starts[person] + a]
    same = order[starts[person] + b]

    # N - 1 distinct other people: draw from P - 1 slots and shift past the probe's person.
    others = np.stack([rng.choice(people.size - 1, n_way - 1, replace=False) for _ in person])
    others += others >= person[:, None]  # (T, N - 1)
    pick = rng.integers(0, counts[others])  # (T, N - 1) one image of each
    candidates = np.concatenate([same[:, None], order[starts[others] + pick]], axis=1)
    return OneShotTrials(probes=probes, candidates=candidates)


def score_trials(trials: OneShotTrials, score_pairs: PairScorer) -> np.ndarray:
    """Per-trial credit in [0, 1]: 1 if the same-person candidate is the unique best, 1/t for a
    t-way tie at the top, 0 otherwise.

    Args:
        trials: Sampled trials.
        score_pairs: Maps (K,) left and (K,) right image indices to (K,) similarities.
    """
    t, n = trials.candidates.shape
    left = np.repeat(trials.probes, n)  # (T * N,)
    scores = np.asarray(score_pairs(left, trials.candidates.reshape(-1)), dtype=np.float64)
    if scores.shape != (t * n,):
        raise ValueError(f"score_pairs returned shape {scores.shape}, expected ({t * n},)")
    if not np.isfinite(scores).all():
        raise ValueError("score_pairs returned non-finite similarities")
    scores = scores.reshape(t, n)
    top = scores.max(axis=1, keepdims=True)
    at_top = scores == top  # (T, N)
    return at_top[:, 0] / at_top.sum(axis=1)


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Args:
        successes: Number (or fractional credit) of successes, in [0, n].
        n: Number of trials.
        level: Two-sided confidence level in (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not (n >= 1 and 0 <= successes <= n):
        raise ValueError(f"need n >= 1 trials and 0 <= successes <= n, got {successes} of {n}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # the bounds hold p exactly (at 0 or n successes, rounding left them a hair inside)
    return float(min(p, max(0.0, centre - half))), float(max(p, min(1.0, centre + half)))


def n_way_one_shot_scored(
    score_pairs: PairScorer,
    labels: np.ndarray,
    n_way: int,
    n_trials: int = ONE_SHOT_TRIALS,
    seed: int = 0,
    level: float = 0.95,
) -> OneShotResult:
    """N-way one-shot accuracy with similarities from a callback (e.g. a model's pair head).

    Args:
        score_pairs: Maps (K,) left and (K,) right image indices to (K,) similarities,
            higher = more alike.
        labels: (M,) integer identity of each image.
        n_way: N, candidates per trial.
        n_trials: Number of trials.
        seed: Seed of the trial sampling.
        level: Confidence level of the Wilson interval over trials.
    """
    credit = score_trials(sample_one_shot_trials(labels, n_way, n_trials, seed), score_pairs)
    return OneShotResult(float(credit.mean()), wilson_interval(credit.sum(), n_trials, level))
