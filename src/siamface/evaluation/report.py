"""Evaluate a finished run on a pairs file: metrics, per-pair scores, plots.

The threshold is the one stored with the model, chosen on validation pairs of training people;
nothing here adapts to the pairs being evaluated (accuracy at the best threshold *on the test
pairs* is reported too, clearly labelled as an oracle upper bound, never as the result).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.cache import ImageCache, load_or_build_cache
from siamface.data.lfw import LFWDataset
from siamface.data.preprocess import Preprocessing
from siamface.data.protocol import Pair
from siamface.evaluation.bootstrap import bootstrap_ci
from siamface.evaluation.metrics import (
    accuracy,
    confusion_counts,
    equal_error_rate,
    roc_auc,
    roc_curve,
    tar_at_far,
)
from siamface.evaluation.threshold import best_accuracy_threshold
from siamface.evaluation.verify import score_index_pairs
from siamface.losses import build_loss
from siamface.models.siamese import PairScores, SiameseNet
from siamface.reporting.eval_plots import (
    plot_confusion_matrix,
    plot_roc,
    plot_score_histograms,
)
from siamface.reporting.gallery import plot_pair_gallery
from siamface.reporting.learning_curves import plot_learning_curves, read_summary_csv
from siamface.training.run import load_model
from siamface.utils.atomic import write_json_atomic, write_text_atomic

FARS = (0.01, 0.001)
GALLERY_SIZE = 12


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


def load_run_for_evaluation(
    run_dir: Path, lfw: LFWDataset, progress: bool = True
) -> tuple[SiameseNet, dict[str, Any], ImageCache]:
    """A finished run's chosen model, its description, and LFW cached the way it was trained.

    Args:
        run_dir: A finished run folder.
        lfw: The imported LFW copy.
        progress: Show a progress bar if the image cache must be built.
    """
    model, meta = load_model(run_dir)
    prep = Preprocessing.from_dict(meta["preprocessing"])
    return model, meta, load_or_build_cache(lfw, prep, progress=progress)


def score_pairs_file(
    model: SiameseNet, cache: ImageCache, pairs: list[Pair], batch_size: int = 256
) -> PairEvaluation:
    """Score ``pairs`` with ``model``, embedding each distinct image once."""
    rows = cache.indices([r for p in pairs for r in (p.left, p.right)]).reshape(-1, 2)
    scores = score_index_pairs(model, cache.images, rows, batch_size)
    labels = np.array([p.same for p in pairs], dtype=np.int64)
    return PairEvaluation(pairs, rows, scores, labels)


def verification_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    n_bootstrap: int = 1000,
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
        out[f"tar_at_far_{far:g}"] = tar
    if n_bootstrap:
        for name, metric in (("accuracy", acc_at_threshold), ("auc", roc_auc)):
            ci = bootstrap_ci(metric, logits, labels, n_bootstrap, seed=seed)
            out[f"{name}_ci95"] = [ci.low, ci.high]
    return out


def evaluate_run(
    run_dir: Path,
    lfw: LFWDataset,
    pairs_name: str,
    out_dir: Path | None = None,
    n_bootstrap: int = 1000,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the chosen model of ``run_dir`` on an imported pairs file.

    Writes ``metrics.json``, ``scores.csv`` (one row per pair) and, with ``plots``, the ROC,
    score histograms, confusion matrix, learning curves and galleries of correct and wrong
    pairs into ``out_dir`` (default ``run_dir/eval/<pairs file stem>``).

    Args:
        run_dir: A finished run folder.
        lfw: The imported LFW copy.
        pairs_name: A protocol file name, e.g. "pairsDevTest.txt".
        out_dir: Where to write.
        n_bootstrap: Resamples for confidence intervals.
        plots: Draw the figures.
        progress: Show a progress bar if the image cache must be built.

    Returns:
        The metrics (also in metrics.json).
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval" / Path(pairs_name).stem
    model, meta, cache = load_run_for_evaluation(run_dir, lfw, progress)
    pairs_file = lfw.read_pairs(pairs_name)
    result = score_pairs_file(model, cache, list(pairs_file.pairs))

    loss_cfg = meta["config"]["loss"]
    loss_fn = build_loss(loss_cfg["name"], **{k: v for k, v in loss_cfg.items() if k != "name"})
    with torch.no_grad():
        loss = loss_fn(result.scores, torch.from_numpy(result.labels).float()).item()
    metrics = {
        "run": str(run_dir),
        "pairs_file": pairs_name,
        "best_epoch": meta["best_epoch"],
        "loss": loss,
        **verification_metrics(
            result.logits, result.labels, float(meta["threshold"]), n_bootstrap
        ),
    }
    write_json_atomic(out_dir / "metrics.json", metrics)
    write_text_atomic(out_dir / "scores.csv", _scores_csv(result, metrics["threshold"]))
    if plots:
        _plot(result, metrics, cache, run_dir, out_dir)
    return metrics


def _scores_csv(result: PairEvaluation, threshold: float) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["line", "left", "left_number", "right", "right_number", "same", "logit",
                     "probability", "distance", "predicted_same", "correct"])
    logits = result.logits
    probabilities = 1 / (1 + np.exp(-logits))
    distances = result.scores.distances.numpy()
    for p, logit, prob, dist, y in zip(
        result.pairs, logits, probabilities, distances, result.labels, strict=True
    ):
        predicted = int(logit >= threshold)
        writer.writerow([p.line, p.left.name, p.left.number, p.right.name, p.right.number,
                         int(y), f"{logit:.6f}", f"{prob:.6f}", f"{dist:.6f}", predicted,
                         int(predicted == y)])
    return buf.getvalue()


def _plot(result: PairEvaluation, metrics: dict[str, Any], cache: ImageCache, run_dir: Path,
          out_dir: Path) -> None:
    logits, labels, threshold = result.logits, result.labels, metrics["threshold"]
    far, tar, _ = roc_curve(logits, labels)
    plot_roc(far, tar, out_dir / "roc.png", auc=metrics["auc"], eer=metrics["eer"],
             tar_at_far={f: metrics[f"tar_at_far_{f:g}"] for f in FARS}, log_far=False,
             title=f"ROC on {metrics['pairs_file']}")
    plot_score_histograms(logits, labels, out_dir / "scores.png", threshold=threshold,
                          xlabel="logit (higher = same person)")
    counts = metrics["confusion"]
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    plot_confusion_matrix(matrix, out_dir / "confusion.png")
    summary = run_dir / "summary.csv"
    if summary.is_file():
        plot_learning_curves(read_summary_csv(summary), out_dir / "learning_curves.png")
    predicted = (logits >= threshold).astype(np.int64)
    # the most confident decisions of each kind: far from the threshold, right or wrong
    margin = np.abs(logits - threshold)
    for name, mask in (("correct", predicted == labels), ("wrong", predicted != labels)):
        chosen = np.flatnonzero(mask)
        chosen = chosen[np.argsort(-margin[chosen])][:GALLERY_SIZE]
        if len(chosen) == 0:
            continue
        rows = result.rows[chosen]
        plot_pair_gallery(
            cache.images[rows[:, 0]],
            cache.images[rows[:, 1]],
            logits[chosen], labels[chosen], predicted[chosen], out_dir / f"gallery_{name}.png",
            title=f"Most confident {name} decisions (threshold {threshold:.2f})",
        )
