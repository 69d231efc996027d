"""Export a trained model to run without siamface: TorchScript or ONNX, plus a JSON side-car.

What is exported is what ``Verifier`` computes once a face is aligned:

- ``embed``: (B, C, S, S) float32 images in [0, 1], NCHW -> (B, D) embeddings, the flip
  test-time augmentation included (unless turned off);
- ``score``: two (B, D) embedding batches -> (B,) logits and (B,) distances.

``export.json`` beside the model files says everything else a deployment needs: the
preprocessing (crop box in the 250x250 LFW frame, size, channels), how a photo's face becomes
that frame (by dlib's landmarks, or the Haar cascade's box without dlib), the decision threshold
on the logit, and which files hold what.

Formats:

- ``torchscript``: one ``model.pt``; ``m = torch.jit.load("model.pt")``, ``e = m(x)``,
  ``logits, distances = m.score(e1, e2)``; it also loads in C++ (libtorch). A TorchScript file
  holds code as well as weights, and loading one runs that code: load only files you trust.
  (PyTorch 2.13 marks TorchScript as deprecated in favour of torch.export, but still loads it.)
- ``onnx``: ``embed.onnx`` (input "images", output "embeddings") and ``score.onnx`` (inputs
  "embeddings_a", "embeddings_b", outputs "logits", "distances"), batch size free. Needs the
  ``onnx`` and ``onnxscript`` packages (the ``export`` extra); ONNX files hold a graph and
  weights, no code.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siamface import __version__
from siamface.data.preprocess import FRAME_SIZE
from siamface.errors import SiamfaceError
from siamface.inference.align import FACE_CENTER, FACE_SIDE, LFW_LANDMARKS
from siamface.inference.detectors import (
    HOG_FACE_PX,
    HOG_MAX_ENLARGE,
    HOG_MIN_SIZE_FRACTION,
    HOG_THRESHOLD,
    LANDMARKS_FILE,
)
from siamface.inference.face_detection import CASCADE_FILE, MAX_SCAN_PIXELS, FaceDetector
from siamface.inference.verifier import Verifier, model_fingerprint
from siamface.models.io import embed
from siamface.models.siamese import SiameseNet
from siamface.run_folder import Run
from siamface.utils.atomic import WriteError, atomic_path, is_temporary, write_json_atomic
from siamface.utils.files import read_json_object
from siamface.utils.lock import file_lock
from siamface.utils.registry import Registry

SIDECAR = "export.json"
LOCK_FILE = ".export.lock"  # held while an export writes into the folder
TORCHSCRIPT_FILE = "model.pt"  # the torchscript export: one module for both roles
ONNX_FILES = {"embed": "embed.onnx", "score": "score.onnx"}  # the onnx export: a graph a role

# An exporter writes its files for (embedder, head, input shape (C, S, S)) into a folder and
# returns what the side-car says about them: {"files": {role: file name}, "usage": how to run}.
EXPORTERS: Registry[dict[str, Any]] = Registry("export format")


class Embedder(nn.Module):
    """The model's embedding step as one module: images in [0, 1] -> embeddings.

    Args:
        model: The SiameseNet.
        flip_tta: Average with the mirror image's embedding, as ``embed_images`` does.
    """

    def __init__(self, model: SiameseNet, flip_tta: bool) -> None:
        super().__init__()
        self.model = model
        self.flip_tta = flip_tta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return embed(self.model, x, self.flip_tta)  # (B, D)

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) and (B, D) embeddings -> (B,) logits and (B,) distances."""
        scores = self.model.score(e1, e2)
        return scores.logits, scores.distances


