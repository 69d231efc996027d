"""Verify two photos with a trained model: same person or not, with the model's own threshold.

    verifier = Verifier.from_run("runs/default-20261123-121020")
    result = verifier.verify("me.jpg", "passport.jpg")
    print(result)   # same person: p = 0.94 >= 0.41 (logit 2.76 >= -0.37)

Each photo is aligned (``align.py``), embedded with flip test-time augmentation exactly as the
evaluation embeds LFW (``siamface.evaluation.embed.embed_images``), and the two embeddings are
compared by the model's head. The decision uses the logit threshold chosen on validation pairs
when the model was trained, so a verdict here means what the reported accuracy measured.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit

from siamface.data.preprocess import Preprocessing
from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.evaluation.embed import embed_images
from siamface.evaluation.gallery_calibration import gallery_calibration
from siamface.evaluation.open_set import ImpostorTail
from siamface.inference.align import AlignedFace, FaceAligner, ImageInput
from siamface.inference.face_detection import Detector, FaceBox
from siamface.models.siamese import SiameseNet
from siamface.run_folder import Run
from siamface.utils.files import is_number
from siamface.utils.precision import choose_precision


class NonFiniteScoreError(SiamfaceError, ValueError):
    """A threshold or a score that is NaN or infinite: no verdict can be given from it."""


class GreyPhotoWarning(SiamfaceWarning):
    """A black-and-white photo given to a model of colour photos: its scores are less sure."""


@dataclass(frozen=True)
class Verification:
    """The verdict on one pair of photos.

    Attributes:
        same: ``logit >= threshold``.
        probability: ``sigmoid(logit)``, the model's probability of the same person.
        logit: The head's score; higher = more alike.
        threshold: The decision threshold on the logit scale.
        distance: The head's distance between the two embeddings (lower = more alike).
        box_a, box_b: The faces used in each photo (photo pixels); None without detection.
        faces_a, faces_b: How many faces were found in each photo; None without detection.
        boxes_a, boxes_b: Every face found in each photo, largest first.
        label: Where the model's knowledge comes from when not from LFW alone (e.g.
            "outside data" for a pretrained model); None for a siamface run.
    """

    same: bool
    probability: float
    logit: float
    threshold: float
    distance: float
    box_a: FaceBox | None
    box_b: FaceBox | None
    faces_a: int | None = None
    faces_b: int | None = None
    boxes_a: tuple[FaceBox, ...] = ()
    boxes_b: tuple[FaceBox, ...] = ()
    label: str | None = None

    @property
    def threshold_probability(self) -> float:
        """The threshold on the probability scale, ``sigmoid(threshold)``."""
        return float(expit(self.threshold))

    def __str__(self) -> str:
        verdict = "same person" if self.same else "different people"
        sign = ">=" if self.same else "<"
        p, p_at = self.probability, self.threshold_probability
        dp, dl = _apart(p, p_at), _apart(self.logit, self.threshold)
        line = (f"{verdict}: p = {p:.{dp}f} {sign} {p_at:.{dp}f} "
                f"(logit {self.logit:.{dl}f} {sign} {self.threshold:.{dl}f})")
        return line if self.label is None else f"{line} [{self.label}]"


def _apart(a: float, b: float) -> int:
    """The decimals, 3 to 9, at which ``a`` and ``b`` print apart where they differ: "p =
    0.993 < 0.993" would leave the reader to guess."""
    for digits in range(3, 10):
        if a == b or f"{a:.{digits}f}" != f"{b:.{digits}f}":
            return digits
    return 3  # closer than 9 decimals tell: the logits beside them do


