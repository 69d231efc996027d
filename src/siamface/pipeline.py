"""The use cases, each once: get the data, train a config, evaluate a run, and the main job.

The command line (``siamface.cli``) parses arguments and prints; the Python API
(``siamface.api``) returns values; both call these functions, which do the work in the order
the hygiene rules need: a config is checked before anything is written, process-wide settings
are made here (not inside a component), DevTest is scored only after training has chosen its
model, and a run's model and image cache are loaded once for all of its evaluations.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamface.config import Config, TrainConfig
from siamface.data import sources as known
from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import LFW_DIR, OLD_DIR, DataNotFoundError, LFWDataset
from siamface.data.people import (
    TEST_PAIRS,
    pair_people,
    scope_files,
    scope_people,
    training_scope,
)
from siamface.data.protocol import PairsFile, read_pairs
from siamface.data.splits import LeakageError, check_no_leakage
from siamface.errors import ConfigError, SiamfaceError, SiamfaceWarning
from siamface.evaluation.bootstrap import N_BOOTSTRAP, check_bootstrap
from siamface.evaluation.gallery_calibration import calibrate_gallery, gallery_calibration
from siamface.evaluation.identification import check_one_shot, evaluate_one_shot
from siamface.evaluation.oneshot import MAIN_JOB_ONE_SHOT, ONE_SHOT_TRIALS
from siamface.evaluation.open_set_eval import evaluate_open_set
from siamface.evaluation.protocol10 import evaluate_ten_fold
from siamface.evaluation.report import (
    evaluate_pairs,
    verification_metrics,
    write_pair_results,
)
from siamface.inference.folder_eval import people_photos, score_folder
from siamface.inference.pretrained import refuse_pretrained
from siamface.inference.verifier import Verifier
from siamface.reporting.eval_figures import plot_one_shot, plot_open_set, plot_pair_evaluation
from siamface.reporting.run_report import write_run_report
from siamface.run_folder import Run, RunLogHandler
from siamface.training.checkpoint import CheckpointError
from siamface.training.inputs import prepare_inputs
from siamface.training.trainer import (
    FitResult,
    Trainer,
    TrainingDivergedError,
    latest_checkpoint,
)
from siamface.utils.allocator import keep_freed_memory
from siamface.utils.files import check_printable_name
from siamface.utils.hashing import sha256_file
from siamface.utils.lock import file_lock
from siamface.utils.machine import machine_info, usable_cores
from siamface.utils.precision import precision_record
from siamface.utils.seed import seed_everything
from siamface.utils.timing import PhaseTimer

EpochCallback = Callable[[dict[str, float]], None]
ResultCallback = Callable[[str, dict[str, Any], Path], None]


# -- data ------------------------------------------------------------------------------------


def get_data(home: Path, import_paths: Sequence[Path] | None = None,
             progress: bool = True, on_fetch: Callable[[str], None] | None = None,
             ) -> LFWDataset:
    """The LFW copy to use: ``import_paths`` imported, else the one in ``home``, else fetched.

    Args:
        home: The data home.
        import_paths: Sources for ``import_lfw`` (re-importing the same files does nothing).
        progress: Show progress bars.
        on_fetch: Called with a line saying why LFW is downloaded, before it is (to print).
    """
    from siamface.data.fetch import fetch_lfw
    from siamface.data.importer import import_lfw
    from siamface.data.lfw import open_lfw

    if import_paths:
        return import_lfw(list(import_paths), home, progress=progress)
    try:
        return open_lfw(home)
    except DataNotFoundError:  # none, or one whose import did not finish or was damaged
        if (home / OLD_DIR).exists():  # the copy before an import cut off: say how to get it
            raise
        found = "an unfinished or damaged" if (home / LFW_DIR).exists() else "no"
        if on_fetch is not None:
            on_fetch(f"{found} LFW copy in {home}: downloading it")
    fetch_lfw(home, progress=progress)  # offline: a DownloadError that names the ways out
    return open_lfw(home)


def environment(lfw: LFWDataset, precision: str = "auto") -> dict[str, Any]:
    """Versions, machine, the precision and data checksums: what a reader needs to reproduce
    a run.

    Args:
        lfw: The LFW copy trained on.
        precision: ``train.precision``; the record says what it resolved to on this machine
            and the CPU features that chose it.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "machine": machine_info(),
        "precision": precision_record(precision),
        "data": {"variant": lfw.variant, "checksums": lfw.checksums,
                 "images_sha256": lfw.images_sha256},
        "git_commit": commit,
        "command": sys.argv,
    }


