"""The self-contained HTML page: embedded figures only, then opened in a real Chromium with the
network off. Under CI (CI=true) a missing Chromium fails the browser test."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest

from conftest import missing, require
from siamface.reporting.html_report import markdown_to_html

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def pages(synthetic_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pages of an evaluated tiny run and of a two-trial study."""
    from siamface.data.lfw import open_lfw
    from siamface.experiments.report import write_html_report
    from siamface.experiments.search import run_search
    from siamface.experiments.spec import spec_from_dict
    from training.conftest import TINY

    spec = spec_from_dict({"name": "page", "base": "default", "sampler": "grid",
                           "objective": "val_loss", "fixed": [*TINY, "train.threads=1"],
                           "space": {"optim.lr": {"type": "categorical",
                                                  "choices": [1e-3, 3e-3]}}})
    study = tmp_path_factory.mktemp("html") / "page"
    result = run_search(spec, open_lfw(synthetic_home), study, evaluate=True)
    best_run = study / "trials" / f"{result.best['number']:04d}" / result.best["run"]
    return {"run": write_html_report(best_run), "study": write_html_report(study)}


@pytest.mark.parametrize("kind", ["run", "study"])
def test_the_page_embeds_every_figure_and_fetches_nothing(pages, kind):
    text = pages[kind].read_text()
    sources = re.findall(r'<img src="([^"]*)"', text)
    assert len(sources) >= (5 if kind == "run" else 8)  # curves, ROC, histograms, ...
    for src in sources:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from a network
    assert "<table>" in text and "Test results" in text


def test_markdown_links_to_figures_become_images(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nrest")
    html = markdown_to_html("Figures: [ROC](a.png) · [gone](b.png)\n\n|x|y|\n|-|-|\n|1|2|\n",
                            tmp_path)
    assert html.count("<img") == 1 and "data:image/png;base64," in html
    assert "<table>" in html and "<td>1</td>" in html


def test_figures_in_a_folder_with_a_space_are_embedded(tmp_path: Path):
    (tmp_path / "my pairs").mkdir()
    (tmp_path / "my pairs" / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\nrest")
    html = markdown_to_html("![ROC](my%20pairs/roc.png) and [ROC](my%20pairs/roc.png)\n",
                            tmp_path)
    assert html.count("data:image/png;base64,") == 2


def test_links_of_a_page_written_elsewhere_still_reach_the_files(tmp_path: Path):
    run, elsewhere = tmp_path / "runs" / "r", tmp_path / "pages"
    text = "[config.yaml](config.yaml), [scores](eval/my%20pairs/scores.csv), [w](https://x.org)"
    assert 'href="config.yaml"' in markdown_to_html(text, run)  # the run's own report.html
    html = markdown_to_html(text, run, elsewhere)
    assert 'href="../runs/r/config.yaml"' in html
    assert 'href="../runs/r/eval/my%20pairs/scores.csv"' in html
    assert 'href="https://x.org"' in html


def test_markup_in_a_name_is_shown_as_text_and_the_folded_epochs_stay_folded(tmp_path: Path):
    text = ("# Run r_<img src=x onerror=alert(1)>\n\n<script>alert(2)</script>\n\n"
            "<details><summary>Every epoch</summary>\n\n|a|\n|-|\n|1|\n\n</details>\n")
    html = markdown_to_html(text, tmp_path)
    assert "<h1>Run r_&lt;img src=x onerror=alert(1)&gt;</h1>" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<img" not in html and "<script" not in html
    assert "<details><summary>Every epoch</summary>" in html and "</details>" in html


def test_a_name_cannot_make_the_page_carry_another_file(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (tmp_path / "outside.png").write_bytes(b"\x89PNG\r\n\x1a\nrest")
    (run / "fake.png").write_text("not a PNG")
    for link in ("..&#47;secret.txt", "..&#47;outside.png", "fake.png", "/etc/passwd"):
        html = markdown_to_html(f"# Run r_![a]({link})\n", run)
        assert "base64" not in html, link
    html = markdown_to_html("# Run r_<details>\n\nthe rest of the page\n", run)
    assert "&lt;details&gt;" in html and "<details>" not in html  # it folds nothing away


@pytest.mark.parametrize("kind", ["run", "study"])
def test_the_page_renders_in_chromium_offline(pages, kind):
    if not Path(CHROMIUM).is_file() or shutil.which("chromium") is None:
        missing(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            context = browser.new_context(offline=True)
            requested: list[str] = []
            context.on("request", lambda r: requested.append(r.url))
            page = context.new_page()
            page.goto(pages[kind].resolve().as_uri())
            page.wait_for_load_state("load")
            expected = "Study page" if kind == "study" else "Run "
            assert page.title().startswith(expected)
            assert page.locator("table").count() >= 3
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert len(widths) >= 5 and all(w > 0 for w in widths)
            assert all(u.startswith(("file://", "data:")) for u in requested)
        finally:
            browser.close()
