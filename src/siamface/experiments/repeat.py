"""`siamface repeat`: one run of a config per seed, and how much the seeds' results vary.

    <runs_dir>/repeat-<config>-<stamp>/seed-S/<run>/   one ordinary run folder per seed
    <runs_dir>/repeat-<config>-<stamp>/repeat.json      the seeds, runs and statistics

Statistics are over the seeds' chosen models: the validation metrics of the epoch each run
chose, and (with ``evaluate``) the pairsDevTest metrics, each as mean, standard deviation
(sample, ddof=1: the seeds are a sample of all seeds; 0 for one seed), min and max.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamface.data.lfw import LFWDataset
from siamface.data.people import TEST_PAIRS
from siamface.errors import ConfigError
from siamface.evaluation.metrics import FARS, tar_key
from siamface.experiments.tracking import log_run
from siamface.run_folder import Run
from siamface.utils.atomic import new_folder, write_json_atomic
from siamface.utils.files import DamagedFileError, is_inside, number_at, read_json_object

REPEAT_FILE = "repeat.json"
VALIDATION_METRICS = ("val_loss", "val_acc", "val_auc", "val_threshold")
# pairsDevTest metrics.json keys summarised over seeds
TEST_METRICS = ("accuracy", "auc", "eer", *map(tar_key, FARS), "loss")


@dataclass
class RepeatResult:
    """What ``run_repeat`` ends with.

    Attributes:
        folder: The repeat's folder.
        runs: Seed -> its run.
        stats: Metric name -> {"mean", "std", "min", "max", "values"}; test metrics are
            prefixed "test_".
    """

    folder: Path
    runs: dict[int, Run]
    stats: dict[str, dict[str, Any]]


def read_repeat(folder: Path) -> dict[str, Any]:
    """The folder's repeat.json, checked: a run folder inside it for each seed, and numbers
    where seconds are kept.

    Raises:
        DamagedFileError: Naming the file and the field.
    """
    path = Path(folder) / REPEAT_FILE
    record = read_json_object(path, ("seeds",))
    if not isinstance(record["seeds"], list):
        raise DamagedFileError(f"{path}: seeds is {record['seeds']!r}, expected a list")
    for i, seed in enumerate(record["seeds"]):
        if not (isinstance(seed, dict) and is_inside(seed.get("run"))):
            raise DamagedFileError(f"{path}: seeds.{i}.run: expected the seed's run folder, "
                                   f"inside {folder}")
        for key in ("train_seconds", "eval_seconds"):
            if key in seed:
                number_at(seed, (key,), path, f"seeds.{i}.")
    return record


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof=1; 0 for one value), min and max of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "min": float(x.min()), "max": float(x.max()), "values": [float(v) for v in x]}


def run_repeat(
    config_name: str,
    overrides: Sequence[str],
    seeds: Sequence[int],
    lfw: LFWDataset,
    runs_dir: Path,
    evaluate: bool = False,
    progress: bool = False,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    on_run: Callable[[int, Run], None] | None = None,
) -> RepeatResult:
    """Train ``config`` once per seed; then summarise the validation (and test) metrics.

    Args:
        config_name: A shipped config's name or a YAML path.
        overrides: Dotted overrides (a ``seed=`` among them is replaced by each seed).
        seeds: The seeds, each different.
        lfw: The imported LFW copy.
        runs_dir: Where the repeat's folder is made.
        evaluate: Score each seed's chosen model once on pairsDevTest.txt.
        progress: Show progress bars.
        on_epoch_end: Called with each epoch's summary row.
        on_run: Called with each seed and its finished run.
    """
    from siamface.pipeline import check_testable, train
    from siamface.pipeline import evaluate as evaluate_run
    from siamface.training.builder import resolve_config

    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: expected different seeds, got {list(seeds)}")
    configs = {s: resolve_config(config_name, [*overrides, f"seed={s}"]) for s in seeds}
    config = configs[seeds[0]]
    if evaluate:  # before training: the runs must end with a test
        check_testable(config, lfw)
    folder = new_folder(runs_dir, f"repeat-{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    runs: dict[int, Run] = {}
    records: list[dict[str, Any]] = []
    for seed in seeds:
        seed_dir = folder / f"seed-{seed}"
        start = time.perf_counter()
        run, _ = train(configs[seed], lfw, seed_dir, progress=progress,
                       on_epoch_end=on_epoch_end)
        record: dict[str, Any] = {"seed": seed, "run": str(run.path.relative_to(folder)),
                                  "train_seconds": time.perf_counter() - start}
        if evaluate:
            start = time.perf_counter()
            evaluate_run(run, lfw, [TEST_PAIRS], progress=progress)
            record["eval_seconds"] = time.perf_counter() - start
        log_run(seed_dir, run)
        runs[seed] = run
        records.append(record)
        write_json_atomic(folder / REPEAT_FILE, {"config": config.name, "seeds": records})
        if on_run is not None:
            on_run(seed, run)
    stats = {m: summarise([r.model_meta["validation"][m] for r in runs.values()])
             for m in VALIDATION_METRICS}
    if evaluate:
        for key in TEST_METRICS:
            values = [_test_metrics(r)[key] for r in runs.values()]
            if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                stats[f"test_{key}"] = summarise(values)
    write_json_atomic(folder / REPEAT_FILE, {"config": config.name, "seeds": records,
                                             "stats": stats})
    return RepeatResult(folder, runs, stats)


def _test_metrics(run: Run) -> dict[str, Any]:
    from siamface.evaluation.report import read_metrics

    return read_metrics(run, TEST_PAIRS)
