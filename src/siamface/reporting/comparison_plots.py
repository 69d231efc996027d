"""The figures of a comparison: learning curves overlaid, runtimes, a study's optimisation
history and its parameter importances.

Every number drawn here was read or computed by ``siamface.experiments.compare``; these
functions only draw it. Each takes the data and an output path, writes a PNG atomically and
returns the path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from siamface.reporting.figure import new_figure, save_png

# (summary.csv column, panel title) of the overlaid learning curves
CURVE_PANELS = (("val_loss", "Validation loss"), ("val_auc", "Validation AUC"))
MAX_LEGEND = 12  # more runs than this: no legend (it would hide the curves)


def plot_overlaid_curves(curves: Mapping[str, Sequence[Mapping[str, float]]],
                         path: str | os.PathLike[str]) -> Path:
    """Validation loss and AUC against epoch, one line per run.

    Args:
        curves: Run label -> its summary rows (each with ``epoch``).
        path: Output PNG path.
    """
    if not curves:
        raise ValueError("no runs to plot")
    fig = new_figure(10.0, 4.0)
    axes = fig.subplots(1, len(CURVE_PANELS), squeeze=False)[0]
    for ax, (column, title) in zip(axes, CURVE_PANELS, strict=True):
        for label, rows in curves.items():
            ax.plot([r["epoch"] for r in rows], [r.get(column, math.nan) for r in rows], ".-",
                    lw=1.2, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if len(curves) <= MAX_LEGEND:
        axes[-1].legend(fontsize=7)
    return save_png(fig, path)


def plot_runtimes(labels: Sequence[str], train_seconds: Sequence[float],
                  eval_seconds: Sequence[float], path: str | os.PathLike[str]) -> Path:
    """Training and evaluation seconds per run, as stacked horizontal bars.

    Args:
        labels: (n,) run labels.
        train_seconds: (n,) training wall time of each.
        eval_seconds: (n,) evaluation wall time of each (0: none or unknown).
        path: Output PNG path.
    """
    if not len(labels) == len(train_seconds) == len(eval_seconds):
        raise ValueError("labels, train_seconds and eval_seconds must have the same length")
    y = np.arange(len(labels))
    fig = new_figure(7.0, 1.2 + 0.3 * len(labels))
    ax = fig.add_subplot()
    ax.barh(y, train_seconds, color="tab:blue", label="training")
    ax.barh(y, eval_seconds, left=train_seconds, color="tab:orange", label="evaluation")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Runtime")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return save_png(fig, path)


def plot_optimisation_history(numbers: Sequence[int], values: Sequence[float], objective: str,
                              maximise: bool, path: str | os.PathLike[str]) -> Path:
    """Each complete trial's objective by trial number, and the best so far.

    Args:
        numbers: (n,) trial numbers, ascending.
        values: (n,) their objective values.
        objective: The objective's name, for the axis.
        maximise: Whether higher is better.
        path: Output PNG path.
    """
    if len(numbers) != len(values) or not numbers:
        raise ValueError("numbers and values must be non-empty and of the same length")
    best = np.maximum.accumulate(values) if maximise else np.minimum.accumulate(values)
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.plot(numbers, values, "o", label="trial")
    ax.step(numbers, best, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("Optimisation history")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_importances(importances: Mapping[str, float], objective: str,
                     path: str | os.PathLike[str]) -> Path:
    """Each searched parameter's importance for the objective, as horizontal bars.

    Args:
        importances: Dotted key -> importance (they sum to 1).
        objective: The objective's name, for the title.
        path: Output PNG path.
    """
    if not importances:
        raise ValueError("no importances to plot")
    keys = list(importances)
    fig = new_figure(6.0, 1.2 + 0.35 * len(keys))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(keys)), [importances[k] for k in keys], color="tab:green")
    ax.set_yticks(np.arange(len(keys)), keys, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title(f"Parameter importances for {objective}")
    ax.grid(axis="x", alpha=0.3)
    return save_png(fig, path)
