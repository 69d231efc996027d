"""What the experiments that continue where they stopped share (View 2's folds, a repeat's
seeds, a search's trials): the recipe a folder keeps of the config it trains, and training one
part in a folder of its own, or continuing the run a killed process left there."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from siamface.config import Config
from siamface.data.lfw import LFWDataset
from siamface.run_folder import Run
from siamface.training.checkpoint import read_pointer
from siamface.utils.settings import flatten


def recipe(config: Config, varied: Iterable[str] = ()) -> dict[str, Any]:
    """What ``config`` trains, flat (``{"optim.lr": 0.001, ...}``), as JSON stores it, without
    the ``varied`` keys the experiment sets for each part (a fold, a seed)."""
    flat = flatten(json.loads(json.dumps(config.to_dict())))
    for key in varied:
        flat.pop(key)
    return flat


def recipe_change(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """The first key whose value differs between two recipes, with both values, in words;
    None when they are alike."""
    changed = sorted(k for k in then.keys() | now.keys() if then.get(k) != now.get(k))
    if not changed:
        return None
    key = changed[0]
    return f"{key}: {json.dumps(then.get(key))} then, {json.dumps(now.get(key))} now"


def newest_run(folder: Path) -> Run | None:
    """The newest run folder in ``folder``, if any. One killed before its first checkpoint has
    nothing to continue from: it stays as it is, and a new run beside it replaces it."""
    runs = sorted(p for p in folder.glob("*") if Run(p).config_path.is_file())
    return Run(runs[-1]) if runs else None


def training_seconds(run: Run) -> float:
    """The seconds of ``run``'s epochs, over every process that trained it."""
    return float(sum(row["seconds"] for row in run.summary()))


def train_or_continue(config: Config, lfw: LFWDataset, folder: Path, progress: bool = False,
                      on_epoch_end: Callable[[dict[str, float]], None] | None = None) -> Run:
    """The finished run of ``config`` in ``folder``: the one there, continued from its latest
    checkpoint if a killed process left it unfinished, or a new one."""
    from siamface.pipeline import train

    run = newest_run(folder)
    if run is not None and run.is_finished:
        return run
    resume = run.path if run is not None and read_pointer(run.path) else None
    run, _ = train(config, lfw, folder, resume=resume, progress=progress,
                   on_epoch_end=on_epoch_end)
    return run
