"""A run's gallery calibration: how high its model scores pairs of two different people.

Identification names a person only when the best score passes a threshold set for the
gallery's size (``ImpostorTail.threshold``), and that threshold comes from scores of pairs of
different *validation* people: the run's validation split of its scope (DevTrain, or View 2's
nine training folds), which it chose its epoch and verification threshold on, never the
held-out people. Training writes the calibration beside the chosen model
(``Run.write_gallery_calibration``); a run from before it existed gets it from any
evaluation on LFW (``siamface evaluate RUN --pairs pairsDevTest.txt``; not ``--folder`` alone).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from siamface.data.cache import ImageCache
from siamface.data.lfw import LFWDataset
from siamface.data.people import pair_people, person_images, training_scope
from siamface.data.splits import training_split
from siamface.evaluation.embed import embed_run_images, score_embedding_pairs
from siamface.evaluation.metrics import MetricError
from siamface.evaluation.open_set import ImpostorTail
from siamface.run_folder import Run, RunFolderError

MAX_VALIDATION_PAIRS = 2_000_000  # different-person pairs scored, at most (seeded sample)


def validation_impostor_scores(run: Run, cache: ImageCache,
                               lfw: LFWDataset) -> tuple[np.ndarray, int]:
    """The run model's scores of image pairs of two different validation people (at most
    MAX_VALIDATION_PAIRS, sampled with the run's seed, embedded in the precision it was
    validated in, ``Run.precision_used``, where recorded), and how many people they come
    from.

    A run that keeps to LFW's image-restricted rules (``DataConfig.restricted``) knows two
    images to be of different people only where a pair of its scope says so: its pairs are
    the validation split's non-matching pairs, no others made up from the people's names.
    """
    data = run.config.data
    scope = training_scope(lfw, data.view2_fold)
    _, val = training_split(scope, lfw.image_counts, data, run.config.seed)
    people = sorted(pair_people(val))

    def score(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return run.model.score(a, b).logits

    if data.restricted:
        negatives = [p for p in val if not p.same]
        refs = sorted({ref for p in negatives for ref in (p.left, p.right)})
        row = {ref: k for k, ref in enumerate(refs)}
        emb = embed_run_images(run, cache, refs, run.precision_used())  # (V, D)
        i, j = (np.array([row[getattr(p, side)] for p in negatives], dtype=np.int64)
                for side in ("left", "right"))
        return score_embedding_pairs(score, emb, i, j), len(people)
    refs, ids = person_images(people, lfw.image_counts)
    emb = embed_run_images(run, cache, refs, run.precision_used())  # (V, D)
    return impostor_scores(emb, ids, score, run.config.seed), len(people)


def impostor_scores(emb: torch.Tensor, ids: np.ndarray,
                    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    seed: int) -> np.ndarray:
    """Scores of the pairs of images of two different people (at most MAX_VALIDATION_PAIRS,
    a sample drawn with ``seed``).

    Args:
        emb: (V, D) embeddings of V images.
        ids: (V,) their people's integer ids.
        score: (B, D), (B, D) -> (B,) logits of pairs.
        seed: Seeds the sample where there are more pairs.
    """
    i, j = np.triu_indices(len(ids), k=1)
    different = ids[i] != ids[j]
    i, j = i[different], j[different]
    if i.size > MAX_VALIDATION_PAIRS:
        keep = np.random.default_rng(seed).choice(i.size, MAX_VALIDATION_PAIRS, replace=False)
        i, j = i[keep], j[keep]
    return score_embedding_pairs(score, emb, i, j)


def calibrate_gallery(run: Run, cache: ImageCache, lfw: LFWDataset) -> ImpostorTail | None:
    """Score the validation impostor pairs with the run's model
    (``validation_impostor_scores``) and keep their tail in the run.

    Returns None, keeping nothing, when the validation split has fewer than two people (a tiny
    data set): identification then says that it has no gallery threshold.
    """
    scores, people = validation_impostor_scores(run, cache, lfw)
    if scores.size == 0:
        return None
    tail = ImpostorTail.from_scores(scores)
    run.write_gallery_calibration(torch.from_numpy(tail.scores), tail.pairs, people)
    return tail


def gallery_calibration(run: Run) -> ImpostorTail | None:
    """The run's calibration for its current model; None when it has none."""
    return kept_tail(run.read_gallery_calibration(), run.gallery_calibration_path)


def kept_tail(kept: tuple[torch.Tensor, int] | None, path: Path) -> ImpostorTail | None:
    """A calibration file's (scores, pairs) as read (``run_folder.read_impostor_tail``) as an
    ImpostorTail; None stays None.

    Raises:
        RunFolderError: naming ``path``, the file, where it keeps fewer scores than the
            thresholds it is read for use (a damaged or edited file would set them too high).
    """
    if kept is None:
        return None
    try:
        return ImpostorTail(kept[0].double().numpy(), kept[1])
    except MetricError as err:
        raise RunFolderError(f"{path}: {err}") from None
