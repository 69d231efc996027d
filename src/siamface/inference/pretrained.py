"""A pretrained option, labelled "outside data": dlib's face ResNet instead of a siamface run.

dlib's ``dlib_face_recognition_resnet_model_v1`` (shipped in ``face-recognition-models``) was
trained on about 3 million faces from outside LFW, so its results are not comparable with the
LFW-only default and are labelled "outside data" wherever they are shown; it never replaces the
default. It is used through a folder that plays the part of a run folder::

    siamface pretrained dlib-resnet --out runs/dlib-resnet     # threshold from DevTrain
    siamface verify runs/dlib-resnet a.jpg b.jpg                # ... [outside data]
    siamface identify runs/dlib-resnet probe.jpg --gallery people/

The folder holds ``pretrained.json``: the model's name, its label, and the decision rule chosen
like every siamface model's, on validation pairs of DevTrain people only (a person-disjoint
split of pairsDevTrain, seed 0, as training makes it; never DevTest). The rule is a logistic
calibration of the descriptors' Euclidean distance, ``logit = offset - scale * distance``, so
``p`` reads as a probability, with the logit threshold of best validation accuracy. Beside it,
``gallery_calibration.safetensors`` keeps the highest scores of pairs of two different
validation people, from which identification sets a threshold for a gallery's size, as for a
run. A small trained head on the embeddings is not built: whether one would beat the plain
distance on validation has not been measured yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.config import load_config
from siamface.data.lfw import LFWDataset
from siamface.data.people import TRAIN_PAIRS, pair_people, person_images, training_scope
from siamface.data.preprocess import preset
from siamface.data.protocol import ImageRef, Pair
from siamface.data.splits import training_split
from siamface.errors import SiamfaceError
from siamface.evaluation.bootstrap import N_BOOTSTRAP
from siamface.evaluation.gallery_calibration import impostor_scores, kept_tail
from siamface.evaluation.open_set import ImpostorTail
from siamface.evaluation.report import verification_metrics
from siamface.evaluation.threshold import best_accuracy_threshold
from siamface.inference.align import (
    AlignedFace,
    ImageInput,
    check_face_rank,
    no_such_face,
    read_photo,
    warn_multiple_faces,
)
from siamface.inference.detectors import DlibDetector, model_file
from siamface.inference.face_detection import FaceBox
from siamface.inference.verifier import Verifier
from siamface.models.heads import squared_distances, with_squared_norms
from siamface.models.siamese import PairScores
from siamface.run_folder import CALIBRATION_FILE, read_impostor_tail, write_impostor_tail
from siamface.utils.atomic import write_json_atomic
from siamface.utils.files import is_number, read_json_object
from siamface.utils.hashing import sha256_file

PRETRAINED_FILE = "pretrained.json"
FORMAT = "siamface-pretrained"
LABEL = "outside data"
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150  # dlib's face chip: what the ResNet takes
# Where dlib's HOG box sits in an LFW 250x250 frame (George_W_Bush_0001): a frame in which it
# finds no face is taken to be aligned, with the face there.
LFW_BOX = FaceBox(83.0, 93.0, 171.0, 180.0)
KNOWN = {"dlib-resnet": "dlib face ResNet v1 (about 3 million faces outside LFW)"}


class PretrainedError(SiamfaceError, ValueError):
    """A pretrained folder that cannot be used; the message names the file."""


class DistanceScorer:
    """The "model" of the pretrained option: scores pairs of dlib descriptors by distance.

    Args:
        scale, offset: ``logit = offset - scale * distance`` (fitted on validation pairs).
    """

    out_dim = 128

    def __init__(self, scale: float, offset: float) -> None:
        self.scale = scale
        self.offset = offset

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        """(B,) logits and Euclidean distances of (B, 128) descriptors."""
        distances = torch.linalg.vector_norm(e1 - e2, dim=1)
        return PairScores(self.offset - self.scale * distances, distances)

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        """(G, 128) descriptors with their squared norms, for ``logit_matrix``."""
        return with_squared_norms(gallery)

    def logit_matrix(self, probes: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """(P, G) logits of probe descriptors against a prepared gallery, as ``score``."""
        return self.offset - self.scale * squared_distances(probes, prepared).sqrt()


class PretrainedVerifier(Verifier):
    """Verify and identify with dlib's face ResNet (labelled "outside data").

    Faces are found by dlib's detector, cut as dlib's 150x150 face chips from their 5
    landmarks, and described by the ResNet's 128 numbers.

    Args:
        scorer: The calibrated distance rule.
        threshold: Logit threshold.
        detect: Detect faces; without, each image is taken to be an LFW-like frame (the face
            is still looked for, and assumed at LFW_BOX when not found).
        detector: dlib's detector (default settings if None).
        calibration: Different-person validation scores, for a gallery's threshold.
    """

    label = LABEL

    def __init__(self, scorer: DistanceScorer, threshold: float, detect: bool = True,
                 detector: DlibDetector | None = None,
                 calibration: ImpostorTail | None = None) -> None:
        import dlib

        # The chip is RGB: a grey photo is as foreign to the ResNet as to an RGB run.
        super().__init__(scorer, preset("full", CHIP_SIZE, 3), threshold, detect=detect,
                         flip_tta=False, detector=detector, calibration=calibration)
        self._dlib = dlib
        self._resnet = dlib.face_recognition_model_v1(str(model_file(RESNET_FILE)))
        self._finder = detector if detector is not None else DlibDetector()

    @classmethod
    def from_folder(cls, folder: str | Path, **kwargs: Any) -> PretrainedVerifier:
        """The verifier described by a folder's pretrained.json.

        Args:
            folder: Made by ``write_pretrained`` (``siamface pretrained``).
            **kwargs: ``detect`` or ``detector``.
        """
        info = read_pretrained(folder)
        path = Path(folder) / CALIBRATION_FILE
        calibration = kept_tail(read_impostor_tail(path, sha256_file(model_file(RESNET_FILE))),
                                path)
        return cls(DistanceScorer(info["scale"], info["offset"]), info["threshold"],
                   calibration=calibration, **kwargs)

    def align(self, image: ImageInput, face: int | None = None) -> AlignedFace:
        """One face as a dlib face chip: (3, 150, 150) uint8 pixels."""
        check_face_rank(face)
        return self._chips(image, only=0 if face is None else face, notice=face is None)[0]

    def align_all(self, image: ImageInput) -> list[AlignedFace]:
        return self._chips(image, only=None)

    def _chips(self, image: ImageInput, only: int | None,
               notice: bool = False) -> list[AlignedFace]:
        photo, source, _ = read_photo(image)
        rgb = np.asarray(photo)  # (H, W, 3)
        grey = np.asarray(photo.convert("L"))
        # The largest face (no face asked for) is searched large faces first, as for a run.
        find = self._finder.detect_largest if notice else self._finder.detect_all
        boxes = tuple(find(grey))
        if not boxes and self.detect:
            raise self._finder.no_face(source)
        if not boxes:  # an aligned frame: the face is where LFW puts it
            k = photo.width / 250
            boxes = (self._finder.with_landmarks(grey, FaceBox(
                LFW_BOX.left * k, LFW_BOX.top * k, LFW_BOX.right * k, LFW_BOX.bottom * k)),)
        if notice and self.detect and len(boxes) > 1:
            warn_multiple_faces(source, boxes)
        ranks = range(len(boxes)) if only is None else [only]
        if only is not None and not 0 <= only < len(boxes):
            raise no_such_face(source, only, len(boxes))
        faces = []
        for rank in ranks:
            chip = self._dlib.get_face_chip(rgb, self._shape(boxes[rank]), size=CHIP_SIZE)
            aligned = AlignedFace(
                pixels=np.ascontiguousarray(chip.transpose(2, 0, 1)), source=source,
                box=boxes[rank] if self.detect else None, frame=boxes[rank].as_tuple(),
                faces_found=len(boxes) if self.detect else None,
                boxes=boxes if self.detect else (), grey=_grey(chip))
            self.check_colour(aligned)
            faces.append(aligned)
        return faces

    def _shape(self, box: FaceBox):  # -> dlib.full_object_detection
        d = self._dlib
        rect = d.rectangle(round(box.left), round(box.top), round(box.right) - 1,
                           round(box.bottom) - 1)
        return d.full_object_detection(rect, [d.point(round(x), round(y))
                                              for x, y in box.landmarks])

    def embed(self, faces: Sequence[AlignedFace]) -> torch.Tensor:
        """(N, 128) float32 descriptors of face chips."""
        if not faces:
            return torch.empty(0, DistanceScorer.out_dim)
        chips = [np.ascontiguousarray(f.pixels.transpose(1, 2, 0)) for f in faces]
        vectors = self._resnet.compute_face_descriptor(chips)
        return torch.tensor(np.array([list(v) for v in vectors]), dtype=torch.float32)

    def settings(self) -> dict[str, Any]:
        return {"model": f"dlib-resnet:{sha256_file(model_file(RESNET_FILE))[:16]}",
                "preprocessing": {"chip": CHIP_SIZE}, "detect": self.detect,
                "flip_tta": False}


def _grey(chip: np.ndarray) -> bool:
    c = chip.astype(np.int16)  # (150, 150, 3)
    return bool(np.abs(c[..., 0] - c[..., 1]).mean() + np.abs(c[..., 1] - c[..., 2]).mean() < 1)


def describe(verifier: PretrainedVerifier, lfw: LFWDataset,
             refs: Sequence[ImageRef]) -> dict[ImageRef, np.ndarray]:
    """Each LFW image's (128,) descriptor."""
    e = verifier.embed([verifier.align(lfw.image_path(ref)) for ref in refs]).numpy()
    return dict(zip(refs, e, strict=True))


