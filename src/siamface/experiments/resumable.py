"""What the experiments that continue where they stopped share: the recipe a folder keeps of
the config it trains (View 2, a repeat, a search's study), and training one part in a folder
of its own, or continuing the run a killed process left there (a View 2 fold, a repeat's
seed; a search runs a killed trial again as a new one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from siamface.config import Config
from siamface.config.changes import changed_keys, describe_change, flat_config
from siamface.data.lfw import LFWDataset
from siamface.run_folder import Run
from siamface.training.checkpoint import read_pointer


def recipe(config: Config, varied: Iterable[str] = ()) -> dict[str, Any]:
    """What ``config`` trains, flat (``{"optim.lr": 0.001, ...}``), as the experiment's folder
    keeps it, without the ``varied`` keys the experiment sets for each part (a fold, a seed)."""
    flat = flat_config(config)
    for key in varied:
        flat.pop(key)
    return flat


def recipe_change(then: dict[str, Any], now: Config, varied: Iterable[str] = ()) -> str | None:
    """What ``now`` trains otherwise than the recipe ``then`` (its first change, in words), by
    the rule a resumed run keeps (``config.changes``); None when it trains the same."""
    changed = changed_keys(then, now, ignore=varied)
    return describe_change(then, now, changed[0]) if changed else None


def train_or_continue(config: Config, lfw: LFWDataset, folder: Path, progress: bool = False,
                      on_epoch_end: Callable[[dict[str, float]], None] | None = None) -> Run:
    """The finished run of ``config`` in ``folder``: the newest there, continued from its
    latest checkpoint if a killed process left it unfinished, or a new one (beside a run
    killed before its first checkpoint, which has nothing to continue from)."""
    from siamface.pipeline import train

    run = Run.newest_in(folder)
    if run is not None and run.is_finished:
        return run
    resume = run.path if run is not None and read_pointer(run.path) else None
    run, _ = train(config, lfw, folder, resume=resume, progress=progress,
                   on_epoch_end=on_epoch_end)
    return run
