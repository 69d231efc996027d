"""Identification: whose face is this, among the people of a gallery, if anyone's?

    gallery = Gallery(Verifier.from_run(run_dir)).fit("people/")   # people/Ann.jpg, people/Bo/...
    print(gallery.identify("visitor.jpg", top_k=3))
    gallery.save("people.gallery")                                # reuse without re-embedding

The probe is compared with every gallery photo by the model's head (one matrix product: see
``SiameseNet.logit_matrix``) and people are ranked by their best photo's logit. The best is
named only when it passes the *gallery* threshold: the one at which someone who is not enrolled
would be named with probability ``target_fpir`` (1%) in a gallery of this many people, set from
the run's validation people (``ImpostorTail.threshold``). The one-to-one verification threshold
would name almost every stranger as somebody in a gallery of hundreds. Otherwise the answer is
"unknown", with the best candidates still listed, and the margin to the second-best is given.
"""

from __future__ import annotations

import importlib.util
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import features
from scipy.special import expit

from siamface.errors import SiamfaceWarning
from siamface.evaluation.open_set import MAX_TARGET_FPIR, TARGET_FPIR, TOP_K, GalleryThreshold
from siamface.inference.align import AlignedFace, ImageInput
from siamface.inference.face_detection import FaceBox
from siamface.inference.gallery_file import (
    GalleryError,
    SavedGallery,
    check_embeddings,
    check_strings,
    not_gallery_files,
    read_gallery,
    write_gallery,
)
from siamface.inference.verifier import NonFiniteScoreError, Verifier
from siamface.utils.files import check_printable_name, is_number

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
HEIC_SUFFIXES = (".heic", ".heif")  # iPhones' photos: read where pillow-heif is installed
AVIF_SUFFIXES = (".avif",)  # read where Pillow was built with libavif (its wheels are)


def photo_suffixes() -> tuple[str, ...]:
    """The suffixes of the files a photo folder holds photos in: HEIC and AVIF too where this
    Pillow reads them (where it does not, such files are left out, as any other file is)."""
    heic = HEIC_SUFFIXES if importlib.util.find_spec("pillow_heif") else ()
    return IMAGE_SUFFIXES + heic + (AVIF_SUFFIXES if features.check("avif") else ())


