"""Small text formatters shared by the reports and the command line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any


def seen_people_caveat(count: int) -> str:
    """What a result on people a run may have trained or validated on says of them."""
    return f"{count:,} of these people are among those the run was trained or validated on"


def markdown_text(value: Any) -> str:
    """``value`` shown as typed in Markdown, on one line: the characters that start inline
    markup are escaped, so that a run named ``*em*`` or ``a&amp;b`` is not shown as *em* or
    a&b (nor ``<b>`` as markup: the HTML page escapes that too)."""
    return re.sub(r"([\\`*_\[\]<>&!|~])", r"\\\1", " ".join(str(value).splitlines()))


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table; integer columns are right-aligned with thousands separators. A "|"
    or a line break inside a cell (a run's name may hold one) stays inside it."""
    rows = [list(row) for row in rows]
    header = [_cell(h) for h in header]
    numeric = [bool(rows) and all(isinstance(row[k], int) for row in rows)
               for k in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    for row in rows:
        cells = [f"{cell:,}" if isinstance(cell, int) else _cell(cell) for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return " ".join(str(value).splitlines()).replace("|", "\\|")


def format_ci(interval: Sequence[float] | None, empty: str = "-") -> str:
    """``[0.8450, 0.8870]`` for a 95% interval, ``empty`` when there is none."""
    return empty if not interval else f"[{interval[0]:.4f}, {interval[1]:.4f}]"
