"""A saved gallery on disk: gallery.json and the embeddings file it names.

    gallery.json                       format, version, the embeddings file's name, the names
                                       and sources of the photos, the verifier's settings (a
                                       gallery loads only for the same model and settings) and
                                       the gallery threshold it was saved with
    embeddings-<checksum>.safetensors  the (N, D) float32 embeddings, named by their content

gallery.json is replaced last and the embeddings it named before are removed after, so a save
that fails part-way leaves the gallery saved before it whole, and new embeddings never meet old
names; two saves into one folder take turns (``.gallery.lock``), and the last is kept whole. A
gallery is saved only into an empty folder or over a saved gallery. Versions 1 and 2 named the
embeddings file embeddings.safetensors (version 1 kept no threshold); both still load.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from siamface.errors import SiamfaceError
from siamface.evaluation.open_set import GalleryThreshold
from siamface.utils.atomic import atomic_path, is_temporary, write_json_atomic
from siamface.utils.files import is_number, read_json_object
from siamface.utils.lock import file_lock

EMBEDDINGS_FILE = "embeddings.safetensors"  # versions 1 and 2
EMBEDDINGS_NAME = "embeddings-{checksum}.safetensors"  # version 3: named by its content
# either name; the checksum group is empty for versions 1 and 2's
_EMBEDDINGS_FILES = re.compile(r"embeddings(?:-(?P<checksum>[0-9a-f]{16}))?\.safetensors")
INDEX_FILE = "gallery.json"
LOCK_FILE = ".gallery.lock"  # held while a gallery is saved into the folder
FORMAT = "siamface-gallery"
# 2: the gallery threshold is saved; 3: the embeddings file is named by its checksum in
# gallery.json (a save over a saved gallery then never pairs new embeddings with old names).
# Versions 1 and 2 still load.
FORMAT_VERSION = 3
# How many times a gallery is read while saves keep replacing it (a read takes a fraction of
# the time a save does: a second read almost always finds the new gallery whole).
READ_TRIES = 5


class GalleryError(SiamfaceError, ValueError):
    """A gallery folder or saved gallery that cannot be used; the message names the file."""


@dataclass(frozen=True)
class SavedGallery:
    """What a saved gallery holds besides the settings it was embedded with.

    Attributes:
        names: (N,) each photo's person.
        sources: (N,) each photo's source, for messages.
        embeddings: (N, D) float32 embeddings.
        threshold: The gallery threshold it was saved with, if any.
    """

    names: list[str]
    sources: list[str]
    embeddings: torch.Tensor
    threshold: GalleryThreshold | None


def write_gallery(folder: str | Path, gallery: SavedGallery, settings: dict[str, Any]) -> Path:
    """Save ``gallery``, embedded with the verifier ``settings``, into ``folder``; returns it.

    Raises:
        GalleryError: ``folder`` holds anything but a saved gallery (its photos, say: a gallery
            saved among them would not see photos added later, and files of the names a
            gallery uses would be replaced).
    """
    folder = Path(folder)
    data = safetensors.torch.save({"embeddings": gallery.embeddings.contiguous()})
    name = EMBEDDINGS_NAME.format(checksum=_checksum(data))
    kept = gallery.threshold
    check_save_folder(folder)  # a folder not ours is refused before a lock file is made
    # (a save that read the same previous file as this one would remove it under our index)
    with file_lock(folder / LOCK_FILE, f"save a gallery into {folder}"):
        previous = _previous_embeddings(folder)
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
        write_json_atomic(folder / INDEX_FILE, {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "embeddings": name,
            "names": gallery.names,
            "sources": gallery.sources,
            "settings": settings,
            "threshold": None if kept is None else {
                "logit": kept.threshold, "gallery_size": kept.gallery_size,
                "target_fpir": kept.target_fpir, "extrapolated": kept.extrapolated},
        })
        if previous not in (None, name):  # only the file the replaced gallery.json named
            (folder / previous).unlink(missing_ok=True)
    return folder


def check_save_folder(folder: str | Path) -> None:
    """Refuse a folder a gallery cannot be saved into: a file, or a folder that holds anything
    but a saved gallery (checked before a gallery is made, to save it there)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GalleryError(f"{folder} is a file: a gallery is saved into a folder")
    _previous_embeddings(folder)


