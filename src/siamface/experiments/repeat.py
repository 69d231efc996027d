"""`siamface repeat`: one run of a config per seed, and how much the seeds' results vary.

    <runs_dir>/repeat-<config>-<stamp>/seed-S/<run>/   one ordinary run folder per seed
    <runs_dir>/repeat-<config>-<stamp>/repeat.json      the plan, the seeds' runs, statistics

repeat.json is written when the repeat starts (its plan: config, overrides, seeds, whether to
test, and what the config resolved to) and after every seed, so a killed repeat continues
where it stopped (``resume_repeat``, ``siamface repeat --resume``). One process at a time
works in a folder (it holds ``.repeat.lock``); a second is refused at once.

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

from siamface.config import Config
from siamface.data.lfw import LFWDataset
from siamface.data.people import TEST_PAIRS
from siamface.errors import ConfigError, SiamfaceError
from siamface.evaluation.metrics import FARS, tar_key
from siamface.experiments.resumable import (
    recipe,
    recipe_change,
    train_or_continue,
)
from siamface.experiments.tracking import log_run
from siamface.run_folder import Run, epochs_seconds
from siamface.utils.atomic import new_folder, write_json_atomic
from siamface.utils.files import (
    DamagedFileError,
    is_inside,
    is_number,
    number_at,
    read_json_object,
)
from siamface.utils.lock import file_lock

REPEAT_FILE = "repeat.json"
REPEAT_LOCK = ".repeat.lock"  # held while a process works in the folder
VARIED = ("seed",)  # what the repeat sets for each of its runs
VALIDATION_METRICS = ("val_loss", "val_acc", "val_auc", "val_threshold")
# pairsDevTest metrics.json keys summarised over seeds
TEST_METRICS = ("accuracy", "auc", "eer", *map(tar_key, FARS), "loss")


class RepeatError(SiamfaceError, ValueError):
    """A repeat folder cannot be continued as asked; the message says why."""


@dataclass
class RepeatResult:
    """What ``run_repeat`` and ``resume_repeat`` end with.

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
        RepeatError: The folder is none that `siamface repeat` made.
        DamagedFileError: Naming the file and the field.
    """
    path = Path(folder) / REPEAT_FILE
    if not path.is_file():
        raise RepeatError(f"{folder}: not a repeat folder (no {REPEAT_FILE}); give one that "
                          "`siamface repeat` made")
    record = read_json_object(path, ("seeds",))
    if not isinstance(record["seeds"], list):
        raise DamagedFileError(f"{path}: seeds is {record['seeds']!r}, expected a list")
    for i, seed in enumerate(record["seeds"]):
        if not (isinstance(seed, dict) and is_inside(seed.get("run"))):
            raise DamagedFileError(f"{path}: seeds.{i}.run: expected the seed's run folder, "
                                   f"inside {folder}")
        if not is_number(seed.get("seed"), int):
            raise DamagedFileError(f"{path}: seeds.{i}.seed is {seed.get('seed')!r}, expected "
                                   "a whole number")
        for key in ("train_seconds", "eval_seconds"):
            if key in seed:
                number_at(seed, (key,), path, f"seeds.{i}.")
    if "plan" in record:  # (a repeat begun before plans were kept has none)
        _check_plan(record, path)
    return record


def _check_plan(record: dict[str, Any], path: Path) -> None:
    plan = record["plan"]
    fields = (("config", "a config name or path", lambda v: isinstance(v, str)),
              ("overrides", "a list of overrides",
               lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v)),
              ("seeds", "a list of different whole numbers",
               lambda v: isinstance(v, list) and _different_seeds(v)),
              ("evaluate", "true or false", lambda v: isinstance(v, bool)))
    if not isinstance(plan, dict):
        raise DamagedFileError(f"{path}: plan is {plan!r}, expected an object")
    for key, expected, holds in fields:
        if not holds(plan.get(key)):
            raise DamagedFileError(f"{path}: plan.{key} is {plan.get(key)!r}, expected "
                                   f"{expected}")
    if not isinstance(record.get("recipe"), dict):
        raise DamagedFileError(f"{path}: recipe: expected the object the repeat began with")


def _different_seeds(seeds: Sequence[Any]) -> bool:
    """Whether ``seeds`` are one or more whole numbers, each different (numbers first: a list
    among them cannot be put in a set)."""
    return (bool(seeds) and all(is_number(s, int) for s in seeds)
            and len(set(seeds)) == len(seeds))


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
    plan = {"config": config_name, "overrides": list(overrides), "seeds": list(seeds),
            "evaluate": evaluate}
    configs = _checked_configs(plan, lfw)
    name = configs[seeds[0]].name
    folder = new_folder(runs_dir, f"repeat-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    with _working_in(folder):
        return _run_seeds(folder, plan, configs, {}, lfw, progress, on_epoch_end, on_run)


def resume_repeat(
    folder: Path,
    lfw: LFWDataset,
    progress: bool = False,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    on_run: Callable[[int, Run], None] | None = None,
) -> RepeatResult:
    """Continue the repeat in ``folder`` where it stopped, as it was planned: a seed done is
    kept, a seed killed mid-training goes on from its latest checkpoint (one killed after
    training is not trained again), the seeds left are trained, and the statistics written.

    Raises:
        RepeatError: The folder is no repeat's (no repeat.json), its repeat.json has no plan
            (an older repeat's), or its config says something else now than when the repeat
            began.
    """
    folder = Path(folder)
    path = folder / REPEAT_FILE
    read_repeat(folder)  # a folder that is no repeat's is named before its lock makes one
    with _working_in(folder):  # read under the lock: what a process ending now wrote counts
        record = read_repeat(folder)
        plan = record.get("plan")
        if plan is None:
            raise RepeatError(f"{path}: no plan of the repeat's seeds (a repeat begun by an "
                              "older siamface); start a new repeat")
        configs = _checked_configs(plan, lfw)
        change = recipe_change(record["recipe"], configs[plan["seeds"][0]], VARIED)
        if change is not None:
            raise RepeatError(f"{path}: {plan['config']} has changed since the repeat began "
                              f"({change}); put it back, or start a new repeat")
        done = {int(s["seed"]): s for s in record["seeds"]}
        return _run_seeds(folder, plan, configs, done, lfw, progress, on_epoch_end, on_run)


def _working_in(folder: Path) -> Any:
    """The folder's lock: one process a folder (two would each write repeat.json from the
    seeds they had read)."""
    return file_lock(folder / REPEAT_LOCK, f"run the repeat in {folder}", timeout=0)


def _checked_configs(plan: dict[str, Any], lfw: LFWDataset) -> dict[int, Config]:
    """Each planned seed's config, refused before anything is trained."""
    from siamface.pipeline import check_testable
    from siamface.training.builder import resolve_config

    seeds = plan["seeds"]
    if not _different_seeds(seeds):
        raise ConfigError(f"--seeds: expected different seeds, got {list(seeds)}")
    configs = {s: resolve_config(plan["config"], [*plan["overrides"], f"seed={s}"])
               for s in seeds}
    if plan["evaluate"]:  # before training: the runs must end with a test
        check_testable(configs[seeds[0]], lfw)
    return configs


