"""LFW View 2 (pairs.txt, ten folds) for a trained run, and why its headline is not clean here.

View 2 is LFW's reporting protocol: ten folds of pairs, the threshold of each fold fit on the
other nine (``tenfold.py``), the mean accuracy and its standard error quoted. It assumes the
model never saw pairs.txt's people. View 1 and View 2 were not built to be used together,
though: pairs.txt shares people with pairsDevTrain.txt (1,689 of them in the real files) and
with peopleDevTrain.txt (2,985), and every siamface config trains and validates on DevTrain
people. So the ten-fold figure over all 6,000 pairs measures, in part, recognition of people
the network was trained on.

What is reported, then: the ten-fold result over all pairs, labelled as contaminated, with the
overlap counted; and the result over the pairs whose two people are outside the training pool
(no DevTrain person), ten-fold where every fold still holds both kinds of pair. That subset is
unbalanced (in the real files 1,147 pairs, 870 of them matching), so its majority-class
baseline is reported next to it. The pool is the whole of DevTrain, not just the people a given
run drew, so a pair called unseen is unseen under every config.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np

from siamface.data.cache import ImageCache
from siamface.data.lfw import LFWDataset
from siamface.data.people import VIEW2_PAIRS, pair_people, scope_people
from siamface.data.protocol import Pair
from siamface.data.stats import people_overlap
from siamface.errors import SiamfaceError
from siamface.evaluation.metrics import accuracy, roc_auc
from siamface.evaluation.report import score_pairs_file
from siamface.evaluation.tenfold import ten_fold_accuracy
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic

TEN_FOLD_FILE = "ten_fold.json"


class TenFoldError(SiamfaceError, ValueError):
    """pairs.txt cannot be scored under the View 2 protocol; the message says why."""


def unseen_mask(pairs: Sequence[Pair], seen: Set[str]) -> np.ndarray:
    """(P,) True for the pairs whose two people are both outside ``seen``.

    Args:
        pairs: The pairs.
        seen: Names of the people trained (or validated) on.
    """
    return np.array([p.left.name not in seen and p.right.name not in seen for p in pairs],
                    dtype=bool)


def subset_results(
    logits: np.ndarray, labels: np.ndarray, folds: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Ten-fold and fixed-threshold results of a set of View 2 pairs, as far as they exist.

    Args:
        logits: (P,) scores, higher = same person.
        labels: (P,) 1 for matching pairs.
        folds: (P,) fold of each pair.
        threshold: The run's threshold chosen on its validation pairs.

    Returns:
        Counts, the majority-class baseline, AUC and accuracy at ``threshold`` (when both kinds
        of pair are present), and ``ten_fold`` (``TenFoldResult.as_dict()``) or None with the
        reason in ``ten_fold_skipped``.
    """
    n, matching = len(labels), int(labels.sum())
    out: dict[str, Any] = {"pairs": n, "matching": matching}
    if 0 < matching < n:
        out["majority_baseline"] = max(matching, n - matching) / n
        out["auc"] = roc_auc(logits, labels)
        out["accuracy_at_validation_threshold"] = accuracy(logits, labels, threshold)
    one_class = [int(f) for f in np.unique(folds) if labels[folds == f].min() ==
                 labels[folds == f].max()]
    if n == 0:
        out["ten_fold"], out["ten_fold_skipped"] = None, "no pairs"
    elif np.unique(folds).size < 2 or one_class:
        why = f"folds {one_class} hold one kind of pair only" if one_class else "a single fold"
        out["ten_fold"], out["ten_fold_skipped"] = None, why
    else:
        out["ten_fold"] = ten_fold_accuracy(logits, labels, folds).as_dict()
    return out


def view2_results(
    logits: np.ndarray, pairs: Sequence[Pair], seen: Set[str], threshold: float
) -> dict[str, Any]:
    """The View 2 protocol over all pairs and over the pairs of people never trained on.

    Args:
        logits: (P,) scores of ``pairs``, higher = same person.
        pairs: The View 2 pairs (each with its fold).
        seen: The training pool (``dev_train_people``).
        threshold: The run's validation threshold, for the fixed-threshold figures.
    """
    labels = np.array([p.same for p in pairs], dtype=np.int64)
    if any(p.fold is None for p in pairs):
        raise ValueError("View 2 pairs need a fold each; these come from a View 1 file")
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    overlap = people_overlap("DevTrain", seen, VIEW2_PAIRS, pair_people(pairs))
    mask = unseen_mask(pairs, seen)
    return {
        "overlap": {
            "training_people": overlap.first_people,
            "pairs_people": overlap.second_people,
            "shared_people": overlap.shared,
            "examples": list(overlap.examples),
            "pairs_with_shared_people": int((~mask).sum()),
        },
        "all_pairs": subset_results(logits, labels, folds, threshold),
        "unseen_pairs": subset_results(logits[mask], labels[mask], folds[mask], threshold),
    }


def caveat(results: dict[str, Any]) -> str:
    """The warning that goes with every View 2 figure of a run, in words, with the counts.

    Args:
        results: What ``view2_results`` returned.
    """
    o, u = results["overlap"], results["unseen_pairs"]
    if not o["shared_people"]:
        return (f"None of the {o['pairs_people']:,} people of {VIEW2_PAIRS} is a DevTrain "
                "person: the ten-fold result over all pairs is a clean View 2 result.")
    balance = f"{u['matching']:,} matching"
    if 2 * u["matching"] != u["pairs"] and "majority_baseline" in u:
        balance += f": unbalanced, the majority-class baseline is {u['majority_baseline']:.3f}"
    return (
        f"NOT a clean LFW View 2 result: {o['shared_people']:,} of the {o['pairs_people']:,} "
        f"people of {VIEW2_PAIRS} are DevTrain people, the pool this run's training and "
        f"validation people were drawn from, and {o['pairs_with_shared_people']:,} of its "
        f"{results['all_pairs']['pairs']:,} pairs involve one of them. Only the pairs of "
        f"people outside DevTrain are clean: {u['pairs']:,} pairs ({balance})."
    )


def evaluate_ten_fold(run: Run, cache: ImageCache, lfw: LFWDataset, out_dir: Path
                      ) -> dict[str, Any]:
    """Score pairs.txt with a finished run and apply the View 2 protocol, with the caveat.

    Writes ``ten_fold.json`` into ``out_dir`` (``Run.ten_fold_dir``).

    Args:
        run: A finished run.
        cache: LFW cached under the run's preprocessing.
        lfw: The imported LFW copy (with pairs.txt and the DevTrain files).
        out_dir: Where to write.

    Returns:
        The results (also in ten_fold.json).
    """
    pairs_file = lfw.read_pairs(VIEW2_PAIRS)
    if pairs_file.folds < 2:
        raise TenFoldError(
            f"{pairs_file.path} has {pairs_file.folds} fold; the View 2 protocol needs the "
            "ten folds of LFW's pairs.txt"
        )
    seen = scope_people(lfw)  # DevTrain's: a View 2 fold run is not scored on pairs.txt
    train = run.config.train
    scored = score_pairs_file(run.model, cache, list(pairs_file.pairs), train.eval_batch_size,
                              train.precision)
    threshold = run.threshold
    results: dict[str, Any] = {
        "run": str(run.path),
        "pairs_file": VIEW2_PAIRS,
        "folds": pairs_file.folds,
        "threshold": threshold,
        **view2_results(scored.logits, list(pairs_file.pairs), seen, threshold),
    }
    results["caveat"] = caveat(results)
    write_json_atomic(out_dir / TEN_FOLD_FILE, results)
    return results
