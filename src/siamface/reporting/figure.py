"""Figures without pyplot: an Agg canvas per figure and atomic PNG writes.

Plots here never touch pyplot's global state, so they work headless, in threads and in tests,
and a figure is freed as soon as it goes out of scope instead of waiting for ``plt.close``.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from siamface.utils.atomic import atomic_path


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches drawn by the Agg (PNG) backend."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` as a PNG atomically and return the path. Its text is drawn
    as it is, never as TeX (none of ours is; a "$" pair in a run's name would be)."""
    path = Path(path)
    for text in fig.findobj(Text):  # a name is drawn as typed: "a$_$b" is no TeX to parse
        text.set_parse_math(False)
    with atomic_path(path) as tmp:
        # The temp name ends in .tmp, so the format must be given, not guessed from it.
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