def _run_seeds(folder: Path, plan: dict[str, Any], configs: dict[int, Config],
               done: dict[int, dict[str, Any]], lfw: LFWDataset, progress: bool,
               on_epoch_end: Callable[[dict[str, float]], None] | None,
               on_run: Callable[[int, Run], None] | None) -> RepeatResult:
    """Train (or continue) each planned seed not ``done``, writing repeat.json after each; the
    caller holds the folder's lock."""
    from siamface.evaluation.report import metrics_path
    from siamface.pipeline import evaluate as evaluate_run

    first = configs[plan["seeds"][0]]
    head = {"config": first.name, "plan": plan, "recipe": recipe(first, VARIED)}
    records = dict(done)

    def write(**more: Any) -> None:
        seeds = [records[s] for s in plan["seeds"] if s in records]
        write_json_atomic(folder / REPEAT_FILE, {**head, "seeds": seeds, **more})

    write()  # the plan at once: a repeat killed in its first seed goes on
    runs: dict[int, Run] = {}
    for seed in plan["seeds"]:
        if seed in records:
            runs[seed] = Run(folder / records[seed]["run"])
        else:
            seed_dir = folder / f"seed-{seed}"
            run = train_or_continue(configs[seed], lfw, seed_dir, progress, on_epoch_end)
            record: dict[str, Any] = {"seed": seed, "run": str(run.path.relative_to(folder)),
                                      "train_seconds": epochs_seconds(run.summary())}
            # a seed killed after its test is not scored again: its figure is read back
            if plan["evaluate"] and not metrics_path(run, TEST_PAIRS).is_file():
                start = time.perf_counter()
                evaluate_run(run, lfw, [TEST_PAIRS], progress=progress)
                record["eval_seconds"] = time.perf_counter() - start
            log_run(seed_dir, run)
            runs[seed], records[seed] = run, record
            write()
        if on_run is not None:
            on_run(seed, runs[seed])
    stats = {m: summarise([r.model_meta["validation"][m] for r in runs.values()])
             for m in VALIDATION_METRICS}
    if plan["evaluate"]:
        for key in TEST_METRICS:
            values = [_test_metrics(r)[key] for r in runs.values()]
            if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                stats[f"test_{key}"] = summarise(values)
    write(stats=stats)
    return RepeatResult(folder, runs, stats)


def _test_metrics(run: Run) -> dict[str, Any]:
    from siamface.evaluation.report import read_metrics

    return read_metrics(run, TEST_PAIRS)
