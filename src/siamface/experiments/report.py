"""`siamface report`: the self-contained HTML page of a run or a study.

A run's page goes to RUN/report.html; a study's to STUDY/report.html, with the comparison
(comparison.csv, comparison.md and figures/) written beside it first.
"""

from __future__ import annotations

from pathlib import Path

from siamface.errors import SiamfaceError
from siamface.experiments.compare import compare, format_cell, write_comparison
from siamface.experiments.repeat import REPEAT_FILE
from siamface.experiments.study_folder import StudyFolder, StudyFolderError
from siamface.experiments.view2 import VIEW2_FILE
from siamface.reporting.html_report import run_html, study_html
from siamface.reporting.run_report import write_run_report
from siamface.run_folder import Run
from siamface.utils.atomic import write_text_atomic
from siamface.utils.files import is_number

# write_comparison's figure names that are not a study's own
COMPARISON_FIGURES = {"curves": "Learning curves, overlaid", "runtimes": "Runtime per trial"}


class ReportError(SiamfaceError, ValueError):
    """A folder that has no page of its own."""


def write_html_report(path: Path, out: Path | None = None) -> Path:
    """Write the HTML page of the run or study folder ``path``; return the page's path.

    Args:
        path: A finished run folder or a study folder.
        out: Where to write the page (default: report.html in the folder).
    """
    if StudyFolder.is_study(path):
        return _study_report(StudyFolder(path), out)
    for kind, file in (("a repeat", REPEAT_FILE), ("a View 2", VIEW2_FILE)):
        if (Path(path) / file).is_file():
            raise ReportError(f"{path} is {kind} folder: `siamface report` takes a run or a "
                              f"study; `siamface compare {path}` tables its runs")
    run = Run(path)
    write_run_report(run)  # draws learning_curves.png; refuses an unfinished run
    target = out or run.html_report_path
    write_text_atomic(target, run_html(run, target.parent))
    return target


def _study_report(folder: StudyFolder, out: Path | None) -> Path:
    spec = folder.spec()
    comparison = compare([folder.path])
    written = write_comparison(comparison, folder.path)
    figures = [(COMPARISON_FIGURES.get(name, name), p) for name, p in written.items()
               if p.suffix == ".png"]
    states = {}
    for row in comparison.rows:
        states[row.values.get("state")] = states.get(row.values.get("state"), 0) + 1
    best_number = folder.study_info().get("evaluated_trial")
    if best_number is not None and not is_number(best_number, int):
        raise StudyFolderError(f"{folder.study_path}: evaluated_trial is {best_number!r}, "
                               "expected the number of the trial scored on the test pairs")
    best = _best_run(folder, spec.direction == "maximize")
    space = ", ".join(f"`{p.key}`" for p in spec.space)
    intro = (f"Base config `{spec.base}`, {spec.sampler} sampler over {space}; objective "
             f"`{spec.objective}` on the validation pairs ({spec.direction}), pruner "
             f"{spec.pruner}. Trials: "
             + (", ".join(f"{n} {s}" for s, n in sorted(states.items(), key=str)) or "none yet")
             + ".")
    if best is not None:
        trial = best.path.parent.name  # trials/NNNN/<run>
        intro += f" Best trial: `{trial}`"
        if best_number == int(trial):
            intro += " (scored once on pairsDevTest.txt)."
        elif best_number is not None:  # scored as the best then; the study went on
            intro += (f" (not scored on a test file; trial `{best_number:04d}` was, when it was "
                      "the best: the study went on after that).")
        else:
            intro += " (not scored on a test file: `siamface search --resume STUDY --evaluate`)."
    cells = [[format_cell(c) for c in row] for row in comparison.table()]
    target = out or folder.report_path
    page = study_html(f"Study {spec.name}", intro, comparison.header, cells, figures, best,
                      target.parent)
    write_text_atomic(target, page)
    return target


def _best_run(folder: StudyFolder, maximise: bool) -> Run | None:
    """The run of the best complete trial, by the validation objective."""
    done = [r for r in folder.trials() if r.get("state") == "complete"
            and r.get("value") is not None]
    if not done:
        return None
    best = (max if maximise else min)(done, key=lambda r: r["value"])
    run_dir = folder.run_dir(best["number"])
    if run_dir is None:
        return None
    run = Run(run_dir)
    write_run_report(run)
    return run