def pair_distances(descriptors: dict[ImageRef, np.ndarray],
                   pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """(P,) descriptor distances and (P,) labels of LFW pairs."""
    left = np.array([descriptors[p.left] for p in pairs])  # (P, 128)
    right = np.array([descriptors[p.right] for p in pairs])
    return np.linalg.norm(left - right, axis=1), np.array([int(p.same) for p in pairs])


def calibrate(distances: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """``(scale, offset, threshold)``: a logistic fit of labels on distance, and the logit
    threshold of best accuracy on these pairs."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4).fit(distances[:, None], labels)
    scale, offset = float(-fit.coef_[0, 0]), float(fit.intercept_[0])
    threshold, _ = best_accuracy_threshold(offset - scale * distances, labels)
    return scale, offset, float(threshold)


def write_pretrained(folder: str | Path, lfw: LFWDataset, name: str = "dlib-resnet",
                     test_pairs: str | None = None,
                     n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Choose the pretrained model's threshold on DevTrain validation pairs (those a run of
    the default recipe validates on) and keep its different-person validation scores (the
    gallery calibration); write the folder.

    Args:
        folder: Where pretrained.json goes (made if missing).
        lfw: The imported LFW copy (pairsDevTrain.txt).
        name: The pretrained model ("dlib-resnet").
        test_pairs: Also score this pairs file once (e.g. "pairsDevTest.txt"), recorded with
            the label.
        n_bootstrap: Resamples for the test accuracy's 95% interval.

    Returns:
        What pretrained.json holds.
    """
    if name not in KNOWN:
        raise PretrainedError(f"unknown pretrained model {name!r}; known: {', '.join(KNOWN)}")
    folder = Path(folder)
    # taken: a pretrained model's folder, an empty one, or the calibration alone that a
    # command stopped before its end left (nothing else is written before it is done)
    if folder.exists() and not (folder.is_dir() and (
            is_pretrained(folder)
            or [p.name for p in folder.iterdir()] in ([], [CALIBRATION_FILE]))):
        # a run folder's own gallery calibration would be overwritten, and the folder would
        # then answer verify and identify with this model instead of its own
        found = "it holds other files" if folder.is_dir() else "it is a file"
        raise PretrainedError(f"{folder}: expected a new or empty folder, or a pretrained "
                              f"model's, but {found}")
    test = None if test_pairs is None else lfw.read_pairs(test_pairs).pairs  # (imported?)
    # the validation people of the default recipe, as a run of it splits pairsDevTrain
    recipe = load_config("default")
    _, val = training_split(training_scope(lfw), lfw.image_counts, recipe.data, recipe.seed)
    probe = PretrainedVerifier(DistanceScorer(1.0, 0.0), 0.0, detect=False)
    # Every image of the validation people: their pairs set the threshold, and the pairs of
    # two different people among them the gallery calibration.
    people = sorted(pair_people(val))
    refs, ids = person_images(people, lfw.image_counts)
    descriptors = describe(probe, lfw, refs)
    distances, labels = pair_distances(descriptors, val)
    scale, offset, threshold = calibrate(distances, labels)
    logits = offset - scale * distances
    info: dict[str, Any] = {
        "format": FORMAT, "name": name, "label": LABEL, "description": KNOWN[name],
        "scale": scale, "offset": offset, "threshold": threshold,
        "validation": {"pairs_file": TRAIN_PAIRS, "pairs": len(val),
                       "accuracy": float(((logits >= threshold) == labels).mean())},
    }
    scorer = DistanceScorer(scale, offset)
    emb = torch.from_numpy(np.array([descriptors[ref] for ref in refs]))  # (V, 128)
    tail = ImpostorTail.from_scores(
        impostor_scores(emb, ids, lambda a, b: scorer.score(a, b).logits, seed=0))
    info["gallery_calibration"] = {"people": len(people), "pairs": tail.pairs}
    if test is not None:
        d, y = pair_distances(describe(probe, lfw, sorted({r for p in test
                                                           for r in (p.left, p.right)})), test)
        metrics = verification_metrics(offset - scale * d, y, threshold, n_bootstrap)
        info["test"] = {"pairs_file": test_pairs, "label": LABEL, **metrics}
    # written once everything is computed; pretrained.json, which makes it a model, last
    write_impostor_tail(Path(folder) / CALIBRATION_FILE, torch.from_numpy(tail.scores),
                        tail.pairs, len(people), sha256_file(model_file(RESNET_FILE)))
    write_json_atomic(Path(folder) / PRETRAINED_FILE, info)
    return info


def is_pretrained(folder: str | Path) -> bool:
    """True when ``folder`` is a pretrained option's folder (not a siamface run)."""
    return (Path(folder) / PRETRAINED_FILE).is_file()


def refuse_pretrained(folder: str | Path, needs: str) -> None:
    """A pretrained model's folder is a RUN for verify and identify only: say so where
    ``needs`` (what asks, in words: "`siamface export`", "evaluation") needs a training run,
    rather than that it is an unfinished run.

    Raises:
        PretrainedError: ``folder`` is a pretrained model's.
    """
    if is_pretrained(folder):
        raise PretrainedError(f"{folder} is a pretrained model's folder (outside data): verify "
                              f"and identify take it, but {needs} needs a training run "
                              "(`siamface pretrained --test` scores it on pairsDevTest once)")


def read_pretrained(folder: str | Path) -> dict[str, Any]:
    """A folder's pretrained.json, checked.

    Raises:
        PretrainedError: missing, not JSON, or not a siamface pretrained description.
    """
    path = Path(folder) / PRETRAINED_FILE
    if not path.is_file():
        raise PretrainedError(f"{path}: cannot read it: no such file")
    info = read_json_object(path, error=PretrainedError)
    if info.get("format") != FORMAT:
        raise PretrainedError(f"{path}: not a siamface pretrained model description")
    name = info.get("name")
    if not isinstance(name, str) or name not in KNOWN:  # (a list is not even hashable)
        raise PretrainedError(f"{path}: 'name' must be one of {', '.join(map(repr, KNOWN))}, "
                              f"got {name!r}")
    for key in ("scale", "offset", "threshold"):
        value = info.get(key)
        if not is_number(value):
            raise PretrainedError(f"{path}: {key!r} must be a finite number, got {value!r}")
    if info["scale"] <= 0:  # a larger distance must never make two faces more alike
        raise PretrainedError(f"{path}: 'scale' must be positive, got {info['scale']!r}")
    return info
