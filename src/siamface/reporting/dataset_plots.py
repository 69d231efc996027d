"""Plots of the dataset statistics computed by `siamface.data.stats`; they compute nothing.

LFW is heavy-tailed: 4,069 of its 5,749 people have one image and one has 530, so counts of
people are drawn on log axes, or the tail would be invisible next to the first bar.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from siamface.reporting.figure import new_figure, save_png


def plot_images_per_person(
    histogram: Sequence[tuple[int, int]], path: str | os.PathLike[str]
) -> Path:
    """Number of people against their number of images, both on log scales.

    Args:
        histogram: (images per person, number of people with that many), as in
            `DatasetStats.histogram`.
        path: The PNG to write.
    """
    images = [h[0] for h in histogram]
    people = [h[1] for h in histogram]
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    # Stems rather than bars: bars on a log x axis get uneven widths that suggest binning.
    ax.vlines(images, 0.7, people, color="tab:blue", linewidth=1.5)
    ax.scatter(images, people, s=10, color="tab:blue", zorder=3)
    ax.set(xscale="log", yscale="log", ylim=(0.7, None))
    ax.set(xlabel="images per person", ylabel="people", title="Images per person")
    ax.grid(True, which="major", alpha=0.3)
    return save_png(fig, path)


def plot_top_people(
    ranking: Sequence[tuple[str, int]],
    path: str | os.PathLike[str],
    title: str = "People with the most images",
    xlabel: str = "images",
) -> Path:
    """A horizontal bar per person, the largest count at the top.

    Args:
        ranking: (person, count), largest first, as in `DatasetStats.top`.
        path: The PNG to write.
        title: The plot title.
        xlabel: What the counts are.
    """
    names = [r[0].replace("_", " ") for r in ranking]
    counts = [r[1] for r in ranking]
    fig = new_figure(6.4, 1.2 + 0.25 * len(ranking))
    ax = fig.add_subplot()
    ax.barh(range(len(ranking)), counts, color="tab:blue")
    ax.set_yticks(range(len(ranking)), names, fontsize=8)
    ax.invert_yaxis()  # largest first, reading down
    for y, count in enumerate(counts):
        ax.annotate(f" {count}", (count, y), va="center", fontsize=7)
    ax.set(xlabel=xlabel, title=title)
    ax.margins(x=0.1)
    return save_png(fig, path)


def plot_pair_people_frequency(
    matching: Sequence[tuple[int, int]],
    non_matching: Sequence[tuple[int, int]],
    path: str | os.PathLike[str],
    title: str = "Pairs per person",
) -> Path:
    """How many people appear in 1, 2, 3, ... pairs, for matching and non-matching pairs.

    Args:
        matching: (matching pairs a person is in, number of people), as in
            `PairsStats.matching_histogram`.
        non_matching: The same for non-matching pairs.
        path: The PNG to write.
        title: The plot title.
    """
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    for histogram, label, marker in (
        (matching, "matching", "o"),
        (non_matching, "non-matching", "s"),
    ):
        ax.plot(
            [h[0] for h in histogram], [h[1] for h in histogram], marker=marker, ms=4, label=label
        )
    ax.set(yscale="log", xlabel="pairs a person is in", ylabel="people", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_png(fig, path)
