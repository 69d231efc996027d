"""`siamface run`: the main job end to end (what `make run` does).

    data (import PATH, or the copy already imported, or fetch) -> dataset statistics
    -> train the config -> evaluate once on pairsDevTest.txt (+ one-shot) -> RUN/report.md

DevTest is scored once, by the model and threshold chosen on validation pairs of DevTrain
people, after training has finished; nothing is chosen by its result.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siamface.cli.evaluate import add_evaluation_arguments, evaluate_and_print, write_report
from siamface.cli.train import add_override_arguments, resolve_config, train_and_print
from siamface.data.home import resolve_data_home

if TYPE_CHECKING:
    from siamface.data.lfw import LFWDataset

TEST_PAIRS = "pairsDevTest.txt"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command."""
    run = subparsers.add_parser(
        "run",
        help="the main job: data, training, one evaluation on pairsDevTest, report",
        description="Get LFW (import PATH, or use the copy already imported, or download it), "
        "print its statistics, train CONFIG, evaluate the chosen model once on "
        f"{TEST_PAIRS} and write RUN/report.md.",
    )
    run.add_argument("--config", default="default",
                     help="config name or YAML path (default: default)")
    run.add_argument("--import", dest="import_paths", nargs="+", type=Path, metavar="PATH",
                     help="LFW archive/folder and protocol files to import first (a no-op "
                     "when they are already imported)")
    add_override_arguments(run)
    add_evaluation_arguments(run, one_shot=[2, 5, 10, 20])
    run.set_defaults(func=_run)


def get_data(home: Path, import_paths: list[Path] | None, progress: bool) -> LFWDataset:
    """The LFW copy to use: ``import_paths`` imported, else the one in ``home``, else fetched.

    Args:
        home: The data home.
        import_paths: Sources for ``import_lfw`` (re-importing the same files does nothing).
        progress: Show progress bars.
    """
    from siamface.data.fetch import DownloadError, fetch_lfw
    from siamface.data.importer import import_lfw
    from siamface.data.lfw import DataNotFoundError, open_lfw

    if import_paths:
        return import_lfw(import_paths, home, progress=progress)
    try:
        return open_lfw(home)
    except DataNotFoundError:
        print(f"no LFW copy in {home}: downloading it")
    try:
        fetch_lfw(home, progress=progress)
    except DownloadError as err:
        raise DownloadError(f"{err}; or give them to this command: siamface run --import "
                            "PATH") from err
    return open_lfw(home)


def print_dataset_summary(lfw: LFWDataset) -> None:
    """A few lines of ``siamface.data.stats``: sizes, pairs files and the people they share."""
    from siamface.data.stats import lfw_stats

    stats = lfw_stats(lfw)
    d = stats.dataset
    several = dict(d.more_than).get(1, 0)
    print(f"LFW ({stats.variant}): {d.people:,} people, {d.images:,} images; "
          f"{several:,} people have 2 or more images")
    for p in stats.pairs:
        folds = f" in {p.folds} folds" if p.folds > 1 else ""
        print(f"  {p.file}: {p.pairs:,} pairs ({p.matching:,} matching){folds}, "
              f"{p.images:,} images")
    for o in stats.overlaps:
        verdict = "disjoint" if not o.shared else f"share {o.shared:,} people"
        print(f"  {o.first} / {o.second}: {verdict}")
    if stats.missing:
        print(f"  not imported: {', '.join(stats.missing)}")
    print("  (full statistics and plots: siamface data stats)")


def _run(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    config = resolve_config(args.config, args.overrides, args.time_budget)  # fail fast on typos
    lfw = get_data(resolve_data_home(args.data_dir), args.import_paths, progress)
    lfw.protocol_path(TEST_PAIRS)  # also before training: the run must end with a test
    print_dataset_summary(lfw)
    print()

    outcome = train_and_print(config, lfw, args.runs_dir, None, progress)
    if outcome is None:
        return 1
    run_dir, fit, seconds = outcome
    print()
    metrics, one_shot = evaluate_and_print(run_dir, lfw, TEST_PAIRS, args)
    report = write_report(run_dir)
    print()
    print(format_final_summary(config.name, metrics, one_shot, fit.best_epoch, len(fit.history),
                               seconds, run_dir, report))
    return 0


def format_final_summary(
    name: str,
    metrics: dict[str, Any],
    one_shot: dict[str, Any] | None,
    best_epoch: int,
    epochs: int,
    seconds: float,
    run_dir: Path,
    report: Path,
) -> str:
    """The closing table of ``siamface run``.

    Args:
        name: The config's name.
        metrics: The DevTest metrics (``evaluate_run``'s result).
        one_shot: The one-shot results, or None when none were asked for.
        best_epoch: The chosen epoch.
        epochs: The epochs trained.
        seconds: The training wall time.
        run_dir: The run folder.
        report: The report's path.
    """

    def ci(key: str) -> str:
        interval = metrics.get(f"{key}_ci95")
        return f"  (95% CI {interval[0]:.4f}-{interval[1]:.4f})" if interval else ""

    rows = [
        ("DevTest accuracy", f"{metrics['accuracy']:.4f}{ci('accuracy')}  at the validation "
                             "threshold"),
        ("DevTest AUC", f"{metrics['auc']:.4f}{ci('auc')}"),
        ("DevTest EER", f"{metrics['eer']:.4f}"),
    ]
    if one_shot is not None:
        rows += [(f"{r['n_way']}-way one-shot", f"{r['accuracy']:.4f}  (chance {r['chance']:.3f})")
                 for r in one_shot["results"]]
    rows += [
        ("training", f"{seconds / 60:.1f} min, {epochs} epochs, model of epoch {best_epoch}"),
        ("run folder", str(run_dir)),
        ("report", str(report)),
    ]
    width = max(len(k) for k, _ in rows)
    title = f"siamface run: {name}, evaluated once on {metrics['pairs_file']}"
    return "\n".join([title, "-" * len(title), *(f"{k:<{width}}  {v}" for k, v in rows)])
