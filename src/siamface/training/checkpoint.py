"""Checkpoints: one folder per kept epoch, written whole or not at all.

::

    <run_dir>/checkpoints/epoch-007/model.safetensors   the weights (no pickle)
                                   /checkpoint.json     epoch, config, metrics, early stopping,
                                                        history, and the files' checksums
                                   /trainer_state.pt    the optimizer's state
    <run_dir>/checkpoints/latest.json                   {"epoch": 7, "path": "epoch-007"}
    <run_dir>/checkpoints/best.json                     the same, for the best epoch

A checkpoint is written into a hidden temporary folder beside the others and renamed into place
once complete; only then is ``latest.json`` replaced (itself atomically). A crash at any moment
therefore leaves ``latest.json`` pointing at a complete checkpoint, and the half-written folder
is removed by the next save. ``best.json`` is replaced after ``latest.json``, so a crash between
the two leaves it naming an older epoch than the best: a resumed run points it again
(``point_best``) at the best epoch of the early-stopping state it restores. ``trainer_state.pt``
may hold only tensors and plain containers, so it loads with ``torch.load(weights_only=True)``,
which cannot run code from the file.

``CheckpointWriter`` does the same writes on a background thread, so that the next epoch trains
while one is written: it copies the weights and the trainer state first (the next step changes
them in place), keeps at most one write in flight, and ``wait`` (or leaving its ``with``
block, an exception included) blocks until that write is complete and raises its error.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.models.io import safetensors_state
from siamface.run_folder import CHECKPOINT_NAME, SUMMARY_FIELDS, Run
from siamface.utils.atomic import WRITE_FAILURES, umask_mode, write_error, write_json_atomic
from siamface.utils.files import is_number, read_json_object, utf8_path
from siamface.utils.hashing import sha256_file

MODEL_FILE = "model.safetensors"
META_FILE = "checkpoint.json"
STATE_FILE = "trainer_state.pt"
FORMAT_VERSION = 1
_RESERVED = ("epoch", "format_version", "sha256")


class CheckpointFallbackWarning(SiamfaceWarning):
    """The latest checkpoint was damaged; an older intact one was used."""


class CheckpointError(SiamfaceError, RuntimeError):
    """A checkpoint is missing, incomplete or corrupt; the message names the file."""


def _check_plain(obj: Any, where: str = "trainer_state") -> None:
    """Raise TypeError unless ``obj`` is tensors, numbers, strings, None, lists, tuples, dicts."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; use str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"{where} is a {type(obj).__name__}; a checkpoint's trainer state may hold only tensors, "
        "numbers, strings, None, lists, tuples and dicts (convert NumPy arrays to tensors)"
    )


def _write_and_sync(path: Path, write: Any, final: Path) -> None:
    """``write(path)`` and fsync it; a failure (a full disk) is a WriteError naming the file's
    place in the finished checkpoint ``final``. Its mode follows the umask, as the run's other
    files do (safetensors makes its files 0600: a teammate could not resume the run)."""
    try:
        write(path)
        os.chmod(path, umask_mode(0o666))
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    except (*WRITE_FAILURES, RuntimeError) as err:  # torch.save's full disk: a RuntimeError
        raise write_error(final / path.name, err) from err


def save_checkpoint(run_dir: str | os.PathLike[str], epoch: int, model: nn.Module,
                    meta: Mapping[str, Any], trainer_state: Mapping[str, Any], *,
                    best: bool = False, keep_last: int | None = None) -> Path:
    """Write the checkpoint of ``epoch`` atomically and point ``latest.json`` at it.

    Args:
        run_dir: The run's folder.
        epoch: The number of epochs completed.
        model: Its ``state_dict()`` goes to model.safetensors.
        meta: JSON-serialisable facts for checkpoint.json (config dict, metrics, threshold...);
            the keys "epoch", "format_version" and "sha256" are set here.
        trainer_state: The optimizer's state: tensors and plain containers only.
        best: Also point ``best.json`` at this checkpoint.
        keep_last: Keep only the newest ``keep_last`` checkpoints (never removing the best or
            the latest); None keeps all.

    Returns:
        The checkpoint's folder.
    """
    meta_text = _checked_meta_text(meta, trainer_state, keep_last)
    return _write_checkpoint(run_dir, epoch, safetensors_state(model), meta_text,
                             dict(trainer_state), best, keep_last)