# -- training --------------------------------------------------------------------------------


class OversubscribedWarning(SiamfaceWarning):
    """More threads asked for than the process has cores: each step waits on the others."""


def apply_process_settings(train: TrainConfig) -> None:
    """The process-wide settings a run asks for: torch's CPU threads and glibc's malloc."""
    if train.threads:
        cores = usable_cores()
        if train.threads > cores:  # measured: 1,000 threads on 2 cores, 48x slower epochs
            warnings.warn(OversubscribedWarning(
                f"train.threads is {train.threads}, but this process may run on {cores} "
                f"core(s): threads beyond them wait on each other; set train.threads={cores} "
                "or null"), stacklevel=2)
        torch.set_num_threads(train.threads)
    if train.keep_freed_memory:
        keep_freed_memory()  # process-wide; a no-op outside glibc


def _attach_log(run: Run) -> logging.Handler:
    handler = RunLogHandler(run.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("siamface")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def train(
    config: Config,
    lfw: LFWDataset,
    runs_dir: Path,
    resume: Path | None = None,
    progress: bool = True,
    on_epoch_end: EpochCallback | None = None,
    timer: PhaseTimer | None = None,
) -> tuple[Run, FitResult]:
    """Train ``config`` on ``lfw`` in a new run folder, or continue the run in ``resume``.

    Args:
        config: The resolved configuration, checked (``resolve_config``); ignored when
            resuming: the run's own is used.
        lfw: The imported LFW copy.
        runs_dir: Where new run folders are made.
        resume: A run folder to continue from its latest checkpoint.
        progress: Show progress bars.
        on_epoch_end: Called with each epoch's summary row.
        timer: Where to count the seconds of each phase ("image cache and batches", the
            phases of ``FitResult.seconds``, "model and calibration").

    Returns:
        The run and the fit result.
    """
    if resume is not None:
        run = Run(resume)
        config = run.config
        check_same_copy(run, lfw)
    apply_process_settings(config.train)  # before environment.json records the threads
    if resume is None:
        run = Run.create(runs_dir, config.name)
        run.save_config(config)
        run.write_environment(environment(lfw, config.train.precision))
    try:
        with file_lock(run.lock_path, f"train {run.path}", timeout=0):  # one trainer per run
            if resume is not None:  # under the lock: an evaluation holds it while it runs
                check_not_evaluated(run)
            return _train_locked(config, lfw, run, resume is not None, progress, on_epoch_end,
                                 timer or PhaseTimer())
    except SiamfaceError as err:
        # a value or a file the data refuses (too few people for a batch, an image it cannot
        # decode...) found before any epoch: the new folder holds nothing a user would keep.
        # (A run that diverged keeps its log, which says where.)
        if (resume is None and not isinstance(err, TrainingDivergedError)
                and not any(run.checkpoints_dir.glob("*"))):
            shutil.rmtree(run.path, ignore_errors=True)
        raise


def copy_differences(run: Run, lfw: LFWDataset) -> list[str]:
    """What differs between ``lfw`` and the LFW copy ``run`` was trained on: "the images" (by
    their content where both imports recorded it, else their sources by name), and the
    protocol files its scope reads (changed, added or removed); files it does not read may
    differ. Empty for a run older than environment.json's data record."""
    recorded = (run.environment() or {}).get("data")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("checksums"), dict):
        return []
    then, now = recorded["checksums"], lfw.checksums
    if recorded.get("images_sha256") and lfw.images_sha256:
        images = [] if recorded["images_sha256"] == lfw.images_sha256 else ["the images"]
    else:  # the sources they were imported from
        images = [name for name in sorted(then.keys() | now.keys())
                  if name not in known.PROTOCOL_NAMES and then.get(name) != now.get(name)]
    return images + [name for name in scope_files(run.config.data.view2_fold)
                     if then.get(name) != now.get(name)]


def check_same_copy(run: Run, lfw: LFWDataset) -> None:
    """Refuse to resume ``run`` on other data than it began on (``copy_differences``).

    Raises:
        CheckpointError: The copy differs; the message names what.
    """
    changed = copy_differences(run, lfw)
    if changed:
        raise CheckpointError(
            f"{run.environment_path}: the run began on another LFW copy than the one imported "
            f"now ({', '.join(changed)} differ); a resumed run goes on with the data it began "
            "on: import that copy again, or start a new run")


