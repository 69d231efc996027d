"""Open-set identification measures: who, among a gallery of enrolled people, if anyone.

A probe is *mated* when its person is enrolled and *non-mated* (an impostor) when not. For a
decision threshold t on the gallery's best score (as ISO/IEC 19795-1 and NIST's FRVT define
them):

- FPIR(t), the false-positive identification rate: the share of non-mated probes that name
  somebody (best score >= t).
- DIR(t), the detection-and-identification rate: the share of mated probes whose rank-1
  candidate is their own person and scores >= t.
- CMC(k), the closed-set rank-k rate: the share of mated probes whose person is among the k
  best candidates (no threshold).

The chance that *some* enrolled person passes a threshold for an impostor grows with the
gallery, which is why a threshold chosen for one-to-one verification names almost every probe
as someone in a large gallery. ``ImpostorTail.threshold`` sets it for a gallery size instead.
Everything here is pure NumPy on score matrices.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siamface.errors import SiamfaceWarning
from siamface.evaluation.metrics import MetricError, checked_threshold


class FpirResolutionWarning(SiamfaceWarning):
    """An FPIR target finer than the non-mated probes resolve; a threshold no impostor passes
    (FPIR 0) is given instead."""


@dataclass(frozen=True)
class Ranked:
    """The probes of one gallery, ranked. A tie between a probe's own person and others is
    broken at random: the figures give it the expected credit (a 2-way tie at the top is
    rank 1 half the time), as the one-shot trials do.

    Attributes:
        mated_higher: (M,) how many candidates score strictly higher than each mated probe's
            own person.
        mated_tied: (M,) how many other candidates score the same as its own person.
        mated_score: (M,) the score of its own person.
        mated_best: (M,) each mated probe's best score over the gallery (its own person's
            when it ranks first).
        nonmated_best: (I,) each non-mated probe's best score over the gallery.
    """

    mated_higher: np.ndarray
    mated_tied: np.ndarray
    mated_score: np.ndarray
    mated_best: np.ndarray
    nonmated_best: np.ndarray

    @property
    def mated_rank(self) -> np.ndarray:
        """(M,) the expected 1-based rank of each mated probe's own person."""
        return 1 + self.mated_higher + self.mated_tied / 2

    def within(self, k: int) -> np.ndarray:
        """(M,) the chance that each mated probe's own person ranks in the top ``k``."""
        return np.clip((k - self.mated_higher) / (self.mated_tied + 1), 0.0, 1.0)


def rank_probes(scores: np.ndarray, probe_people: np.ndarray,
                gallery_people: np.ndarray) -> Ranked:
    """Rank every probe's candidates.

    Args:
        scores: (P, G) similarity of each probe to each gallery entry, higher = more alike.
        probe_people: (P,) integer person of each probe.
        gallery_people: (G,) integer person of each gallery entry, each enrolled once.

    Returns:
        The ranks and scores of mated probes (whose person is in the gallery) and the best
        scores of the others.
    """
    scores = np.asarray(scores, dtype=np.float64)
    probe_people, gallery_people = np.asarray(probe_people), np.asarray(gallery_people)
    if not all(np.issubdtype(p.dtype, np.integer) for p in (probe_people, gallery_people)):
        raise MetricError("probe and gallery people must be integer ids, got "
                          f"{probe_people.dtype} and {gallery_people.dtype}")
    if scores.shape != (probe_people.size, gallery_people.size):
        raise MetricError(f"scores must be (P, G) = ({probe_people.size}, "
                          f"{gallery_people.size}), got {scores.shape}")
    if np.unique(gallery_people).size != gallery_people.size:
        raise MetricError("each gallery person must be enrolled once")
    if not np.isfinite(scores).all():
        raise MetricError("scores must be finite")
    column = {int(p): j for j, p in enumerate(gallery_people)}
    own = np.array([column.get(int(p), -1) for p in probe_people])  # (P,) -1: not enrolled
    mated = own >= 0
    own_score = scores[mated, own[mated]]  # (M,)
    higher = (scores[mated] > own_score[:, None]).sum(axis=1)
    tied = (scores[mated] == own_score[:, None]).sum(axis=1) - 1
    return Ranked(higher, tied, own_score, scores[mated].max(axis=1, initial=-np.inf),
                  scores[~mated].max(axis=1, initial=-np.inf))


def cmc(ranked: Ranked, ks: Sequence[int]) -> dict[int, float]:
    """Closed-set rank-k identification rate of the mated probes, for each k."""
    if ranked.mated_rank.size == 0:
        raise MetricError("no mated probe: every probe's person is missing from the gallery")
    return {k: float(np.mean(ranked.within(k))) for k in ks}


def fpir(ranked: Ranked, threshold: float) -> float:
    """The share of non-mated probes whose best score passes ``threshold``."""
    if ranked.nonmated_best.size == 0:
        raise MetricError("no non-mated probe: FPIR needs people who are not enrolled")
    return float(np.mean(ranked.nonmated_best >= checked_threshold(threshold)))


def named_wrongly(ranked: Ranked, threshold: float) -> float:
    """The share of mated probes named as somebody else: another person ranks first and
    passes ``threshold``."""
    if ranked.mated_rank.size == 0:
        raise MetricError("no mated probe: every probe's person is missing from the gallery")
    passes = ranked.mated_best >= checked_threshold(threshold)
    return float(np.mean((1 - ranked.within(1)) * passes))


