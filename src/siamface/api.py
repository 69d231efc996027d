"""siamface's Python API: train, evaluate, and use a model on your own photos.

    import siamface

    run_dir = siamface.train("default", ["train.epochs=5"])       # a run folder under ./runs
    metrics = siamface.evaluate(run_dir, "pairsDevTest.txt")      # accuracy, AUC, ...

    verifier = siamface.load_verifier(run_dir)
    print(verifier.verify("me.jpg", "passport.jpg"))              # same person: p = 0.94 >= ...

    gallery = siamface.Gallery(verifier).fit("people/")           # people/<Name>.jpg
    print(gallery.identify("visitor.jpg", top_k=3))

Each name here is a thin layer over the module that does the work (``siamface.training.run``,
``siamface.evaluation.report``, ``siamface.inference``), whose docstrings say more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siamface.inference.gallery import Gallery, Identification
from siamface.inference.verifier import Verification, Verifier

__all__ = [
    "Gallery",
    "Identification",
    "Verification",
    "Verifier",
    "evaluate",
    "load_verifier",
    "train",
]


def load_verifier(run_dir: str | Path, detect: bool = True, flip_tta: bool = True) -> Verifier:
    """The verifier of a finished run: its chosen model, preprocessing and threshold.

    Args:
        run_dir: A run folder (with model.safetensors and model.json).
        detect: Find and align the face in each photo; turn off for images that already are
            aligned LFW-style 250x250 frames.
        flip_tta: Average each embedding with its mirror image's, as evaluation does.

    Example::

        verifier = load_verifier("runs/default-20261123-121020")
        result = verifier.verify("a.jpg", "b.jpg")
        result.same, result.probability
    """
    return Verifier.from_run(run_dir, detect=detect, flip_tta=flip_tta)


def train(
    config_name: str,
    overrides: Sequence[str] = (),
    data_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> Path:
    """Train a config on the imported LFW copy; return the new run folder.

    Args:
        config_name: A config in configs/ ("default", "koch2015", ...) or a YAML path.
        overrides: Dotted ``key=value`` overrides, e.g. ``["train.epochs=5", "optim.lr=1e-3"]``.
        data_dir: The data home (default: $SIAMFACE_DATA, else the user cache folder).
        runs_dir: Where the run folder is made.
        progress: Show progress bars.

    Example::

        run_dir = train("default", ["train.epochs=1"])
    """
    from siamface.data.home import resolve_data_home
    from siamface.data.lfw import open_lfw
    from siamface.training.config import load_config
    from siamface.training.run import train_run

    config = load_config(config_name, list(overrides))
    lfw = open_lfw(resolve_data_home(data_dir))
    run_dir, _ = train_run(config, lfw, Path(runs_dir), progress=progress)
    return run_dir


def evaluate(
    run_dir: str | Path,
    pairs: str = "pairsDevTest.txt",
    data_dir: str | Path | None = None,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a run on an imported pairs file; write and return its metrics.

    The decision threshold is the one chosen on validation pairs when training; the results
    (metrics.json, scores.csv, figures) go to ``run_dir/eval/<pairs file stem>/``.

    Args:
        run_dir: A finished run folder.
        pairs: An imported pairs file, e.g. "pairsDevTest.txt".
        data_dir: The data home (default: $SIAMFACE_DATA, else the user cache folder).
        plots: Draw the figures.
        progress: Show a progress bar if the image cache must be built.

    Example::

        metrics = evaluate(run_dir)
        metrics["accuracy"], metrics["auc"]
    """
    from siamface.data.home import resolve_data_home
    from siamface.data.lfw import open_lfw
    from siamface.evaluation.report import evaluate_run

    lfw = open_lfw(resolve_data_home(data_dir))
    return evaluate_run(Path(run_dir), lfw, pairs, plots=plots, progress=progress)