def _previous_embeddings(folder: Path) -> str | None:
    """The embeddings file of the gallery saved in ``folder`` (None: a new or empty folder),
    after checking that the folder holds nothing else."""
    others = not_gallery_files(folder) if folder.is_dir() else []
    if others:
        raise GalleryError(f"{folder} holds files that are not a saved gallery's ({others[0]}"
                           f"{', ...' if len(others) > 1 else ''}): save the gallery into an "
                           "empty folder, or over a gallery saved before")
    index_path = folder / INDEX_FILE
    if not index_path.is_file():
        return None
    index = read_json_object(index_path, error=GalleryError)
    if index.get("format") != FORMAT or not _known_version(index.get("version")):
        raise GalleryError(f"{index_path} is not a siamface gallery's: it is left as it is; "
                           "save the gallery into another folder")
    return _embeddings_name(index, index_path)


def not_gallery_files(folder: Path) -> list[str]:
    """The names in ``folder`` that are no part of a saved gallery (photos, say), sorted."""
    return sorted(p.name for p in folder.iterdir() if not _gallery_file(p.name))


def _gallery_file(name: str) -> bool:
    """Whether a file of this name may be part of a saved gallery (or a save in progress, or
    a Finder note)."""
    return (name in (INDEX_FILE, LOCK_FILE, ".DS_Store")
            or _EMBEDDINGS_FILES.fullmatch(name) is not None or is_temporary(name))


def read_gallery(folder: str | Path, settings: dict[str, Any], dim: int) -> SavedGallery:
    """The gallery saved in ``folder``, checked to be embedded with the verifier ``settings``
    in ``dim`` dimensions (names and embeddings are checked to agree by ``Gallery``).

    No lock is taken, so a read never waits for a save: gallery.json is read, then the
    embeddings file it names; where a save replaced gallery.json in between (and removed that
    file), the new gallery is read instead, ``READ_TRIES`` times at most.

    Raises:
        FileNotFoundError: ``folder`` has no gallery.json, or not the embeddings it names.
        GalleryError: the files are not a siamface gallery, are damaged, were made with
            another model or other settings (their embeddings would not compare), or were
            replaced by a save each time they were read.
    """
    folder = Path(folder)
    index_path = folder / INDEX_FILE
    index = _read_index(index_path, settings)
    for _ in range(READ_TRIES):
        embeddings_path = folder / _embeddings_name(index, index_path)
        try:
            embeddings = _embeddings(embeddings_path, dim)
        except FileNotFoundError:
            read, index = index, _read_index(index_path, settings)
            if index == read:  # no save replaced gallery.json meanwhile: the file is missing
                raise FileNotFoundError(
                    f"{embeddings_path} not found: the gallery is incomplete") from None
            continue
        return SavedGallery(_strings(index, "names", index_path),
                            _strings(index, "sources", index_path),
                            embeddings, _threshold(index, index_path))
    raise GalleryError(f"{folder}: the gallery was saved again each of the {READ_TRIES} times "
                       "it was read; read it once the saves are done")


def _read_index(index_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """gallery.json, checked to be a siamface gallery's of a version this siamface reads,
    embedded with the verifier ``settings``."""
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path} not found: {index_path.parent} is not a saved "
                                "gallery")
    index = read_json_object(index_path, error=GalleryError)
    if index.get("format") != FORMAT:
        raise GalleryError(f"{index_path}: not a siamface gallery index")
    version = index.get("version")
    if not _known_version(version):
        raise GalleryError(
            f"{index_path}: gallery format version {version!r}, this siamface "
            f"reads versions 1 to {FORMAT_VERSION}"
        )
    saved = index.get("settings")
    if saved != settings:
        saved = saved if isinstance(saved, dict) else {}
        differ = sorted(k for k in settings.keys() | saved.keys()
                        if saved.get(k) != settings.get(k))
        raise GalleryError(
            f"{index_path}: the gallery was embedded with other settings ({', '.join(differ)} "
            f"{'differs' if len(differ) == 1 else 'differ'} from this verifier's); rebuild it "
            "from its photos with this model"
        )
    return index


def _known_version(version: Any) -> bool:
    """Whether ``version`` is a gallery format version this siamface reads."""
    return is_number(version, int) and 1 <= version <= FORMAT_VERSION


def _strings(index: dict[str, Any], key: str, path: Path) -> list[str]:
    """``index[key]``, checked to be a list of printable strings (names are printed)."""
    if key not in index:
        raise GalleryError(f"{path}: missing {key!r}")
    check_strings(index[key], repr(key), str(path))
    return index[key]


