"""`siamface search`: an Optuna study whose every trial is an ordinary run folder.

Optuna does the searching: its samplers (grid, TPE), pruners (median, percentile, Hyperband) on
the per-epoch validation objective, its RDB storage (SQLite in the study folder, or any
SQLAlchemy URL shared by many workers) and its heartbeat, which marks a trial whose process
died as failed and, through ``RetryHeartbeatStaleTrialCallback``, queues it again. This
module turns a trial's parameters into config overrides, trains them with
``siamface.pipeline.train``, and keeps each trial's record in the study folder (see
``study_folder``), since the trainer does not record that a run was pruned.

Each worker runs one trial at a time and, before each, counts the trials that are finished,
running or queued, so that the workers of one study together run ``n_trials`` trials (a grid:
each combination once) and a re-run of the same command only runs what is left. The count and
the start of the trial it allows happen under the study's lock (``claim.TrialClaim``), or two
workers counting at once would both start the last trial.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from siamface.data.lfw import LFWDataset
from siamface.data.people import TEST_PAIRS
from siamface.errors import ConfigError, SiamfaceError, reason_of
from siamface.experiments.claim import TrialClaim
from siamface.experiments.resumable import recipe, recipe_change
from siamface.experiments.spec import PRUNERS, Param, SearchSpec, SpecError, check_new_spec
from siamface.experiments.study_folder import StudyFolder, StudyFolderError
from siamface.experiments.tracking import log_run
from siamface.run_folder import Run
from siamface.utils.lock import file_lock

# Seconds between a running trial's heartbeats; a trial silent for GRACE_FACTOR heartbeats
# is taken for dead (failed, and queued again) by the next worker that starts a trial.
HEARTBEAT_S = 60
GRACE_FACTOR = 2
# times a trial whose process died is queued again
MAX_RETRY = 3
FAIL_REASON = "fail_reason"  # the user attribute that holds a failed trial's one-line reason
# combinations of the other parameters' values tried beside a value the base config refuses
MAX_COMBINATIONS = 256


@dataclass
class SearchResult:
    """What ``run_search`` ends with.

    Attributes:
        folder: The study folder.
        counts: State ("complete", "pruned", "failed", "killed", "running", "waiting") ->
            trials.
        best: The best complete trial's record, or None (also where it ran in another
            worker's study folder).
        test_metrics: The best trial's pairsDevTest metrics, when evaluated.
        not_tested: Why the best trial was not scored on pairsDevTest when asked to be.
    """

    folder: StudyFolder
    counts: dict[str, int]
    best: dict[str, Any] | None
    test_metrics: dict[str, Any] | None = None
    not_tested: str | None = None


def default_storage_url(folder: StudyFolder) -> str:
    """study.db in the folder, its path escaped (a "?" or "%" in a study's name is a name)."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(folder.db_path.resolve())).render_as_string(
        hide_password=False)


def make_storage(url: str, heartbeat_s: int = HEARTBEAT_S, named: str | None = None) -> Any:
    """Optuna's RDB storage at ``url`` with heartbeats and the retry of dead trials.

    Args:
        url: Any SQLAlchemy URL (sqlite:///..., postgresql+psycopg2://...).
        heartbeat_s: Seconds between heartbeats.
        named: What errors call it (default: ``--storage URL``, its password hidden).
    """
    named = named or f"--storage {hide_password(url)}"
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise SpecError(f"--storage {url}: an in-memory database ends with its process, "
                            "and the study with it; give a file (sqlite:///PATH) or a server")
        for attempt in range(3):
            try:
                return RDBStorage(
                    url, heartbeat_interval=heartbeat_s,
                    grace_period=GRACE_FACTOR * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRY),
                    engine_kwargs=None if url.startswith("sqlite") else {"pool_pre_ping": True},
                )
            except (IntegrityError, OperationalError, ProgrammingError) as err:
                # workers starting at once on a new database both made its tables (SQLite
                # says "table ... already exists", PostgreSQL 'relation "studies" already
                # exists'); the other's are there now: open them
                made_twice = (isinstance(err, IntegrityError)
                              or "already exists" in reason_of(err))
                if attempt == 2 or not made_twice:
                    raise
                time.sleep(1.0)
    except ImportError as err:  # the driver of the URL's database is not installed
        raise SpecError(f"{named}: {err}") from None
    except Exception as err:  # SQLAlchemy's errors: bad URL, no server, refused login
        if type(err).__module__.startswith("sqlalchemy"):
            raise SpecError(f"{named}: {reason_of(err)}") from None
        raise


