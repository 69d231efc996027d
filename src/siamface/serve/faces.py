"""FaceService: what the server does with photos, on the worker pool's threads.

Each worker thread has its own Verifier and so its own face detector (the default one, dlib's
with landmarks where installed; neither an OpenCV cascade nor a detector with scratch buffers
may run on two threads at once); they share the one model, loaded once, which only reads its
weights, and embed with its frozen TorchScript copy (``frozen_for_inference``: about a third
faster, the same embeddings to float rounding). A photo is aligned once, which also counts its
faces, and the aligned face goes on to ``Verifier.verify`` and ``Gallery.identify`` as it is.
The per-photo notices of the command line (several faces, a grey photo) are not printed: the
response carries those facts.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.inference.align import AlignedFace, ImageInput
from siamface.inference.face_detection import NoFaceError
from siamface.inference.gallery import Gallery, Identification
from siamface.inference.verifier import Verification, Verifier
from siamface.models.frozen import frozen_for_inference
from siamface.serve.problems import ApiError


@dataclass(frozen=True)
class Face:
    """An uploaded photo, aligned.

    Attributes:
        aligned: The model's input and the face's box.
        faces_found: Faces the detector found (the largest is used); None without detection.
        width, height: The upright photo's size, in the pixels the box is given in.
    """

    aligned: AlignedFace
    faces_found: int | None
    width: int
    height: int


class AlignedFaceVerifier(Verifier):
    """A Verifier that also takes faces already aligned, as they are."""

    def align(self, image: ImageInput | AlignedFace) -> AlignedFace:
        return image if isinstance(image, AlignedFace) else super().align(image)


class FaceService:
    """Verify, embed and identify uploaded photos with one model.

    Args:
        verifier: The model, its preprocessing, threshold and detection setting.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.settings = verifier.settings()  # of the original model: its fingerprint
        pre = verifier.preprocessing
        # A frozen graph is traced in fp32 and autocast does not reach inside it: bf16 keeps
        # the eager model, which autocast does.
        self.embedder = (frozen_for_inference(verifier.model, pre.channels, pre.size)
                         if verifier.precision == "fp32" else None)
        self.fingerprint: str = self.settings["model"]
        self._local = threading.local()

    def face(self, photo: Image.Image, field: str) -> Face:
        """Detect and align the face of an upright RGB photo.

        Raises:
            ApiError: 422 naming ``field`` when no face is found.
        """
        verifier = self._thread_verifier()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SiamfaceWarning)  # faces_found says it
                aligned = verifier.align(photo)
        except NoFaceError as err:
            raise ApiError(422, field, f"{field}: {err}") from None
        return Face(aligned, aligned.faces_found, photo.width, photo.height)

    def verify(self, a: Face, b: Face) -> Verification:
        """The verdict on two aligned photos."""
        return self._scored(lambda v: v.verify(a.aligned, b.aligned))

    def embed(self, faces: list[Face]) -> np.ndarray:
        """(N, D) float32 embeddings of aligned photos."""
        embeddings = self._thread_verifier().embed([f.aligned for f in faces])
        return embeddings.numpy().astype(np.float32)

    def identify(self, probe: Face, people: list[str], sources: list[str],
                 embeddings: np.ndarray, top_k: int, target_fpir: float) -> Identification:
        """Rank a gallery's people against the probe (``Gallery.identify``), naming the best
        only at the threshold for the gallery's size and ``target_fpir``.

        Args:
            probe: The aligned photo.
            people, sources: Each gallery photo's person and label.
            embeddings: (N, D) their embeddings.
            top_k: How many people to list.
            target_fpir: The chance of naming someone not enrolled.
        """
        gallery = Gallery.from_embeddings(self._thread_verifier(), people, sources,
                                          torch.from_numpy(embeddings), target_fpir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SiamfaceWarning)  # threshold_kind says it
            return self._scored(lambda _: gallery.identify(probe.aligned, top_k))

    def _scored(self, compare):  # compare(verifier) -> a result
        try:
            return compare(self._thread_verifier())
        except SiamfaceError as err:  # e.g. a score that is not a number
            raise ApiError(422, None, " ".join(str(err).split())) from None

    def _thread_verifier(self) -> AlignedFaceVerifier:
        """This thread's verifier: the shared model, a detector of its own."""
        verifier = getattr(self._local, "verifier", None)
        if verifier is None:
            base = self.verifier
            verifier = AlignedFaceVerifier(
                base.model, base.preprocessing, base.threshold, detect=base.detect,
                flip_tta=base.flip_tta, batch_size=base.batch_size, calibration=base.calibration,
                embedder=self.embedder, precision=base.precision,
            )
            self._local.verifier = verifier
        return verifier
