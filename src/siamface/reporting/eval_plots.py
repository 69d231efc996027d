"""Evaluation plots: ROC, score histograms, confusion matrix, one-shot accuracy vs N.

Every number drawn here was computed by ``siamface.evaluation``; these functions only draw it.
Each takes the data and an output path, writes a PNG atomically and returns the path.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from siamface.reporting.figure import new_figure, save_png

SAME_COLOUR = "tab:blue"
DIFFERENT_COLOUR = "tab:orange"
CURVE_COLOUR = "tab:blue"
EER_COLOUR = "tab:red"
POINT_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"these arrays must have the same length: {lengths}")


def plot_roc(
    far: np.ndarray,
    tar: np.ndarray,
    path: str | os.PathLike[str],
    *,
    auc: float | None = None,
    eer: float | None = None,
    tar_at_far: Mapping[float, float] | None = None,
    log_far: bool = False,
    label: str = "model",
    title: str = "ROC",
) -> Path:
    """The ROC curve, with the EER point and TAR@FAR operating points marked.

    Args:
        far: (k,) false accept rates of the ROC points (from ``roc_curve``).
        tar: (k,) true accept rates.
        path: Output PNG path.
        auc: Area under the curve, shown in the legend.
        eer: Equal error rate; marked at (EER, 1 - EER) on the FAR = FRR line.
        tar_at_far: ``{target FAR: TAR}`` operating points to mark.
        log_far: Log-scale FAR axis (points at FAR = 0 cannot be shown on it and are left out).
        label: Legend name of the curve.
        title: Figure title.
    """
    _same_length(far=far, tar=tar)
    fig = new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    name = label if auc is None else f"{label} (AUC {auc:.4f})"
    ax.plot(far, tar, color=CURVE_COLOUR, lw=1.8, label=name)
    line = np.linspace(0.0, 1.0, 201)
    ax.plot(line, line, color="grey", lw=0.8, ls=":", label="chance")
    if eer is not None:
        ax.plot(line, 1.0 - line, color="grey", lw=0.8, ls="--", label="FAR = FRR")
        ax.plot([eer], [1.0 - eer], "o", color=EER_COLOUR, label=f"EER {eer:.2%}")
    points = (tar_at_far or {}).items()
    for (target, rate), colour in zip(points, itertools.cycle(POINT_COLOURS)):
        ax.plot(
            [target], [rate], "s", ms=6, color=colour, label=f"TAR {rate:.2%} @ FAR {target:.2%}"
        )
    if log_far:
        ax.set_xscale("log", nonpositive="mask")
        # from the smallest FAR above 0 that is drawn: the curve's, a marked target's or the EER
        shown = np.asarray([*far, *(target for target, _ in points), *([eer] if eer else [])],
                           dtype=float)
        positive = shown[shown > 0]
        if positive.size:
            ax.set_xlim(positive.min(), 1.0)
    else:
        ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def plot_score_histograms(
    scores: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike[str],
    *,
    threshold: float | None = None,
    bins: int = 50,
    xlabel: str = "score (higher = same person)",
    title: str = "Scores by class",
) -> Path:
    """Overlaid histograms of same-person and different-person scores, with the threshold.

    Args:
        scores: (n,) pair scores.
        labels: (n,) 0/1 labels, 1 = same person.
        path: Output PNG path.
        threshold: Decision threshold to draw as a vertical line.
        bins: Number of bins, shared by both classes.
        xlabel: Name of the score axis ("logit", "probability", ...).
        title: Figure title.
    """
    _same_length(scores=scores, labels=labels)
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    edges = np.histogram_bin_edges(s, bins=bins)  # shared, so the two classes line up
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    for value, name, colour in ((1, "same", SAME_COLOUR), (0, "different", DIFFERENT_COLOUR)):
        part = s[y == value]
        ax.hist(part, bins=edges, alpha=0.55, color=colour, label=f"{name} (n={part.size})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.2, label=f"threshold {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_confusion_matrix(
    matrix: np.ndarray,
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str] = ("different", "same"),
    title: str = "Confusion matrix",
) -> Path:
    """Heatmap of a 2x2 ``[[TN, FP], [FN, TP]]`` matrix with counts and row percentages.

    Args:
        matrix: (2, 2) counts, rows = true class, columns = predicted class.
        path: Output PNG path.
        class_names: Names of class 0 and class 1.
        title: Figure title.
    """
    m = np.asarray(matrix)
    if m.shape != (2, 2):
        raise ValueError(f"expected a 2x2 confusion matrix [[TN, FP], [FN, TP]], got {m.shape}")
    row_totals = m.sum(axis=1, keepdims=True)
    fig = new_figure(4.2, 3.8)
    ax = fig.add_subplot()
    image = ax.imshow(m, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8)
    dark = m > m.max() / 2
    for i in range(2):
        for j in range(2):
            share = f"\n{m[i, j] / row_totals[i, 0]:.1%}" if row_totals[i, 0] else ""
            colour = "white" if dark[i, j] else "black"
            ax.text(j, i, f"{m[i, j]}{share}", ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], labels=list(class_names))
    ax.set_yticks([0, 1], labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_png(fig, path)


def plot_one_shot_curve(
    n_ways: Sequence[int],
    accuracies: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    path: str | os.PathLike[str],
    *,
    label: str = "model",
    title: str = "N-way one-shot identification",
) -> Path:
    """One-shot accuracy against N with its confidence band and the 1/N chance level.

    Args:
        n_ways: (k,) values of N.
        accuracies: (k,) accuracy at each N.
        lows: (k,) lower confidence bounds.
        highs: (k,) upper confidence bounds.
        path: Output PNG path.
        label: Legend name of the curve.
        title: Figure title.
    """
    _same_length(n_ways=n_ways, accuracies=accuracies, lows=lows, highs=highs)
    n = np.asarray(n_ways, dtype=np.float64)
    fig = new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    ax.fill_between(n, lows, highs, color=CURVE_COLOUR, alpha=0.2, lw=0)
    ax.plot(n, accuracies, "o-", color=CURVE_COLOUR, label=label)
    ax.plot(n, 1.0 / n, "--", color="grey", label="chance (1/N)")
    ax.set_xlabel("N (candidates per trial)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.01)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_curves(
    xs: Sequence[Sequence[float]],
    ys: Sequence[Sequence[float]],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    log_x: bool = False,
) -> Path:
    """Several labelled curves on one set of axes, rates in [0, 1] on y.

    Args:
        xs: One sequence of x values per curve.
        ys: The matching y values.
        labels: The legend name of each curve.
        path: Output PNG path.
        xlabel, ylabel, title: The axes' labels and the title.
        log_x: A logarithmic x axis.
    """
    if not len(xs) == len(ys) == len(labels):
        raise ValueError(f"need one x, y and label per curve, got {len(xs)}, {len(ys)} and "
                         f"{len(labels)}")
    fig = new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    for x, y, label in zip(xs, ys, labels, strict=True):
        _same_length(x=x, y=y)
        ax.plot(x, y, "o-", ms=3, label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, 1.01)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)
