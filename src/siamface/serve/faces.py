"""FaceService: the model's work on aligned uploads, on the worker pool's threads.

One verifier serves every thread: the model only reads its weights, and it embeds with its
frozen TorchScript copy (``frozen_for_inference``: about a third faster, the same embeddings
to float rounding). Photos come aligned (``photos.UploadAligner``, in ``photo_pool``): an
aligned face goes on to ``Verifier.verify`` and ``Gallery.identify`` as it is.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.inference.align import AlignedFace, ImageInput
from siamface.inference.gallery import Gallery, Identification
from siamface.inference.verifier import Verification, Verifier
from siamface.models.frozen import frozen_for_inference
from siamface.serve.photos import Face
from siamface.serve.problems import ApiError


class AlignedFaceVerifier(Verifier):
    """A Verifier that also takes faces already aligned, as they are."""

    # Its faces come aligned, and the server's worker pool already has a thread per core.
    align_in_parallel = False

    def align(self, image: ImageInput | AlignedFace) -> AlignedFace:
        return image if isinstance(image, AlignedFace) else super().align(image)


class FaceService:
    """Verify, embed and identify aligned uploads with one model.

    Args:
        verifier: The model, its preprocessing, threshold and detection setting.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.settings = verifier.settings()  # of the original model: its fingerprint
        pre = verifier.preprocessing
        # A frozen graph is traced in fp32 and autocast does not reach inside it: bf16 keeps
        # the eager model, which autocast does.
        embedder = (frozen_for_inference(verifier.model, pre.channels, pre.size)
                    if verifier.precision == "fp32" else None)
        self.fingerprint: str = self.settings["model"]
        self._aligned = AlignedFaceVerifier(
            verifier.model, pre, verifier.threshold, detect=verifier.detect,
            flip_tta=verifier.flip_tta, batch_size=verifier.batch_size,
            calibration=verifier.calibration, embedder=embedder, precision=verifier.precision,
            saw_grey=verifier.saw_grey)

    def verify(self, a: Face, b: Face) -> Verification:
        """The verdict on two aligned photos."""
        return self._scored(lambda v: v.verify(a.aligned, b.aligned))

    def colour_note(self, face: Face) -> str | None:
        """What to say of a grey photo for a model of colour photos (``Verifier.colour_note``)."""
        note = self._aligned.colour_note(face.aligned)
        return None if note is None else f"the photo is {note}"

    def embed(self, faces: list[Face]) -> np.ndarray:
        """(N, D) float32 embeddings of aligned photos."""
        return self._aligned.embed([f.aligned for f in faces]).numpy().astype(np.float32)

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
        gallery = Gallery.from_embeddings(self._aligned, people, sources,
                                          torch.from_numpy(embeddings), target_fpir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SiamfaceWarning)  # threshold_kind says it
            return self._scored(lambda _: gallery.identify(probe.aligned, top_k))

    def _scored(self, compare):  # compare(verifier) -> a result
        try:
            return compare(self._aligned)
        except SiamfaceError as err:  # e.g. a score that is not a number
            raise ApiError(422, None, " ".join(str(err).split())) from None
