"""Evaluate a finished run on a pairs file: metrics and per-pair scores.

The threshold is the one stored with the model, chosen on validation pairs of training people;
nothing here adapts to the pairs being evaluated (accuracy at the best threshold *on the test
pairs* is reported too, clearly labelled as an oracle upper bound, never as the result).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit

from siamface.data.cache import ImageCache
from siamface.data.protocol import Pair, PairsFile
from siamface.evaluation.bootstrap import N_BOOTSTRAP, bootstrap_ci
from siamface.evaluation.metrics import (
    FARS,
    accuracy,
    confusion_counts,
    equal_error_rate,
    roc_auc,
    tar_at_far,
    tar_key,
)
from siamface.evaluation.threshold import best_accuracy_threshold
from siamface.evaluation.verify import score_index_pairs
from siamface.losses import LOSSES
from siamface.models.siamese import PairScores, SiameseNet
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic, write_text_atomic
from siamface.utils.files import read_json_object
from siamface.utils.precision import choose_precision

# The files of a pairs file's evaluation folder (Run.eval_dir) that this module writes.
METRICS_FILE = "metrics.json"
SCORES_FILE = "scores.csv"
# the keys every evaluation writes into metrics.json (a pairs file's adds "loss" and
# "seen_people")
METRICS_KEYS = ("pairs_file", "pairs", "matching", "threshold", "accuracy", "accuracy_at_p05",
                "auc", "eer", *map(tar_key, FARS), "oracle_accuracy", "confusion")


def metrics_path(run: Run, pairs_file: str) -> Path:
    """Where ``evaluate_pairs`` writes the metrics of ``run`` on an imported pairs file (e.g.
    "pairsDevTest.txt")."""
    return run.eval_dir(pairs_file) / METRICS_FILE


def read_metrics(run: Run, pairs_file: str) -> dict[str, Any]:
    """The metrics.json that ``evaluate_pairs`` wrote for ``run`` on an imported pairs file.

    Raises:
        FileNotFoundError: the run was not evaluated on it.
        DamagedFileError: the file is not a JSON object with the accuracy and AUC.
    """
    return read_json_object(metrics_path(run, pairs_file), ("accuracy", "auc"))


@dataclass
class PairEvaluation:
    """Scores of one pairs file under one model.

    Attributes:
        pairs: The pairs, in file order.
        rows: (P, 2) cache rows of their images.
        scores: The model's logits and distances, (P,) each.
        labels: (P,) 1 for matching pairs.
    """

    pairs: list[Pair]
    rows: np.ndarray
    scores: PairScores
    labels: np.ndarray

    @property
    def logits(self) -> np.ndarray:
        return self.scores.logits.numpy().astype(np.float64)


def score_pairs_file(
    model: SiameseNet, cache: ImageCache, pairs: list[Pair], batch_size: int = 256,
    precision: str = "auto",
) -> PairEvaluation:
    """Score ``pairs`` with ``model``, embedding each distinct image once (in ``precision``:
    "auto", "fp32" or "bf16")."""
    rows = cache.indices([r for p in pairs for r in (p.left, p.right)]).reshape(-1, 2)
    scores = score_index_pairs(model, cache.images, rows, batch_size, precision=precision)
    labels = np.array([p.same for p in pairs], dtype=np.int64)
    return PairEvaluation(pairs, rows, scores, labels)


def verification_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """Every verification figure for one set of scored pairs.

    Args:
        logits: (P,) scores, higher = same person.
        labels: (P,) 1 for matching pairs.
        threshold: The decision threshold chosen on validation data (logit scale).
        n_bootstrap: Resamples for the 95% confidence intervals (0 for none).
        seed: Seed of the bootstrap.
    """

    def acc_at_threshold(s: np.ndarray, y: np.ndarray) -> float:
        return accuracy(s, y, threshold)

    eer, eer_threshold = equal_error_rate(logits, labels)
    counts = confusion_counts(logits, labels, threshold)
    out: dict[str, Any] = {
        "pairs": len(labels),
        "matching": int(labels.sum()),
        "threshold": threshold,
        "accuracy": accuracy(logits, labels, threshold),
        "accuracy_at_p05": accuracy(logits, labels, 0.0),  # sigmoid(logit) >= 0.5
        "auc": roc_auc(logits, labels),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "confusion": counts.as_dict(),
        "oracle_accuracy": best_accuracy_threshold(logits, labels)[1],
    }
    for far in FARS:
        tar, _ = tar_at_far(logits, labels, far)
        out[tar_key(far)] = tar
    # the smallest FAR these pairs resolve: a target below it is reported at FAR 0 (and warned)
    out["far_resolution"] = 1 / max(1, len(labels) - int(labels.sum()))
    if n_bootstrap:
        for name, metric in (("accuracy", acc_at_threshold), ("auc", roc_auc)):
            ci = bootstrap_ci(metric, logits, labels, n_bootstrap, seed=seed)
            out[f"{name}_ci95"] = [ci.low, ci.high]
    return out


def evaluate_pairs(
    run: Run,
    cache: ImageCache,
    pairs_file: PairsFile,
    out_dir: Path,
    label: str,
    n_bootstrap: int = N_BOOTSTRAP,
    seen_people: int = 0,
) -> tuple[dict[str, Any], PairEvaluation]:
    """Evaluate the chosen model of ``run`` on a pairs file, at its validation threshold.

    Writes ``metrics.json`` and ``scores.csv`` (one row per pair) into ``out_dir``.

    Args:
        run: A finished run.
        cache: LFW cached under the run's preprocessing.
        pairs_file: The parsed pairs file, e.g. pairsDevTest.txt.
        out_dir: Where to write (``Run.eval_dir``).
        label: How the file is named in the results: "pairsDevTest.txt", or a path for a
            file from elsewhere.
        n_bootstrap: Resamples for confidence intervals.
        seen_people: How many of the file's people the run may have trained or validated on
            (recorded, for the caveat a result on them needs).

    Returns:
        The metrics (also in metrics.json) and the scored pairs.
    """
    start = time.perf_counter()
    train = run.config.train
    result = score_pairs_file(run.model, cache, list(pairs_file.pairs), train.eval_batch_size,
                              train.precision)
    loss_section = run.config.loss
    loss_fn = LOSSES.build_section(loss_section.name, loss_section.kwargs, "loss")
    with torch.no_grad():
        loss = loss_fn(result.scores, torch.from_numpy(result.labels).float()).item()
    metrics = {
        "run": str(run.path),
        "pairs_file": label,
        "best_epoch": run.best_epoch,
        "loss": loss,
        "precision": choose_precision(train.precision),
        "seen_people": seen_people,
        **verification_metrics(result.logits, result.labels, run.threshold, n_bootstrap),
    }
    metrics["seconds"] = time.perf_counter() - start  # scoring and the metrics
    names = [(p.line, p.left.name, p.left.number, p.right.name, p.right.number)
             for p in result.pairs]
    write_pair_results(out_dir, metrics, ["line", "left", "left_number", "right", "right_number"],
                       names, result.logits, result.scores.distances.numpy(), result.labels)
    return metrics, result


def write_pair_results(out_dir: Path, metrics: dict[str, Any], name_columns: Sequence[str],
                       names: Sequence[Sequence[Any]], logits: np.ndarray,
                       distances: np.ndarray, labels: np.ndarray) -> None:
    """Write METRICS_FILE, ``metrics``, and SCORES_FILE: a row per pair, the columns that name
    its two images, then whether they show one person, the logit, its probability, the
    distance, the prediction at ``metrics["threshold"]`` and whether it was right.

    Args:
        out_dir: The evaluation's folder.
        metrics: ``verification_metrics`` and what else the evaluation records.
        name_columns: The header of the columns that name a pair's images.
        names: (P,) rows of those columns.
        logits, distances, labels: (P,) each: the pairs' scores and 1 for the same person.
    """
    threshold = metrics["threshold"]  # the logit from which a pair is called the same person
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*name_columns, "same", "logit", "probability", "distance",
                     "predicted_same", "correct"])
    for name, logit, prob, dist, y in zip(names, logits, expit(logits), distances, labels,
                                          strict=True):
        predicted = int(logit >= threshold)
        writer.writerow([*name, int(y), f"{logit:.6f}", f"{prob:.6f}", f"{dist:.6f}",
                         predicted, int(predicted == y)])
    write_json_atomic(out_dir / METRICS_FILE, metrics)
    write_text_atomic(out_dir / SCORES_FILE, buf.getvalue())
