"""`siamface run`: the main job end to end (what `make run` does).

    data (import PATH, or the copy already imported, or fetch) -> dataset statistics
    -> train the config -> evaluate once on pairsDevTest.txt (+ one-shot) -> RUN/report.md

DevTest is scored once, by the model and threshold chosen on validation pairs of DevTrain
people, after training has finished; nothing is chosen by its result.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from siamface.cli.evaluate import (
    add_evaluation_arguments,
    check_evaluation_arguments,
    ci_text,
    printer,
)
from siamface.cli.train import (
    add_override_arguments,
    config_from_args,
    print_epoch_row,
    print_training_header,
    print_training_result,
)
from siamface.data.home import resolve_data_home
from siamface.data.people import TEST_PAIRS
from siamface.evaluation.oneshot import MAIN_JOB_ONE_SHOT

if TYPE_CHECKING:
    from siamface.data.lfw import LFWDataset
    from siamface.pipeline import MainJob


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
    add_evaluation_arguments(run, one_shot=list(MAIN_JOB_ONE_SHOT))
    run.set_defaults(func=_run)


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
    from siamface.utils.timing import PhaseTimer

    timer = PhaseTimer()
    with timer.phase("imports"):
        from siamface.data.fetch import DownloadError
        from siamface.pipeline import get_data, run_main_job

    progress = not args.no_progress
    check_evaluation_arguments(args)
    config = config_from_args(args.config, args.overrides, args.time_budget)  # fail fast on typos
    with timer.phase("data"):
        try:
            lfw = get_data(resolve_data_home(args.data_dir), args.import_paths, progress,
                           on_fetch=print)
        except DownloadError as err:  # one more way out, for this command
            raise DownloadError(f"{err}; or give them to this command: siamface run --import "
                                "PATH") from None
        lfw.protocol_path(TEST_PAIRS)  # also before training: the run must end with a test
        print_dataset_summary(lfw)
    print()

    print_training_header(config, lfw)
    show = printer()
    job = run_main_job(
        config, lfw, args.runs_dir, args.one_shot, args.trials, args.bootstrap,
        plots=not args.no_plots, progress=progress, on_epoch_end=print_epoch_row,
        on_trained=lambda run, fit, seconds: (
            print_training_result(config, run, fit, seconds), print()),
        on_result=show, timer=timer,
    )
    print()
    print(format_final_summary(config.name, job))
    return 0


def format_final_summary(name: str, job: MainJob) -> str:
    """The closing table of ``siamface run``.

    Args:
        name: The config's name.
        job: What the main job ended with.
    """
    metrics = job.evaluation.metrics[TEST_PAIRS]
    one_shot = job.evaluation.one_shot.get(TEST_PAIRS)

    rows = [
        ("DevTest accuracy", f"{metrics['accuracy']:.4f}{ci_text(metrics, 'accuracy')}  at the "
                             "validation threshold"),
        ("DevTest AUC", f"{metrics['auc']:.4f}{ci_text(metrics, 'auc')}"),
        ("DevTest EER", f"{metrics['eer']:.4f}"),
    ]
    if one_shot is not None:
        rows += [(f"{r['n_way']}-way one-shot", f"{r['accuracy']:.4f}  (chance {r['chance']:.3f})")
                 for r in one_shot["results"]]
    fit = job.fit
    rows += [
        ("training", f"{job.train_seconds / 60:.1f} min, {len(fit.history)} epochs, model of "
                     f"epoch {fit.best_epoch}"),
        ("time", format_seconds(job.seconds)),
        ("run folder", str(job.run.path)),
        ("report", str(job.run.report_path)),
    ]
    width = max(len(k) for k, _ in rows)
    title = f"siamface run: {name}, evaluated once on {metrics['pairs_file']}"
    return "\n".join([title, "-" * len(title), *(f"{k:<{width}}  {v}" for k, v in rows)])


def format_seconds(seconds: dict[str, float], shown: int = 5) -> str:
    """Where the main job's time went: "3.1 min: training steps 165 s, ..., 6 more 4 s", the
    ``shown`` longest phases first (every phase is in the run's timings.json)."""
    longest = sorted(seconds.items(), key=lambda item: -item[1])
    parts = [f"{name} {s:.0f} s" for name, s in longest[:shown]]
    if len(longest) > shown:
        parts.append(f"{len(longest) - shown} more {sum(s for _, s in longest[shown:]):.0f} s")
    return f"{sum(seconds.values()) / 60:.1f} min: " + ", ".join(parts)