def hide_password(url: str) -> str:
    """``url`` with its password (if any) shown as ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: show it as given
        return url


def make_sampler(spec: SearchSpec, trials_before: int = 0) -> Any:
    """The spec's sampler for the trial that follows ``trials_before`` trials of the study.

    TPE's seed comes from the spec's seed and that count, so that a study continued in a new
    process, or a second worker, never draws the parameters of a trial already run (its first
    trials are random draws: one seed for every process would repeat them), while a study run
    again from scratch draws the same ones. The grid keeps the spec's seed, which orders its
    combinations (the storage records which were run).
    """
    import numpy as np
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(spec.grid(), seed=spec.seed)
    seed = int(np.random.SeedSequence([spec.seed, trials_before]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed)


def optuna_pruner(name: str, options: dict[str, Any]) -> Any:
    """The Optuna pruner that PRUNERS names ``name``, given Optuna's own ``options``."""
    import optuna

    return getattr(optuna.pruners, PRUNERS[name])(**options)


def make_pruner(spec: SearchSpec) -> Any:
    try:
        return optuna_pruner(spec.pruner, spec.pruner_options)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{spec.source}: pruner {spec.pruner}: {err}") from None


def suggest(trial: Any, param: Param) -> Any:
    """Ask ``trial`` for ``param``'s value (by its type, through Optuna's public API)."""
    if param.type == "categorical":
        return trial.suggest_categorical(param.key, list(param.choices))
    if param.type == "int":
        return trial.suggest_int(param.key, int(param.low), int(param.high),
                                 step=int(param.step or 1), log=param.log)
    return trial.suggest_float(param.key, param.low, param.high, step=param.step, log=param.log)


def trial_overrides(spec: SearchSpec, params: dict[str, Any]) -> list[str]:
    """The overrides that make a trial's config: the spec's fixed ones, the per-trial time
    budget, then the trial's parameters (values as YAML-readable JSON)."""
    overrides = list(spec.fixed)
    if spec.trial_time_budget_s is not None:
        overrides.append(f"train.time_budget_s={spec.trial_time_budget_s}")
    return overrides + [f"{key}={json.dumps(value)}" for key, value in params.items()]


def space_refusal(spec: SearchSpec, param: Param, value: Any) -> str | None:
    """Why the spec's base config refuses ``param`` = ``value`` alone, beside each value of
    any one other parameter and beside every combination of the others' values, the first
    MAX_COMBINATIONS of them (None: some such trial takes it; e.g. a momentum is refused beside
    the base's AdamW but taken beside ``optim.name: sgd``; a Nesterov momentum needs both)."""
    from siamface.training.builder import resolve_config

    others = [other for other in spec.space if other is not param]
    combinations = itertools.islice(itertools.product(*(o.extremes() for o in others)),
                                    MAX_COMBINATIONS)
    tries = ([{}] + [{other.key: v} for other in others for v in other.extremes()]
             + [dict(zip((o.key for o in others), values, strict=True))
                for values in combinations])
    first = None
    for beside in tries:
        try:
            resolve_config(spec.base, trial_overrides(spec, {**beside, param.key: value}))
            return None
        except ConfigError as err:
            first = first or str(err)
    return first


