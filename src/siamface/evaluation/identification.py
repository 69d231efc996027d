"""N-way one-shot identification of a trained run on the people of an LFW protocol file.

Koch et al. (2015) judge their Siamese network by N-way one-shot classification: given a probe
and N candidates, one of them of the probe's class, pick the candidate the network finds most
alike. Here the classes are people. The image population is every image of the people of the
evaluated file's people set (peopleDevTest.txt for pairsDevTest.txt), keeping the people with
at least two images, so that any of them can be a probe and any other a distractor. The trials
are drawn and scored by ``oneshot.py``; this module supplies the similarities.

The similarity is the model's own head (``SiameseNet.score``), the same logit that verification
thresholds, so a learned head (weighted L1, cosine with a learned scale) is used as trained.
Each image is embedded once (``embed_images``); only the T x N pairs of the trials are scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.cache import ImageCache
from siamface.data.lfw import LFWDataset
from siamface.data.people import evaluation_people, person_images, scope_people
from siamface.data.protocol import PairsFile
from siamface.errors import SiamfaceError
from siamface.evaluation.embed import embed_run_images, score_embedding_pairs
from siamface.evaluation.oneshot import (
    ONE_SHOT_TRIALS,
    OneShotResult,
    PairScorer,
    n_way_one_shot_scored,
)
from siamface.models.siamese import SiameseNet
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic
from siamface.utils.files import is_number

ONE_SHOT_FILE = "one_shot.json"


def head_scorer(model: SiameseNet, embeddings: torch.Tensor) -> PairScorer:
    """A ``PairScorer`` for ``oneshot.py``: the model head's logit between embedded images.

    Args:
        model: The Siamese model whose head compares embeddings.
        embeddings: (M, D) embeddings; the scorer's indices are rows of it.
    """

    def score_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return score_embedding_pairs(lambda a, b: model.score(a, b).logits, embeddings, left,
                                     right)

    return score_pairs


def one_shot_curve(
    score_pairs: PairScorer,
    labels: np.ndarray,
    n_ways: Sequence[int],
    n_trials: int = ONE_SHOT_TRIALS,
    seed: int = 0,
) -> dict[int, OneShotResult]:
    """One-shot accuracy for each N (same seed for each), with 95% Wilson intervals.

    Args:
        score_pairs: Similarity of (K,) left and (K,) right image indices, higher = alike.
        labels: (M,) integer identity of each image.
        n_ways: The values of N.
        n_trials: Trials per N.
        seed: Seed of the trial sampling.
    """
    return {n: n_way_one_shot_scored(score_pairs, labels, n, n_trials, seed) for n in n_ways}


class OneShotError(SiamfaceError, ValueError):
    """An N-way one-shot evaluation that cannot be made: more ways than people."""


def check_one_shot(lfw: LFWDataset, pairs_file: PairsFile, n_ways: Sequence[int],
                   n_trials: int) -> None:
    """Refuse, before anything is trained or evaluated, one-shot settings that cannot run: an
    N that is not a whole number from 2 to the number of people the trials of ``pairs_file``
    draw from, or trials that are not a whole number of at least 1."""
    if isinstance(n_ways, str) or not isinstance(n_ways, Sequence) or not all(
            is_number(n, int) and n >= 2 for n in n_ways):
        raise OneShotError(f"one-shot N: expected whole numbers of at least 2 (N-way: the "
                           f"probe's person among N), got {n_ways!r}")
    if not (is_number(n_trials, int) and n_trials >= 1):
        raise OneShotError(f"one-shot trials: expected a whole number of at least 1, got "
                           f"{n_trials!r}")
    people, source = evaluation_people(lfw, pairs_file)
    too_many = [n for n in n_ways if n > len(people)]
    if too_many:
        raise OneShotError(f"one-shot N = {too_many[0]}: {source} has {len(people)} people, so "
                           f"N can be at most {len(people)}")


def evaluate_one_shot(
    run: Run,
    cache: ImageCache,
    lfw: LFWDataset,
    pairs_file: PairsFile,
    out_dir: Path,
    label: str,
    n_ways: Sequence[int],
    n_trials: int = ONE_SHOT_TRIALS,
    seed: int = 0,
) -> dict[str, Any]:
    """N-way one-shot identification of a finished run on the people of ``pairs_file``.

    Writes ``one_shot.json`` into ``out_dir``.

    Args:
        run: A finished run.
        cache: LFW cached under the run's preprocessing.
        lfw: The imported LFW copy.
        pairs_file: The pairs file whose side of the protocol to use (pairsDevTest.txt:
            the people of peopleDevTest.txt; see ``evaluation_people``).
        out_dir: Where to write (``Run.eval_dir``).
        label: How the pairs file is named in the results.
        n_ways: The values of N, each at least 2.
        n_trials: Trials per N.
        seed: Seed of the trial sampling.

    Returns:
        The results (also in one_shot.json).
    """
    people, source = evaluation_people(lfw, pairs_file)
    refs, labels = person_images(people, lfw.image_counts)

    embeddings = embed_run_images(run, cache, refs)  # (M, D)
    curve = one_shot_curve(head_scorer(run.model, embeddings), labels, n_ways, n_trials, seed)

    results = {
        "run": str(run.path),
        "pairs_file": label,
        "people_file": source,
        "people": len(people),
        "images": len(refs),
        "trials": n_trials,
        "seed": seed,
        "similarity": "the logit of the model's head (SiameseNet.score)",
        "seen_people": len(set(people) & scope_people(lfw, run.config.data.view2_fold)),
        "results": [
            {"n_way": n, "accuracy": r.accuracy, "ci95": list(r.ci), "chance": 1 / n}
            for n, r in curve.items()
        ],
    }
    write_json_atomic(out_dir / ONE_SHOT_FILE, results)
    return results
