"""`siamface search`, `repeat`, `view2`, `compare` and `report`: experiments over many runs.

search runs (or continues, or joins) an Optuna study, a trial per line; repeat trains a config
once per seed and prints mean ± std, min and max; view2 runs LFW's View 2 protocol (a model per
fold) and prints mean accuracy ± standard error; compare writes one table of runs and trials;
report writes the self-contained HTML page of a run or a study.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siamface.cli.errors import UsageError
from siamface.cli.train import (
    RUNS_DIR,
    add_override_arguments,
    config_from_args,
    epoch_table_printer,
    options_of_a_new_run,
)
from siamface.data.home import resolve_data_home
from siamface.data.people import TEST_PAIRS

if TYPE_CHECKING:
    from siamface.run_folder import Run

STUDIES_DIR = Path("studies")  # where a new study's folder is made


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``search``, ``repeat``, ``view2``, ``compare`` and ``report`` commands."""
    for add in (_register_search, _register_repeat, _register_view2, _register_compare,
                _register_report):
        add(subparsers)


def _register_search(subparsers: argparse._SubParsersAction) -> None:
    """``search``: a hyperparameter search (an Optuna study)."""
    search = subparsers.add_parser(
        "search", help="run or continue a hyperparameter search (an Optuna study)",
        description="Search SPEC (a YAML file, or a shipped spec's name) on the validation "
        "pairs: each trial is an ordinary run folder in STUDY/trials/. Running the same "
        "command again continues the study; finished trials are never rerun.")
    search.add_argument("spec", nargs="?", metavar="SPEC", help="search spec (not with --resume)")
    search.add_argument("--resume", type=Path, metavar="STUDY",
                        help="continue the study in this folder, with its own spec.yaml")
    search.add_argument("--studies-dir", type=Path,
                        help="where the study folder <spec name>/ is made (default: ./studies)")
    search.add_argument("--study-dir", type=Path, help="the study folder itself")
    search.add_argument("--storage", metavar="URL",
                        help="SQLAlchemy URL shared by every worker, e.g. postgresql+psycopg2:"
                        "//user@host/db (default: STUDY/study.db, SQLite)")
    search.add_argument("--evaluate", action="store_true",
                        help="when the study ends, score its best trial once on "
                        "pairsDevTest.txt")
    search.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                        help="seconds between a trial's heartbeats; a trial silent for twice "
                        "that is failed and retried (default: 60)")
    search.add_argument("--no-progress", action="store_true", help="no progress bars")
    search.set_defaults(func=_search)


def _register_repeat(subparsers: argparse._SubParsersAction) -> None:
    """``repeat``: a config once per seed."""
    repeat = subparsers.add_parser(
        "repeat", help="train a config once per seed; mean ± std of every metric",
        description="Train CONFIG once per seed into RUNS_DIR/repeat-<config>-<time>/ and "
        "print mean ± std (sample), min and max of the chosen epochs' validation metrics "
        "(and of the pairsDevTest metrics with --evaluate). --resume FOLDER continues a "
        "repeat that was stopped where it stopped.")
    repeat.add_argument("config", nargs="?", metavar="CONFIG",
                        help="config name or YAML path (not with --resume)")
    repeat.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                        help="the seeds, each different (not with --resume)")
    add_override_arguments(repeat, resumable=True)
    repeat.add_argument("--evaluate", action="store_true",
                        help="score each seed's chosen model once on pairsDevTest.txt")
    repeat.add_argument("--resume", type=Path, metavar="FOLDER",
                        help="continue this repeat folder where it stopped, as it was planned")
    repeat.add_argument("--no-progress", action="store_true", help="no progress bars")
    repeat.set_defaults(func=_repeat)


def _register_view2(subparsers: argparse._SubParsersAction) -> None:
    """``view2``: LFW's View 2 protocol, a model per fold."""
    view2 = subparsers.add_parser(
        "view2", help="LFW's View 2 protocol: a model per fold, mean accuracy ± standard error",
        description="For each fold k of pairs.txt, train CONFIG on the other nine folds only "
        "(data.view2_fold=k), choose its epoch and threshold on a validation split of them "
        "(person-disjoint unless data.split: random), and score fold k once. Prints each fold "
        "and the mean accuracy ± standard error over the folds (LFW's figure), the mean AUC "
        "and the averaged ROC (RUNS_DIR/view2-<config>-<time>/). Running it again with --resume "
        "continues where it stopped.")
    view2.add_argument("config", nargs="?", metavar="CONFIG",
                       help="config name or YAML path (not with --resume)")
    add_override_arguments(view2, resumable=True)
    view2.add_argument("--folds", type=int, nargs="+", metavar="K",
                       help="the 0-based folds to run (default: all ten)")
    view2.add_argument("--resume", type=Path, metavar="FOLDER",
                       help="continue this View 2 folder with its own config and overrides")
    view2.add_argument("--no-progress", action="store_true", help="no progress bars")
    view2.set_defaults(func=_view2)


