"""siamface's Python API: train, evaluate, and use a model on your own photos.

    import siamface

    result = siamface.run("default")                              # the main job, as `make run`
    run_dir = siamface.train("default", ["train.epochs=5"])       # a run folder under ./runs
    metrics = siamface.evaluate(run_dir, "pairsDevTest.txt")      # accuracy, AUC, ...

    verifier = siamface.load_verifier(run_dir)
    print(verifier.verify("me.jpg", "passport.jpg"))              # same person: p = 0.94 >= ...

    gallery = siamface.Gallery(verifier).fit("people/")           # people/<Name>.jpg
    print(gallery.identify("visitor.jpg", top_k=3))

Each name here is a thin layer over the module that does the work (``siamface.pipeline`` for
the use cases, ``siamface.inference`` for photos), whose docstrings say more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siamface.data.people import TEST_PAIRS
from siamface.evaluation.bootstrap import N_BOOTSTRAP
from siamface.evaluation.oneshot import MAIN_JOB_ONE_SHOT, ONE_SHOT_TRIALS
from siamface.inference.gallery import Gallery, Identification
from siamface.inference.verifier import Verification, Verifier

__all__ = [
    "Gallery",
    "Identification",
    "Verification",
    "Verifier",
    "evaluate",
    "load_verifier",
    "run",
    "train",
]


OVERRIDES = "overrides such as 'train.epochs=5'"  # what a list of overrides holds


def load_verifier(run_dir: str | Path, detect: bool = True, flip_tta: bool = True) -> Verifier:
    """The verifier of a finished run: its chosen model, preprocessing and threshold.

    Args:
        run_dir: A run folder (with model.safetensors and model.json), or a pretrained
            model's folder (``siamface pretrained``: outside data).
        detect: Find and align the face in each photo; turn off for images that already are
            aligned LFW-style 250x250 frames.
        flip_tta: Average each embedding with its mirror image's, as evaluation does (not
            for a pretrained model: dlib's ResNet describes each face as it is).

    Example::

        verifier = load_verifier("runs/default-20261123-121020")
        result = verifier.verify("a.jpg", "b.jpg")
        result.same, result.probability
    """
    from siamface.inference.pretrained import PretrainedVerifier, is_pretrained

    path = _path(run_dir, "run_dir")
    detect, flip_tta = _flag(detect, "detect"), _flag(flip_tta, "flip_tta")
    if is_pretrained(path):  # `siamface pretrained`'s folder, a RUN as verify takes it
        return PretrainedVerifier.from_folder(path, detect=detect)
    return Verifier.from_run(path, detect=detect, flip_tta=flip_tta)


def train(
    config_name: str,
    overrides: Sequence[str] = (),
    data_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> Path:
    """Train a config on the imported LFW copy; return the new run folder.

    Args:
        config_name: A shipped config ("default", "koch2015", ...; see ``siamface configs``)
            or a YAML path.
        overrides: Dotted ``key=value`` overrides, e.g. ``["train.epochs=5", "optim.lr=1e-3"]``.
        data_dir: The data home (default: $SIAMFACE_DATA, else the user cache folder).
        runs_dir: Where the run folder is made.
        progress: Show progress bars.

    Example::

        run_dir = train("default", ["train.epochs=1"])
    """
    from siamface.data.home import resolve_data_home
    from siamface.data.lfw import open_lfw
    from siamface.pipeline import train as train_run
    from siamface.training.builder import resolve_config

    _path(config_name, "config_name", what="a config name or a YAML path")  # (kept a name)
    config = resolve_config(config_name, _listed(overrides, "overrides", str, OVERRIDES))
    lfw = open_lfw(resolve_data_home(_path(data_dir, "data_dir", optional=True)))
    run, _ = train_run(config, lfw, _path(runs_dir, "runs_dir"),
                       progress=_flag(progress, "progress"))
    return run.path


def evaluate(
    run_dir: str | Path,
    pairs: str | Sequence[str] = TEST_PAIRS,
    data_dir: str | Path | None = None,
    one_shot: Sequence[int] = (),
    trials: int = ONE_SHOT_TRIALS,
    ten_fold: bool = False,
    n_bootstrap: int = N_BOOTSTRAP,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a run on imported pairs files (and one-shot, View 2), as ``siamface evaluate``.

    The decision threshold is the one chosen on validation pairs when training; the results
    (metrics.json, scores.csv, figures) go to ``run_dir/eval/<pairs file stem>/`` (a pairs
    file given by its path: ``eval/<stem>-<checksum>/``) and the run's report.md is rewritten.

    Args:
        run_dir: A finished run folder.
        pairs: One pairs file or several: imported ones by name, e.g. "pairsDevTest.txt",
            others by path.
        data_dir: The data home (default: $SIAMFACE_DATA, else the user cache folder).
        one_shot: Values of N for N-way one-shot identification on each file's people.
        trials: One-shot trials per N.
        ten_fold: Also apply LFW's View 2 protocol to pairs.txt.
        n_bootstrap: Resamples for the 95% intervals.
        plots: Draw the figures.
        progress: Show a progress bar if the image cache must be built.

    Returns:
        The metrics of the one pairs file given, or (several files, one-shot or ten-fold)
        ``{"metrics": {file: ...}, "one_shot": {file: ...}, "ten_fold": ...}``.

    Example::

        metrics = evaluate(run_dir)
        metrics["accuracy"], metrics["auc"]
    """
    from siamface.data.home import resolve_data_home
    from siamface.data.lfw import open_lfw
    from siamface.pipeline import evaluate as evaluate_run
    from siamface.run_folder import Run

    one = isinstance(pairs, str | os.PathLike)
    files = [str(pairs)] if one else [
        str(p) for p in _listed(pairs, "pairs", str | os.PathLike, "pairs files")]
    ten_fold = _flag(ten_fold, "ten_fold")
    _check_trials(one_shot, trials)
    run = Run(_path(run_dir, "run_dir"))
    lfw = open_lfw(resolve_data_home(_path(data_dir, "data_dir", optional=True)))
    out = evaluate_run(run, lfw, files, one_shot, trials, ten_fold, n_bootstrap,
                       plots=_flag(plots, "plots"), progress=_flag(progress, "progress"))
    if one and not one_shot and not ten_fold:
        return out.metrics[files[0]]
    return {"metrics": out.metrics, "one_shot": out.one_shot, "ten_fold": out.ten_fold}