SPEC_ATTR = "siamface_spec"  # the study's user attribute: what of the spec made it this study
# what makes two specs of one name one study: not how long it runs, nor where its base config
# file lies on each worker's machine (an absolute path), but what every trial trains: the
# recipe, the base config with the fixed overrides applied (compared as a resumed run is)
SPEC_MARK = ("objective", "sampler", "space", "pruner", "recipe")


def open_study(spec: SearchSpec, storage: Any) -> Any:
    """The spec's study in ``storage``, made if new (every worker of a study calls this)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # siamface prints each trial itself
    return optuna.create_study(
        study_name=spec.name, storage=storage, sampler=make_sampler(spec),
        pruner=make_pruner(spec), direction=spec.direction, load_if_exists=True,
    )


def check_study(study: Any, spec: SearchSpec, folder: StudyFolder, where: str) -> None:
    """Refuse a storage whose study is not this folder's: one made by another spec of the same
    name (its direction and space would be taken for this one's), or one that lacks trials the
    folder has records of (a study.db deleted or emptied: the trials would be run again over
    those records). A study made without the mark gets it."""
    from siamface.training.builder import resolve_config

    base = resolve_config(spec.base, spec.fixed)
    made_by = json.loads(json.dumps({k: v for k, v in spec.to_dict().items()  # as stored
                                     if k in SPEC_MARK}))
    made_by["recipe"] = recipe(base)
    mark = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(mark, dict):
        mark = {}
    if not isinstance(mark.get("recipe", {}), dict):  # kept another way (a digest): marked anew
        mark = {k: v for k, v in mark.items() if k != "recipe"}
    differ = [k for k in SPEC_MARK if k in mark and k != "recipe" and mark[k] != made_by[k]]
    if differ:
        raise StudyFolderError(
            f"{where}: its study {spec.name!r} was made by another spec of that name (its "
            f"{differ[0]} differs); give this spec its own name")
    change = recipe_change(mark["recipe"], base) if "recipe" in mark else None
    if change is not None:
        raise StudyFolderError(
            f"{where}: its study {spec.name!r} trains another recipe than this spec's base "
            f"config and fixed overrides ({change}); put them back, or give this spec its "
            "own name")
    if any(k not in mark for k in SPEC_MARK):  # a study begun before a key was marked gets it
        study.set_user_attr(SPEC_ATTR, {**made_by, **mark})
    stored = {t.number for t in study.trials}
    missing = [r["number"] for r in folder.trials() if r["number"] not in stored]
    if missing:
        raise StudyFolderError(
            f"{folder.trial_dir(missing[0])} records a trial that {where} does not hold: the "
            "study's storage was deleted, emptied or replaced; put it back, or search in a new "
            "study folder")


class TrialObjective:
    """Train one trial's config into trials/NNNN/ and return its validation objective.

    Args:
        spec: The search spec.
        folder: The study folder.
        lfw: The imported LFW copy.
        progress: Show progress bars.
        on_epoch_end: Also called with each epoch's summary row (for printing).
        on_start: Called first thing in each trial (which then exists in the storage).
    """

    def __init__(self, spec: SearchSpec, folder: StudyFolder, lfw: LFWDataset,
                 progress: bool = False,
                 on_epoch_end: Callable[[dict[str, float]], None] | None = None,
                 on_start: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self.folder = folder
        self.lfw = lfw
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        self.on_start = on_start
        self.running: int | None = None  # the number of the trial being run, if any
        self.stopped_by: dict[int, str] = {}  # trial -> the error (not its own) that stopped it

    def __call__(self, trial: Any) -> float:
        import optuna

        from siamface.pipeline import train
        from siamface.training.builder import resolve_config
        from siamface.training.trainer import TrainingDivergedError

        if self.on_start is not None:
            self.on_start()
        self.running = trial.number
        params = {p.key: suggest(trial, p) for p in self.spec.space}
        retried = retried_from(trial)
        self.folder.write_trial(trial.number, state="running", params=params, value=None,
                                reason=None, run=None, retried_from=retried,
                                objective=self.spec.objective)
        start = time.perf_counter()
        try:
            config = resolve_config(self.spec.base, trial_overrides(self.spec, params))
            _, fit = train(config, self.lfw, self.folder.trial_dir(trial.number),
                             progress=self.progress,
                             on_epoch_end=self._epoch_hook(trial, config.train.epochs))
        except optuna.TrialPruned as pruned:
            self._finish(trial, "pruned", start, reason=str(pruned))
            raise
        except (ConfigError, TrainingDivergedError) as err:
            self._fail(trial, start, " ".join(str(err).splitlines()))
            raise
        except (SiamfaceError, OSError) as err:  # the data home's or the disk's, not the
            # trial's: it is run again, as an interrupted trial is, its record saying why
            self.stopped_by[trial.number] = f"{type(err).__name__}: {reason_of(err)}"
            raise
        except Exception as err:  # a bug, or its parameters' (out of memory): its own
            # failure, recorded as such, not run again; shown to the user (raised on)
            self._fail(trial, start, f"{type(err).__name__}: {' '.join(str(err).splitlines())}")
            raise
        value = float(fit.history[fit.best_epoch - 1][self.spec.objective])
        self._finish(trial, "complete", start, value=value, best_epoch=fit.best_epoch,
                     stopped_because=fit.stopped_because)
        return value

    def _epoch_hook(self, trial: Any, epochs: int) -> Callable[[dict[str, float]], None]:
        """Report each epoch's objective to Optuna and stop the trial where its pruner says,
        except after the last of its ``epochs``: by then stopping saves nothing, and pruning
        would throw away a finished trial's result (and what TPE learns from it)."""
        import optuna

        objective = self.spec.objective

        def on_epoch_end(row: dict[str, float]) -> None:
            if self.on_epoch_end is not None:
                self.on_epoch_end(row)
            epoch, value = int(row["epoch"]), float(row[objective])
            trial.report(value, epoch)
            if epoch < epochs and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}: {objective} "
                                         f"{value:.4f} ({self.spec.pruner} pruner)")

        return on_epoch_end

    def _fail(self, trial: Any, start: float, reason: str) -> None:
        trial.set_user_attr(FAIL_REASON, reason)
        self._finish(trial, "failed", start, reason=reason)

    def _finish(self, trial: Any, state: str, start: float, **record: Any) -> None:
        run_dir = self.folder.run_dir(trial.number)
        if run_dir is not None:
            trial.set_user_attr("run", str(run_dir.relative_to(self.folder.path)))
        run = None if run_dir is None else Run(run_dir)
        saved = self.folder.write_trial(
            trial.number, state=state, seconds=time.perf_counter() - start,
            run=None if run is None else run.name,
            epochs=0 if run is None else len(run.summary()), **record,
        )
        if run is not None:
            log_run(self.folder.trial_dir(trial.number), run, saved["params"],
                    self.spec.objective, record.get("value"))
        # Until Optuna records the state too (as the objective returns), an interrupt fails
        # the trial whatever its record says: it is still the one to run again.
        self.running = None


