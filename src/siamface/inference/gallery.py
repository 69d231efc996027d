"""One-shot identification: whose face is this, among people we have one photo of each?

    gallery = Gallery(Verifier.from_run(run_dir)).fit("people/")   # people/Ann.jpg, people/Bo/...
    print(gallery.identify("visitor.jpg", top_k=3))
    gallery.save("people.gallery")                                # reuse without re-embedding

The probe is compared with every gallery photo by the model's head, people are ranked by their
best photo's logit, and the best is only named when it passes the verification threshold: a
face matching no one is "unknown", not the least unlike stranger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from scipy.special import expit

from siamface.errors import SiamfaceError
from siamface.inference.align import AlignedFace, ImageInput
from siamface.inference.face_detection import FaceBox
from siamface.inference.verifier import Verifier
from siamface.utils.atomic import atomic_path, write_json_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
EMBEDDINGS_FILE = "embeddings.safetensors"
INDEX_FILE = "gallery.json"
FORMAT = "siamface-gallery"
FORMAT_VERSION = 1


class GalleryError(SiamfaceError, ValueError):
    """A gallery folder or saved gallery that cannot be used; the message names the file."""


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
        name: The best candidate if their logit reaches the threshold, else None (unknown).
        candidates: The top people, best first.
        threshold: The logit threshold (the verifier's).
        box: The face found in the probe; None without detection.
        faces_found: How many faces the probe photo had; None without detection.
        label: Where the model's knowledge comes from when not from LFW alone ("outside
            data"); None for a siamface run.
    """

    name: str | None
    candidates: tuple[Candidate, ...]
    threshold: float
    box: FaceBox | None
    faces_found: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        verdict = self.name if self.name is not None else "unknown (no one passes the threshold)"
        lines = [
            f"identified: {verdict}",
            f"{'rank':>4}  {'name':<30} {'probability':>11} {'logit':>8}",
        ]
        for rank, c in enumerate(self.candidates, 1):
            lines.append(f"{rank:>4}  {c.name:<30} {c.probability:>11.3f} {c.logit:>8.3f}")
        lines.append(
            f"threshold: p >= {expit(self.threshold):.3f} (logit >= {self.threshold:.3f})"
            + ("" if self.label is None else f" [{self.label}]")
        )
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
        raise FileNotFoundError(f"{folder}: gallery folder not found")
    entries = []
    for item in sorted(folder.iterdir()):
        if item.name.startswith("."):
            continue
        if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES:
            entries.append((item.stem, item))
        elif item.is_dir():
            entries.extend(
                (item.name, p)
                for p in sorted(item.iterdir())
                if p.is_file() and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_SUFFIXES
            )
    unprintable = next(((n, p) for n, p in entries if not n.isprintable()), None)
    if unprintable is not None:
        raise GalleryError(f"{unprintable[1]}: the name {unprintable[0]!r} has control "
                           "characters; rename it so that it prints as itself")
    if not entries:
        raise GalleryError(
            f"{folder}: no photos found; expected <Name>.jpg files or <Name>/ folders of photos "
            f"(suffixes {', '.join(IMAGE_SUFFIXES)})"
        )
    return sorted(entries)