def check_not_evaluated(run: Run) -> None:
    """Refuse to train further a run already evaluated: its results belong to the model it
    chose, which more epochs may replace, and test pairs scored again after more training are
    no longer scored once by a model chosen without them. The caller holds ``run.lock_path``.

    Raises:
        CheckpointError: Naming the evaluations.
    """
    run.recover_evaluations()  # one killed while it replaced its folder is still one
    evaluated = [p.name for p in run.eval_dirs()]
    if evaluated:
        raise CheckpointError(
            f"{run.eval_root} holds evaluations of the model {run.path} chose "
            f"({', '.join(evaluated)}); training it further could replace the model they "
            "belong to, and scoring test pairs again after more training is not a test: "
            "start a new run")


def _train_locked(config: Config, lfw: LFWDataset, run: Run, resume: bool, progress: bool,
                  on_epoch_end: EpochCallback | None,
                  timer: PhaseTimer) -> tuple[Run, FitResult]:
    handler = _attach_log(run)
    try:
        # a config.yaml edited since is refused before the data and model are built
        checkpoint = latest_checkpoint(run, config) if resume else None
        seed_everything(config.seed)
        with timer.phase("image cache and batches"):
            inputs = prepare_inputs(config, lfw, progress=progress)
            trainer = Trainer.from_config(config, inputs, run, progress=progress)
        if checkpoint is not None:
            trainer.resume(checkpoint)
            run.record_resume({"after_epoch": trainer.start_epoch, "machine": machine_info(),
                               "command": sys.argv})
        run.write_data(inputs.description)
        result = trainer.fit(on_epoch_end)
        for phase, seconds in result.seconds.items():
            timer.add(phase, seconds)
        with timer.phase("model and calibration"):
            run.save_model(trainer.model, config, result.threshold, result.best_epoch,
                           result.stopped_because, result.history)
            calibrate_gallery(run, inputs.cache, lfw)  # for identification's gallery thresholds
        return run, result
    finally:
        logging.getLogger("siamface").removeHandler(handler)
        handler.close()