def retried_from(trial: Any) -> int | None:
    """The number of the dead trial that ``trial`` (a running optuna.Trial) retries, if any."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    return RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)


def count_states(study: Any) -> dict[str, int]:
    """complete, pruned, failed (by the objective), killed (failed by the heartbeat),
    running and waiting trials."""
    from optuna.trial import TrialState

    counts = dict.fromkeys(("complete", "pruned", "failed", "killed", "running", "waiting"), 0)
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.FAIL:
            counts["failed" if FAIL_REASON in t.user_attrs else "killed"] += 1
        else:
            counts[t.state.name.lower()] += 1
    return counts


def retry_interrupted_trial(study: Any, folder: StudyFolder, number: int) -> None:
    """Queue trial ``number`` again, as the heartbeat does for a dead trial, when Optuna failed
    it for this process's interrupt (``_interrupted``): the next run of the study runs its
    parameters (a grid: its point) again."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    if _interrupted(trial, folder):
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, trial)


def _interrupted(trial: Any, folder: StudyFolder) -> bool:
    """Whether Optuna failed ``trial`` (a FrozenTrial) for its process, not for an error of
    its own: interrupted or dead while its record says "running", or after the record said
    how it ended but before Optuna recorded that (its logging ran in between)."""
    from optuna.trial import TrialState

    return (trial.state == TrialState.FAIL and FAIL_REASON not in trial.user_attrs
            and _record_state(folder, trial.number) in ("running", "complete", "pruned"))