def dir_at(ranked: Ranked, threshold: float) -> float:
    """DIR: the share of mated probes named correctly (rank 1) with a score >= ``threshold``."""
    if ranked.mated_rank.size == 0:
        raise MetricError("no mated probe: every probe's person is missing from the gallery")
    return float(np.mean(ranked.within(1) * (ranked.mated_score >= checked_threshold(threshold))))


def threshold_at_fpir(nonmated_best: np.ndarray, target: float) -> float:
    """The lowest threshold whose FPIR on these non-mated best scores is at most ``target``.

    Args:
        nonmated_best: (I,) best gallery score of each non-mated probe.
        target: The FPIR to stay within, in [0, 1).
    """
    s = np.asarray(nonmated_best, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.isfinite(s).all():
        raise MetricError("a threshold at an FPIR needs a non-empty 1-D array of finite "
                          f"non-mated scores, got shape {s.shape}")
    s = np.sort(s)[::-1]  # descending
    if not 0.0 <= target < 1.0:
        raise MetricError(f"target FPIR must be in [0, 1), got {target}")
    allowed = int(np.floor(target * s.size))  # impostors that may pass
    if (allowed + 1) / s.size <= target:  # floor(0.29 * 100) is 28: float rounding
        allowed += 1
    if allowed == 0 < target:
        warnings.warn(f"FPIR {target:g} is below the resolution 1/{s.size} of {s.size} "
                      "non-mated probes; the threshold lets none through (FPIR 0) instead",
                      FpirResolutionWarning, stacklevel=2)
    # just above the (allowed+1)-th highest score: exactly `allowed` pass (ties kept out)
    return float(np.nextafter(s[allowed], np.inf))


@dataclass(frozen=True)
class GalleryThreshold:
    """A decision threshold for a gallery of ``gallery_size`` people at a target FPIR.

    Attributes:
        threshold: Name the best candidate only when its score is at least this.
        gallery_size: The number of enrolled people it was set for.
        target_fpir: The chance that an impostor is named someone, at that size.
        extrapolated: The target needs a tail of the impostor scores finer than the
            validation comparisons resolve; the threshold is then their maximum.
    """

    threshold: float
    gallery_size: int
    target_fpir: float
    extrapolated: bool


MAX_TARGET_FPIR = 0.1  # the largest target an ImpostorTail keeps scores for
TARGET_FPIR = 0.01  # the target a gallery's threshold is set for, unless asked otherwise
TOP_K = 5  # the people an identification lists, unless asked otherwise


@dataclass(frozen=True)
class ImpostorTail:
    """The highest one-to-one scores of pairs of two different people, and how many there were:
    all a gallery threshold needs (see ``threshold``), small enough to keep with a run.

    Attributes:
        scores: (T,) the T highest scores, descending.
        pairs: K, how many different-person pairs were scored (T <= K).
    """

    scores: np.ndarray
    pairs: int

    def __post_init__(self) -> None:
        s, k = self.scores, self.pairs
        if (s.ndim != 1 or s.size == 0 or not np.isfinite(s).all() or np.any(s[1:] > s[:-1])
                or not s.size <= k or s.size < self.needed(k)):
            raise MetricError(f"an impostor tail of {k} pairs keeps their "
                              f"{self.needed(k)}+ highest scores, finite and descending; got "
                              f"{s.size} scores of shape {s.shape}")

    @staticmethod
    def needed(pairs: int) -> int:
        """How many of ``pairs`` scores, the highest, targets up to MAX_TARGET_FPIR use."""
        return min(pairs, int(np.floor(MAX_TARGET_FPIR * pairs)) + 1)

    @classmethod
    def from_scores(cls, scores: np.ndarray) -> ImpostorTail:
        """The tail of all K different-person scores that targets up to MAX_TARGET_FPIR use."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if s.size == 0 or not np.isfinite(s).all():
            raise MetricError("a gallery threshold needs finite different-person scores")
        return cls(np.sort(s)[::-1][:cls.needed(s.size)].copy(), int(s.size))

    def threshold(self, gallery_size: int, target_fpir: float = TARGET_FPIR) -> GalleryThreshold:
        """The threshold at which an impostor is named someone with probability
        ``target_fpir`` in a gallery of ``gallery_size`` people.

        If an impostor's scores against N enrolled people were independent draws of the
        different-person score distribution F, it passes t with probability 1 - F(t)^N; so t is
        the quantile of F at (1 - target)^(1/N). The scores must come from people the model
        was not selected on the test of: the validation people.

        Args:
            gallery_size: N, the people enrolled.
            target_fpir: The FPIR to stay within, in (0, MAX_TARGET_FPIR].
        """
        if (not float(gallery_size).is_integer() or gallery_size < 1
                or not 0.0 < target_fpir <= MAX_TARGET_FPIR):
            raise MetricError(f"need gallery_size >= 1 and 0 < target_fpir <= "
                              f"{MAX_TARGET_FPIR:g}, got {gallery_size} and {target_fpir}")
        level = (1.0 - target_fpir) ** (1.0 / gallery_size)  # F(t) needed
        # the smallest score with F >= level is the (K - ceil(level K))-th from the top
        above = self.pairs - int(np.ceil(level * self.pairs))
        extrapolated = (1.0 - level) * self.pairs < 1  # not one passing score may be observed
        threshold = float(np.nextafter(self.scores[above], np.inf))  # above < needed(K)
        return GalleryThreshold(threshold, gallery_size, target_fpir, bool(extrapolated))
