"""A run folder: the one place that knows its layout, and reads and writes its run-level files.

    config.yaml        the resolved configuration (every default filled in)
    environment.json   library versions, machine, data checksums, git commit, command
    data.json          what was trained and validated on (counts, setting, cache key)
    train.log          the log (.train.lock is held while it trains; .eval.lock while an
                       evaluation replaces its folder)
    summary.csv        one row per epoch, columns SUMMARY_FIELDS
    checkpoints/       one folder per kept epoch (see siamface.training.checkpoint)
    model.safetensors  the chosen model's weights, and model.json: its config, preprocessing,
    model.json         the threshold chosen on validation data, and the epoch it comes from
    gallery_calibration.safetensors
                       the chosen model's highest scores of different validation people, from
                       which identification sets a threshold for a gallery's size
    eval/<stem>/       one folder per evaluated pairs file or photo folder; eval/ten-fold/
                       for LFW's View 2 protocol, eval/open-set/ for identification,
                       eval/view2-fold/ for a View 2 fold's run. The files inside are named by
                       the modules that write them (metrics.json and scores.csv:
                       evaluation/report.py; figures: reporting/eval_figures.py; ...)
    export/<format>/   what `siamface export` writes, unless told another folder
    report.md          the run's report, and learning_curves.png beside it; report.html the
                       self-contained page of `siamface report`
    timings.json       where the wall time of `siamface run` went: seconds per phase
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from siamface.config import Config, load_resolved, save_resolved
from siamface.data.preprocess import Preprocessing
from siamface.errors import ConfigError, SiamfaceError, SiamfaceWarning, reason_of
from siamface.models.io import build_from_section, load_weights, save_weights
from siamface.models.siamese import SiameseNet
from siamface.utils.atomic import (
    atomic_path,
    new_folder,
    umask_mode,
    write_json_atomic,
    write_text_atomic,
)
from siamface.utils.files import (
    DamagedFileError,
    is_number,
    read_json_object,
    read_json_object_if_present,
    read_text,
    utf8_path,
)
from siamface.utils.hashing import sha256_file
from siamface.utils.lock import file_lock
from siamface.utils.settings import flatten

# The columns of summary.csv, in order: one row per epoch.
SUMMARY_FIELDS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "val_threshold",
    "lr", "seconds",
]

# The gallery calibration's file, in a run folder and in a pretrained model's folder.
CALIBRATION_FILE = "gallery_calibration.safetensors"

CHECKPOINT_NAME = re.compile(r"^epoch-(\d+)$")  # an epoch's folder in checkpoints/, its number
_ABSENT = object()
# The config keys that make a run's model and its input (by prefix): config.yaml must agree
# with model.json on them.
MODEL_KEYS = ("model.", "data.preprocessing", "data.size", "data.channels")


class RunFolderError(SiamfaceError, ValueError):
    """A file of a run folder is damaged; the message names it."""


class RunNotFinishedError(SiamfaceError, FileNotFoundError):
    """The run has no chosen model yet (it is still training, or was stopped)."""


class RunLogHandler(logging.FileHandler):
    """Appends log records to a run's train.log, never through a link: a run folder received
    from elsewhere could hold one that points at any file of the user's.

    Raises:
        RunFolderError: train.log is a link.
    """

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        try:
            fd = os.open(self.baseFilename, flags, 0o666)
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
            raise RunFolderError(f"{self.baseFilename}: is a link; a run's log is written in "
                                 "its own folder only: remove the link") from None
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


class ResultsDroppedWarning(SiamfaceWarning):
    """An evaluation replaced an earlier one's folder without making all of its results again
    (its one-shot table, its figures: options this evaluation was not given)."""


class Run:
    """One run folder.

    Args:
        path: The folder (it need not exist yet; see ``Run.create``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> Run:
        """A fresh folder ``runs_dir/<name>-<YYYYmmdd-HHMMSS>`` (suffixed if it exists), on a
        path its weights can be read back from (``utf8_path``)."""
        utf8_path(runs_dir, RunFolderError)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(new_folder(runs_dir, f"{name}-{stamp}"))

    @classmethod
    def newest_in(cls, runs_dir: str | Path) -> Run | None:
        """The newest run folder (one with a config.yaml) in ``runs_dir``, if any: the last
        by name, whose stamp is the time it was made."""
        found = sorted(p.parent for p in Path(runs_dir).glob("*/config.yaml"))
        return cls(found[-1]) if found else None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- the files ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def environment_path(self) -> Path:
        return self.path / "environment.json"

    @property
    def data_path(self) -> Path:
        return self.path / "data.json"

    @property
    def log_path(self) -> Path:
        return self.path / "train.log"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.csv"

    @property
    def timings_path(self) -> Path:
        return self.path / "timings.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint_dir(self, epoch: int) -> Path:
        """``checkpoints/epoch-NNN``: the checkpoint of ``epoch`` (1-based), named as
        CHECKPOINT_NAME matches."""
        return self.checkpoints_dir / f"epoch-{epoch:03d}"

    @property
    def weights_path(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def model_meta_path(self) -> Path:
        return self.path / "model.json"

    @property
    def gallery_calibration_path(self) -> Path:
        return self.path / CALIBRATION_FILE

    @property
    def lock_path(self) -> Path:
        """Held while the run trains, so that two processes never train one run."""
        return self.path / ".train.lock"

    @property
    def eval_lock_path(self) -> Path:
        """Held while an evaluation folder is replaced, so that two evaluations of one run that
        end together never interleave their renames."""
        return self.path / ".eval.lock"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    @property
    def html_report_path(self) -> Path:
        """report.html: the self-contained page of ``siamface report``."""
        return self.path / "report.html"

    @property
    def learning_curves_path(self) -> Path:
        return self.path / "learning_curves.png"

    def export_dir(self, fmt: str) -> Path:
        """Where ``siamface export`` writes the model in ``fmt`` ("torchscript", "onnx") unless
        told another folder."""
        return self.path / "export" / fmt

    @property
    def eval_root(self) -> Path:
        return self.path / "eval"

    def eval_dir(self, name: str, sha256: str | None = None) -> Path:
        """Where the evaluation of a pairs file or photo folder ``name`` writes its files:
        ``eval/<stem>/`` for an imported protocol file (e.g. pairsDevTest.txt),
        ``eval/<stem>-<sha256[:12]>/`` for one from elsewhere (named by its content, so that it
        never overwrites the results of an imported file of the same name)."""
        stem = Path(name).stem
        return self.eval_root / (stem if sha256 is None else f"{stem}-{sha256[:12]}")

    @property
    def open_set_dir(self) -> Path:
        """``eval/open-set/``: open-set identification among DevTest people."""
        return self.eval_root / "open-set"

    @property
    def view2_fold_dir(self) -> Path:
        """``eval/view2-fold/``: the View 2 fold a run trained without (``data.view2_fold``),
        scored once by ``siamface view2``."""
        return self.eval_root / "view2-fold"

    @property
    def ten_fold_dir(self) -> Path:
        """``eval/ten-fold/``: LFW's View 2 protocol on pairs.txt."""
        return self.eval_root / "ten-fold"

    @contextmanager
    def new_eval_dir(self, folder: Path) -> Iterator[Path]:
        """Yield an empty folder to write one evaluation into; when the block ends without an
        error it replaces ``folder`` whole (no figure or table of an earlier evaluation is
        left beside the new results: a ResultsDroppedWarning names those it does not make
        again), and when it fails ``folder`` is left as it was."""
        if folder.parent != self.eval_root:
            raise ValueError(f"{folder} is not an evaluation folder of {self.path}")
        self.eval_root.mkdir(parents=True, exist_ok=True)
        # beside eval/, not in it: no reader takes a half-written evaluation for a result
        staging = Path(tempfile.mkdtemp(prefix=f".eval-{folder.name}.", dir=self.path))
        staging.chmod(umask_mode(0o777))  # mkdtemp's 0700, as mkdir would have made it
        old = staging.with_name(f"{staging.name}.old")
        try:
            yield staging
            with file_lock(self.eval_lock_path, f"replace {folder}"):
                if folder.exists():
                    _warn_dropped(folder, staging)
                    folder.rename(old)  # kept until the new results are in place
                try:
                    staging.rename(folder)
                except BaseException:  # an interrupt between the renames too
                    if old.exists():
                        old.rename(folder)
                    raise
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def evaluating(self, what: str) -> Iterator[None]:
        """Hold ``lock_path`` while ``what`` (e.g. "evaluate") scores the run, one process at a
        time: a `train --resume` would replace the model being scored, another evaluation
        remove the folder being written. What a killed evaluation left is put back first
        (``recover_evaluations``).

        Raises:
            LockTimeoutError: Another process trains or evaluates the run.
        """
        with file_lock(self.lock_path, f"{what} {self.path}", timeout=0):
            self.recover_evaluations()
            yield

    def recover_evaluations(self) -> None:
        """Put back an evaluation folder that a process killed between ``new_eval_dir``'s two
        renames left only as its ``.old`` copy, and remove the staging folders killed
        evaluations left. Only for a caller that holds ``lock_path``, as ``evaluating`` does:
        no other evaluation can be writing then."""
        for left in sorted(self.path.glob(".eval-*")):
            name = left.name.removeprefix(".eval-").removesuffix(".old").rpartition(".")[0]
            folder = self.eval_root / name
            if left.name.endswith(".old") and name and not folder.exists():
                left.rename(folder)
            else:
                shutil.rmtree(left, ignore_errors=True)

    def eval_dirs(self) -> list[Path]:
        """Every evaluation folder, by name."""
        return sorted(p for p in self.eval_root.glob("*") if p.is_dir())

    # -- the records -------------------------------------------------------------------------

    @cached_property
    def config(self) -> Config:
        """The resolved config the run was trained with (typed).

        config.yaml holds every section (``save_resolved``), so one that lacks a section was cut
        short or emptied; and in a finished run, the keys that make the model and its input
        must be those model.json recorded beside the chosen weights. (Settings of how it runs,
        such as ``train.eval_batch_size``, may be edited; a key added to siamface after the
        run was written takes its default.)
        """
        path = self.config_path
        try:
            config = load_resolved(path)
        except ConfigError as err:
            raise RunFolderError(str(err)) from None
        recorded = read_json_object_if_present(self.model_meta_path, ("config",), RunFolderError)
        if recorded is not None and isinstance(recorded["config"], dict):
            current = flatten(config.to_dict())
            for key, value in flatten(recorded["config"]).items():
                if key.startswith(MODEL_KEYS) and current.get(key, _ABSENT) != value:
                    raise RunFolderError(
                        f"{path}: {key} is {current.get(key, 'missing')!r} but model.json "
                        f"recorded {value!r} for the chosen model: the file was damaged or "
                        "edited")
        return config

    def save_config(self, config: Config) -> None:
        save_resolved(config, self.config_path)
        self.__dict__["config"] = config

    def write_environment(self, environment: Mapping[str, Any]) -> None:
        write_json_atomic(self.environment_path, environment)

    def environment(self) -> dict[str, Any] | None:
        """environment.json, or None when the run has none."""
        return _read_json(self.environment_path)

    def precision_used(self) -> str | None:
        """The precision the run trained and validated in ("fp32" or "bf16", as
        environment.json records it); None for a run without that record."""
        precision = (self.environment() or {}).get("precision")
        used = precision.get("used") if isinstance(precision, dict) else None
        return used if used in ("fp32", "bf16") else None

    def record_resume(self, record: Mapping[str, Any]) -> None:
        """Add ``record`` (after which epoch, on what machine) to environment.json's
        "resumes": a run continued elsewhere says so beside where it began (a run older than
        environment.json has none to add it to)."""
        env = self.environment()
        if env is None:
            return
        resumes = env.get("resumes") if isinstance(env.get("resumes"), list) else []
        write_json_atomic(self.environment_path, {**env, "resumes": [*resumes, dict(record)]})

    def write_data(self, description: Mapping[str, Any]) -> None:
        write_json_atomic(self.data_path, description)

    def data(self) -> dict[str, Any]:
        """data.json (empty when the run has none)."""
        return _read_json(self.data_path) or {}

    def write_timings(self, seconds: Mapping[str, float]) -> None:
        """Record the wall seconds of each phase of the job that made this run, in order (a
        list: JSON objects are written with sorted keys)."""
        phases = [{"phase": name, "seconds": round(float(value), 3)}
                  for name, value in seconds.items()]
        total = round(sum(p["seconds"] for p in phases), 3)
        write_json_atomic(self.timings_path, {"phases": phases, "total_seconds": total})

    def timings(self) -> dict[str, float] | None:
        """Phase -> wall seconds from timings.json, in run order; None when the run has none
        (it was not made by `siamface run`)."""
        try:
            record = _read_json(self.timings_path)
            if record is None:
                return None
            return {p["phase"]: float(p["seconds"]) for p in record["phases"]}
        except (KeyError, TypeError, ValueError):
            raise RunFolderError(f"{self.timings_path}: expected 'phases', a list of "
                                 "{'phase': name, 'seconds': number}") from None

    def write_summary(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write summary.csv: SUMMARY_FIELDS, one row per epoch, floats to 6 digits."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row[k]) for k in SUMMARY_FIELDS})
        write_text_atomic(self.summary_path, buf.getvalue())

    def summary(self) -> list[dict[str, float]]:
        """The rows of summary.csv (empty when there is none)."""
        return read_summary_csv(self.summary_path) if self.summary_path.is_file() else []

    def finished_summary(self) -> list[dict[str, float]]:
        """The rows of a finished run's summary.csv, its chosen epoch's among them.

        Raises:
            RunFolderError: summary.csv is missing (every epoch writes it, before the model is
                chosen), or ends before that epoch (it was cut short or emptied).
        """
        if not self.summary_path.is_file():
            raise RunFolderError(f"{self.summary_path} not found: the run chose epoch "
                                 f"{self.best_epoch} of it; the run folder was damaged")
        rows = read_summary_csv(self.summary_path)
        if len(rows) < self.best_epoch:
            raise RunFolderError(f"{self.summary_path}: {len(rows)} epochs, but model.json chose "
                                 f"epoch {self.best_epoch}: the file was cut short or emptied")
        return rows

    # -- the chosen model --------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        return self.model_meta_path.is_file()

    def require_finished(self) -> None:
        """Raise RunNotFinishedError unless the run has chosen its model."""
        if not self.path.is_dir():
            raise RunNotFinishedError(f"{self.path}: no such folder; expected a run folder")
        if not self.is_finished:
            if not self.config_path.is_file():
                raise RunNotFinishedError(f"{self.path}: not a run folder (no "
                                          f"{self.config_path.name})")
            started = any(CHECKPOINT_NAME.match(p.name)  # else nothing to resume
                          for p in self.checkpoints_dir.glob("*"))
            raise RunNotFinishedError(
                f"{self.model_meta_path} not found: {self.path} is not a finished run ("
                + ("resume it with `siamface train --resume`, unless it is still training)"
                   if started else "it stopped before its first epoch ended: start a new run)")
            )

    @cached_property
    def model_meta(self) -> dict[str, Any]:
        """model.json, checked: the chosen model's config, preprocessing, a finite threshold,
        its epoch, its epoch's validation metrics (finite: training stops at any other) and
        the sha256 of its weights."""
        self.require_finished()
        path = self.model_meta_path
        meta = read_json_object(path, ("config", "threshold", "best_epoch", "validation"),
                                RunFolderError)
        threshold = meta["threshold"]
        if not is_number(threshold):
            raise RunFolderError(f"{path}: 'threshold' must be a finite number, got "
                                 f"{threshold!r}")
        if not is_number(meta["best_epoch"], int) or meta["best_epoch"] < 1:
            raise RunFolderError(f"{path}: 'best_epoch' must be an epoch number >= 1, got "
                                 f"{meta['best_epoch']!r}")
        validation = meta["validation"]
        if not isinstance(validation, dict):
            raise RunFolderError(f"{path}: 'validation' must be an object, got {validation!r}")
        for key, value in validation.items():
            if key.startswith("val_") and not is_number(value):
                raise RunFolderError(f"{path}: 'validation.{key}' must be a finite number, "
                                     f"got {value!r}")
        return meta

    @property
    def threshold(self) -> float:
        """The decision threshold (logit) chosen on validation pairs."""
        return float(self.model_meta["threshold"])

    @property
    def best_epoch(self) -> int:
        return int(self.model_meta["best_epoch"])

    @property
    def preprocessing(self) -> Preprocessing:
        """How images are prepared for the model: model.json's, which must be the one its
        config makes (the model was trained on those images)."""
        meta, path = self.model_meta, self.model_meta_path
        if "preprocessing" not in meta:
            raise RunFolderError(f"{path}: missing 'preprocessing'")
        try:
            prep = Preprocessing.from_dict(meta["preprocessing"])
        except (TypeError, ValueError) as err:
            raise RunFolderError(f"{path}: 'preprocessing': {err}") from None
        if prep != self.model_config.data.preprocessing_settings():
            raise RunFolderError(f"{path}: 'preprocessing' is not the one its 'config' makes "
                                 "(data.preprocessing, size and channels): the file was edited")
        return prep

    @cached_property
    def model_config(self) -> Config:
        """The config model.json records for the chosen model (read once, as ``model_meta``)."""
        try:
            return Config.from_dict(self.model_meta["config"])
        except ConfigError as err:
            raise RunFolderError(f"{self.model_meta_path}: 'config': {err}") from None

    @cached_property
    def model(self) -> SiameseNet:
        """The chosen model, in eval mode, its weights checked (sha256, every value finite);
        loaded once."""
        config = self.model_config
        try:
            model = build_from_section(config.model.to_dict(), config.data.channels,
                                       config.data.size)
        except ConfigError as err:
            raise RunFolderError(f"{self.model_meta_path}: 'config': {err}") from None
        path = self.weights_path
        if not path.is_file():
            raise RunFolderError(f"{path} not found: the run's chosen model is missing")
        utf8_path(path, RunFolderError)
        expected = self.model_meta.get("weights_sha256")
        if not isinstance(expected, str):  # without it, any weights of the shape would pass
            raise RunFolderError(f"{self.model_meta_path}: no 'weights_sha256' to check "
                                 f"{path.name} against: the file was edited")
        if sha256_file(path) != expected:
            raise RunFolderError(f"{path} is damaged: its sha256 does not match the one in "
                                 f"{self.model_meta_path.name}; restore it or train again")
        try:
            load_weights(model, path)
        except DamagedFileError as err:  # a tensor of another dtype than the model's, or NaN
            raise RunFolderError(str(err)) from None
        except (safetensors.SafetensorError, OSError, ValueError) as err:
            raise RunFolderError(f"{path} is not a readable safetensors file: {err}") from None
        except RuntimeError as err:  # load_state_dict: missing, unexpected or reshaped tensors
            raise RunFolderError(f"{path} does not fit the model that "
                                 f"{self.model_meta_path.name} describes: "
                                 f"{reason_of(err, last=True)}") from None
        return model.eval()

    def save_model(self, model: SiameseNet, config: Config, threshold: float, best_epoch: int,
                   stopped_because: str, history: Sequence[Mapping[str, float]]) -> None:
        """Write the chosen model: weights (safetensors) first, then its JSON description
        with their sha256."""
        save_weights(model, self.weights_path)
        write_json_atomic(self.model_meta_path, {
            "config": config.to_dict(),
            "preprocessing": config.data.preprocessing_settings().to_dict(),
            "threshold": threshold,
            "best_epoch": best_epoch,
            "stopped_because": stopped_because,
            "validation": history[best_epoch - 1],
            "weights_sha256": sha256_file(self.weights_path),
        })

    def write_gallery_calibration(self, scores: torch.Tensor, pairs: int,
                                  people: int) -> None:
        """Keep the chosen model's highest different-person validation scores.

        Args:
            scores: (T,) the highest scores, descending.
            pairs: How many different-person pairs they are the highest of.
            people: How many validation people the pairs are made of.
        """
        write_impostor_tail(self.gallery_calibration_path, scores, pairs, people,
                            sha256_file(self.weights_path))

    def read_gallery_calibration(self) -> tuple[torch.Tensor, int] | None:
        """The (T,) scores and pair count ``write_gallery_calibration`` kept, checked; None
        when there are none or they belong to other weights than the run's model now (or it
        has none: ``model`` says so)."""
        weights = self.weights_path
        return read_impostor_tail(self.gallery_calibration_path,
                                  sha256_file(weights) if weights.is_file() else None)


def write_impostor_tail(path: Path, scores: torch.Tensor, pairs: int, people: int,
                        model_sha256: str) -> None:
    """A gallery calibration file: the highest different-person scores of one model.

    Args:
        path: The .safetensors file (replaced whole).
        scores: (T,) the highest scores, descending.
        pairs: How many different-person pairs they are the highest of.
        people: How many validation people the pairs are made of.
        model_sha256: The model's fingerprint, so that the file is ignored for another model.
    """
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(
            {"scores": scores.to(torch.float32).contiguous()}, str(tmp),
            metadata={"pairs": str(pairs), "people": str(people),
                      "weights_sha256": model_sha256})


def read_impostor_tail(path: Path, model_sha256: str | None) -> tuple[torch.Tensor, int] | None:
    """The (T,) scores and pair count of a gallery calibration file, checked; None when there
    is none or it was made for another model than ``model_sha256``.

    Raises:
        RunFolderError: the file is damaged (the message names it).
    """
    if not path.is_file():
        return None
    readable = utf8_path(path, RunFolderError)  # (a path, not the file, at fault: said so)
    try:
        with safetensors.safe_open(readable, "pt") as fh:
            meta, names = fh.metadata() or {}, fh.keys()
            scores = fh.get_tensor("scores") if "scores" in names else None
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise RunFolderError(f"{path} is not a readable safetensors file: {err}") from None
    if model_sha256 is None or meta.get("weights_sha256") != model_sha256:
        return None  # made for another model (or there is none)
    pairs = meta.get("pairs", "")
    if (scores is None or scores.ndim != 1 or scores.numel() == 0
            or not bool(torch.isfinite(scores).all())
            or bool((scores[1:] > scores[:-1]).any())):
        raise RunFolderError(f"{path}: expected a 'scores' tensor of finite values in "
                             "descending order")
    if not (pairs.isascii() and pairs.isdigit()) or int(pairs) < scores.numel():
        raise RunFolderError(f"{path}: metadata 'pairs' must be a count of at least "
                             f"{scores.numel()}, got {pairs!r}")
    return scores, int(pairs)


def _warn_dropped(folder: Path, new: Path) -> None:
    """Warn of the files and folders of ``folder`` that ``new``, replacing it, does not hold."""
    dropped = sorted({p.name for p in folder.iterdir()} - {p.name for p in new.iterdir()})
    if dropped:
        warnings.warn(ResultsDroppedWarning(
            f"{folder}: replaced by this evaluation, which did not make {', '.join(dropped)} "
            "again (the options that made them were not given this time)"), stacklevel=4)


def epochs_seconds(rows: list[dict[str, float]]) -> float | None:
    """The seconds of the epochs of summary ``rows``, over every process that trained them;
    None where a row lacks them (a summary.csv made by hand, or with the cell left blank)."""
    seconds = [row.get("seconds", math.nan) for row in rows]
    return None if any(math.isnan(x) for x in seconds) else float(sum(seconds))


def read_summary_csv(path: str | Path) -> list[dict[str, float]]:
    """Read summary.csv into one dict per epoch: ``epoch`` as int, other columns as float.

    Args:
        path: The CSV file; it must have an ``epoch`` column.

    Raises:
        RunFolderError: naming the file, line and column of a cell that is not a number, or
            the line of an epoch out of order (a run's epochs are 1, 2, ... one row each).
    """
    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path, RunFolderError), newline=""))
    if reader.fieldnames is None or "epoch" not in reader.fieldnames:
        raise RunFolderError(f"{path}: expected a CSV header with an 'epoch' column")
    rows = []
    for row in reader:
        parsed: dict[str, float] = {}
        for column, cell in row.items():
            if column is None or cell is None:
                raise RunFolderError(
                    f"{path}:{reader.line_num}: expected {len(reader.fieldnames)} cells "
                    "as in the header"
                )
            try:
                if column == "epoch":
                    parsed[column] = int(cell)
                else:
                    parsed[column] = float(cell) if cell.strip() else math.nan
            except ValueError:
                raise RunFolderError(
                    f"{path}:{reader.line_num}: column {column!r}: expected a number, "
                    f"got {cell!r}"
                ) from None
        if parsed["epoch"] != len(rows) + 1:
            raise RunFolderError(f"{path}:{reader.line_num}: epoch {parsed['epoch']}, expected "
                                 f"{len(rows) + 1}: a row for each epoch, in order")
        rows.append(parsed)
    return rows


def _csv_value(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else value


def _read_json(path: Path) -> dict[str, Any] | None:
    return read_json_object_if_present(path, error=RunFolderError)