def _record_state(folder: StudyFolder, number: int) -> str | None:
    """The state in trial ``number``'s record; None where it has none or it is damaged (its
    reader says so where the record is read for its contents)."""
    try:
        record = folder.trial(number)
    except StudyFolderError:
        return None
    return None if record is None else record["state"]


def sync_killed_trials(study: Any, folder: StudyFolder,
                       stopped_by: dict[int, str] | None = None) -> None:
    """Write "failed" into the record of each trial that Optuna failed for its process
    (``_interrupted``: it was interrupted, died, or met an error not its own, mid-trial), with
    its run folder if it made one, why (``stopped_by``: trial -> that error, where known) and
    the trial that retries it; and into the record of a trial failed for an error of its own
    whose record could not be written then (a full disk), with that error."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    # each retry's history ends with the trial it retries (retried_trial_number is the first)
    retried_by = {history[-1]: t.number for t in trials
                  if (history := RetryHeartbeatStaleTrialCallback.retry_history(t))}
    for t in trials:
        if (t.state == TrialState.FAIL and FAIL_REASON in t.user_attrs
                and _record_state(folder, t.number) == "running"):  # its record's write failed
            folder.write_trial(t.number, state="failed", reason=t.user_attrs[FAIL_REASON])
        elif _interrupted(t, folder):
            again = retried_by.get(t.number)
            run_dir = folder.run_dir(t.number)
            why = (f"stopped by {stopped_by[t.number]}" if t.number in (stopped_by or {})
                   else "its process was interrupted or died mid-trial")
            folder.write_trial(t.number, state="failed",
                               run=None if run_dir is None else run_dir.name,
                               reason=why + (f"; retried as trial {again}"
                                             if again is not None else ""))


def run_search(
    spec: SearchSpec,
    lfw: LFWDataset,
    study_dir: Path,
    storage_url: str | None = None,
    evaluate: bool = False,
    heartbeat_s: int = HEARTBEAT_S,
    progress: bool = False,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> SearchResult:
    """Run (or continue, or join) the study of ``spec`` in ``study_dir``.

    Args:
        spec: The search spec.
        lfw: The imported LFW copy.
        study_dir: The study folder (made if new; it must hold the same spec if not).
        storage_url: A SQLAlchemy URL shared by every worker (default: study.db in the
            folder).
        evaluate: When the study ends, score its best trial once on pairsDevTest.txt.
        heartbeat_s: Seconds between a trial's heartbeats (a dead trial is retried after
            twice that).
        progress: Show progress bars.
        on_trial: Called with each finished trial's record (for printing).
        on_epoch_end: Called with each epoch's summary row (for printing).
    """
    folder = StudyFolder(study_dir)
    url = storage_url or default_storage_url(folder)
    recorded = hide_password(storage_url) if storage_url else None
    new = not folder.holds(spec, recorded)  # (a study begun before a check was added goes on)
    _check_before_the_folder(spec, lfw, evaluate, new)
    # a folder it cannot be is refused before anything is made
    if new:
        check_new_spec(spec)
    # a server's storage is tried first: one it cannot reach leaves no folder behind
    storage = make_storage(url, heartbeat_s) if storage_url else None
    made = not folder.path.exists()
    folder.path.mkdir(parents=True, exist_ok=True)
    try:
        # workers starting one study at once: one records it, the others then find it
        with file_lock(folder.start_lock_path, f"start the study in {folder.path}"):
            started = folder.holds(spec, recorded)
            if storage is None:  # the folder's own study.db: before study.json records it
                storage = make_storage(url, heartbeat_s, named=str(folder.db_path))
            study = open_study(spec, storage)
            check_study(study, spec, folder, recorded or str(folder.db_path))
            if not started:
                folder.start(spec, recorded)
    except StudyFolderError:
        if made:  # a folder made for a study the storage refused: nothing to keep
            shutil.rmtree(folder.path, ignore_errors=True)
        raise
    claim = TrialClaim(url, spec.name)
    # the trial lets go of the claim once it exists (running) in the storage
    objective = TrialObjective(spec, folder, lfw, progress, on_epoch_end, on_start=claim.release)
    callbacks = [] if on_trial is None else [
        lambda _study, frozen: on_trial(folder.trial(frozen.number) or {})]
    try:
        _run_trials(spec, study, objective, claim, callbacks)
    # Ctrl-C or SIGTERM, or an error of the data home's or the disk's: Optuna failed the
    # trial; run it again later (a trial's own errors are recorded with their reason)
    except (KeyboardInterrupt, SiamfaceError, OSError):
        if objective.running is not None:
            retry_interrupted_trial(study, folder, objective.running)
        raise
    finally:
        sync_killed_trials(study, folder, objective.stopped_by)
    result = SearchResult(folder, count_states(study), best_record(study, folder))
    if evaluate:
        result.not_tested = why_not_tested(spec, study, result)
        if result.not_tested is None:
            result.test_metrics = evaluate_best(folder, result.best, lfw, progress)
    return result


def why_not_tested(spec: SearchSpec, study: Any, result: SearchResult) -> str | None:
    """Why the study's best trial cannot be scored on pairsDevTest yet (None: it can). Only a
    study that has ended has chosen its model (no trial running or waiting, and every planned
    trial begun or the time budget spent): one tested before would give a test figure to a
    model a later trial may replace."""
    counts = result.counts
    unfinished = counts["running"] + counts["waiting"]
    if unfinished:
        return (f"{unfinished} trial(s) still running or waiting to run again; run the search "
                "with --evaluate once they have ended")
    left = spec.planned_trials() - sum(counts[s] for s in ("complete", "pruned", "failed"))
    if left > 0 and not budget_spent(spec, study):
        return (f"{left} of its {spec.planned_trials()} trials have not run; run the search "
                "again, with --evaluate, to finish it")
    if not counts["complete"]:
        return "no trial completed"
    if result.best is None:
        return (f"the best trial, {study.best_trial.number}, ran in another worker's study "
                "folder; evaluate it there (siamface search --resume FOLDER --evaluate)")
    return None


def _check_before_the_folder(spec: SearchSpec, lfw: LFWDataset, evaluate: bool,
                             new: bool) -> None:
    """What would fail every trial, or the end of the study, refused before its folder is
    made: a bad base config or fixed override, a space the base refuses throughout (and in a
    ``new`` study, a choice or bound it refuses in every trial tried: the trials given it would
    fail, and that part of the space go unsearched), no pairsDevTest.txt to end on or a View 2
    fold that cannot end on it, a pruner's options."""
    from siamface.training.builder import resolve_config

    # a bad base or fixed override is the spec's error
    base = resolve_config(spec.base, spec.fixed)
    for param in spec.space:
        values = param.extremes()
        refused = [space_refusal(spec, param, value) for value in values]
        where = f"{spec.source}: space.{param.key}: the base config refuses"
        if all(refused):  # a key or range every trial would fail on
            raise SpecError(f"{where} every value tried ({refused[0]})")
        bad = next((i for i, why in enumerate(refused) if why is not None), None)
        if new and bad is not None:
            raise SpecError(f"{where} {values[bad]!r} in every trial tried ({refused[bad]})")
    if evaluate:  # it must end with a test
        from siamface.pipeline import check_testable

        check_testable(base, lfw)
        if any(param.key == "data.view2_fold" for param in spec.space):
            raise SpecError(f"{spec.source}: space.data.view2_fold: a run on a View 2 fold "
                            f"cannot be tested on {TEST_PAIRS}; search it without --evaluate")
    make_pruner(spec)  # Optuna checks its options' names and ranges


