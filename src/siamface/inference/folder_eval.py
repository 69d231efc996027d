"""Score a folder of your own people's photos through the photo path, as LFW's pairs are scored.

``DIR/<Name>/*.jpg`` holds photos of Name. Every pair of two photos of one person is a matching
pair; as many non-matching pairs (photos of two different people) are drawn, seeded, unless
fewer exist. Each photo is detected, aligned and embedded once (``Verifier``); photos where no
face was found are listed, and the pairs they were in are left out.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from siamface.inference.align import MultipleFacesWarning
from siamface.inference.face_detection import NoFaceError
from siamface.inference.gallery import GalleryError, is_photo, photo_suffixes
from siamface.inference.verifier import Verifier
from siamface.models.siamese import PairScores
from siamface.utils.files import check_printable_name


@dataclass(frozen=True)
class FolderScores:
    """The scored pairs of a folder of people's photos.

    Attributes:
        people: (N,) the person of each photo with a face.
        sources: (N,) those photos' files.
        images: (N, C, S, S) uint8 their aligned faces (the model's input).
        no_face: The photos where no face was found.
        rows: (P, 2) the photos (indices into the above) of each pair.
        scores: The model's (P,) logits and distances.
        labels: (P,) 1 for matching pairs.
    """

    people: list[str]
    sources: list[str]
    images: np.ndarray
    no_face: list[str]
    rows: np.ndarray
    scores: PairScores
    labels: np.ndarray

    @property
    def logits(self) -> np.ndarray:
        return self.scores.logits.numpy().astype(np.float64)


def people_photos(folder: str | Path) -> list[tuple[str, Path]]:
    """``(person, photo)`` for every photo in ``folder/<Name>/``, sorted.

    Raises:
        FileNotFoundError, NotADirectoryError: ``folder`` is none, or a file.
        GalleryError: fewer than two people with photos.
        UnprintableNameError: a person's folder or a photo whose name does not print as
            itself (it names rows of the scores and figures).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: a file; expected a folder of people's folders of "
                                 "photos")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    suffixes = photo_suffixes()
    entries = [
        (person.name, photo)
        for person in sorted(folder.iterdir())
        if person.is_dir() and not person.name.startswith(".")
        for photo in sorted(person.iterdir()) if is_photo(photo, suffixes)
    ]
    for _, photo in entries:
        check_printable_name(photo.parent)
        check_printable_name(photo)
    if len({name for name, _ in entries}) < 2:
        raise GalleryError(f"{folder}: expected <Name>/ folders of photos for at least two "
                           "people")
    return entries


def folder_pairs(people: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) photo indices and (P,) labels: every matching pair, then as many others drawn
    (or every other pair, where there are fewer).

    Args:
        people: (N,) the person of each photo.
        seed: Seeds the draw.
    """
    same = [(i, j) for i, j in itertools.combinations(range(len(people)), 2)
            if people[i] == people[j]]
    others = [(i, j) for i, j in itertools.combinations(range(len(people)), 2)
              if people[i] != people[j]]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(others), size=min(len(same), len(others)), replace=False)
    different = [others[k] for k in sorted(picked)]
    rows = np.array(same + different, dtype=np.int64).reshape(-1, 2)
    labels = np.array([1] * len(same) + [0] * len(different), dtype=np.int64)
    return rows, labels


def score_folder(verifier: Verifier, folder: str | Path, seed: int) -> FolderScores:
    """Align every photo of a people folder once, then score its pairs.

    Args:
        verifier: The model, its preprocessing and threshold (detection on).
        folder: ``DIR/<Name>/`` photo folders.
        seed: Seeds the draw of the non-matching pairs.

    Raises:
        GalleryError: no pair could be formed from the photos where a face was found.
    """
    people, sources, faces, no_face = [], [], [], []
    with warnings.catch_warnings():  # several faces: the largest, as verify does, silently
        warnings.simplefilter("ignore", MultipleFacesWarning)
        for person, photo in people_photos(folder):
            try:
                faces.append(verifier.align(photo))
            except NoFaceError:
                no_face.append(str(photo))
                continue
            people.append(person)
            sources.append(str(photo))
    rows, labels = folder_pairs(people, seed)
    if not len(rows) or labels.min() == labels.max():
        raise GalleryError(f"{folder}: the photos with a face found make no matching and "
                           "non-matching pairs to score")
    e = verifier.embed(faces)  # (N, D)
    with torch.inference_mode():
        scores = verifier.model.score(e[rows[:, 0]], e[rows[:, 1]])
    images = np.stack([f.pixels for f in faces])
    return FolderScores(people, sources, images, no_face, rows, scores, labels)
