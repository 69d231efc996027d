"""`siamface train CONFIG` and `siamface configs`: train a config into a run folder, list configs.

Training prints one line per epoch, as a table, and ends with the epoch chosen on validation
data and the run folder; everything is also in the run folder (train.log, summary.csv).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from siamface.cli.errors import UsageError
from siamface.data.home import resolve_data_home

if TYPE_CHECKING:
    from siamface.config import Config
    from siamface.data.lfw import LFWDataset
    from siamface.run_folder import Run
    from siamface.training.trainer import FitResult

RUNS_DIR = Path("runs")  # where new run folders are made unless --runs-dir says

# (summary row key, column title, width, format) of the per-epoch table
EPOCH_COLUMNS = (
    ("epoch", "epoch", 5, "d"),
    ("train_loss", "train loss", 10, ".4f"),
    ("train_acc", "train acc", 9, ".4f"),
    ("val_loss", "val loss", 8, ".4f"),
    ("val_acc", "val acc", 7, ".4f"),
    ("val_auc", "val AUC", 7, ".4f"),
    ("val_threshold", "threshold", 9, ".3f"),
    ("lr", "lr", 8, ".2e"),
    ("seconds", "time", 6, ".0f"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``configs`` commands."""
    train = subparsers.add_parser(
        "train",
        help="train a config into a new run folder",
        description="Train CONFIG (a name from configs/, see `siamface configs`, or a YAML "
        "path) on the imported LFW's DevTrain people; validation, early stopping and the "
        "decision threshold use a split of pairsDevTrain (person-disjoint unless the config "
        "sets data.split: random, as the seed projects' configs do), never DevTest.",
    )
    train.add_argument("config", nargs="?", metavar="CONFIG",
                       help="config name or YAML path (not with --resume)")
    add_override_arguments(train, resumable=True)
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue RUN_DIR from its latest checkpoint, with its own config")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    configs = subparsers.add_parser("configs", help="list the shipped configs")
    configs.set_defaults(func=_configs)


def add_override_arguments(parser: argparse.ArgumentParser, resumable: bool = False) -> None:
    """The options of a new run shared by ``train``, ``run``, ``repeat`` and ``view2``:
    overrides, time budget, runs folder. For a command that also takes --resume
    (``resumable``), --runs-dir defaults to None, so that one given with --resume is told from
    none (``options_of_a_new_run``); a new run then goes to ``RUNS_DIR``."""
    parser.add_argument(
        "--set", dest="overrides", nargs="+", action="extend", default=[],
        metavar="KEY=VALUE", help="override config values, e.g. train.epochs=5 optim.lr=1e-3",
    )
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="stop at the end of the last epoch that fits (train.time_budget_s)")
    parser.add_argument("--runs-dir", type=Path, default=None if resumable else RUNS_DIR,
                        help="where run folders are made (default: ./runs)")


def options_of_a_new_run(args: argparse.Namespace) -> list[str]:
    """Which of CONFIG, --set, --time-budget and --runs-dir were given (each goes with a new run,
    none with --resume)."""
    return [flag for flag, given in (("CONFIG", args.config is not None),
                                     ("--set", bool(args.overrides)),
                                     ("--time-budget", args.time_budget is not None),
                                     ("--runs-dir", args.runs_dir is not None)) if given]


def config_from_args(name: str, overrides: list[str], time_budget: float | None) -> Config:
    """Load config ``name`` with ``overrides``, every component checked; ``time_budget`` sets
    train.time_budget_s."""
    from siamface.training.builder import resolve_config

    if time_budget is not None:
        if not (math.isfinite(time_budget) and time_budget > 0):
            raise UsageError(f"--time-budget: expected a finite number of seconds above 0, got "
                             f"{time_budget:g}")
        overrides = [*overrides, f"train.time_budget_s={time_budget}"]
    return resolve_config(name, overrides)