def _run_trials(spec: SearchSpec, study: Any, objective: TrialObjective, claim: TrialClaim,
                callbacks: list[Callable[..., None]]) -> None:
    """Claim, then run, one trial at a time, until the planned trials have begun or the time
    budget is spent; a waiting trial (a dead or interrupted one queued again) is run whatever
    the count and the budget, to finish what the study began."""
    catch = _trial_errors()
    while True:
        claim.acquire()
        try:
            _fail_stale_trials(study)
            counts = count_states(study)
            begun = sum(counts[s] for s in ("complete", "pruned", "failed", "running"))
            if not counts["waiting"] and (budget_spent(spec, study)
                                          or begun >= spec.planned_trials()):
                return
            study.sampler = make_sampler(spec, len(study.get_trials(deepcopy=False)))
            study.optimize(objective, n_trials=1, catch=catch, callbacks=callbacks)
        finally:
            claim.release()


def budget_spent(spec: SearchSpec, study: Any) -> bool:
    """Whether the study's trials have run ``spec.time_budget_s`` seconds together: every
    worker's and every command's (a running trial's up to now; a dead one's until a worker
    found it dead, by the clocks of the workers that recorded them), so that a re-run of a study
    that spent its budget starts no trial."""
    if spec.time_budget_s is None:
        return False
    now = datetime.now()  # Optuna keeps naive local times
    spent = sum(((t.datetime_complete or now) - t.datetime_start).total_seconds()
                for t in study.get_trials(deepcopy=False) if t.datetime_start is not None)
    return spent >= spec.time_budget_s


