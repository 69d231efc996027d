"""Galleries of face pairs: both images side by side, titled with score and truth.

Used for samples of correct and wrong pairs and for the hardest mistakes (the most confident
wrong scores). Which pairs to show, and their predictions, are chosen by the caller.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamface.reporting.figure import new_figure, save_png

CORRECT_COLOUR = "tab:green"
WRONG_COLOUR = "tab:red"


def _to_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W) for one channel or (H, W, 3) for three, as imshow wants."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_pair_gallery(
    left: np.ndarray,
    right: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    path: str | os.PathLike[str],
    *,
    captions: Sequence[str] | None = None,
    ncols: int = 4,
    title: str | None = None,
) -> Path:
    """A grid of pairs; each tile's title and frame are green when correct, red when wrong.

    Args:
        left: (K, C, H, W) uint8 first images, C = 1 (grey) or 3 (RGB).
        right: (K, C, H, W) uint8 second images.
        scores: (K,) pair scores.
        labels: (K,) 0/1 truth, 1 = same person.
        predicted: (K,) 0/1 predictions at the threshold in use.
        path: Output PNG path.
        captions: Optional (K,) extra lines, e.g. the two names.
        ncols: Pairs per row.
        title: Figure title.
    """
    left, right = np.asarray(left), np.asarray(right)
    if left.ndim != 4 or left.shape[1] not in (1, 3) or left.dtype != np.uint8:
        raise ValueError(
            f"left must be (K, C, H, W) uint8 with C 1 or 3, got {left.dtype} {left.shape}"
        )
    if right.shape != left.shape or right.dtype != np.uint8:
        raise ValueError(
            f"right must match left {left.shape} uint8, got {right.dtype} {right.shape}"
        )
    k = left.shape[0]
    if k == 0:
        raise ValueError("no pairs to show")
    for name, values in (("scores", scores), ("labels", labels), ("predicted", predicted)):
        if len(values) != k:
            raise ValueError(f"{name} has {len(values)} entries for {k} pairs")
    if captions is not None and len(captions) != k:
        raise ValueError(f"captions has {len(captions)} entries for {k} pairs")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")

    ncols = min(ncols, k)
    nrows = math.ceil(k / ncols)
    _, c, h, w = left.shape
    gap = np.full((c, h, max(2, w // 32)), 255, dtype=np.uint8)  # white strip between the two
    fig = new_figure(2.6 * ncols, 1.6 * nrows + 0.6 * (title is not None))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i >= k:
            ax.axis("off")
            continue
        tile = np.concatenate([left[i], gap, right[i]], axis=2)  # (C, H, 2W + gap)
        ax.imshow(_to_display(tile), cmap="gray" if c == 1 else None, vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        correct = int(predicted[i]) == int(labels[i])
        colour = CORRECT_COLOUR if correct else WRONG_COLOUR
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5)
        truth = "same" if int(labels[i]) == 1 else "different"
        text = f"{float(scores[i]):.3g} | {truth} | {'correct' if correct else 'wrong'}"
        if captions is not None:
            text += f"\n{captions[i]}"
        ax.set_title(text, color=colour, fontsize=7)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