def run(
    config_name: str = "default",
    overrides: Sequence[str] = (),
    data_dir: str | Path | None = None,
    import_paths: Sequence[str | Path] = (),
    runs_dir: str | Path = "runs",
    one_shot: Sequence[int] = MAIN_JOB_ONE_SHOT,
    trials: int = ONE_SHOT_TRIALS,
    progress: bool = True,
) -> dict[str, Any]:
    """The main job, as ``siamface run``: get LFW, train, score pairsDevTest.txt once, report.

    Args:
        config_name: A shipped config or a YAML path.
        overrides: Dotted ``key=value`` overrides.
        data_dir: The data home.
        import_paths: LFW files to import first (else the imported copy, else a download).
        runs_dir: Where the run folder is made.
        one_shot: Values of N for N-way one-shot identification on DevTest's people.
        trials: One-shot trials per N.
        progress: Show progress bars.

    Returns:
        ``{"run": run folder, "best_epoch": ..., "metrics": DevTest's metrics,
        "one_shot": ... or None, "report": report.md}``.

    Example::

        result = run("default", ["train.epochs=5"], import_paths=["../shared/lfw"])
        result["metrics"]["accuracy"]
    """
    from siamface.data.home import resolve_data_home
    from siamface.pipeline import get_data, run_main_job
    from siamface.training.builder import resolve_config

    _path(config_name, "config_name", what="a config name or a YAML path")  # (kept a name)
    _check_trials(one_shot, trials)
    config = resolve_config(config_name, _listed(overrides, "overrides", str, OVERRIDES))
    paths = [Path(p) for p in _listed(import_paths, "import_paths", str | os.PathLike, "paths")]
    progress = _flag(progress, "progress")
    lfw = get_data(resolve_data_home(_path(data_dir, "data_dir", optional=True)), paths,
                   progress, on_fetch=print if progress else None)
    job = run_main_job(config, lfw, _path(runs_dir, "runs_dir"), one_shot, trials,
                       progress=progress)
    return {
        "run": job.run.path,
        "best_epoch": job.fit.best_epoch,
        "metrics": job.evaluation.metrics[TEST_PAIRS],
        "one_shot": job.evaluation.one_shot.get(TEST_PAIRS),
        "report": job.run.report_path,
    }


def _check_trials(one_shot: Sequence[int], trials: int) -> None:
    """``trials`` set without ``one_shot`` would be ignored: refuse it, as the CLI does."""
    if trials != ONE_SHOT_TRIALS and not one_shot:
        from siamface.evaluation.identification import OneShotError

        raise OneShotError(f"trials={trials} sets the trials of one_shot; give one_shot too")


def _path(value: Any, name: str, optional: bool = False,
          what: str = "a path (a string or pathlib.Path)") -> Path | None:
    """``value`` as a Path: a string or path (not empty), or None where ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str | os.PathLike) or str(value) == "":
        raise TypeError(f"{name}: expected {what}, got {value!r}")
    return Path(value)


def _flag(value: Any, name: str) -> bool:
    """``value``, which must be True or False: a string such as "no" would count as true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def _listed(values: Any, name: str, kind: Any, what: str) -> list[Any]:
    """``values``, a list (or other sequence) of ``kind``; a lone string or path is refused,
    as taking it letter by letter would fail far from here with a puzzling message."""
    if isinstance(values, str | os.PathLike) or not isinstance(values, Sequence) or not all(
            isinstance(v, kind) for v in values):
        raise TypeError(f"{name}: expected a list of {what}, got {values!r}")
    return list(values)