def _checked_meta_text(meta: Mapping[str, Any], trainer_state: Mapping[str, Any],
                       keep_last: int | None) -> str:
    """``meta`` as JSON text, after the checks of ``save_checkpoint``'s arguments."""
    clash = [k for k in _RESERVED if k in meta]
    if clash:
        raise ValueError(f"checkpoint meta may not set {clash}: they are written by the saver")
    if keep_last is not None and keep_last < 1:
        raise ValueError(f"keep_last must be at least 1 or None, got {keep_last}")
    _check_plain(dict(trainer_state))
    try:
        return json.dumps(dict(meta), indent=2, sort_keys=True)
    except TypeError as e:
        raise TypeError(f"checkpoint meta must be JSON-serialisable: {e}") from None


def _write_checkpoint(run_dir: str | os.PathLike[str], epoch: int,
                      weights: dict[str, torch.Tensor], meta_text: str,
                      trainer_state: dict[str, Any], best: bool, keep_last: int | None) -> Path:
    """The writes of ``save_checkpoint``, on arguments already checked."""
    final = Run(run_dir).checkpoint_dir(epoch)
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".epoch-*.tmp"):  # left by a save that crashed
        shutil.rmtree(stale, ignore_errors=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes 0700 whatever the umask
    try:
        _write_and_sync(tmp / MODEL_FILE,
                        lambda p: safetensors.torch.save_file(weights, str(p)), final)
        _write_and_sync(tmp / STATE_FILE, lambda p: torch.save(trainer_state, p), final)
        record = json.loads(meta_text)
        record.update(epoch=epoch, format_version=FORMAT_VERSION,
                      sha256={n: sha256_file(tmp / n) for n in (MODEL_FILE, STATE_FILE)})
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        _write_and_sync(tmp / META_FILE, lambda p: p.write_text(text, encoding="utf-8"), final)
        if final.exists():  # the same epoch saved again (a resumed run): swap the folders
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", suffix=".tmp", dir=root))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    write_json_atomic(_pointer_file(run_dir, "latest"), {"epoch": epoch, "path": final.name})
    if best:
        point_best(run_dir, epoch)
    if keep_last is not None:
        _prune(root, keep_last)
    return final


def _copy_tensor(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` with its strides, made by one single-threaded memcpy: ``clone`` opens a
    thread-pool region per tensor, and on a busy machine each waited for a scheduler slice
    (12 ms a tensor measured, 0.12 s for the default model's optimizer state)."""
    t = t.detach()
    if t.dtype == torch.bfloat16 or t.device.type != "cpu":  # NumPy has no bfloat16
        return t.clone()
    return torch.from_numpy(t.numpy().copy(order="K"))


def _copied(obj: Any) -> Any:
    """``obj`` with every tensor copied (and the containers rebuilt), detached from training."""
    if isinstance(obj, torch.Tensor):
        return _copy_tensor(obj)
    if isinstance(obj, dict):
        return {k: _copied(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copied(v) for v in obj)
    return obj


class CheckpointWriter:
    """``save_checkpoint`` on a background thread: one write in flight, errors re-raised.

    Use it as a context manager; leaving the block waits for the last write, so a run that
    stops (or fails) leaves ``latest.json`` pointing at its newest complete checkpoint. A crash
    of the process mid-write leaves the previous one, as ``save_checkpoint`` does.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, run_dir: str | os.PathLike[str], epoch: int, model: nn.Module,
             meta: Mapping[str, Any], trainer_state: Mapping[str, Any], *,
             best: bool = False, keep_last: int | None = None) -> None:
        """Copy the checkpoint's contents now and write them in the background.

        Args:
            run_dir, epoch, model, meta, trainer_state, best, keep_last: As for
                ``save_checkpoint``; checked here, on the caller's thread.

        Raises:
            Whatever the previous write raised (a full disk: a WriteError).
        """
        meta_text = _checked_meta_text(meta, trainer_state, keep_last)
        weights = {k: _copy_tensor(v) for k, v in safetensors_state(model).items()}
        state = _copied(dict(trainer_state))
        self.wait()  # one write at a time: the pointers are written in epoch order

        def write() -> None:
            try:
                _write_checkpoint(run_dir, epoch, weights, meta_text, state, best, keep_last)
            except BaseException as err:  # handed to the training thread by wait()
                self._error = err

        self._thread = threading.Thread(target=write, name=f"checkpoint-{epoch:03d}")
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight is complete; raise its error, if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None:
            self.wait()
            return
        try:  # already failing: finish the write, but let the first error be the one raised
            self.wait()
        except Exception as err:
            exc.add_note(f"and a checkpoint write failed too: {err}")


def _prune(root: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` epoch folders, sparing what a pointer names."""
    epochs = sorted(
        (int(m.group(1)), p) for p in root.iterdir() if (m := CHECKPOINT_NAME.match(p.name))
    )
    spared = {p.name for p in (read_pointer(root.parent, "latest"),
                               read_pointer(root.parent, "best")) if p is not None}
    for _, path in epochs[:-keep_last]:
        if path.name not in spared:
            shutil.rmtree(path)


def point_best(run_dir: str | os.PathLike[str], epoch: int) -> None:
    """Point ``best.json`` at the checkpoint of ``epoch`` (atomically)."""
    write_json_atomic(_pointer_file(run_dir, "best"),
                      {"epoch": epoch, "path": Run(run_dir).checkpoint_dir(epoch).name})


def read_pointer(run_dir: str | os.PathLike[str], which: str = "latest") -> Path | None:
    """The checkpoint folder that ``latest.json`` or ``best.json`` names; None if there is none.

    Args:
        run_dir: The run's folder.
        which: "latest" or "best".
    """
    if which not in ("latest", "best"):
        raise ValueError(f"which must be 'latest' or 'best', got {which!r}")
    file = _pointer_file(run_dir, which)
    if not file.is_file():
        return None
    name = read_json_object(file, ("path",), error=CheckpointError)["path"]
    if not isinstance(name, str) or not CHECKPOINT_NAME.match(name):
        raise CheckpointError(f"{file} names {name!r}, which is not a checkpoint folder")
    return file.parent / name


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu",
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read one checkpoint folder, verifying every file against the recorded checksums.

    Args:
        path: A folder written by ``save_checkpoint``.
        map_location: Where to put the tensors.

    Returns:
        ``(state_dict, meta, trainer_state)``; ``meta`` is checkpoint.json including "epoch".
    """
    path = Path(path)
    meta = verify_checkpoint(path)
    try:
        state_dict = safetensors.torch.load_file(utf8_path(path / MODEL_FILE, CheckpointError),
                                                 device=str(map_location))
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path / MODEL_FILE} cannot be read: {e}") from None
    try:
        trainer_state = torch.load(path / STATE_FILE, map_location=map_location,
                                   weights_only=True)
    except Exception as e:  # torch raises several types for a bad file; all mean the same here
        raise CheckpointError(f"{path / STATE_FILE} cannot be read: {e}") from None
    return state_dict, meta, trainer_state


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check one checkpoint folder without loading its tensors: every file present, each
    matching the checksum checkpoint.json records, and checkpoint.json's own values sound.

    Returns:
        checkpoint.json's values, "epoch" among them (without the checksums).

    Raises:
        CheckpointError: Naming the file at fault.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist")
    for name in (META_FILE, MODEL_FILE, STATE_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"{path / name} is missing: the checkpoint is incomplete")
    meta_file = path / META_FILE
    meta = read_json_object(meta_file, error=CheckpointError)
    if not isinstance(meta.get("sha256"), dict):
        raise CheckpointError(f"{meta_file} is corrupt: no 'sha256' table of the files")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_file} has format_version {meta.get('format_version')!r}; this siamface "
            f"reads version {FORMAT_VERSION}"
        )
    checksums = meta.pop("sha256")
    for name in (MODEL_FILE, STATE_FILE):
        if sha256_file(path / name) != checksums.get(name):
            raise CheckpointError(
                f"{path / name} is corrupt: its sha256 does not match the one in {meta_file}"
            )
    meta.pop("format_version")
    named = CHECKPOINT_NAME.match(path.name)  # (a folder elsewhere has no number to agree with)
    _check_meta(meta, int(named[1]) if named else None, meta_file)
    return meta


