"""One self-contained HTML page for a run or a study: every figure embedded as a base64 PNG,
the style inline, nothing fetched from a network.

A run's page is its report.md (``run_report``: config, data, learning curves, every metric
with its interval, the confusion matrix, one-shot, View 2, environment) rendered to HTML, with
each figure the report links (ROC, histograms, confusion matrix, galleries) shown inline. A
study's page adds the comparison table and figures before its best trial's report.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from siamface.reporting.run_report import run_report
from siamface.run_folder import Run

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; display: block; margin: 0.6rem 0; }
code { background: #f4f4f4; padding: 0 0.2rem; }
.comparison { overflow-x: auto; }
"""
# a Markdown link to a PNG (not already an image): shown as the image itself
_PNG_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+\.png)\)")
_IMG_SRC = re.compile(r'<img src="([^"]+)"')
_A_HREF = re.compile(r'<a href="([^"]+)"')
# The only raw HTML siamface's reports write: a run report's table of every epoch, folded.
ALLOWED_BLOCK = re.compile(r"<details><summary>[^<>&]*</summary>|</details>")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def data_uri(path: Path) -> str:
    """The PNG at ``path`` as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def markdown_to_html(text: str, base: Path, page_dir: Path | None = None) -> str:
    """Render Markdown (CommonMark with tables) and embed the PNGs it shows, which are
    relative to ``base``; links to PNGs become the images. A missing image is left out.

    Args:
        text: The Markdown.
        base: The folder its links are relative to.
        page_dir: Where the page is written, if not in ``base``: links to files are made
            relative to it, so that they still reach the files.
    """
    from markdown_it import MarkdownIt

    text = _PNG_LINK.sub(r"![\1](\2)", text)
    md = MarkdownIt("commonmark").enable("table")
    md.add_render_rule("html_block", _only_allowed_html)
    md.add_render_rule("html_inline", _only_allowed_html)
    body = md.render(text)

    def embed(match: re.Match[str]) -> str:
        path = _figure(base, unquote(html.unescape(match.group(1))))
        return f'<img src="{data_uri(path)}"' if path is not None else '<img src=""'

    def relink(match: re.Match[str]) -> str:
        link = html.unescape(match.group(1))
        if urlsplit(link).scheme or link.startswith(("#", "/")):
            return match.group(0)
        moved = os.path.relpath(base.resolve() / unquote(link), page_dir.resolve())
        return f'<a href="{html.escape(quote(Path(moved).as_posix()))}"'

    body = _IMG_SRC.sub(embed, body)
    if page_dir is not None:
        body = _A_HREF.sub(relink, body)
    return re.sub(r'<p><img src=""[^>]*></p>|<img src=""[^>]*>', "", body)


def _figure(base: Path, link: str) -> Path | None:
    """The PNG a report links, if it is one inside ``base``: a name that reaches the Markdown
    (``![a](..&#47;secret)``) must not make the page carry another file of the reader's."""
    path = (base / link).resolve()
    inside = path.is_relative_to(base.resolve()) and path.suffix == ".png" and path.is_file()
    if not inside:
        return None
    with path.open("rb") as fh:
        return path if fh.read(8) == PNG_SIGNATURE else None


def _only_allowed_html(self: Any, tokens: Sequence[Any], idx: int, options: Any,
                       env: Any) -> str:
    """Raw HTML in the Markdown as it is where it is one of the folding blocks a run report
    writes (ALLOWED_BLOCK), else as text: names of runs, configs and studies reach the report,
    and ``<img onerror=...>`` in one must not become a live element of a page people pass
    on."""
    token = tokens[idx]
    allowed = token.type == "html_block" and ALLOWED_BLOCK.fullmatch(token.content.strip())
    return token.content if allowed else html.escape(token.content)


def page(title: str, body: str) -> str:
    """A complete HTML document: ``title``, the inline style and ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def run_html(run: Run, page_dir: Path | None = None) -> str:
    """The page of one finished run.

    Args:
        run: The run (its learning_curves.png is drawn by ``write_run_report``; without it the
            curves are left out).
        page_dir: Where the page is written (default: the run folder).
    """
    text = run_report(run, curves=run.learning_curves_path.is_file())
    return page(f"Run {run.name}", markdown_to_html(text, run.path, page_dir))


def table_html(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table of already formatted cells."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def study_html(title: str, intro: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
               figures: Sequence[tuple[str, Path]], best: Run | None, page_dir: Path) -> str:
    """The page of a study (or of any comparison of runs).

    Args:
        title: The page's title, e.g. "Study lr-search".
        intro: Markdown under the title: the spec, the states, the best trial.
        header: The comparison table's columns.
        rows: Its formatted cells, a row per trial.
        figures: (caption, PNG path) of the comparison figures.
        best: The best trial's run, whose report follows (None: no trial finished).
        page_dir: Where the page is written: the best trial's links are made relative to it.
    """
    parts = [f"<h1>{html.escape(title)}</h1>", markdown_to_html(intro, Path(".")),
             "<h2>Comparison</h2>", f'<div class="comparison">{table_html(header, rows)}</div>']
    for caption, path in figures:
        parts.append(f'<figure><img src="{data_uri(path)}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if best is not None:
        text = run_report(best, curves=best.learning_curves_path.is_file())
        parts += [f"<h2>Best trial: {html.escape(best.name)}</h2>",
                  markdown_to_html(re.sub(r"(?m)^(#{1,5}) ", r"#\1 ", text), best.path,
                                   page_dir)]
    return page(title, "\n".join(parts))