# -- evaluation ------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``evaluate`` computed (each also written into the run's eval folders).

    Attributes:
        metrics: Pairs file name -> its verification metrics.
        one_shot: Pairs file name -> its one-shot results.
        ten_fold: The View 2 results, when asked for.
        open_set: The open-set identification results, when asked for.
        folder: The photo folder's verification metrics, when one was given.
    """

    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    one_shot: dict[str, dict[str, Any]] = field(default_factory=dict)
    ten_fold: dict[str, Any] | None = None
    open_set: dict[str, Any] | None = None
    folder: dict[str, Any] | None = None


class OtherCopyWarning(SiamfaceWarning):
    """A run is evaluated on another LFW copy than it was trained on."""


def check_evaluable(run: Run, needs: str = "evaluation") -> None:
    """Refuse what cannot be evaluated, before anything is opened or written: a pretrained
    model's folder, or a path that is no finished run (``needs``: what asks, in words).

    Raises:
        PretrainedError, RunNotFinishedError: Naming the folder.
    """
    refuse_pretrained(run.path, needs)
    run.require_finished()


def evaluate(
    run: Run,
    lfw: LFWDataset,
    pairs: Sequence[str] = (),
    one_shot: Sequence[int] = (),
    trials: int = ONE_SHOT_TRIALS,
    ten_fold: bool = False,
    n_bootstrap: int = N_BOOTSTRAP,
    plots: bool = True,
    progress: bool = True,
    on_result: ResultCallback | None = None,
    identification: bool = False,
    folder: Path | None = None,
    timer: PhaseTimer | None = None,
) -> Evaluation:
    """Evaluate a finished run: each pairs file, one-shot on their people, View 2, open-set
    identification; then report.

    The model and the image cache are loaded once for all of them; each evaluation replaces
    its folder's files whole, and the run's report.md is rewritten at the end.

    Args:
        run: A finished run.
        lfw: The imported LFW copy.
        pairs: Imported pairs files by name, e.g. ["pairsDevTest.txt"], or paths of pairs
            files from elsewhere (see ``resolve_pairs``).
        one_shot: The values of N for N-way one-shot identification on each pairs file's
            people (none: skip).
        trials: One-shot trials per N.
        ten_fold: Also apply LFW's View 2 protocol to pairs.txt.
        n_bootstrap: Resamples for the 95% intervals (0: none).
        plots: Draw the figures.
        progress: Show a progress bar if the image cache must be built.
        on_result: Called as each result is ready, with its kind ("metrics", "one_shot",
            "ten_fold", "open_set", "folder"), the result and its folder (for printing).
        identification: Also evaluate open-set identification among DevTest people at
            gallery sizes 10, 100 and all (``evaluate_open_set``).
        folder: A folder of ``<Name>/`` photo folders, scored through the photo path
            (``evaluate_folder``, result kind "folder"); ``lfw`` may be None when nothing else
            is asked for.
        timer: Where to count the seconds of each phase ("evaluation set-up", "evaluation",
            "figures", "one-shot", "View 2", "open-set", "photo folder", "report").
    """
    if not pairs and not ten_fold and not identification and folder is None:
        raise ConfigError("nothing to evaluate: give a pairs file (e.g. pairsDevTest.txt), "
                          "the ten-fold protocol, identification or a photo folder")
    if one_shot and not pairs:
        raise ConfigError("one-shot draws its people from the pairs files; give one")
    notify = on_result or (lambda kind, result, out_dir: None)
    timer = timer or PhaseTimer()
    out = Evaluation()
    check_bootstrap(n_bootstrap)
    check_evaluable(run)  # before the lock, whose file would make a folder of a typo
    with run.evaluating("evaluate"):
        run.finished_summary()  # the report reads it: a damaged one stops us before any writes
        uses_lfw = bool(pairs) or ten_fold or identification  # (a folder alone does not)
        if uses_lfw:  # every file parses, and every check passes, before anything is written
            changed = copy_differences(run, lfw)
            if changed:
                warnings.warn(OtherCopyWarning(
                    f"{run.path} was trained on another LFW copy than the one in {lfw.home} "
                    f"({', '.join(changed)} differ; {run.environment_path.name} records the "
                    "first): its results here are on other data than its report describes"),
                    stacklevel=2)
            files = [resolve_pairs(run, lfw, name) for name in pairs]
            check_view2_scoring(run, lfw, [f for f, _ in files], ten_fold or identification)
            if one_shot:
                for pairs_file, _ in files:
                    check_one_shot(lfw, pairs_file, one_shot, trials)
        if folder is not None:
            with timer.phase("photo folder"):
                out.folder, folder_dir = evaluate_folder(run, folder, n_bootstrap, plots)
            notify("folder", out.folder, folder_dir)
            if not uses_lfw:
                with timer.phase("report"):
                    write_run_report(run)
                return out
        with timer.phase("evaluation set-up"):
            cache = load_or_build_cache(lfw, run.preprocessing, progress=progress)
            if gallery_calibration(run) is None:  # from before calibration, or missing or stale
                calibrate_gallery(run, cache, lfw)
        seen_by_run = scope_people(lfw, run.config.data.view2_fold) if pairs else frozenset()
        for name, (pairs_file, out_dir) in zip(pairs, files, strict=True):
            with run.new_eval_dir(out_dir) as new:
                with timer.phase("evaluation"):
                    seen = len(pair_people(pairs_file.pairs) & seen_by_run)
                    metrics, scored = evaluate_pairs(run, cache, pairs_file, new, name, n_bootstrap,
                                                     seen)
                if plots:
                    with timer.phase("figures"):
                        plot_pair_evaluation(run, scored, metrics, cache.images, new)
                if one_shot:
                    with timer.phase("one-shot"):
                        out.one_shot[name] = evaluate_one_shot(run, cache, lfw, pairs_file, new,
                                                               name, one_shot, trials)
                    if plots:
                        with timer.phase("figures"):
                            plot_one_shot(out.one_shot[name], new)
            out.metrics[name] = metrics
            notify("metrics", metrics, out_dir)
            if one_shot:
                notify("one_shot", out.one_shot[name], out_dir)
        if ten_fold:
            with run.new_eval_dir(run.ten_fold_dir) as new, timer.phase("View 2"):
                out.ten_fold = evaluate_ten_fold(run, cache, lfw, new)
            notify("ten_fold", out.ten_fold, run.ten_fold_dir)
        if identification:
            with run.new_eval_dir(run.open_set_dir) as new:
                with timer.phase("open-set"):
                    out.open_set = evaluate_open_set(run, cache, lfw, new)
                if plots:
                    with timer.phase("figures"):
                        plot_open_set(out.open_set, new)
            notify("open_set", out.open_set, run.open_set_dir)
        with timer.phase("report"):
            write_run_report(run)
        return out


def check_view2_scoring(run: Run, lfw: LFWDataset, files: Sequence[PairsFile],
                        all_people: bool) -> None:
    """Refuse to score a View 2 fold's run on people it trained on.

    Such a run trained on nine folds of the whole of LFW, DevTest's people among them, so only
    its own fold's people (``siamface view2`` scores them) are unseen.

    Args:
        run: The run to evaluate (nothing is checked for a View 1 run).
        lfw: The imported LFW copy.
        files: The pairs files to score.
        all_people: Whether an evaluation over every fold (ten-fold) or over DevTest's people
            (open-set identification) is asked for.

    Raises:
        LeakageError: A file's people include training people, or ``all_people``.
    """
    fold = run.config.data.view2_fold
    if fold is None:
        return
    what = f"training set of {run.path} (View 2, fold {fold} held out)"
    if all_people:
        raise LeakageError(f"{run.path} trained on every View 2 fold but {fold}, DevTest's "
                           "people among them: ten-fold and open-set evaluation would score "
                           "people it trained on; score its own fold with siamface view2")
    trained = training_scope(lfw, fold).people
    for pairs_file in files:
        check_no_leakage(pairs_file.people(), trained, Path(pairs_file.path).name, what)


def check_testable(config: Config, lfw: LFWDataset) -> None:
    """Refuse, before any training, a run that could not end with its test on pairsDevTest.txt.

    Raises:
        DataNotFoundError: pairsDevTest.txt is not imported.
        LeakageError: The config trains on a View 2 fold: DevTest's people are among its
            training people (``check_view2_scoring`` would refuse the test after training).
    """
    lfw.protocol_path(TEST_PAIRS)
    fold = config.data.view2_fold
    if fold is not None:
        raise LeakageError(f"data.view2_fold={fold}: a run on a View 2 fold trains on DevTest's "
                           f"people, so it cannot end with a test on {TEST_PAIRS}; run LFW's "
                           "View 2 protocol with siamface view2")


def evaluate_folder(run: Run, folder: Path, n_bootstrap: int = N_BOOTSTRAP,
                    plots: bool = True) -> tuple[dict[str, Any], Path]:
    """Score a folder of people's photos (``<Name>/`` folders) through the photo path.

    Every matching pair and as many seeded non-matching pairs are scored at the run's
    validation threshold; metrics.json (with the photos where no face was found), scores.csv
    and the figures go to ``eval/<folder name>-<hash>/``, the hash of the folder's absolute path
    and of each photo's name and bytes: another folder, or the same one with other photos, gets
    a folder of its own.

    Args:
        run: A finished run.
        folder: The people folder.
        n_bootstrap: Resamples for the 95% intervals (0: none).
        plots: Draw ROC, score histograms, confusion matrix and the galleries of errors.

    Returns:
        The metrics and the evaluation folder.
    """
    folder = Path(folder).resolve()
    check_printable_name(folder)  # it names the evaluation folder
    listing = [str(folder), *(f"{p.relative_to(folder)}\t{sha256_file(p)}"
                              for _, p in people_photos(folder))]
    # (a folder above it may be named in bytes that are not UTF-8: hashed as they are)
    digest = hashlib.sha256("\n".join(listing).encode(errors="surrogateescape")).hexdigest()
    # the run's precision, grey or not; the non-matching pairs drawn with seed 0 whatever the
    # run, so that every run scores a folder on the same pairs
    scored = score_folder(Verifier.from_run(run), folder, seed=0)
    metrics = verification_metrics(scored.logits, scored.labels, run.threshold, n_bootstrap)
    metrics.update(pairs_file=f"{folder.name}/ (photos)", folder=str(folder),
                   photos=len(scored.sources) + len(scored.no_face),
                   people=len(set(scored.people)), no_face=scored.no_face)
    out_dir = run.eval_dir(folder.name, digest)
    with run.new_eval_dir(out_dir) as new:
        names = [(scored.sources[i], scored.sources[j]) for i, j in scored.rows]
        write_pair_results(new, metrics, ["left", "right"], names, scored.logits,
                           scored.scores.distances.numpy(), scored.labels)
        if plots:
            plot_pair_evaluation(run, scored, metrics, scored.images, new)
    return metrics, out_dir


def resolve_pairs(run: Run, lfw: LFWDataset, name_or_path: str) -> tuple[PairsFile, Path]:
    """A pairs file to evaluate, parsed against LFW's images, and its evaluation folder.

    An imported protocol file, given by its bare name ("pairsDevTest.txt") or by any path to
    it in the data home, is read from there and gets ``eval/<stem>/``; any other pairs file is
    read from its path and gets a folder named by its content (``Run.eval_dir`` with its
    sha256), so that it can never overwrite the results of an imported file.

    Raises:
        DataNotFoundError: a bare name that is neither imported nor a file here.
        IsADirectoryError: a folder.
        UnprintableNameError: a file from elsewhere whose name does not print as itself (it
            names the evaluation folder and the report's section).
        ProtocolError: the file does not parse, or names an image LFW does not have.
    """
    path = Path(name_or_path)
    bare_name = path.name == name_or_path and name_or_path in lfw.protocol_names()
    if bare_name or lfw.is_imported(path):
        return lfw.read_pairs(path.name), run.eval_dir(path.name)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a pairs file")
    if not path.is_file():
        lfw.protocol_path(name_or_path)  # names the imported files in its message
    check_printable_name(path)
    pairs_file = read_pairs(path, image_counts=lfw.image_counts)
    return pairs_file, run.eval_dir(path.name, sha256_file(path))


# -- the main job ----------------------------------------------------------------------------


@dataclass
class MainJob:
    """What ``run_main_job`` ends with.

    Attributes:
        run: The trained run.
        fit: Its fit result.
        evaluation: DevTest's metrics (and one-shot results).
        train_seconds: Training wall time.
        seconds: Wall seconds by phase, in order (as written to the run's timings.json).
    """

    run: Run
    fit: FitResult
    evaluation: Evaluation
    train_seconds: float
    seconds: dict[str, float]


def run_main_job(
    config: Config,
    lfw: LFWDataset,
    runs_dir: Path,
    one_shot: Sequence[int] = MAIN_JOB_ONE_SHOT,
    trials: int = ONE_SHOT_TRIALS,
    n_bootstrap: int = N_BOOTSTRAP,
    plots: bool = True,
    progress: bool = True,
    on_epoch_end: EpochCallback | None = None,
    on_trained: Callable[[Run, FitResult, float], None] | None = None,
    on_result: ResultCallback | None = None,
    timer: PhaseTimer | None = None,
) -> MainJob:
    """Train ``config``, then score pairsDevTest.txt once with the chosen model, and report.

    Where the time went is written to the run's timings.json (``Run.write_timings``).

    Args:
        config: The resolved, checked configuration.
        lfw: The imported LFW copy (with pairsDevTest.txt).
        runs_dir: Where the run folder is made.
        one_shot, trials, n_bootstrap, plots, progress, on_result: As for ``evaluate``.
        on_epoch_end: Called with each epoch's summary row.
        on_trained: Called with the run, the fit result and the training seconds, before
            the evaluation.
        timer: Phases timed before this call (the caller's "data"), continued here.
    """
    check_testable(config, lfw)  # before training: the run must end with a test
    if one_shot:  # and its evaluation's settings must be able to run
        check_one_shot(lfw, lfw.read_pairs(TEST_PAIRS), one_shot, trials)
    check_bootstrap(n_bootstrap)
    timer = timer or PhaseTimer()
    start = time.perf_counter()
    run, fit = train(config, lfw, runs_dir, progress=progress, on_epoch_end=on_epoch_end,
                     timer=timer)
    seconds = time.perf_counter() - start
    if on_trained is not None:
        on_trained(run, fit, seconds)
    evaluation = evaluate(run, lfw, [TEST_PAIRS], one_shot, trials, n_bootstrap=n_bootstrap,
                          plots=plots, progress=progress, on_result=on_result, timer=timer)
    run.write_timings(timer.seconds_)
    return MainJob(run, fit, evaluation, seconds, dict(timer.seconds_))
