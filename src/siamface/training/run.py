"""A training run: its folder, its records, and the model it ends with.

A run folder holds everything needed to trust and reuse a result:

    config.yaml        the resolved configuration (every default filled in)
    environment.json   library versions, machine, data checksums, git commit, command
    data.json          what was trained and validated on (counts, setting, cache key)
    train.log          the log; summary.csv: one row per epoch
    checkpoints/       one folder per epoch (weights, metrics, optimizer state)
    model.safetensors  the chosen model's weights, and model.json: its config, the threshold
                       chosen on validation data, and the epoch it comes from
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import safetensors.torch

from siamface.data.lfw import LFWDataset
from siamface.models.siamese import SiameseNet
from siamface.training.config import Config, load_config, save_resolved
from siamface.training.inputs import prepare_inputs, preprocessing_of
from siamface.training.trainer import FitResult, Trainer, build_run_model
from siamface.utils.atomic import atomic_path, write_json_atomic
from siamface.utils.machine import machine_info
from siamface.utils.seed import seed_everything

MODEL_WEIGHTS = "model.safetensors"
MODEL_META = "model.json"


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """A fresh folder ``runs_dir/<name>-<YYYYmmdd-HHMMSS>`` (suffixed if it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(runs_dir) / f"{name}-{stamp}"
    k = 1
    while run_dir.exists():
        k += 1
        run_dir = Path(runs_dir) / f"{name}-{stamp}-{k}"
    run_dir.mkdir(parents=True)
    return run_dir


def environment(lfw: LFWDataset) -> dict[str, Any]:
    """Versions, machine and data checksums: what a reader needs to reproduce a run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "machine": machine_info(),
        "data": {"variant": lfw.variant, "checksums": lfw.checksums},
        "git_commit": commit,
        "command": sys.argv,
    }


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("siamface")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def train_run(
    config: Config,
    lfw: LFWDataset,
    runs_dir: Path,
    resume: Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Path, FitResult]:
    """Train ``config`` on ``lfw`` in a new run folder, or continue the run in ``resume``.

    Args:
        config: The resolved configuration (ignored when resuming: the run's own is used).
        lfw: The imported LFW copy.
        runs_dir: Where new run folders are made.
        resume: A run folder to continue from its latest checkpoint.
        progress: Show progress bars.
        on_epoch_end: Called with each epoch's summary row.

    Returns:
        The run folder and the fit result.
    """
    if resume is not None:
        run_dir = Path(resume)
        config = load_config(run_dir / "config.yaml")
    else:
        run_dir = new_run_dir(runs_dir, config.name)
        save_resolved(config, run_dir / "config.yaml")
        write_json_atomic(run_dir / "environment.json", environment(lfw))
    handler = _attach_log(run_dir)
    try:
        seed_everything(config.seed)
        inputs = prepare_inputs(config, lfw, progress=progress)
        write_json_atomic(run_dir / "data.json", inputs.description)
        trainer = Trainer(config, inputs, run_dir, progress=progress)
        if resume is not None:
            trainer.resume()
        result = trainer.fit(on_epoch_end)
        save_model(run_dir, trainer.model, config, result)
        return run_dir, result
    finally:
        logging.getLogger("siamface").removeHandler(handler)
        handler.close()


def save_model(run_dir: Path, model: SiameseNet, config: Config, result: FitResult) -> None:
    """Write the chosen model: weights (safetensors) first, then its JSON description."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / MODEL_WEIGHTS) as tmp:
        safetensors.torch.save_file(state, str(tmp))
    write_json_atomic(run_dir / MODEL_META, {
        "config": config.to_dict(),
        "preprocessing": preprocessing_of(config.data).to_dict(),
        "threshold": result.threshold,
        "best_epoch": result.best_epoch,
        "stopped_because": result.stopped_because,
        "validation": result.history[result.best_epoch - 1],
    })


def load_model(run_dir: Path) -> tuple[SiameseNet, dict[str, Any]]:
    """Load a run's chosen model in eval mode, and its description (threshold, config, ...)."""
    run_dir = Path(run_dir)
    meta_path = run_dir / MODEL_META
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found: {run_dir} is not a finished run (train it, or resume it "
            "with `siamface train --resume`)"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    config = Config.from_dict(meta["config"])
    model = build_run_model(config)
    model.load_state_dict(safetensors.torch.load_file(str(run_dir / MODEL_WEIGHTS)))
    model.eval()
    return model, meta