class Gallery:
    """Embedded photos of known people, to identify new photos against.

    Args:
        verifier: Aligns, embeds and scores (its model, preprocessing and threshold).

    Attributes (after ``fit`` or ``load``):
        names_: (N,) the person in each gallery photo.
        sources_: (N,) each photo's file.
        embeddings_: (N, D) their embeddings.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    def fit(self, folder: str | Path) -> Gallery:
        """Embed every photo in a gallery folder (see ``gallery_photos`` for the layout).

        Raises:
            NoFaceError: a photo has no face (detection on); the message names the file.
        """
        entries = gallery_photos(folder)
        faces = [self.verifier.align(path) for _, path in entries]
        self.names_ = [name for name, _ in entries]
        self.sources_ = [str(path) for _, path in entries]
        self.embeddings_ = self.verifier.embed(faces)  # (N, D)
        return self

    def identify(self, probe: ImageInput, top_k: int = 5,
                 face: int | None = None) -> Identification:
        """Rank the gallery's people by how alike the probe's face is to theirs.

        Args:
            probe: A photo (file path, Pillow image or uint8 array).
            top_k: How many people to list.
            face: Which face of the probe by size (0: the largest); None: the largest, with a
                notice when there were several.
        """
        self._check(top_k)
        aligned = self.verifier.align(probe) if face is None else self.verifier.align(probe, face)
        return self._rank(aligned, top_k)

    def identify_all(self, probe: ImageInput, top_k: int = 5) -> list[Identification]:
        """Identify every face of the probe photo, largest first.

        Raises:
            NoFaceError: no face in the probe (detection must be on).
        """
        self._check(top_k)
        return [self._rank(aligned, top_k) for aligned in self.verifier.align_all(probe)]

    def _check(self, top_k: int) -> None:
        if not hasattr(self, "embeddings_"):
            raise RuntimeError("this Gallery is empty: call fit(folder) or Gallery.load() first")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")

    def _rank(self, face: AlignedFace, top_k: int) -> Identification:
        e = self.verifier.embed([face])  # (1, D)
        with torch.inference_mode():
            scores = self.verifier.model.score(e.expand_as(self.embeddings_), self.embeddings_)
        logits, distances = scores.logits.tolist(), scores.distances.tolist()  # (N,) each
        best: dict[str, int] = {}  # each person's best photo
        for i, name in enumerate(self.names_):
            if name not in best or logits[i] > logits[best[name]]:
                best[name] = i
        ranked = sorted(best.values(), key=lambda i: logits[i], reverse=True)[:top_k]
        candidates = tuple(
            Candidate(self.names_[i], logits[i], float(expit(logits[i])), distances[i],
                      self.sources_[i])
            for i in ranked
        )
        threshold = self.verifier.threshold
        name = candidates[0].name if candidates[0].logit >= threshold else None
        return Identification(name, candidates, threshold, face.box, face.faces_found,
                              self.verifier.label)

    def save(self, folder: str | Path) -> Path:
        """Write the embeddings (safetensors) and names, sources and settings (JSON).

        The JSON is written last, so a folder with ``gallery.json`` is complete.
        """
        folder = Path(folder)
        with atomic_path(folder / EMBEDDINGS_FILE) as tmp:
            safetensors.torch.save_file({"embeddings": self.embeddings_.contiguous()}, str(tmp))
        write_json_atomic(folder / INDEX_FILE, {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "names": self.names_,
            "sources": self.sources_,
            "settings": self.verifier.settings(),
        })
        return folder

    @classmethod
    def load(cls, folder: str | Path, verifier: Verifier) -> Gallery:
        """A saved gallery, checked to belong to ``verifier``'s model and settings.

        Raises:
            FileNotFoundError: ``folder`` has no gallery.json.
            ValueError: the files are not a siamface gallery, disagree with each other, or were
                made with another model or other settings (their embeddings would not compare).
        """
        folder = Path(folder)
        index_path = folder / INDEX_FILE
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path} not found: {folder} is not a saved gallery")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise GalleryError(f"{index_path}: not valid JSON: {err}") from err
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise GalleryError(f"{index_path}: not a siamface gallery index")
        if index.get("version") != FORMAT_VERSION:
            raise GalleryError(
                f"{index_path}: gallery format version {index.get('version')!r}, this siamface "
                f"reads version {FORMAT_VERSION}"
            )
        expected = verifier.settings()
        saved = index.get("settings")
        if saved != expected:
            saved = saved if isinstance(saved, dict) else {}
            differ = sorted(k for k in expected if saved.get(k) != expected[k])
            raise GalleryError(
                f"{index_path}: the gallery was embedded with other settings ({', '.join(differ)} "
                "differ from this verifier's); rebuild it from its photos with this model"
            )
        embeddings_path = folder / EMBEDDINGS_FILE
        if not embeddings_path.is_file():
            raise FileNotFoundError(f"{embeddings_path} not found: the gallery is incomplete")
        names = _strings(index, "names", index_path)
        sources = _strings(index, "sources", index_path)
        embeddings = _embeddings(embeddings_path, verifier.model.out_dim)
        if not (len(names) == len(sources) == embeddings.shape[0]):
            raise GalleryError(
                f"{folder}: {len(names)} names and {len(sources)} sources in {INDEX_FILE} but "
                f"{embeddings.shape[0]} embeddings in {EMBEDDINGS_FILE}"
            )
        gallery = cls(verifier)
        gallery.names_, gallery.sources_, gallery.embeddings_ = names, sources, embeddings
        return gallery


def _strings(index: dict[str, Any], key: str, path: Path) -> list[str]:
    """``index[key]``, checked to be a list of printable strings (names are printed)."""
    if key not in index:
        raise GalleryError(f"{path}: missing {key!r}")
    values = index[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise GalleryError(f"{path}: {key!r} must be a list of strings, got "
                           f"{type(values).__name__}")
    bad = next((v for v in values if not v or not v.isprintable()), None)
    if bad is not None:
        raise GalleryError(f"{path}: {key!r} holds {bad!r}, which is empty or has control "
                           "characters (a name must print as itself)")
    return values


def _embeddings(path: Path, dim: int) -> torch.Tensor:
    """The (N, dim) float32 embeddings of a saved gallery, checked: shape, dtype, finiteness."""
    try:
        tensors = safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise GalleryError(f"{path} is not a readable safetensors file: {err}") from None
    if "embeddings" not in tensors:
        raise GalleryError(f"{path}: no 'embeddings' tensor (found: "
                           f"{', '.join(sorted(tensors)) or 'none'})")
    e = tensors["embeddings"]
    if e.dtype != torch.float32 or e.ndim != 2 or e.shape[1] != dim:
        raise GalleryError(f"{path}: expected (N, {dim}) float32 embeddings for this model, got "
                           f"{tuple(e.shape)} {e.dtype}")
    if not bool(torch.isfinite(e).all()):
        raise GalleryError(f"{path}: the embeddings hold NaN or infinite values")
    return e