def _check_meta(meta: dict[str, Any], folder_epoch: int | None, meta_file: Path) -> None:
    """checkpoint.json's own values, which no checksum covers: its epoch is its folder's, and
    the history a resume continues is one summary row per epoch up to it."""
    epoch = meta.get("epoch")
    if not is_number(epoch, int) or epoch < 1 or folder_epoch not in (None, epoch):
        raise CheckpointError(f"{meta_file} is corrupt: 'epoch' is {epoch!r}, expected "
                              f"{folder_epoch or 'an epoch number'}")
    history = meta.get("history")
    if history is None:
        return
    rows_ok = isinstance(history, list) and len(history) == epoch and all(
        isinstance(row, dict) and row.get("epoch") == number
        and all(is_number(row.get(key), finite=False) for key in SUMMARY_FIELDS)
        for number, row in enumerate(history, start=1))
    if not rows_ok:
        raise CheckpointError(f"{meta_file} is corrupt: 'history' must hold the summary rows "
                              f"of epochs 1 to {epoch} ({', '.join(SUMMARY_FIELDS)})")


def load_latest(run_dir: str | os.PathLike[str], map_location: str | torch.device = "cpu",
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """``load_checkpoint`` of the folder that ``latest.json`` names (to resume a run); when that
    one (or the pointer) is damaged, the newest intact checkpoint, with a warning that says so.

    Raises:
        CheckpointError: No checkpoint at all (the run stopped before its first epoch ended),
            or none intact, or a run path safetensors cannot open (not called damaged).
    """
    root = Run(run_dir).checkpoints_dir
    utf8_path(root, CheckpointError)
    epochs = sorted((p for p in root.glob("*") if CHECKPOINT_NAME.match(p.name)),
                    key=lambda p: int(p.name.split("-")[1]), reverse=True)
    try:
        return load_checkpoint(_latest(run_dir), map_location)
    except CheckpointError as err:
        latest = _pointer_file(run_dir, "latest")
        if not epochs and not latest.is_file():
            raise CheckpointError(
                f"no latest checkpoint in {run_dir}: {latest} does not exist; the run stopped "
                "before its first epoch ended, so there is nothing to resume: start a new run"
            ) from None
        if not epochs:
            raise
        problem = err
    for path in epochs:
        try:
            loaded = load_checkpoint(path, map_location)
        except CheckpointError:
            continue
        warnings.warn(f"resuming from {path.name}, the newest intact checkpoint: {problem}",
                      CheckpointFallbackWarning, stacklevel=2)
        return loaded
    raise CheckpointError(f"{problem}; and no other checkpoint in {root} is intact") from None


def _latest(run_dir: str | os.PathLike[str]) -> Path:
    path = read_pointer(run_dir, "latest")
    if path is None:
        raise CheckpointError(f"no latest checkpoint in {run_dir}: "
                              f"{_pointer_file(run_dir, 'latest')} does not exist")
    return path


def _pointer_file(run_dir: str | os.PathLike[str], which: str) -> Path:
    """``checkpoints/latest.json`` or ``checkpoints/best.json``: the checkpoint it names."""
    return Run(run_dir).checkpoints_dir / f"{which}.json"