def check_strings(values: Any, what: str, where: str) -> None:
    """``values`` must be a list of strings that print as themselves (names are printed)."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise GalleryError(f"{where}: {what} must be a list of strings, got "
                           f"{type(values).__name__}")
    bad = next((v for v in values if not v or not v.isprintable()), None)
    if bad is not None:
        raise GalleryError(f"{where}: {what} holds {bad!r}, which is empty or has control "
                           "characters (a name must print as itself)")


def _embeddings_name(index: dict[str, Any], path: Path) -> str:
    """The embeddings file gallery.json names (versions 1 and 2: the one fixed name)."""
    if index["version"] in (1, 2):
        return EMBEDDINGS_FILE
    name = index.get("embeddings")
    found = _EMBEDDINGS_FILES.fullmatch(name) if isinstance(name, str) else None
    if not (found and found["checksum"]):
        raise GalleryError(f"{path}: 'embeddings' must name the embeddings file of this folder "
                           f"(embeddings-<checksum>.safetensors), got {name!r}")
    return name


def _embeddings(path: Path, dim: int) -> torch.Tensor:
    """The (N, dim) float32 embeddings of a saved gallery, checked: shape, dtype, finiteness,
    and, for a file named by its checksum, that checksum."""
    data = path.read_bytes()
    named = _EMBEDDINGS_FILES.fullmatch(path.name)
    if named and named["checksum"] and _checksum(data) != named["checksum"]:
        raise GalleryError(f"{path}: its bytes do not match the checksum in its name: the file "
                           "was damaged")
    try:
        tensors = safetensors.torch.load(data)
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise GalleryError(f"{path} is not a readable safetensors file: {err}") from None
    if "embeddings" not in tensors:
        raise GalleryError(f"{path}: no 'embeddings' tensor (found: "
                           f"{', '.join(sorted(tensors)) or 'none'})")
    check_embeddings(tensors["embeddings"], dim, str(path))
    return tensors["embeddings"]


def check_embeddings(e: Any, dim: int, where: str, one: bool = False) -> None:
    """``e`` must be (N, dim) float32 embeddings of this model (``one``: N = 1), finite, and
    each of a length float32 can compare: not all zeros (no direction) nor so large that its
    length overflows (both made every score alike in an edited gallery)."""
    rows = "1" if one else "N"
    if not (isinstance(e, torch.Tensor) and e.dtype == torch.float32 and e.ndim == 2
            and e.shape[1] == dim and (e.shape[0] == 1 or not one)):
        got = f"{tuple(e.shape)} {e.dtype}" if isinstance(e, torch.Tensor) else type(e).__name__
        raise GalleryError(f"{where}: expected ({rows}, {dim}) float32 embeddings for "
                           f"this model, got {got}")
    if not bool(torch.isfinite(e).all()):
        raise GalleryError(f"{where}: the embeddings hold NaN or infinite values")
    length = torch.linalg.vector_norm(e, dim=1)  # (N,) in float32, as the heads compute it
    bad = torch.nonzero((length == 0) | ~torch.isfinite(length)).flatten().tolist()
    if bad:
        raise GalleryError(f"{where}: embedding {bad[0]} is all zeros or too large to compare; "
                           "no model makes one: the gallery was changed")


def _threshold(index: dict[str, Any], path: Path) -> GalleryThreshold | None:
    """The saved gallery threshold, checked; None when the gallery was saved without one."""
    kept = index.get("threshold")
    if kept is None:
        return None
    if not (isinstance(kept, dict) and is_number(kept.get("logit"))
            and is_number(kept.get("gallery_size")) and is_number(kept.get("target_fpir"))
            and isinstance(kept.get("extrapolated"), bool)
            and kept["gallery_size"] == int(kept["gallery_size"]) >= 1
            and 0 < kept["target_fpir"] < 1):
        raise GalleryError(f"{path}: 'threshold' must be null or an object with a finite "
                           "'logit', a whole 'gallery_size' >= 1, a 'target_fpir' in (0, 1) "
                           "and a boolean 'extrapolated'")
    return GalleryThreshold(float(kept["logit"]), int(kept["gallery_size"]),
                            float(kept["target_fpir"]), kept["extrapolated"])


def _checksum(data: bytes) -> str:
    """The part of the sha256 of a saved gallery's embeddings that names their file."""
    return hashlib.sha256(data).hexdigest()[:16]