def _register_compare(subparsers: argparse._SubParsersAction) -> None:
    """``compare``: one table of runs and study trials."""
    compare = subparsers.add_parser(
        "compare", help="one table of runs and study trials, with plots",
        description="Compare run folders, study folders, repeat folders or folders of runs: "
        "comparison.csv, comparison.md and figures/ in --out.")
    compare.add_argument("paths", nargs="+", type=Path, metavar="RUN|STUDY")
    compare.add_argument("--out", type=Path,
                         help="output folder (default: the study folder when given one "
                         "study, else ./comparison)")
    compare.set_defaults(func=_compare)


def _register_report(subparsers: argparse._SubParsersAction) -> None:
    """``report``: a self-contained HTML page."""
    report = subparsers.add_parser(
        "report", help="a self-contained HTML page of a run or a study",
        description="Write report.html (figures embedded, nothing fetched from a network) "
        "into the run or study folder.")
    report.add_argument("path", type=Path, metavar="RUN|STUDY")
    report.add_argument("--out", type=Path, help="the page's path (default: PATH/report.html)")
    report.set_defaults(func=_report)


def _search(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.experiments.search import GRACE_FACTOR, run_search
    from siamface.experiments.spec import load_spec
    from siamface.experiments.study_folder import StudyFolder

    if args.study_dir is not None and args.studies_dir is not None:
        raise UsageError("--study-dir names the study folder itself; drop --studies-dir")
    if args.resume is not None:
        if args.spec is not None or args.study_dir is not None or args.studies_dir is not None:
            raise UsageError(f"--resume continues {args.resume} with its own spec.yaml; drop "
                             "SPEC, --study-dir and --studies-dir")
        folder = StudyFolder(args.resume)
        spec = folder.spec()
        storage = args.storage or folder.storage()
        if storage is not None and "***" in storage:
            raise UsageError(f"{folder.study_path}: its storage URL hides the password; give "
                             "it again with --storage URL")
    elif args.spec is None:
        raise UsageError("name a search spec (a YAML file or a shipped spec) or --resume STUDY")
    else:
        spec = load_spec(args.spec)
        folder = StudyFolder(args.study_dir or (args.studies_dir or STUDIES_DIR) / spec.name)
        storage = args.storage
    if args.heartbeat < 1:
        raise UsageError(f"--heartbeat must be at least 1 second, got {args.heartbeat}")
    lfw = open_lfw(resolve_data_home(args.data_dir))
    print(f"study {spec.name} in {folder.path}: {spec.sampler} sampler, objective "
          f"{spec.objective} ({spec.direction}), pruner {spec.pruner}, up to "
          f"{spec.planned_trials()} trials", flush=True)
    result = run_search(spec, lfw, folder.path, storage, evaluate=args.evaluate,
                        heartbeat_s=args.heartbeat, progress=not args.no_progress,
                        on_epoch_end=epoch_table_printer(), on_trial=_print_trial)
    counts = ", ".join(f"{n} {state}" for state, n in result.counts.items() if n)
    print(f"study {spec.name}: {counts or 'no trials'}")
    if result.counts.get("running"):
        print(f"siamface: note: {result.counts['running']} trial(s) still running: another "
              "worker's, or one whose process was killed; a killed trial is failed and run "
              f"again by this command once {GRACE_FACTOR * args.heartbeat} s have passed "
              "without its heartbeat", file=sys.stderr)
    if result.best is not None:
        print(f"best: trial {result.best['number']}: {spec.objective} "
              f"{result.best['value']:.4f} {_params(result.best['params'])}")
    if result.test_metrics is not None:
        m = result.test_metrics
        print(f"best trial on {m['pairs_file']}: accuracy {m['accuracy']:.4f}, "
              f"AUC {m['auc']:.4f}")
    if result.not_tested is not None:
        print(f"siamface: note: not tested on {TEST_PAIRS}: {result.not_tested}",
              file=sys.stderr)
    failed = result.counts.get("failed", 0)
    if failed and failed == sum(result.counts.values()):  # none running, waiting or done
        print(f"siamface: error: every trial of {spec.name} failed (each trial's error is in "
              f"{folder.trials_dir}/NNNN/trial.json)", file=sys.stderr)
        return 1
    print(f"next: siamface compare {folder.path}; siamface report {folder.path}")
    return 0


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _print_trial(record: dict[str, Any]) -> None:
    state = record.get("state")
    value = record.get("value")
    what = f"{record.get('objective')} {value:.4f}" if value is not None else ""
    reason = f": {record['reason']}" if record.get("reason") else ""
    print(f"trial {record.get('number')}: {state} {what} ({record.get('epochs', 0)} epochs, "
          f"{record.get('seconds', 0):.0f} s) {_params(record.get('params') or {})}{reason}",
          flush=True)


def _repeat(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.experiments.repeat import read_repeat, resume_repeat, run_repeat

    def on_run(seed: int, run: Run) -> None:
        print(f"seed {seed}: {run.path}", flush=True)

    if args.resume is not None:
        given = options_of_a_new_run(args) + [
            flag for flag, on in (("--seeds", args.seeds), ("--evaluate", args.evaluate)) if on]
        if given:
            raise UsageError(f"--resume continues {args.resume} as it was planned; drop "
                             f"{', '.join(given)}")
        read_repeat(args.resume)  # a folder that is none is named before the data home opens
        lfw = open_lfw(resolve_data_home(args.data_dir))
        result = resume_repeat(args.resume, lfw, progress=not args.no_progress,
                               on_epoch_end=epoch_table_printer(), on_run=on_run)
    elif args.config is None or args.seeds is None:
        raise UsageError("name a config and --seeds (e.g. default --seeds 0 1 2), or "
                         "--resume FOLDER")
    else:
        config_from_args(args.config, args.overrides, args.time_budget)  # fail before any data
        overrides = list(args.overrides)
        if args.time_budget is not None:
            overrides.append(f"train.time_budget_s={args.time_budget}")
        lfw = open_lfw(resolve_data_home(args.data_dir))
        result = run_repeat(args.config, overrides, args.seeds, lfw, args.runs_dir or RUNS_DIR,
                            evaluate=args.evaluate, progress=not args.no_progress,
                            on_epoch_end=epoch_table_printer(), on_run=on_run)
    seeds = list(result.runs)
    print(f"{len(seeds)} seeds ({' '.join(map(str, seeds))}):")
    print(f"{'metric':<22} {'mean':>8} {'± std':>8} {'min':>8} {'max':>8}")
    for name, s in result.stats.items():
        print(f"{name:<22} {s['mean']:>8.4f} {s['std']:>8.4f} {s['min']:>8.4f} "
              f"{s['max']:>8.4f}")
    print(f"repeat folder: {result.folder}")
    return 0


def _view2(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.data.people import VIEW2_FOLDS
    from siamface.experiments.view2 import (
        check_folds,
        check_view2,
        new_folder,
        read_view2,
        run_view2,
    )

    if args.resume is not None:
        given = options_of_a_new_run(args)
        if given:
            raise UsageError(f"--resume continues {args.resume} with its own config and "
                             f"overrides; drop {', '.join(given)}")
        record = read_view2(args.resume)
        config_name, overrides, folder = record["config"], record["overrides"], args.resume
    elif args.config is None:
        raise UsageError("name a config (e.g. default) or --resume FOLDER")
    else:
        config = config_from_args(args.config, args.overrides, args.time_budget)
        config_name, overrides = args.config, list(args.overrides)
        if args.time_budget is not None:
            overrides.append(f"train.time_budget_s={args.time_budget}")
        folder = None  # made once the data home opens
    folds = args.folds if args.folds is not None else list(range(VIEW2_FOLDS))
    check_folds(folds)
    lfw = open_lfw(resolve_data_home(args.data_dir))
    if folder is None:  # made once nothing is left to refuse before the protocol writes
        check_view2(config_name, overrides, lfw, folds)
        folder = new_folder(args.runs_dir or RUNS_DIR, config.name)
    print(f"View 2 of {config_name} in {folder}: folds {' '.join(map(str, folds))}",
          flush=True)
    result = run_view2(config_name, overrides, lfw, folder, folds,
                       progress=not args.no_progress, on_epoch_end=epoch_table_printer(),
                       on_fold=_print_fold)
    s = result.summary
    if s is not None:
        print(f"View 2 over {s['folds_scored']} folds: accuracy {s['mean_accuracy']:.4f} ± "
              f"{s['sem']:.4f} (standard error), mean AUC {s['mean_auc']:.4f}, mean TAR at "
              f"FAR 1% {s['mean_tar_at_far_0_01']:.3f}")
    print(f"View 2 folder: {result.folder}")
    return 0


def _print_fold(record: dict[str, Any]) -> None:
    seconds = record.get("train_seconds")
    took = "" if seconds is None else f", {seconds:.0f} s"
    print(f"fold {record['fold']}: accuracy {record['accuracy']:.4f}, AUC {record['auc']:.4f} "
          f"(epoch {record['best_epoch']}, validation AUC {record['val_auc']:.4f}, "
          f"{record['setting']}{took})", flush=True)


def _compare(args: argparse.Namespace) -> int:
    from siamface.experiments.compare import compare, comparison_markdown, write_comparison
    from siamface.experiments.study_folder import StudyFolder

    missing = [p for p in args.paths if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no such folder")
    out = args.out
    if out is None:
        one_study = len(args.paths) == 1 and StudyFolder.is_study(args.paths[0])
        out = args.paths[0] if one_study else Path("comparison")
    comparison = compare(args.paths)
    written = write_comparison(comparison, out)
    print(comparison_markdown(comparison))
    print("wrote: " + ", ".join(str(p) for p in written.values()))
    return 0


def _report(args: argparse.Namespace) -> int:
    from siamface.experiments.report import write_html_report

    if not args.path.is_dir():
        raise FileNotFoundError(f"{args.path}: no such folder")
    from siamface.inference.pretrained import refuse_pretrained

    refuse_pretrained(args.path, "`siamface report`")
    if args.out is not None and args.out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out: expected a .html file, got {args.out}")  # never a photo
    print(f"report: {write_html_report(args.path, args.out)}")
    return 0