def _train(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.run_folder import Run

    if args.resume is not None:
        given = options_of_a_new_run(args)
        if given:
            raise UsageError(
                f"--resume continues {args.resume} with its own config.yaml; drop "
                f"{', '.join(given)} (or start a new run)"
            )
        resumed = Run(args.resume)
        if not resumed.config_path.is_file():
            raise UsageError(f"{args.resume}: not a run folder (no {resumed.config_path.name})")
        config = resumed.config
    elif args.config is None:
        raise UsageError("name a config to train (see `siamface configs`) or --resume RUN_DIR")
    else:
        config = config_from_args(args.config, args.overrides, args.time_budget)
    lfw = open_lfw(resolve_data_home(args.data_dir))
    from siamface.pipeline import train

    print_training_header(config, lfw)
    start = time.perf_counter()
    run, fit = train(config, lfw, args.runs_dir or RUNS_DIR, resume=args.resume,
                     progress=not args.no_progress, on_epoch_end=print_epoch_row)
    print_training_result(config, run, fit, time.perf_counter() - start)
    print(f"next: siamface evaluate {run.path} --pairs pairsDevTest.txt")
    return 0


def print_training_header(config: Config, lfw: LFWDataset) -> None:
    """What is trained on what, and the header of the per-epoch table."""
    print(describe_config(config))
    print(f"data: LFW ({lfw.variant}), {len(lfw.image_counts):,} people, "
          f"{lfw.num_images:,} images in {lfw.root}")
    print(format_epoch_header())


def print_epoch_row(row: dict[str, float]) -> None:
    print(format_epoch_row(row), flush=True)


def epoch_table_printer() -> Callable[[dict[str, float]], None]:
    """``print_epoch_row`` for a command that trains many runs (trials, seeds, folds): the
    table's header comes before each run's first row, a row whose epoch does not follow the
    last one printed."""
    last: float | None = None  # the epoch of the row printed last

    def print_row(row: dict[str, float]) -> None:
        nonlocal last
        if last is None or row["epoch"] != last + 1:
            print(format_epoch_header(), flush=True)
        last = row["epoch"]
        print_epoch_row(row)

    return print_row


def print_training_result(config: Config, run: Run, fit: FitResult, seconds: float) -> None:
    """Why training stopped, the epoch chosen on validation, the data and the run folder."""
    best = fit.history[fit.best_epoch - 1]
    print(f"stopped: {fit.stopped_because} after {len(fit.history)} epochs "
          f"({seconds / 60:.1f} min)")
    how = (f"by {config.train.early_stopping.monitor}" if config.train.early_stopping.restore_best
           else "the last (train.early_stopping.restore_best: false)")
    print(f"chosen: epoch {fit.best_epoch}, {how}: "
          f"val acc {best['val_acc']:.4f}, val AUC {best['val_auc']:.4f}, "
          f"threshold {fit.threshold:.4f} (logit, chosen on validation pairs)")
    print(describe_data(run.data()))
    print(f"run folder: {run.path}")


def describe_config(config: Config) -> str:
    """One line: the config's name and what it trains."""
    d, m = config.data, config.model
    batches = (f"{d.identities_per_batch}x{d.images_per_identity} identity batches"
               if d.sampling == "identities" else f"batches of {config.train.batch_size} pairs")
    prep = "full frame" if d.preprocessing is None else d.preprocessing
    budget = (f", time budget {config.train.time_budget_s:g} s"
              if config.train.time_budget_s is not None else "")
    return (f"config: {config.name} (seed {config.seed}): {m.name} on "
            f"{d.size}x{d.size}x{d.channels} ({prep}), {batches}, {config.loss.name} "
            f"loss, {config.optim.name} lr {config.optim.lr:g}, up to {config.train.epochs} "
            f"epochs{budget}")


def describe_data(description: dict[str, object]) -> str:
    """One line from a run's data.json: what was trained and validated on."""
    d = description
    trained = (f"{d['train_images']:,} images" if "train_images" in d
               else f"{d['train_pairs']:,} pairs + {d.get('mined_pairs', 0):,} mined")
    others = "other " if d["split"] == "person" else ""  # a random split shares people
    return (f"trained on: {d['setting']}: {d['train_people']:,} people ({trained}); "
            f"validated on {d['val_pairs']:,} pairs ({d['val_matching']:,} matching) of "
            f"{d['val_people']:,} {others}people ({d['split']} split)")


def format_epoch_header() -> str:
    return "  ".join(f"{title:>{width}}" for _, title, width, _ in EPOCH_COLUMNS)


def format_epoch_row(row: dict[str, float]) -> str:
    """One line of the per-epoch table (the seconds with an ``s``)."""
    cells = [f"{row[key]:>{width}{fmt}}" for key, _, width, fmt in EPOCH_COLUMNS[:-1]]
    cells.append(f"{row['seconds']:>{EPOCH_COLUMNS[-1][2] - 1}.0f}s")
    return "  ".join(cells)


def _configs(args: argparse.Namespace) -> int:
    from siamface.config import CONFIG_ALIASES, CONFIG_DIR, list_configs, load_config

    names = list_configs()
    if not names:
        raise FileNotFoundError(f"no configs (*.yaml) in {CONFIG_DIR}")
    for name in names:
        if name in CONFIG_ALIASES:
            print(f"{name} = {CONFIG_ALIASES[name]} (the seed project whose best setup "
                  "reproduced best)")
            continue
        print(describe_config(load_config(name)).removeprefix("config: "))
    print(f"(in {CONFIG_DIR}; train one with `siamface train NAME`)")
    return 0
