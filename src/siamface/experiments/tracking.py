"""TensorBoard event files, when the optional ``tensorboard`` extra is installed.

Beside each run folder the experiments make (trials/NNNN/ of a study, seed-S/ of a repeat), a
``tensorboard/`` folder gets the run's per-epoch scalars (every summary.csv column) and, for a
study trial, its hyperparameters and objective (TensorBoard's HPARAMS tab):
``tensorboard --logdir STUDY`` shows every trial at once. Without the extra nothing is written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from siamface.run_folder import Run

EVENTS_DIR = "tensorboard"


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def log_run(folder: Path, run: Run, params: dict[str, Any] | None = None,
            objective: str | None = None, value: float | None = None) -> Path | None:
    """Write ``run``'s summary rows (and a trial's hyperparameters) as events in
    ``folder/tensorboard``; return that folder, or None without the extra.

    Args:
        folder: The folder that holds the run folder.
        run: The run (trained, pruned or failed: whatever summary.csv holds).
        params: A trial's parameters (dotted key -> value).
        objective: The trial's objective name, e.g. "val_auc".
        value: Its value.
    """
    if not tensorboard_available():
        return None
    from torch.utils.tensorboard import SummaryWriter

    out = folder / EVENTS_DIR
    with SummaryWriter(log_dir=str(out)) as writer:
        for row in run.summary():
            for key, scalar in row.items():
                if key != "epoch":
                    writer.add_scalar(key, scalar, int(row["epoch"]))
        if params is not None and objective is not None and value is not None:
            hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                       for k, v in params.items()}
            writer.add_hparams(hparams, {f"objective/{objective}": value}, run_name=".")
    return out