class Head(nn.Module):
    """The model's head alone, as a module whose forward is ``Embedder.score``."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embedder.score(e1, e2)


@EXPORTERS.register("torchscript")
def _torchscript(
    embedder: Embedder, head: Head, shape: tuple[int, int, int], out_dir: Path
) -> dict[str, Any]:
    del head  # TorchScript keeps both steps in one file: forward and score
    x = torch.rand(2, *shape)  # (2, C, S, S): two, so that no size-1 batch gets special-cased
    e = torch.rand(2, embedder.model.out_dim)
    with warnings.catch_warnings():
        # The tracer warns about the input checks of SiameseNet.embed and .score (Python ifs on
        # shapes): they are frozen as the always-passing checks they were, which is harmless.
        # Its deprecation notice is said once in this module's docstring instead.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*is deprecated", category=Warning)
        # No check_trace: it re-runs the graph through TorchScript's profiling executor (~10 s
        # for even a tiny model), and our models have no data-dependent control flow for a
        # trace to miss. tests/inference/test_export.py checks the round trip instead.
        traced = torch.jit.trace_module(
            embedder, {"forward": x, "score": (e, e)}, check_trace=False
        )
    # Into memory first: torch's archive writer aborts the whole process (a C++ exception out
    # of a destructor) when the disk fills, where a write of bytes raises an OSError.
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    with atomic_path(out_dir / TORCHSCRIPT_FILE) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return {
        "files": {"embed": TORCHSCRIPT_FILE, "score": TORCHSCRIPT_FILE},
        "usage": f"m = torch.jit.load('{TORCHSCRIPT_FILE}'); e = m(images); "
                 "logits, distances = m.score(e1, e2)",
    }


@EXPORTERS.register("onnx")
def _onnx(
    embedder: Embedder, head: Head, shape: tuple[int, int, int], out_dir: Path
) -> dict[str, Any]:
    try:
        import onnx  # noqa: F401  (torch.onnx needs both; fail early with a clear message)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"ONNX export needs the onnx and onnxscript packages ({err}); install them with "
            "`pip install onnx onnxscript`"
        ) from err
    batch = torch.export.Dim("batch", min=1)
    d = embedder.model.out_dim
    graphs = {
        "embed": (embedder, (torch.rand(2, *shape),), ["images"], ["embeddings"],
                  {"x": {0: batch}}),
        "score": (head, (torch.rand(2, d), torch.rand(2, d)), ["embeddings_a", "embeddings_b"],
                  ["logits", "distances"], {"e1": {0: batch}, "e2": {0: batch}}),
    }
    for role, (module, args, inputs, outputs, dynamic) in graphs.items():
        with _quiet_onnx_exporter():
            program = torch.onnx.export(
                module, args, dynamo=True, input_names=inputs, output_names=outputs,
                dynamic_shapes=dynamic, verbose=False,
            )
        with atomic_path(out_dir / ONNX_FILES[role]) as tmp:
            program.save(str(tmp), external_data=False)  # one self-contained file each
    return {
        "files": dict(ONNX_FILES),
        "usage": "embeddings = embed.onnx(images); logits, distances = "
                 "score.onnx(embeddings_a, embeddings_b)",
    }


@contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Silence what torch.onnx's exporter says that does not concern us, and only that: that
    torchvision's operators are not registered (we use none), a deprecation inside torch's own
    pytree code, and that the two score inputs share one batch axis (they must)."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            warnings.filterwarnings("ignore", message="# The axis name", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


class ExportFolderError(SiamfaceError, ValueError):
    """The folder to export into holds something else than an export of that format."""


def check_export_folder(out_dir: Path, fmt: str) -> None:
    """Refuse a folder that is a file, or holds other files than an export of ``fmt``: an
    export's files count as such only beside its export.json or, where an export never ended,
    its lock file (a user's own model.pt is no export's)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportFolderError(f"{out_dir} is a file: an export is written into a folder")
    if not out_dir.is_dir():
        return
    sidecar = out_dir / SIDECAR
    found = read_json_object(sidecar, error=ExportFolderError) if sidecar.is_file() else {}
    ours = sidecar.is_file() or (out_dir / LOCK_FILE).is_file()
    others = [p.name for p in out_dir.iterdir()
              if not (_export_file(p.name) if ours else p.name == ".DS_Store")]
    if found.get("format") not in (None, fmt) or others:  # (None: an export that never ended)
        what = (f"a {found['format']} export" if isinstance(found.get("format"), str)
                and found["format"] != fmt else f"other files ({others[0]})")
        raise ExportFolderError(f"{out_dir} holds {what}: export {fmt} into an empty folder, "
                                f"or over a {fmt} export")


def _export_file(name: str) -> bool:
    """Whether a file of this name is an export's (or a write in progress, or a Finder note)."""
    return (name in (SIDECAR, LOCK_FILE, TORCHSCRIPT_FILE, *ONNX_FILES.values(), ".DS_Store")
            or is_temporary(name))


def export_model(
    verifier: Verifier, out_dir: str | Path, fmt: str, description: dict[str, Any] | None = None
) -> Path:
    """Export a verifier's model, flip TTA setting, preprocessing and threshold.

    Args:
        verifier: Holds the model and everything about its use (see ``Verifier``).
        out_dir: Folder for the model files and ``export.json`` (written last, the old one
            removed before the model files are replaced).
        fmt: An export format: "torchscript" or "onnx".
        description: Extra facts for the side-car (e.g. the source run and model name).

    Returns:
        The path of ``export.json``.

    Raises:
        ExportFolderError: ``out_dir`` holds anything but an export of the same format (its
            files would be replaced, or left beside an export.json that no longer names them).
    """
    out_dir = Path(out_dir)
    check_export_folder(out_dir, fmt)  # (a folder not ours gets no lock file)
    out_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir / LOCK_FILE, f"export into {out_dir}"):
        check_export_folder(out_dir, fmt)  # as another export may have left it meanwhile
        for stale in out_dir.iterdir():  # what a killed export left (a staging folder holds
            if stale.is_dir() and is_temporary(stale.name):  # a whole model)
                shutil.rmtree(stale)
            elif is_temporary(stale.name):
                stale.unlink()
        return _export_locked(verifier, out_dir, fmt, description)


