"""The figures of one evaluation: ROC, score histograms, confusion matrix, learning curves,
galleries of the most confident right and wrong pairs, and the one-shot curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from siamface.evaluation.metrics import FARS, predicted_same, roc_curve, tar_key
from siamface.reporting.eval_plots import (
    plot_confusion_matrix,
    plot_curves,
    plot_one_shot_curve,
    plot_roc,
    plot_score_histograms,
)
from siamface.reporting.gallery import plot_pair_gallery
from siamface.reporting.learning_curves import plot_learning_curves
from siamface.run_folder import Run

GALLERY_SIZE = 12

# The figures drawn into an evaluation folder (run_report.py links them).
ROC_FIGURE, SCORES_FIGURE, CONFUSION_FIGURE = "roc.png", "scores.png", "confusion.png"
GALLERY_FIGURES = {"correct": "gallery_correct.png", "wrong": "gallery_wrong.png"}
# (file, what it shows) of a pairs file's evaluation, in the report's order
PAIR_FIGURES = (
    (ROC_FIGURE, "ROC"),
    (SCORES_FIGURE, "score histograms"),
    (CONFUSION_FIGURE, "confusion matrix"),
    (GALLERY_FIGURES["correct"], "most confident correct pairs"),
    (GALLERY_FIGURES["wrong"], "most confident wrong pairs"),
)
ONE_SHOT_FIGURE = "one_shot.png"
OPEN_SET_FIGURES = CMC_FIGURE, DIR_FPIR_FIGURE = "cmc.png", "dir_fpir.png"


class ScoredPairs(Protocol):
    """What the figures read of scored pairs: a pairs file's ``PairEvaluation`` or a photo
    folder's ``FolderScores``."""

    rows: np.ndarray  # (P, 2) indices into the images
    labels: np.ndarray  # (P,) 1 for matching pairs

    @property
    def logits(self) -> np.ndarray: ...  # (P,) float64


def plot_pair_evaluation(run: Run, result: ScoredPairs, metrics: dict[str, Any],
                         images: np.ndarray, out_dir: Path) -> None:
    """Draw the figures of one pairs file's evaluation into ``out_dir``.

    Args:
        run: The evaluated run (for its learning curves).
        result: The scored pairs.
        metrics: Their metrics (``evaluate_pairs``).
        images: (N, C, H, W) uint8 images the pairs' rows index (for the galleries): an
            image cache's, or a folder's aligned faces.
        out_dir: The evaluation's folder.
    """
    logits, labels, threshold = result.logits, result.labels, metrics["threshold"]
    far, tar, _ = roc_curve(logits, labels)
    plot_roc(far, tar, out_dir / ROC_FIGURE, auc=metrics["auc"], eer=metrics["eer"],
             tar_at_far={f: metrics[tar_key(f)] for f in FARS}, log_far=False,
             title=f"ROC on {metrics['pairs_file']}")
    plot_score_histograms(logits, labels, out_dir / SCORES_FIGURE, threshold=threshold,
                          xlabel="logit (higher = same person)")
    counts = metrics["confusion"]
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    plot_confusion_matrix(matrix, out_dir / CONFUSION_FIGURE)
    summary = run.summary()
    if summary:
        plot_learning_curves(summary, out_dir / run.learning_curves_path.name)
    predicted = predicted_same(logits, threshold)
    # the most confident decisions of each kind: far from the threshold, right or wrong
    margin = np.abs(logits - threshold)
    for name, mask in (("correct", predicted == labels), ("wrong", predicted != labels)):
        chosen = np.flatnonzero(mask)
        chosen = chosen[np.argsort(-margin[chosen])][:GALLERY_SIZE]
        if len(chosen) == 0:
            continue
        rows = result.rows[chosen]
        plot_pair_gallery(
            images[rows[:, 0]],
            images[rows[:, 1]],
            logits[chosen], labels[chosen], predicted[chosen], out_dir / GALLERY_FIGURES[name],
            title=f"Most confident {name} decisions (threshold {threshold:.2f})",
        )


def plot_one_shot(results: dict[str, Any], out_dir: Path) -> None:
    """Draw one_shot.png (accuracy against N, with the 1/N chance line) into ``out_dir``.

    Args:
        results: What ``evaluate_one_shot`` returned.
        out_dir: The evaluation's folder.
    """
    rows = results["results"]
    plot_one_shot_curve(
        [r["n_way"] for r in rows], [r["accuracy"] for r in rows],
        [r["ci95"][0] for r in rows], [r["ci95"][1] for r in rows], out_dir / ONE_SHOT_FIGURE,
        title=f"N-way one-shot identification, {results['people_file']} people",
    )


def plot_open_set(results: dict[str, Any], out_dir: Path) -> None:
    """Draw cmc.png (rank-k rate per gallery size) and dir_fpir.png (DIR against FPIR) from
    what ``evaluate_open_set`` returned (nothing when every gallery was skipped)."""
    galleries = [g for g in results["galleries"] if "skipped" not in g]
    if not galleries:
        return
    labels = [f"{g['gallery_size']:,} enrolled" for g in galleries]
    plot_curves([list(range(1, len(g["cmc_curve"]) + 1)) for g in galleries],
                [g["cmc_curve"] for g in galleries], labels, out_dir / CMC_FIGURE,
                xlabel="rank k", ylabel="identification rate (rank <= k)",
                title="Closed-set CMC, DevTest galleries")
    plot_curves([[f for f, _ in g["dir_fpir_curve"]] for g in galleries],
                [[d for _, d in g["dir_fpir_curve"]] for g in galleries], labels,
                out_dir / DIR_FPIR_FIGURE, xlabel="FPIR (impostors named someone)",
                ylabel="DIR (named correctly)", title="Open-set identification", log_x=True)
