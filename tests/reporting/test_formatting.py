"""Markdown tables: alignment by column type, and cells that keep their own "|"; names shown
as typed."""

from __future__ import annotations

import html

import pytest

from siamface.reporting.formatting import markdown_table, markdown_text


def test_integer_columns_are_right_aligned_with_separators():
    assert markdown_table(["run", "epochs"], [["a", 1200], ["b", 7]]).splitlines() == [
        "| run | epochs |", "|---|---:|", "| a | 1,200 |", "| b | 7 |"]


def test_a_bar_or_a_line_break_in_a_cell_stays_in_its_cell():
    table = markdown_table(["run|name", "state"], [["r_a|b", "two\nlines"]])
    assert table.splitlines() == [
        "| run\\|name | state |", "|---|---|", "| r_a\\|b | two lines |"]


def test_a_table_without_rows_has_left_aligned_columns():
    assert markdown_table(["run", "state"], []).splitlines()[1] == "|---|---|"


@pytest.mark.parametrize("name", ["*em*", "a&amp;b", "<b>bold</b>", "![i](x.png)", "a_b_",
                                  "back\\slash", "`code`", "two\nlines"])
def test_markdown_text_renders_as_typed(name):
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(f"# Run {markdown_text(name)}")
    assert rendered == f"<h1>Run {html.escape(' '.join(name.splitlines()), quote=False)}</h1>\n"
