"""Learning curves from a run's per-epoch summary (the rows of summary.csv).

summary.csv has a header and one row per epoch with columns such as ``epoch, train_loss,
val_loss, train_acc, val_acc, val_auc, lr, seconds``. Missing columns are simply not drawn, and
an empty cell (e.g. no validation that epoch) is read as NaN, which leaves a gap in its line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from siamface.reporting.figure import new_figure, save_png


class Panel(NamedTuple):
    """One subplot: which summary.csv columns it draws, and how."""

    title: str
    ylabel: str
    columns: tuple[tuple[str, str], ...]  # (summary.csv column, legend name)
    log: bool = False


PANELS = (
    Panel("Loss", "loss", (("train_loss", "train"), ("val_loss", "validation"))),
    Panel(
        "Accuracy and AUC",
        "accuracy / AUC",
        # unlike measures: training pairs (augmented, class-balanced) at logit 0, validation
        # pairs at the threshold that fits them best
        (("train_acc", "train acc (logit 0)"), ("val_acc", "val acc (best threshold)"),
         ("val_auc", "val AUC")),
    ),
    Panel("Learning rate", "lr", (("lr", "lr"),), log=True),
)


def plot_learning_curves(
    rows: Sequence[Mapping[str, float]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Loss, accuracy/AUC and learning rate against epoch, one panel each.

    Args:
        rows: One mapping per epoch with an ``epoch`` key (as from ``Run.summary``).
        path: Output PNG path.
        title: Figure title (e.g. the run name).
    """
    if not rows:
        raise ValueError("no epochs to plot")
    if any("epoch" not in row for row in rows):
        raise ValueError("every row needs an 'epoch' value")
    epochs = [row["epoch"] for row in rows]
    panels = [
        panel._replace(columns=tuple(c for c in panel.columns if any(c[0] in r for r in rows)))
        for panel in PANELS
    ]
    panels = [panel for panel in panels if panel.columns]
    if not panels:
        raise ValueError(f"rows have none of the plotted columns; keys: {sorted(rows[0])}")
    fig = new_figure(4.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for column, legend in panel.columns:
            ax.plot(epochs, [row.get(column, math.nan) for row in rows], ".-", label=legend)
        if panel.log:
            ax.set_yscale("log")
        ax.set_title(panel.title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
