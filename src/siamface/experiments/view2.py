"""`siamface view2`: LFW's reporting protocol, a model trained for each of View 2's ten folds.

LFW's README reserves View 1 for development and View 2 (pairs.txt, ten folds whose people are
disjoint) for the figure a paper reports. For each fold k a run of the config is trained on the
other nine folds only (``data.view2_fold=k``: the unrestricted setting draws the people of those
folds from people.txt with their labels, the restricted setting their pairs), chooses its epoch
and threshold on a person-disjoint validation split of that training data, and then scores fold
k's 600 pairs once at that threshold. The figure is the mean accuracy over the folds with its
standard error (LFW's mu +- S_E), with the mean AUC and the ROC averaged over the folds.

    <runs_dir>/view2-<config>-<stamp>/fold-K/<run>/   an ordinary run folder per fold
    <runs_dir>/view2-<config>-<stamp>/view2.json       the config (and what it resolved to), each
                                                       fold's result, summary
    <runs_dir>/view2-<config>-<stamp>/roc.png          the ROC averaged over the folds

view2.json is written when the protocol starts and after every fold, so a killed protocol
continues where it stopped: a scored fold is never trained again, a fold killed mid-training
resumes from its latest checkpoint, and one killed before its first checkpoint starts that fold
afresh. One process at a time works in a folder (it holds ``.view2.lock``); a second is refused
at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamface.config import Config
from siamface.data.lfw import LFWDataset
from siamface.data.people import VIEW2_FOLDS, VIEW2_PAIRS, pair_people, training_scope
from siamface.data.protocol import PairsFile
from siamface.data.splits import check_no_leakage
from siamface.errors import ConfigError, SiamfaceError
from siamface.evaluation.metrics import roc_curve, tar_key, tar_on_grid
from siamface.evaluation.report import evaluate_pairs
from siamface.evaluation.tenfold import TenFoldResult
from siamface.experiments.resumable import (
    recipe,
    recipe_change,
    train_or_continue,
)
from siamface.run_folder import Run, epochs_seconds
from siamface.utils import atomic
from siamface.utils.atomic import write_json_atomic
from siamface.utils.files import is_inside, is_number, number_at, read_json_object
from siamface.utils.lock import file_lock

VIEW2_FILE = "view2.json"
VIEW2_LOCK = ".view2.lock"  # held while a process works in the folder
# the numbers of a fold's record that are printed and summarised
TAR_KEY = tar_key(0.01)  # the TAR at FAR 1% a fold records
FOLD_NUMBERS = ("accuracy", "auc", "threshold", TAR_KEY, "best_epoch", "val_auc")
VARIED = ("data.view2_fold",)  # what the protocol sets for each fold
ROC_GRID = np.linspace(0.0, 1.0, 201)  # FARs at which each fold's ROC is sampled and averaged


class View2Error(SiamfaceError, ValueError):
    """A View 2 folder cannot be continued as asked; the message says why."""


@dataclass
class View2Result:
    """What ``run_view2`` ends with.

    Attributes:
        folder: The protocol's folder.
        folds: Each scored fold's record, in fold order.
        summary: Mean accuracy, its standard error, mean AUC and the averaged ROC over the
            scored folds (None until two are scored).
    """

    folder: Path
    folds: list[dict[str, Any]]
    summary: dict[str, Any] | None


def new_folder(runs_dir: Path, config_name: str) -> Path:
    """Make a fresh ``view2-<config>-<stamp>`` folder in ``runs_dir`` (``-2``, ``-3``... for
    protocols started in the same second) and return it."""
    return atomic.new_folder(runs_dir, f"view2-{config_name}-{time.strftime('%Y%m%d-%H%M%S')}")


def read_view2(folder: Path) -> dict[str, Any]:
    """The folder's view2.json, checked for the keys a continuation needs."""
    path = Path(folder) / VIEW2_FILE
    if not path.is_file():
        raise View2Error(f"{path} not found: {folder} is not a View 2 folder of siamface view2")
    record = read_json_object(path, error=View2Error)
    if not (isinstance(record.get("config"), str)
            and isinstance(record.get("overrides"), list)
            and all(isinstance(o, str) for o in record["overrides"])
            and isinstance(record.get("folds"), list)
            and isinstance(record.get("recipe", {}), dict)):
        raise View2Error(f"{path}: expected an object with 'config' (a string), 'overrides' "
                         "(a list of strings), 'recipe' (an object) and 'folds' (a list)")
    for i, fold in enumerate(record["folds"]):
        where = f"folds.{i}."
        if not (isinstance(fold, dict) and is_number(fold.get("fold"), int)
                and 0 <= fold["fold"] < VIEW2_FOLDS):
            raise View2Error(f"{path}: {where}fold: expected a fold from 0 to "
                             f"{VIEW2_FOLDS - 1}")
        if not is_inside(fold.get("run")):
            raise View2Error(f"{path}: {where}run: expected the fold's run folder, inside "
                             f"{folder}")
        for key in FOLD_NUMBERS:  # each measured on a fold's pairs: never "not computable"
            if not is_number(number_at(fold, (key,), path, where, View2Error)):
                raise View2Error(f"{path}: {where}{key} is {json.dumps(fold[key])}, expected "
                                 "a finite number")
        number_at(fold, ("train_seconds",), path, where, View2Error)  # (null: not recorded)
        tar = fold.get("tar_on_grid")
        if not (isinstance(tar, list) and len(tar) == len(ROC_GRID)
                and all(is_number(x) for x in tar)):
            raise View2Error(f"{path}: {where}tar_on_grid: expected {len(ROC_GRID)} numbers")
    return record