class Verifier:
    """Embeds and compares photos with a trained SiameseNet.

    Args:
        model: The trained model (put in eval mode when used).
        preprocessing: The model's input preprocessing (its run's model.json).
        threshold: Logit threshold: a pair is the same person when ``logit >= threshold``.
        detect: Detect and align faces. Turn off for images that already are aligned
            LFW-style 250x250 frames (e.g. LFW's own JPEGs).
        flip_tta: Average each image's embedding with its mirror image's, as evaluation does.
        batch_size: Images per forward pass when embedding many (a gallery).
        detector: Face detector; None: ``detectors.default_detector()``.
        calibration: The highest scores of different validation people, from which a gallery
            sets its identification threshold for its size (``Gallery``); None: unknown.
        embedder: The model to embed with, when not ``model`` itself: a faster copy of it
            (``frozen_for_inference``), as the server uses.
        precision: "auto", "fp32" or "bf16" for the embedding (``siamface.utils.precision``);
            ``from_run`` uses the run's ``train.precision``.
        saw_grey: The model was trained with grey images mixed in (``augment.grey_p``), so a
            grey photo needs no warning; ``from_run`` reads it from the run's config.
    """

    label: str | None = None  # None: a model trained by siamface on LFW alone
    align_in_parallel = True  # verify aligns its two photos on two threads where it can

    def __init__(
        self,
        model: SiameseNet,
        preprocessing: Preprocessing,
        threshold: float,
        detect: bool = True,
        flip_tta: bool = True,
        batch_size: int = 64,
        detector: Detector | None = None,
        calibration: ImpostorTail | None = None,
        embedder: SiameseNet | None = None,
        precision: str = "auto",
        saw_grey: bool = False,
    ) -> None:
        if not is_number(threshold):
            raise NonFiniteScoreError(f"the threshold must be a finite number, got {threshold!r}")
        if not (is_number(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a whole number of at least 1, got "
                             f"{batch_size!r}")
        self.model = model
        self.preprocessing = preprocessing
        self.threshold = threshold
        self.detect = detect
        self.flip_tta = flip_tta
        self.batch_size = batch_size
        self.detector = detector
        self.calibration = calibration
        self.embedder = embedder
        self.precision = choose_precision(precision)  # "fp32" or "bf16"
        self.saw_grey = saw_grey

    @classmethod
    def from_run(cls, run_dir: str | Path | Run, **kwargs: Any) -> Verifier:
        """The verifier of a finished training run: its chosen model, preprocessing, threshold
        and gallery calibration, in the run's precision, knowing whether it saw grey photos.

        Args:
            run_dir: A run folder with model.safetensors and model.json (or its ``Run``).
            **kwargs: Any other ``Verifier`` argument (``detect``, ``flip_tta``, ``precision``...).
        """
        run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
        model = run.model  # first: it says when the run is not finished
        config = run.config
        kwargs.setdefault("precision", config.train.precision)
        kwargs.setdefault("saw_grey", config.augment.enabled and config.augment.grey_p > 0)
        return cls(model, run.preprocessing, run.threshold,
                   calibration=gallery_calibration(run), **kwargs)

    @cached_property
    def aligner(self) -> FaceAligner:
        """Detection and cropping for this model's preprocessing."""
        return FaceAligner(self.preprocessing, self.detect, self.detector)

    def align(self, image: ImageInput, face: int | None = None) -> AlignedFace:
        """Detect, frame and preprocess one face of a photo (see ``FaceAligner``).

        Args:
            image: A file path, a Pillow image or a uint8 array.
            face: Which face by size (0: the largest); None: the largest, with a notice when
                there were several.

        Warns:
            GreyPhotoWarning: a grey photo for a model of colour photos.
        """
        aligned = self.aligner(image, face)
        self.check_colour(aligned)
        return aligned

    def align_all(self, image: ImageInput) -> list[AlignedFace]:
        """Every face of a photo, aligned, largest first (see ``FaceAligner.align_all``)."""
        faces = self.aligner.align_all(image)
        if faces:
            self.check_colour(faces[0])
        return faces

    def colour_note(self, face: AlignedFace) -> str | None:
        """What to say of a grey photo that meets a model trained on colour photos alone
        (None for any other photo).

        LFW is nearly all colour, so an RGB model trained without grey augmentation has rarely
        seen a grey face: on validation pairs the default recipe without it verified grey
        pairs at 59% against 86% in colour (with it, 84-86% for both; grey_validation.json).
        """
        if face.grey and self.preprocessing.channels == 3 and not self.saw_grey:
            return ("black and white but the model compares colour photos: its score is less "
                    "reliable than the reported accuracy")
        return None

    def check_colour(self, face: AlignedFace) -> None:
        """Warn with the photo's ``colour_note``, when it has one."""
        note = self.colour_note(face)
        if note is not None:
            warnings.warn(GreyPhotoWarning(f"{face.source} is {note}"), stacklevel=3)

    def embed(self, faces: Sequence[AlignedFace]) -> torch.Tensor:
        """Embed aligned faces.

        Returns:
            (N, D) float32 embeddings, one row per face.
        """
        if not faces:
            return torch.empty(0, self.model.out_dim)
        images = np.stack([f.pixels for f in faces])  # (N, C, S, S) uint8
        indices = np.arange(len(faces))
        model = self.model if self.embedder is None else self.embedder
        return embed_images(model, images, indices, self.batch_size, self.flip_tta,
                            precision=self.precision)

    def verify(self, image_a: ImageInput, image_b: ImageInput, face_a: int | None = None,
               face_b: int | None = None) -> Verification:
        """Are the two photos the same person?

        Args:
            image_a, image_b: File paths, Pillow images or uint8 arrays.
            face_a, face_b: Which face of each photo by size (0: the largest); None: the
                largest, with a notice when there were several.

        Raises:
            NoFaceError: no face in one of the photos (with detection on).
            FaceChoiceError: a photo has no face of that rank.
            FileNotFoundError, ImageDecodeError: a file is missing or unreadable.
        """
        a, b = self._align_both(image_a, face_a, image_b, face_b)
        e = self.embed([a, b])  # (2, D): one forward pass (two with flip TTA) for both
        with torch.inference_mode():
            scores = self.model.score(e[:1], e[1:])
        logit = float(scores.logits[0])
        if not math.isfinite(logit):
            raise NonFiniteScoreError(
                f"the model scored this pair {logit}: its weights or these photos give no valid "
                "answer, so there is no verdict"
            )
        return Verification(
            same=logit >= self.threshold,
            probability=float(expit(logit)),
            logit=logit,
            threshold=self.threshold,
            distance=float(scores.distances[0]),
            box_a=a.box,
            box_b=b.box,
            faces_a=a.faces_found,
            faces_b=b.faces_found,
            boxes_a=a.boxes,
            boxes_b=b.boxes,
            label=self.label,
        )

    def _align_both(self, image_a: ImageInput, face_a: int | None, image_b: ImageInput,
                    face_b: int | None) -> tuple[AlignedFace, AlignedFace]:
        """Both photos' faces: photo b on a second thread while this one does photo a, where
        the detector allows it. Decoding, resizing and dlib's search let go of the GIL, so two
        photos that each need the full search take little more than one on two cores (2 MP
        photos: benchmarks/results/photos.json). Errors are raised in the order a, b."""
        if not (self.align_in_parallel and self.detect and self.aligner.thread_safe):
            return self._align_one(image_a, face_a), self._align_one(image_b, face_b)
        with ThreadPoolExecutor(max_workers=1) as pool:
            b = pool.submit(self._align_one, image_b, face_b)
            return self._align_one(image_a, face_a), b.result()

    def _align_one(self, image: ImageInput, face: int | None) -> AlignedFace:
        # Subclasses may override align(image) alone (the server's takes aligned faces).
        return self.align(image) if face is None else self.align(image, face)

    def settings(self) -> dict[str, Any]:
        """What an embedding depends on besides the photo: stored with saved galleries.

        The precision is left out on purpose: bf16 and fp32 embeddings of a model differ by
        bf16's rounding only, and a gallery saved where ``auto`` chose one stays usable on a
        machine where it chooses the other."""
        return {
            "model": model_fingerprint(self.model),
            "preprocessing": self.preprocessing.to_dict(),
            "detect": self.detect,
            "flip_tta": self.flip_tta,
        }


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hex sha256 of a model's state (names, dtypes, shapes and values of every tensor).

    Embeddings from two models agree only if their fingerprints do; saved galleries record it.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