def _fail_stale_trials(study: Any) -> None:
    from optuna.storages import fail_stale_trials

    fail_stale_trials(study)


def _trial_errors() -> tuple[type[Exception], ...]:
    from siamface.training.trainer import TrainingDivergedError

    return (ConfigError, TrainingDivergedError)


def best_record(study: Any, folder: StudyFolder) -> dict[str, Any] | None:
    """The record of the best complete trial by the validation objective (None if none)."""
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None and not math.isnan(t.value)]
    if not complete:
        return None
    return folder.trial(study.best_trial.number)


def evaluate_best(folder: StudyFolder, best: dict[str, Any], lfw: LFWDataset,
                  progress: bool = False) -> dict[str, Any]:
    """Score the best trial's run on pairsDevTest.txt, once: a run already scored on it is
    read back, never scored again. Returns its metrics."""
    from siamface.evaluation.report import metrics_path, read_metrics
    from siamface.pipeline import evaluate

    if best.get("run") is None:
        raise StudyFolderError(f"{folder.trial_dir(best['number'])}: the best trial's record "
                               "names no run folder")
    run = Run(folder.trial_dir(best["number"]) / best["run"])
    if metrics_path(run, TEST_PAIRS).is_file():
        metrics = read_metrics(run, TEST_PAIRS)
    else:
        start = time.perf_counter()
        metrics = evaluate(run, lfw, [TEST_PAIRS], progress=progress).metrics[TEST_PAIRS]
        folder.write_trial(best["number"], eval_seconds=time.perf_counter() - start)
    folder.update_info(evaluated_trial=best["number"])
    return metrics