def check_folds(folds: Sequence[int]) -> None:
    """Refuse a list of folds that is empty, repeats one or names one that does not exist."""
    if not folds or len(set(folds)) != len(folds) or not all(
            0 <= k < VIEW2_FOLDS for k in folds):
        raise ConfigError(f"--folds: expected different folds from 0 to {VIEW2_FOLDS - 1}, "
                          f"got {list(folds)}")


def check_view2(config_name: str, overrides: Sequence[str], lfw: LFWDataset,
                folds: Sequence[int]) -> dict[int, Config]:
    """Every fold's config, checked, once the protocol's own refusals have passed: what
    ``run_view2`` refuses before it writes anything, so that its caller may make the folder
    after this.

    Raises:
        ConfigError: A bad fold list, an override of data.view2_fold, or a config a fold's
            run would refuse.
        DataNotFoundError: pairs.txt or people.txt is not imported.
        ValueError: they do not hold ten folds.
    """
    from siamface.training.builder import resolve_config

    check_folds(folds)
    if any(o.split("=", 1)[0].strip() == "data.view2_fold" for o in overrides):
        raise ConfigError("data.view2_fold is set by the protocol for each fold; do not set it")
    training_scope(lfw, folds[0])  # both files imported, of ten folds each
    return {k: resolve_config(config_name, [*overrides, f"data.view2_fold={k}"])
            for k in folds}