def is_photo(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether a photo folder counts ``path`` as a photo: a visible file with one of
    ``suffixes`` (``photo_suffixes()``), in any case."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in suffixes


def one_spelling(name: str) -> str:
    """A person's name in one spelling: without surrounding spaces, in Unicode NFC, so that
    "José" typed or stored two ways (macOS writes file names decomposed, NFD) is one person."""
    return unicodedata.normalize("NFC", name.strip())


class GalleryWarning(SiamfaceWarning):
    """A gallery folder's entry that enrols nobody: a person's folder without photos, or
    photos beside a saved gallery."""


class GalleryThresholdWarning(SiamfaceWarning):
    """The gallery's names are decided by a threshold not set for its size."""


@dataclass(frozen=True)
class Candidate:
    """One gallery person's score against the probe.

    Attributes:
        name: The person.
        logit: The head's score for their best-matching photo (higher = more alike).
        probability: ``sigmoid(logit)``.
        distance: The head's distance for that photo.
        source: That photo's file.
    """

    name: str
    logit: float
    probability: float
    distance: float
    source: str


@dataclass(frozen=True)
class Identification:
    """Who the probe is.

    Attributes:
        name: The best candidate if their logit reaches the threshold and no one else's
            equals it, else None (unknown).
        candidates: The top people, best first.
        threshold: The logit threshold the name was decided by.
        threshold_kind: "gallery" (set for ``gallery_size`` people at ``target_fpir``) or
            "verification" (the one-to-one threshold: the model has no gallery calibration).
        gallery_size: The number of people the threshold was set for; None for "verification".
        target_fpir: The chance of naming someone not enrolled that the threshold allows at
            that size; None for "verification".
        people: The number of people in the gallery.
        margin: The best candidate's logit minus the second-best's; None with one person.
        box: The face found in the probe; None without detection.
        faces_found: How many faces the probe photo had; None without detection.
        label: Where the model's knowledge comes from when not from LFW alone ("outside
            data"); None for a siamface run.
        extrapolated: ``target_fpir`` is finer than the calibration's impostor pairs resolve
            at this size: the threshold is the highest impostor score seen, and how often it
            names a stranger is not known that finely.
        tied_with: The second person where they score exactly as the best above the
            threshold (then no one is named: naming one would be a guess); else None.
    """

    name: str | None
    candidates: tuple[Candidate, ...]
    threshold: float
    threshold_kind: str
    gallery_size: int | None
    target_fpir: float | None
    people: int
    margin: float | None
    box: FaceBox | None
    faces_found: int | None = None
    label: str | None = None
    extrapolated: bool = False
    tied_with: str | None = None

    def __str__(self) -> str:
        if self.name is not None:
            verdict = self.name
        elif self.tied_with is not None:
            verdict = f"unknown ({self.candidates[0].name} and {self.tied_with} tie at the top)"
        else:
            verdict = f"unknown (no one passes the threshold; closest: {self.candidates[0].name})"
        lines = [
            f"identified: {verdict}",
            f"{'rank':>4}  {'name':<30} {'probability':>11} {'logit':>8}",
        ]
        for rank, c in enumerate(self.candidates, 1):
            lines.append(f"{rank:>4}  {c.name:<30} {c.probability:>11.3f} {c.logit:>8.3f}")
        if self.threshold_kind == "gallery":
            people = "person" if self.gallery_size == 1 else "people"
            chance = (f"{self.target_fpir:.1%}" if self.target_fpir >= 0.001
                      else f"{self.target_fpir:.2g}")  # not "0.0%" for 1e-6
            basis = (f"set for {self.gallery_size} {people} at a {chance} chance of naming "
                     "someone not enrolled")
            if self.extrapolated:
                basis += (" (finer than the calibration's impostor pairs can tell: the threshold "
                          "is the highest impostor score it saw)")
        else:
            basis = ("the one-to-one verification threshold: this model has no gallery "
                     "calibration, so strangers are named far more often")
        lines.append(f"threshold: p >= {expit(self.threshold):.3f} (logit >= "
                     f"{self.threshold:.3f}), {basis}"
                     + ("" if self.label is None else f" [{self.label}]"))
        if self.margin is not None:
            lines.append(f"margin over the second-best: {self.margin:.3f} (logit)")
        return "\n".join(lines)


def gallery_photos(folder: str | Path) -> list[tuple[str, Path]]:
    """The ``(name, photo)`` entries of a gallery folder, sorted by name then file.

    ``folder/<Name>.jpg`` is a photo of Name; ``folder/<Name>/<any>.jpg`` are photos of Name
    (one or more). Files with other suffixes and hidden entries are ignored.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        ValueError: it holds no photos.
    """
    folder = Path(folder)
    if not folder.is_dir():
        problem = "expected a gallery folder, not a file" if folder.exists() else \
            "gallery folder not found"
        raise FileNotFoundError(f"{folder}: {problem}")
    suffixes = photo_suffixes()
    entries = []
    for item in sorted(folder.iterdir()):
        if item.name.startswith("."):
            continue
        if is_photo(item, suffixes):
            check_printable_name(item, GalleryError)  # its stem is the person's name
            entries.append((item.stem, item))
        elif item.is_dir():
            photos = [(item.name, p) for p in sorted(item.iterdir()) if is_photo(p, suffixes)]
            if not photos:  # a person left out of the gallery should not go unnoticed
                warnings.warn(GalleryWarning(f"{item}: no photos (suffixes "
                                             f"{', '.join(suffixes)}); {item.name} is "
                                             "not enrolled"), stacklevel=2)
            else:
                check_printable_name(item, GalleryError)  # the person's name
            entries.extend(photos)
    if not entries:
        raise GalleryError(
            f"{folder}: no photos found; expected <Name>.jpg files or <Name>/ folders of photos "
            f"(suffixes {', '.join(suffixes)})"
        )
    return sorted(entries)


class Gallery:
    """Embedded photos of known people, to identify new photos against.

    Args:
        verifier: Aligns, embeds and scores (its model, preprocessing, threshold and gallery
            calibration).
        target_fpir: The chance, at the gallery's size, that a probe of someone not enrolled
            is named as somebody, in (0, 0.1].

    Attributes (after ``fit``, ``load`` or ``from_embeddings``):
        names_: (N,) the person in each gallery photo.
        sources_: (N,) each photo's file.
        embeddings_: (N, D) their embeddings.
        threshold_: The gallery threshold for its number of people; None when the verifier
            has no calibration and the gallery was not saved with one (names are then given at
            the verification threshold, with a warning).
    """

    def __init__(self, verifier: Verifier, target_fpir: float = TARGET_FPIR) -> None:
        _check_verifier(verifier)
        if not (is_number(target_fpir) and 0 < target_fpir <= MAX_TARGET_FPIR):
            raise GalleryError(f"target_fpir must be in (0, {MAX_TARGET_FPIR:g}], got "
                               f"{target_fpir!r}")
        self.verifier = verifier
        self.target_fpir = target_fpir

    def fit(self, folder: str | Path) -> Gallery:
        """Embed every photo in a gallery folder (see ``gallery_photos`` for the layout).

        Raises:
            NoFaceError: a photo has no face (detection on); the message names the file.
        """
        entries = gallery_photos(folder)
        faces = [self.verifier.align(path) for _, path in entries]
        return self._set([name for name, _ in entries], [str(path) for _, path in entries],
                         self.verifier.embed(faces), None)

    @classmethod
    def from_embeddings(cls, verifier: Verifier, names: list[str], sources: list[str],
                        embeddings: torch.Tensor, target_fpir: float = TARGET_FPIR) -> Gallery:
        """A gallery of photos embedded before (by ``verifier``'s model and settings)."""
        return cls(verifier, target_fpir)._set(names, sources, embeddings, None)

    def enroll(self, name: str, photos: list[ImageInput], sources: list[str]) -> Gallery:
        """Add photos of a person (new or enrolled) to the gallery, empty or not; the
        threshold follows the new size.

        Args:
            name: The person.
            photos: Their photos (file paths, Pillow images or uint8 arrays).
            sources: Each photo's label in answers (e.g. its file name), one a photo.

        Raises:
            NoFaceError: a photo has no face (detection on).
        """
        if not isinstance(name, str):
            raise GalleryError(f"enroll: name must be a string, got {name!r}")
        check_strings([name], "name", "enroll")
        if isinstance(photos, str | Path) or not isinstance(photos, list | tuple) or not photos:
            raise GalleryError(f"enroll: photos must be a non-empty list of photos, got "
                               f"{photos!r}")
        if not isinstance(sources, list | tuple) or len(sources) != len(photos):
            raise GalleryError(f"enroll: expected one source for each of the {len(photos)} "
                               f"photos, got {sources!r}")
        check_strings(list(sources), "sources", "enroll")
        new = self.verifier.embed([self.verifier.align(photo) for photo in photos])
        if not hasattr(self, "embeddings_"):  # the first person of a new gallery
            return self._set([name] * len(new), list(sources), new, None)
        return self._set([*self.names_, *[name] * len(new)], [*self.sources_, *sources],
                         torch.cat([self.embeddings_, new]), self.threshold_)

    def _set(self, names: list[str], sources: list[str], embeddings: torch.Tensor,
             saved: GalleryThreshold | None, where: str = "the gallery") -> Gallery:
        """Take ``names`` (each in ``one_spelling``), ``sources`` and ``embeddings`` (checked)
        as the gallery's photos."""
        if isinstance(names, list):  # anything else is refused by name below
            names = [one_spelling(n) if isinstance(n, str) else n for n in names]
        check_strings(names, "names", where)
        check_strings(sources, "sources", where)
        check_embeddings(embeddings, self.verifier.model.out_dim, where)
        if not len(names) == len(sources) == embeddings.shape[0]:
            raise GalleryError(f"{where}: {len(names)} names and {len(sources)} sources but "
                               f"{embeddings.shape[0]} embeddings")
        if not names:
            raise GalleryError(f"{where}: no photos; a gallery holds one person at least")
        self.names_, self.sources_, self.embeddings_ = list(names), list(sources), embeddings
        with torch.inference_mode():  # once, for every query
            self._index = _RankingIndex(self.verifier.model.prepare_gallery(embeddings), names)
        people = self.people_
        calibration = self.verifier.calibration
        if calibration is not None:
            self.threshold_ = calibration.threshold(people, self.target_fpir)
        else:
            self.threshold_ = saved
            if saved is not None and people > saved.gallery_size:
                warnings.warn(GalleryThresholdWarning(
                    f"the gallery has {people} people but its threshold was set for "
                    f"{saved.gallery_size}, and this model has no gallery calibration to set "
                    "a new one: strangers will be named more often than "
                    f"{saved.target_fpir:.1%}"), stacklevel=3)
            elif saved is not None and self.target_fpir != saved.target_fpir:
                warnings.warn(GalleryThresholdWarning(
                    f"an FPIR of {self.target_fpir:g} was asked for, but this model has no "
                    "gallery calibration to set a threshold for it: the gallery keeps the "
                    f"one it was saved with, for {saved.target_fpir:g}"), stacklevel=3)
        return self

    @property
    def people_(self) -> int:
        """The number of people in the gallery."""
        self._require_photos()
        return len(self._index.people)

    def _require_photos(self) -> None:
        if not hasattr(self, "embeddings_"):
            raise RuntimeError("this Gallery is empty: call fit(folder), enroll(...) or "
                               "Gallery.load() first")

    def identify(self, probe: ImageInput, top_k: int = TOP_K,
                 face: int | None = None) -> Identification:
        """Rank the gallery's people by how alike the probe's face is to theirs.

        Args:
            probe: A photo (file path, Pillow image or uint8 array).
            top_k: How many people to list.
            face: Which face of the probe by size (0: the largest); None: the largest, with a
                notice when there were several.
        """
        self._ready(top_k)
        aligned = self.verifier.align(probe) if face is None else self.verifier.align(probe, face)
        return self._rank(self.verifier.embed([aligned])[0], top_k, aligned)

    def identify_all(self, probe: ImageInput, top_k: int = TOP_K) -> list[Identification]:
        """Identify every face of the probe photo, largest first.

        Raises:
            NoFaceError: no face in the probe (detection must be on).
        """
        self._ready(top_k)
        return [self._rank(self.verifier.embed([aligned])[0], top_k, aligned)
                for aligned in self.verifier.align_all(probe)]

    def identify_embedding(self, embedding: torch.Tensor, top_k: int = TOP_K,
                           face: AlignedFace | None = None) -> Identification:
        """Identify a (D,) probe embedding (``face``: where it came from, for the answer)."""
        self._ready(top_k)
        check_embeddings(embedding[None] if isinstance(embedding, torch.Tensor) else embedding,
                          self.verifier.model.out_dim, "the probe embedding", one=True)
        return self._rank(embedding, top_k, face)

    def _ready(self, top_k: int) -> None:
        self._require_photos()
        if not is_number(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an integer of at least 1, got {top_k!r}")
        if self.threshold_ is None:
            warnings.warn(GalleryThresholdWarning(
                "this model has no gallery calibration (`siamface evaluate RUN --pairs "
                "pairsDevTest.txt` makes one): names are given at the one-to-one verification "
                "threshold, which names strangers far more often in a gallery of many people"),
                stacklevel=3)

    def _rank(self, embedding: torch.Tensor, top_k: int,
              face: AlignedFace | None) -> Identification:
        index = self._index
        with torch.inference_mode():
            logits = self.verifier.model.logit_matrix(embedding[None], index.prepared)[0]
        if not bool(torch.isfinite(logits).all()):  # as verify refuses such a score
            raise NonFiniteScoreError("the model gave a score that is not a number against "
                                      "this gallery; its weights may be damaged")
        ranked = index.best_photos(logits.numpy(), max(top_k, 2))  # (k,) photo rows
        with torch.inference_mode():  # the candidates' scores exactly as verify gives them
            scores = self.verifier.model.score(embedding.expand(len(ranked), -1),
                                               self.embeddings_[ranked])
        best = scores.logits.tolist()
        candidates = tuple(
            Candidate(self.names_[i], best[r], float(expit(best[r])),
                      float(scores.distances[r]), self.sources_[i])
            for r, i in enumerate(ranked))
        kept = self.threshold_
        threshold = self.verifier.threshold if kept is None else kept.threshold
        passes = candidates[0].logit >= threshold
        tie = passes and len(best) > 1 and best[0] == best[1]  # naming one would be a guess
        return Identification(
            name=candidates[0].name if passes and not tie else None,
            candidates=candidates[:top_k], threshold=threshold,
            threshold_kind="verification" if kept is None else "gallery",
            gallery_size=None if kept is None else kept.gallery_size,
            target_fpir=None if kept is None else kept.target_fpir,
            people=len(index.people),
            margin=best[0] - best[1] if len(best) > 1 else None,
            box=None if face is None else face.box,
            faces_found=None if face is None else face.faces_found,
            label=self.verifier.label, extrapolated=kept is not None and kept.extrapolated,
            tied_with=candidates[1].name if tie else None)

    def save(self, folder: str | Path) -> Path:
        """Write the gallery to ``folder`` (``write_gallery``: a save that fails part-way
        leaves the gallery saved there before it whole)."""
        self._require_photos()
        return write_gallery(folder, SavedGallery(self.names_, self.sources_, self.embeddings_,
                                                  self.threshold_), self.verifier.settings())

    @classmethod
    def load(cls, folder: str | Path, verifier: Verifier,
             target_fpir: float = TARGET_FPIR) -> Gallery:
        """A saved gallery, checked to belong to ``verifier``'s model and settings.

        Its threshold is set again for its size and ``target_fpir`` from the verifier's
        calibration; without one the saved threshold is used.

        Raises:
            FileNotFoundError: ``folder`` has no gallery.json.
            ValueError: the files are not a siamface gallery, disagree with each other, or were
                made with another model or other settings (their embeddings would not compare).
        """
        _check_verifier(verifier)
        saved = read_gallery(folder, verifier.settings(), verifier.model.out_dim)
        beside = not_gallery_files(Path(folder))
        if beside:
            warnings.warn(GalleryWarning(
                f"{folder}: {len(beside)} file(s) or folder(s) beside the saved gallery are not "
                f"in it ({beside[0]}{', ...' if len(beside) > 1 else ''}); fit the gallery "
                "again from its photos to enrol them"), stacklevel=2)
        return cls(verifier, target_fpir)._set(saved.names, saved.sources, saved.embeddings,
                                               saved.threshold, where=str(folder))


def _check_verifier(verifier: object) -> None:
    if not isinstance(verifier, Verifier):
        raise TypeError(f"verifier: expected a Verifier (siamface.load_verifier(RUN)), got "
                        f"{verifier!r}")


class _RankingIndex:
    """A gallery made ready for fast queries: the head's prepared embeddings and each photo's
    person as an integer."""

    def __init__(self, prepared: torch.Tensor, names: list[str]) -> None:
        self.prepared = prepared
        self.people, person = np.unique(names, return_inverse=True)
        self.person = person  # (N,) each photo's person
        self.most_photos = int(np.bincount(person).max())

    def best_photos(self, logits: np.ndarray, k: int) -> list[int]:
        """The best photo of each of the k best people, best first, from (N,) logits."""
        # A person has at most `most_photos` photos, so the k * most_photos best photos hold
        # the best photo of each of the k best people: no full sort of a large gallery.
        take = min(logits.size, k * self.most_photos)
        top = np.argpartition(-logits, take - 1)[:take] if take < logits.size else \
            np.arange(logits.size)
        top = top[np.argsort(-logits[top], kind="stable")]
        seen: set[int] = set()
        ranked = []
        for i in top:
            if self.person[i] not in seen:
                seen.add(self.person[i])
                ranked.append(int(i))
                if len(ranked) == k:
                    break
        return ranked
