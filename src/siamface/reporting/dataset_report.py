"""The dataset report of `siamface data stats`: stats.md, stats.json and its plots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siamface.data.stats import DatasetStats, LFWStats, Overlap, PairsStats, Ranking, lfw_stats
from siamface.reporting import dataset_plots
from siamface.reporting.formatting import markdown_table
from siamface.utils.atomic import write_json_atomic, write_text_atomic


def _ranked(ranking: Ranking, what: str) -> str:
    rows = [(k + 1, name, count) for k, (name, count) in enumerate(ranking)]
    return markdown_table(["#", "person", what], rows)


# The report's files (and one figure per pairs file, named by pairs_plot_name)
STATS_MD, STATS_JSON = "stats.md", "stats.json"
IMAGES_FIGURE, TOP_PEOPLE_FIGURE = "images_per_person.png", "top_people.png"


def pairs_plot_name(file: str) -> str:
    """The report's plot file for the people frequency of pairs file ``file``."""
    return f"pairs_people_{Path(file).stem}.png"


_PAIRS_COLUMNS = (  # (column title, PairsStats field) of the pairs files table
    ("pairs", "pairs"),
    ("matching", "matching"),
    ("non-matching", "non_matching"),
    ("folds", "folds"),
    ("people (matching)", "matching_people"),
    ("people (non-matching)", "non_matching_people"),
    ("people in both", "shared_people"),
    ("images", "images"),
)


def _mean(d: DatasetStats) -> str:
    return f"{d.images / d.people:.2f}" if d.people else "-"


def to_markdown(stats: LFWStats) -> str:
    """The report as Markdown, with links to the plots `write_stats_report` draws."""
    out = [f"# LFW statistics ({stats.variant})", "", *_images_section(stats.dataset)]
    if stats.pairs:
        out += _pairs_section(stats.pairs)
    if stats.people:
        rows = [(s.file, s.folds, s.people, s.images) for s in stats.people]
        table = markdown_table(["file", "folds", "people", "images"], rows)
        out += ["## People files", "", table, ""]
    if stats.overlaps:
        out += _overlaps_section(stats.overlaps)
    if stats.missing:
        out += [f"Not imported, so skipped: {', '.join(stats.missing)}.", ""]
    return "\n".join(out)


def _images_section(d: DatasetStats) -> list[str]:
    return [
        "## Images",
        "",
        markdown_table(["people", "images", "images per person"], [(d.people, d.images, _mean(d))]),
        "",
        markdown_table(["N", "people with more than N images"], d.more_than),
        "",
        f"![Images per person]({IMAGES_FIGURE})",
        "",
        f"### The {len(d.top)} people with the most images",
        "",
        _ranked(d.top, "images"),
        "",
        f"![People with the most images]({TOP_PEOPLE_FIGURE})",
        "",
    ]


def _pairs_section(pairs: Sequence[PairsStats]) -> list[str]:
    header = ["file", *(title for title, _ in _PAIRS_COLUMNS)]
    rows = [(s.file, *(getattr(s, field) for _, field in _PAIRS_COLUMNS)) for s in pairs]
    out = ["## Pairs files", "", markdown_table(header, rows), ""]
    for s in pairs:
        out += [
            f"### {s.file}",
            "",
            "Most frequent people in matching pairs:",
            "",
            _ranked(s.top_matching, "matching pairs"),
            "",
            "Most frequent people in non-matching pairs:",
            "",
            _ranked(s.top_non_matching, "non-matching pairs"),
            "",
            f"![Pairs per person in {s.file}]({pairs_plot_name(s.file)})",
            "",
        ]
    return out


def _overlaps_section(overlaps: Sequence[Overlap]) -> list[str]:
    header = ["training file", "test file", "people in training", "people in test", "shared"]
    rows = [(o.first, o.second, o.first_people, o.second_people, o.shared) for o in overlaps]
    out = ["## People shared between training and test files", "", markdown_table(header, rows),
           ""]
    for o in overlaps:
        if o.shared:
            more = f" and {o.shared - len(o.examples):,} more" if o.shared > len(o.examples) else ""
            out += [
                f"{o.first} and {o.second} share {o.shared:,} people "
                f"({', '.join(o.examples)}{more}): a model trained on {o.first} "
                f"must not be tested on {o.second}.",
                "",
            ]
    return out


def write_stats_report(
    lfw: Any, out_dir: str | os.PathLike[str], top: int = 20, top_in_pairs: int = 10
) -> str:
    """Write stats.md, stats.json and the PNG plots into ``out_dir``; return the Markdown.

    Every file is written atomically, the Markdown last.

    Args:
        lfw: An `LFWDataset` (see `lfw_stats`).
        out_dir: The report folder; created if needed.
        top: How many of the people with the most images to list.
        top_in_pairs: How many of the most frequent people to list per pairs file and kind.
    """
    out_dir = Path(out_dir)
    stats = lfw_stats(lfw, top, top_in_pairs)
    d = stats.dataset
    dataset_plots.plot_images_per_person(d.histogram, out_dir / IMAGES_FIGURE)
    dataset_plots.plot_top_people(d.top, out_dir / TOP_PEOPLE_FIGURE)
    for s in stats.pairs:
        dataset_plots.plot_pair_people_frequency(
            s.matching_histogram,
            s.non_matching_histogram,
            out_dir / pairs_plot_name(s.file),
            title=f"Pairs per person in {s.file}",
        )
    write_json_atomic(out_dir / STATS_JSON, stats.to_dict())
    markdown = to_markdown(stats)
    write_text_atomic(out_dir / STATS_MD, markdown)
    return markdown