def run_view2(
    config_name: str,
    overrides: Sequence[str],
    lfw: LFWDataset,
    folder: Path,
    folds: Sequence[int] = tuple(range(VIEW2_FOLDS)),
    progress: bool = False,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> View2Result:
    """Train and score ``folds`` of View 2 in ``folder``, continuing what is there.

    Args:
        config_name: A shipped config's name or a YAML path.
        overrides: Dotted overrides (``data.view2_fold`` is set for each fold).
        lfw: The imported LFW copy, with pairs.txt and people.txt.
        folder: The protocol's folder; one with a view2.json is continued, and must have been
            started with the same config and overrides.
        folds: The 0-based folds to run (all ten by default).
        progress: Show progress bars.
        on_epoch_end: Called with each epoch's summary row.
        on_fold: Called with each fold's record once it is scored (or found scored).
    """
    configs = check_view2(config_name, overrides, lfw, folds)
    planned = recipe(configs[folds[0]], VARIED)
    folder = Path(folder)
    if (not (folder / VIEW2_FILE).is_file() and folder.exists()
            and any(p.name != VIEW2_LOCK for p in folder.iterdir())):
        raise View2Error(f"{folder} is not empty and has no {VIEW2_FILE}; give a new folder or "
                         "one this command started")
    # one process a folder: two would each write view2.json from the folds they had read
    with file_lock(folder / VIEW2_LOCK, f"run View 2 in {folder}", timeout=0):
        records = _continued(folder, config_name, overrides, configs[folds[0]])
        pairs_file = lfw.read_pairs(VIEW2_PAIRS)  # (not imported: nothing is written)
        if not (folder / VIEW2_FILE).is_file():  # at once: one killed in its first fold goes on
            _write(folder, config_name, overrides, planned, records)
        for k in sorted(folds):
            if k in records:
                if on_fold is not None:
                    on_fold(records[k])
                continue
            # (a fold killed after training, before it was scored, is not trained again)
            run = train_or_continue(configs[k], lfw, folder / f"fold-{k}", progress,
                                    on_epoch_end)
            records[k] = {**score_fold(run, lfw, pairs_file, k),
                          "run": str(run.path.relative_to(folder)),
                          "train_seconds": epochs_seconds(run.summary())}
            _write(folder, config_name, overrides, planned, records)
            if on_fold is not None:
                on_fold(records[k])
        done = [records[k] for k in sorted(records)]
        return View2Result(folder, done,
                           _write(folder, config_name, overrides, planned, records))


def score_fold(run: Run, lfw: LFWDataset, pairs_file: PairsFile, fold: int) -> dict[str, Any]:
    """Score fold ``fold`` of pairs.txt once with a run trained for it, at its validation
    threshold; the metrics go to the run's ``eval/view2-fold/`` like any evaluation, with the
    run's lock held as ``evaluate`` holds it.

    Raises:
        View2Error: The run was not trained with this fold held out.
        LeakageError: A person of the fold is among the run's training people.
        LockTimeoutError: Another process trains or evaluates the run.
    """
    from siamface.data.cache import load_or_build_cache

    if run.config.data.view2_fold != fold:
        raise View2Error(f"{run.path} was trained with data.view2_fold="
                         f"{run.config.data.view2_fold}, not fold {fold}")
    pairs = pairs_file.fold(fold)
    check_no_leakage(pair_people(pairs), training_scope(lfw, fold).people,
                     f"{VIEW2_PAIRS} fold {fold}", "training")
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    fold_file = PairsFile(pairs_file.path, pairs, folds=1)
    label = f"{VIEW2_PAIRS} fold {fold}"
    with run.evaluating(f"score {label} with"), run.new_eval_dir(run.view2_fold_dir) as new:
        metrics, scored = evaluate_pairs(run, cache, fold_file, new, label, n_bootstrap=0)
    far, tar, _ = roc_curve(scored.logits, scored.labels)
    validation = run.model_meta["validation"]
    return {
        "fold": fold,
        "accuracy": metrics["accuracy"],
        "auc": metrics["auc"],
        "threshold": metrics["threshold"],
        TAR_KEY: metrics[TAR_KEY],
        "pairs": metrics["pairs"],
        "oracle_accuracy": metrics["oracle_accuracy"],
        "best_epoch": run.best_epoch,
        "val_auc": validation["val_auc"],
        "val_acc": validation["val_acc"],
        "setting": run.data().get("setting"),
        "train_people": run.data().get("train_people"),
        "tar_on_grid": tar_on_grid(far, tar, ROC_GRID).tolist(),
    }


def summarise_folds(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """LFW's figures over the scored folds: mean accuracy, sample std and standard error
    (std / sqrt(K)), mean AUC and the ROC averaged point by point; None under two folds."""
    if len(records) < 2:
        return None
    result = TenFoldResult(
        np.array([r["fold"] for r in records]), np.array([r["accuracy"] for r in records]),
        np.array([r["threshold"] for r in records]), np.array([r["auc"] for r in records]),
    )
    summary = {k: v for k, v in result.as_dict().items() if k != "folds"}
    summary.update(
        folds_scored=len(records),
        mean_tar_at_far_0_01=float(np.mean([r[TAR_KEY] for r in records])),
        roc_far=ROC_GRID.tolist(),
        roc_mean_tar=np.mean([r["tar_on_grid"] for r in records], axis=0).tolist(),
    )
    return summary


def _continued(folder: Path, config_name: str, overrides: Sequence[str],
               config: Config) -> dict[int, dict[str, Any]]:
    """The scored folds of an existing folder (none for a new one), after checking that it was
    started with the same config and overrides, and that the config says what it said then
    (its file edited, or a shipped config changed by an upgrade, would train the folds left
    with another recipe, averaged in with the others)."""
    if not (folder / VIEW2_FILE).is_file():
        return {}
    record = read_view2(folder)
    if record["config"] != config_name or record["overrides"] != list(overrides):
        raise View2Error(
            f"{folder / VIEW2_FILE} was started with {record['config']} "
            f"{' '.join(record['overrides'])}, not {config_name} {' '.join(overrides)}; "
            "continue it with `siamface view2 --resume` or start a new folder")
    then = record.get("recipe")  # (none in a file from before it was kept)
    change = None if then is None else recipe_change(then, config, VARIED)
    if change is not None:
        raise View2Error(f"{folder / VIEW2_FILE}: {config_name} has changed since the protocol "
                         f"started ({change}); put it back, or start a new folder")
    return {int(r["fold"]): r for r in record["folds"]}


def _write(folder: Path, config_name: str, overrides: Sequence[str], planned: dict[str, Any],
           records: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    done = [records[k] for k in sorted(records)]
    summary = summarise_folds(done)
    write_json_atomic(folder / VIEW2_FILE, {
        "config": config_name, "overrides": list(overrides), "protocol": "LFW View 2: a model "
        "per fold, trained on the other nine folds, threshold from its validation split",
        "recipe": planned, "folds": done, "summary": summary})
    if summary is not None:
        from siamface.reporting.eval_plots import plot_roc

        plot_roc(np.array(summary["roc_far"]), np.array(summary["roc_mean_tar"]),
                 folder / "roc.png", auc=summary["mean_auc"],
                 label=f"mean of {len(done)} folds",
                 title=f"View 2: {config_name}, {summary['mean_accuracy']:.4f} "
                       f"± {summary['sem']:.4f}")
    return summary