def _export_locked(verifier: Verifier, out_dir: Path, fmt: str,
                   description: dict[str, Any] | None) -> Path:
    model = verifier.model
    prep = verifier.preprocessing
    was_training = model.training
    model.eval()
    # The model files are written aside first (a name is_temporary knows), so that a failure
    # while they are made leaves the export before this one whole; then the old export.json
    # goes before they replace its files, so that a stop in between leaves an export that
    # never ended (no export.json) rather than new files described by the old side-car.
    with tempfile.TemporaryDirectory(prefix=".export.", suffix=".tmp", dir=out_dir) as staging:
        try:
            embedder = Embedder(model, verifier.flip_tta).eval()
            written = EXPORTERS.build(fmt, embedder=embedder, head=Head(embedder).eval(),
                                      shape=prep.shape, out_dir=Path(staging))
        except WriteError as err:  # (a full disk) named by the file it was to be
            raise WriteError(str(err).replace(staging, str(out_dir)), err.errno) from None
        finally:
            model.train(was_training)
        (out_dir / SIDECAR).unlink(missing_ok=True)
        for name in sorted(set(written["files"].values())):
            os.replace(Path(staging) / name, out_dir / name)
    sidecar = {
        "format": fmt,
        **written,
        "input": {
            "layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0],
            "channels": prep.channels, "size": prep.size, "batch": "any",
        },
        "embedding_dim": model.out_dim,
        "flip_tta": verifier.flip_tta,
        "preprocessing": prep.to_dict(),
        "face_frame": face_frame(),
        "threshold": verifier.threshold,
        "decision": "same person when logit >= threshold; probability = sigmoid(logit)",
        "model_fingerprint": model_fingerprint(model),
        "versions": {"siamface": __version__, "torch": torch.__version__},
        **(description or {}),
    }
    path = out_dir / SIDECAR
    write_json_atomic(path, sidecar)
    return path


def face_frame() -> dict[str, Any]:
    """How a photo's face becomes the LFW-like frame the model takes, in words and numbers:
    by dlib's landmarks (as ``siamface verify`` aligns, where dlib is installed), else by the
    Haar cascade's box."""
    haar = FaceDetector()
    return {
        "frame_size": FRAME_SIZE,
        "landmarks": {
            "used": "by default (dlib installed)",
            "detector": f"dlib's HOG frontal face detector and its {LANDMARKS_FILE}",
            "detector_settings": {
                "min_size_fraction": HOG_MIN_SIZE_FRACTION, "adjust_threshold": HOG_THRESHOLD,
                "face_px": HOG_FACE_PX, "max_enlarge": HOG_MAX_ENLARGE,
                "max_scan_pixels": MAX_SCAN_PIXELS,
                "rule": "the picture is scaled until a face min_size_fraction of its shorter "
                        "side is face_px wide (enlarged at most max_enlarge times, and to at "
                        "most max_scan_pixels); the largest face found is used",
            },
            "points": "the eye centre on the image's left (the mean of landmarks 2 and 3), the "
                      "other eye centre (0 and 1), the nose base (4)",
            "frame_points": [list(p) for p in LFW_LANDMARKS],
            "rule": "a similarity transform: the rotation that turns the eyes' line onto "
                    "frame_points' eye line, then one scale and shift fitted by least squares "
                    "over the three points; warp the photo into the frame_size frame with it, "
                    "then crop with preprocessing.crop",
        },
        "box": {
            "used": "where dlib is not installed (the Haar cascade finds no landmarks)",
            "detector": f"OpenCV {CASCADE_FILE}",
            "detector_settings": {
                "scale_factor": haar.scale_factor, "min_neighbors": haar.min_neighbors,
                "min_size_fraction": haar.min_size_fraction, "min_face_px": haar.min_face_px,
            },
            "face_center": list(FACE_CENTER),
            "face_side": FACE_SIDE,
            "rule": "frame side = frame_size * box side / face_side, placed so that the box "
                    "centre lands on face_center; then crop with preprocessing.crop",
        },
    }


def export_run(
    run_dir: str | Path, out_dir: str | Path, fmt: str, flip_tta: bool = True
) -> Path:
    """Export a finished run's chosen model (see ``export_model``).

    Args:
        run_dir: The run folder.
        out_dir: Where to write the files.
        fmt: "torchscript" or "onnx".
        flip_tta: Bake the flip test-time augmentation into the embedding.
    """
    run = Run(run_dir)
    verifier = Verifier(run.model, run.preprocessing, run.threshold, flip_tta=flip_tta)
    description = {
        "run": str(run_dir),
        "model_name": run.config.model.name,
        "best_epoch": run.best_epoch,
    }
    return export_model(verifier, out_dir, fmt, description)
