"""`siamface compare`: one table of runs and study trials, and the plots that compare them.

A row per run or trial: the hyperparameters that vary between the rows, state (complete,
pruned, failed, running), epochs run, the chosen epoch, train and validation loss, validation
accuracy and AUC (at the chosen epoch; at the last epoch for a run that chose none), training
seconds, evaluation seconds (from each metrics.json, or timed by the experiment) and, only for
runs already evaluated, their test metrics (and, after ``evaluate --identification``, rank-1 and
DIR at FPIR 1% of each gallery size). Nothing is computed again: every number comes from the
run folders and the trial records.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siamface.errors import SiamfaceError
from siamface.evaluation.open_set_eval import OPEN_SET_FILE, fpir_key
from siamface.evaluation.report import METRICS_FILE
from siamface.experiments.repeat import REPEAT_FILE, read_repeat
from siamface.experiments.study_folder import TRIAL_FILE, StudyFolder, StudyFolderError
from siamface.experiments.view2 import VIEW2_FILE, read_view2
from siamface.reporting.comparison_plots import (
    plot_importances,
    plot_optimisation_history,
    plot_overlaid_curves,
    plot_runtimes,
)
from siamface.reporting.formatting import markdown_table
from siamface.run_folder import Run, epochs_seconds
from siamface.utils.atomic import is_temporary, require_folder, write_text_atomic
from siamface.utils.files import (
    DamagedFileError,
    is_number,
    number_at,
    read_json_object,
    read_json_object_if_present,
)
from siamface.utils.settings import flatten

# the fixed columns, after the varying hyperparameters
COLUMNS = ("state", "epochs", "chosen_epoch", "train_loss", "val_loss", "val_acc", "val_auc",
           "train_seconds", "eval_seconds")
TEST_COLUMNS = (("accuracy", "acc"), ("auc", "auc"))  # metrics.json key, column suffix
IGNORED_KEYS = {"name", "seed_name"}


COMPARISON_CSV, COMPARISON_MD, FIGURES_DIR = "comparison.csv", "comparison.md", "figures"
# the figures a comparison draws in FIGURES_DIR (a study's two named after it)
CURVES_FIGURE, RUNTIMES_FIGURE = "learning_curves.png", "runtimes.png"
HISTORY_FIGURE_SUFFIX, IMPORTANCES_FIGURE_SUFFIX = "-history.png", "-importances.png"


class CompareError(SiamfaceError, ValueError):
    """A path given to compare is neither a run, a study nor a folder of runs."""


@dataclass
class Row:
    """One run or trial of the comparison.

    Attributes:
        label: How the row is named (the study and trial number, or the run's name).
        config: Its config, flattened to dotted keys (the trial's params when it has no run).
        values: The fixed columns and the test columns.
        curve: Its summary rows (for the overlaid learning curves).
        study: The study folder it belongs to, if any.
        number: Its trial number, if any.
        folder: The folder whose name the label begins with (the run's or the study's).
    """

    label: str
    config: dict[str, Any]
    values: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)
    study: StudyFolder | None = None
    number: int | None = None
    folder: Path | None = None


@dataclass
class Comparison:
    """The rows, the varying keys and the table's columns."""

    rows: list[Row]
    varying: list[str]
    columns: list[str]

    def table(self) -> list[list[Any]]:
        """The rows as cells in the order of ``header``."""
        return [[row.label] + [row.config.get(k) for k in self.varying]
                + [row.values.get(c) for c in self.columns] for row in self.rows]

    @property
    def header(self) -> list[str]:
        return ["run", *self.varying, *self.columns]


def run_values(run: Run) -> dict[str, Any]:
    """The fixed and test columns of one run folder, as far as it got."""
    # (a finished run without summary.csv, or with one cut short, is refused)
    summary = run.finished_summary() if run.is_finished else run.summary()
    # a column summary.csv lacks (hand-made, or an older siamface's) is shown as missing
    values: dict[str, Any] = {"epochs": len(summary), "train_seconds": epochs_seconds(summary)}
    chosen = None
    if run.is_finished:
        values["state"] = "complete"
        values["chosen_epoch"] = run.best_epoch
        chosen = summary[run.best_epoch - 1]
    elif summary:
        chosen = summary[-1]
    if chosen is not None:
        values.update({k: chosen.get(k) for k in ("train_loss", "val_loss", "val_acc",
                                                  "val_auc")})
    for folder in run.eval_dirs() if run.is_finished else []:
        path = folder / METRICS_FILE
        metrics = read_json_object_if_present(path, tuple(key for key, _ in TEST_COLUMNS))
        if metrics is not None:
            for key, suffix in TEST_COLUMNS:
                values[f"{folder.name}_{suffix}"] = number_at(metrics, (key,), path)
            if "seconds" in metrics:  # written by every evaluation since it was added
                values["eval_seconds"] = (values.get("eval_seconds", 0.0)
                                          + (number_at(metrics, ("seconds",), path) or 0.0))
    path = run.open_set_dir / OPEN_SET_FILE
    if run.is_finished and path.is_file():
        galleries = read_json_object(path, ("galleries",))["galleries"]
        if not isinstance(galleries, list):
            raise DamagedFileError(f"{path}: galleries is {galleries!r}, expected a list of "
                                   "gallery sizes' results")
        for i, g in enumerate(galleries):
            if not isinstance(g, dict) or "skipped" in g:  # the sizes LFW was too small for
                continue
            size = g.get("gallery_size")
            if not is_number(size, int):  # it names the columns
                raise DamagedFileError(f"{path}: galleries.{i}.gallery_size is {size!r}, "
                                       "expected a number of people")
            # rank-1 and DIR at FPIR 1% of each gallery size
            values[f"open_set_{size}_rank1"] = number_at(
                g, ("cmc", "1", "rate"), path, f"galleries.{i}.")
            values[f"open_set_{size}_dir1%"] = number_at(
                g, ("dir_at_fpir", fpir_key(0.01), "dir", "rate"), path, f"galleries.{i}.")
    return values


def study_rows(study: StudyFolder) -> list[Row]:
    """A row per trial record of the study folder (an edited complete record is refused
    here, before anything is written)."""
    records = study.trials()
    complete_records(study, records)
    name = study.path.name
    rows = []
    for record in records:
        number = record["number"]
        run_dir = study.run_dir(number)
        values: dict[str, Any] = {}
        config: dict[str, Any] = {}
        curve: list[dict[str, float]] = []
        if run_dir is not None:
            run = Run(run_dir)
            values = run_values(run)
            config = flatten(run.config.to_dict())
            curve = run.summary()
        config.update(record.get("params") or {})
        values["state"] = record.get("state")
        if record.get("eval_seconds") is not None:
            values["eval_seconds"] = record["eval_seconds"]
        row = Row(f"{name}/{number:04d}", config, values, curve, study, number, study.path)
        rows.append(row)
    return rows


def run_row(run: Run, eval_seconds: float | None = None) -> Row:
    values = run_values(run)
    values.setdefault("state", "unfinished")
    if eval_seconds is not None:
        values["eval_seconds"] = eval_seconds
    return Row(run.name, flatten(run.config.to_dict()), values, run.summary(), folder=run.path)


def rows_for(path: Path) -> list[Row]:
    """The rows of one path: a study folder, a run folder, a repeat folder, a View 2 folder
    (a row per scored fold), or a folder of run folders."""
    if StudyFolder.is_study(path):
        return study_rows(StudyFolder(path))
    if Run(path).config_path.is_file():
        return [run_row(Run(path))]
    if (path / REPEAT_FILE).is_file():
        return [run_row(Run(path / s["run"]), s.get("eval_seconds"))
                for s in read_repeat(path)["seeds"]]
    if (path / VIEW2_FILE).is_file():
        return [run_row(Run(path / f["run"])) for f in read_view2(path)["folds"]]
    runs = sorted(p.parent for p in path.glob("*/config.yaml"))
    if not runs:
        raise CompareError(f"{path}: not a run folder (no config.yaml), a study folder (no "
                           "spec.yaml and study.json) or a folder of runs")
    return [run_row(Run(p)) for p in runs]


def compare(paths: list[Path]) -> Comparison:
    """The comparison of every run and trial under ``paths``.

    Args:
        paths: Run folders, study folders, repeat folders or folders of runs.
    """
    rows = [row for path in paths for row in rows_for(Path(path))]
    tell_apart(rows)
    keys = sorted({k for row in rows for k in row.config} - IGNORED_KEYS)
    varying = [k for k in keys
               if len({json.dumps(row.config.get(k), sort_keys=True) for row in rows
                       if k in row.config}) > 1]
    tests = sorted({k for row in rows for k in row.values if k not in COLUMNS})
    return Comparison(rows, varying, [*COLUMNS, *tests])


def tell_apart(rows: list[Row]) -> None:
    """Name the rows of folders of one name (runs, or studies, in different folders) by as much
    of each folder's path as tells the folders apart: ``a/tiny`` and ``b/tiny``, every row of
    a study alike (``a/multi/0003``). A folder given twice is one folder and keeps its name."""
    folders = {row.folder.resolve() for row in rows if row.folder is not None}
    names = {folder: folder.name for folder in folders}
    for depth in itertools.count(2):
        named: defaultdict[str, list[Path]] = defaultdict(list)
        for folder, name in names.items():
            named[name].append(folder)
        longer = [folder for same in named.values() if len(same) > 1 for folder in same
                  if depth < len(folder.parts)]
        if not longer:
            break
        for folder in longer:
            names[folder] = "/".join(folder.parts[-depth:])
    for row in rows:
        if row.folder is not None:  # what follows the folder's name: a study's "/0007"
            row.label = names[row.folder.resolve()] + row.label[len(row.folder.name):]


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def comparison_csv(comparison: Comparison) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(comparison.header)
    for cells in comparison.table():
        writer.writerow(["" if c is None else c for c in cells])
    return buf.getvalue()


def comparison_markdown(comparison: Comparison) -> str:
    return markdown_table(comparison.header,
                          [[format_cell(c) for c in cells] for cells in comparison.table()])


def write_comparison(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write comparison.csv, comparison.md and the figures into ``out_dir``, a new or empty
    folder or an earlier comparison's (whose figures are replaced); return {name: path} of
    what was written (figures that have nothing to show are left out)."""
    check_comparison_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"csv": out_dir / COMPARISON_CSV, "markdown": out_dir / COMPARISON_MD}
    write_text_atomic(written["csv"], comparison_csv(comparison))
    write_text_atomic(written["markdown"], comparison_markdown(comparison) + "\n")
    figures = out_dir / FIGURES_DIR
    for old in figures.glob("*.png"):  # an earlier comparison's: of rows that may be gone
        if _is_comparison_figure(old.name):
            old.unlink()
    rows = comparison.rows
    curves = {row.label: row.curve for row in rows if row.curve}
    if curves:
        written["curves"] = plot_overlaid_curves(curves, figures / CURVES_FIGURE)
    timed = [row for row in rows if row.values.get("epochs")]
    if timed:
        written["runtimes"] = plot_runtimes(
            [row.label for row in timed], [row.values.get("train_seconds") or 0.0 for row in timed],
            [row.values.get("eval_seconds") or 0.0 for row in timed], figures / RUNTIMES_FIGURE)
    # a study's figures are named as its rows are ("a/multi/0003": "a/multi"), so that two
    # studies of one name in different folders keep a figure each
    studies = {row.study.path: (row.study, row.label.rpartition("/")[0])
               for row in rows if row.study is not None}
    for study, name in studies.values():
        written.update(study_figures(study, figures, name))
    return written


def check_comparison_folder(out_dir: Path) -> None:
    """Refuse a folder that holds anything but an earlier comparison (its COMPARISON_CSV,
    COMPARISON_MD and FIGURES_DIR of the figures it draws), or a study (whose comparison it
    is, beside the study's own files): a user's own files there would be overwritten.

    Raises:
        CompareError: naming the first file that is not a comparison's.
    """
    require_folder(out_dir)
    if not out_dir.is_dir():
        return
    study = StudyFolder.is_study(out_dir)
    ours = study or (out_dir / COMPARISON_CSV).is_file()  # (a comparison writes it first)
    figures = out_dir / FIGURES_DIR
    found = [] if study else [p for p in out_dir.iterdir() if not _ignorable(p.name)]
    if ours and figures.is_dir():
        found += [p for p in figures.iterdir() if not _ignorable(p.name)]
    elif study and figures.exists():
        found.append(figures)

    def written_by_a_comparison(p: Path) -> bool:
        return (p in (out_dir / COMPARISON_CSV, out_dir / COMPARISON_MD)
                or (p == figures and p.is_dir())
                or (p.parent == figures and _is_comparison_figure(p.name)))

    others = [p.relative_to(out_dir).as_posix() for p in found
              if not (ours and written_by_a_comparison(p))]
    if others:
        raise CompareError(f"{out_dir} holds {others[0]}, not a comparison's: write the "
                           "comparison into a new or empty folder, or over an earlier one")


def _is_comparison_figure(name: str) -> bool:
    """Whether a file of this name in FIGURES_DIR is one a comparison draws."""
    return (name in (CURVES_FIGURE, RUNTIMES_FIGURE)
            or name.endswith((HISTORY_FIGURE_SUFFIX, IMPORTANCES_FIGURE_SUFFIX)))


def _ignorable(name: str) -> bool:
    """A Finder note, or a write in progress."""
    return name == ".DS_Store" or is_temporary(name)


def study_figures(study: StudyFolder, figures: Path, name: str) -> dict[str, Path]:
    """The optimisation history and the parameter importances of one study, in files named
    after ``name`` (its folder's name, or as much of its path as tells it apart)."""
    spec = study.spec()
    records = study.trials()
    stem = name.replace("/", "-")
    out = {}
    done = [r for r in records if r.get("state") == "complete" and r.get("value") is not None]
    if done:
        out[f"{name}: history"] = plot_optimisation_history(
            [r["number"] for r in done], [r["value"] for r in done], spec.objective,
            maximise=spec.direction == "maximize", path=figures / f"{stem}{HISTORY_FIGURE_SUFFIX}")
    importances = param_importances(study)
    if importances:
        out[f"{name}: importances"] = plot_importances(
            importances, spec.objective, figures / f"{stem}{IMPORTANCES_FIGURE_SUFFIX}")
    return out


def param_importances(study: StudyFolder) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA) over the study's complete trials, computed from
    the trial records (no storage needed); empty unless two or more trials, parameters and
    objective values vary."""
    import optuna
    from optuna.trial import TrialState, create_trial

    spec = study.spec()
    distributions = {p.key: p.distribution() for p in spec.space}
    done = complete_records(study)
    varying = [k for k in distributions if len({json.dumps(r["params"][k]) for r in done}) > 1]
    if len(done) < 2 or not varying or len({r["value"] for r in done}) < 2:
        return {}  # nothing to attribute: fANOVA needs the objective to vary
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    memory = optuna.create_study(direction=spec.direction)
    memory.add_trials([create_trial(params=r["params"], distributions=distributions,
                                    value=r["value"], state=TrialState.COMPLETE) for r in done])
    importances = optuna.importance.get_param_importances(
        memory, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=varying)
    return {k: float(v) for k, v in importances.items()}


def complete_records(study: StudyFolder,
                     records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The study's complete trial records that have a value and every parameter of its space,
    each checked by ``_check_in_space`` (``records``: its records, read already)."""
    distributions = {p.key: p.distribution() for p in study.spec().space}
    records = study.trials() if records is None else records
    done = [r for r in records if r.get("state") == "complete"
            and r.get("value") is not None and set(r["params"]) == set(distributions)]
    for record in done:
        _check_in_space(record, distributions, study)
    return done


def _check_in_space(record: dict[str, Any], distributions: dict[str, Any],
                    study: StudyFolder) -> None:
    """Refuse a complete trial's record whose value or parameters no trial of the spec could
    have (an edited or damaged trial.json), naming the file and the field."""
    where = study.trial_dir(record["number"]) / TRIAL_FILE
    if not math.isfinite(record["value"]):
        raise StudyFolderError(f"{where}: value is {record['value']!r}, but a complete trial's "
                               "objective is a finite number")
    for key, distribution in distributions.items():
        value = record["params"][key]
        if hasattr(distribution, "choices"):
            inside = any(value == c and type(value) is type(c) for c in distribution.choices)
        else:
            inside = (is_number(value, int if isinstance(distribution.low, int) else float)
                      and distribution.low <= value <= distribution.high)
        if not inside:
            raise StudyFolderError(f"{where}: params.{key} is {value!r}, which is not in the "
                                   "spec's space")

