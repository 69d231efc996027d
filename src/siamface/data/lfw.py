"""LFWDataset: an imported copy of LFW in the data home (images, image counts, protocol files).

The layout, written by `siamface data import` / `fetch` (see importer.py):

    <home>/lfw/manifest.json              written last: its presence marks a complete import
    <home>/lfw/images/<Name>/<Name>_0001.jpg
    <home>/lfw/protocol/pairsDevTrain.txt  (and whichever other protocol files were imported)

While an import swaps its new copy in, the previous one waits in ``<home>/.lfw-old``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from siamface.errors import SiamfaceError
from siamface.utils.files import read_json_object
from siamface.utils.hashing import sha256_file

if TYPE_CHECKING:  # protocol.py is imported lazily where it is used
    from siamface.data.protocol import PairsFile, PeopleFile

# The import's folder in the data home, and the folders and manifest inside it (an import's
# staging folder has the same layout); the folder in the data home where the previous import
# waits while an import swaps its new copy in.
LFW_DIR, IMAGES_DIR, PROTOCOL_DIR, MANIFEST = "lfw", "images", "protocol", "manifest.json"
OLD_DIR = ".lfw-old"
_NUMBERED = re.compile(r"_([0-9]{4})\.jpg")  # ASCII digits: the names the cache opens
_HOW_TO_GET = (
    "run `siamface data fetch` to download LFW, or `siamface data import PATH` "
    "to import an archive or folder you already have (e.g. lfw-deepfunneled.tgz)"
)
_HOW_TO_REPAIR = "run `siamface data import PATH` again with the same sources to repair it"


class DataNotFoundError(SiamfaceError, FileNotFoundError):
    """There is no complete LFW import in the data home."""


class CopyChangedError(SiamfaceError):
    """The LFW copy was imported again while a command that had opened it ran."""


class LayoutError(SiamfaceError, ValueError):
    """An image folder that does not follow LFW's ``<Name>/<Name>_NNNN.jpg`` layout."""


class DamagedImportError(LayoutError):
    """The imported copy was changed after the import: images or people deleted or added, or a
    protocol file edited."""


class UnknownImageError(SiamfaceError, ValueError):
    """A reference to a person or image number that the imported copy does not have."""


class ImageRefLike(Protocol):
    name: str
    number: int


@dataclass(frozen=True)
class LFWDataset:
    """An imported LFW copy. Build it with `open_lfw`.

    Args:
        home: The data home; the copy lives in ``home/lfw``.
        variant: ``lfw``, ``lfw_funneled``, ``lfw-deepfunneled`` or ``lfw2``.
        image_counts: Person name -> number of images, from the folder listing.
        checksums: Imported source (archive, folder or protocol file) -> sha256.
        images_sha256: The images as imported, whatever their source (None: an import older
            than the manifest's record of it).
        from_manifest: Opened from the manifest of an import (``open_lfw``), not laid out by
            hand (as tests do).
    """

    home: Path
    variant: str
    image_counts: dict[str, int]
    checksums: dict[str, str]
    images_sha256: str | None = None
    from_manifest: bool = False

    @property
    def root(self) -> Path:
        return self.home / LFW_DIR

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES_DIR

    @property
    def protocol_dir(self) -> Path:
        return self.root / PROTOCOL_DIR

    @property
    def num_images(self) -> int:
        return sum(self.image_counts.values())

    def check_current(self) -> None:
        """Refuse to read the images of a copy imported again since this one was opened (by
        another process, while this one ran, or killed while it swapped the copies in): they
        would be taken for the images this copy's checksums name. A copy laid out by hand
        (not ``from_manifest``) is taken as it is.

        Raises:
            CopyChangedError: The manifest is gone, or names other sources or images now.
        """
        if not self.from_manifest:
            return
        path = self.root / MANIFEST
        if not path.is_file():
            raise CopyChangedError(f"{path} is gone: an import began while this command ran "
                                   "and did not finish; import LFW again, then run it again")
        manifest = read_manifest(path)
        if (manifest["checksums"], _images_sha256(manifest)) != (self.checksums,
                                                                 self.images_sha256):
            raise CopyChangedError(
                f"{path}: LFW was imported again while this command ran (its sources differ "
                "from those it opened); run the command again")

    def protocol_names(self) -> list[str]:
        """The protocol files this copy has, sorted by name."""
        return sorted(p.name for p in self.protocol_dir.glob("*.txt"))

    def is_imported(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is one of this copy's protocol files, however it is spelled."""
        path = Path(path)
        candidate = self.protocol_dir / path.name
        return candidate.is_file() and path.is_file() and path.samefile(candidate)

    def image_path(self, ref: ImageRefLike) -> Path:
        """The JPEG of ``ref`` (``ref.number`` is 1-based, as in the protocol files).

        Raises:
            UnknownImageError: No such person, or the number is not in 1..count.
        """
        count = self.image_counts.get(ref.name)
        if count is None:
            raise UnknownImageError(f"no person named {ref.name!r} in {self.images_dir}")
        if not 1 <= ref.number <= count:
            raise UnknownImageError(
                f"{ref.name} has images 1..{count} in {self.images_dir}, not {ref.number}"
            )
        return self.images_dir / ref.name / f"{ref.name}_{ref.number:04d}.jpg"

    def protocol_path(self, name: str) -> Path:
        """The imported protocol file ``name`` (e.g. ``"pairsDevTest.txt"``), which every reader
        of the copy's protocol files goes through. In a copy opened from its manifest
        (``from_manifest``), a file the manifest lists must still have the sha256 it lists.

        Raises:
            DataNotFoundError: It was not imported; the message lists the ones that were.
            DamagedImportError: It differs from the file imported.
            CopyChangedError: It differs because LFW was imported again since this copy was
                opened.
        """
        path = self.protocol_dir / name
        if not path.is_file():
            have = ", ".join(self.protocol_names()) or "none"
            raise DataNotFoundError(
                f"no protocol file {name!r} in {self.protocol_dir} (imported: {have}); "
                "import it with `siamface data import PATH`"
            )
        if not self.protocol_as_imported(name):
            self.check_current()  # (imported again since this copy was opened: says that)
            raise DamagedImportError(
                f"{path}: differs from the {name} imported (its sha256 in "
                f"{self.root / MANIFEST}), so it was changed after the import; to import it "
                f"again, run `siamface data import FILE` with FILE the {name} you imported"
            )
        return path

    def protocol_as_imported(self, name: str) -> bool:
        """Whether the protocol file ``name`` has the sha256 the manifest lists for it (a file
        the manifest does not list, or a copy laid out by hand, has nothing to differ from)."""
        imported_sha256 = self.checksums.get(name) if self.from_manifest else None
        path = self.protocol_dir / name
        return imported_sha256 is None or (path.is_file() and sha256_file(path) == imported_sha256)

    def read_pairs(self, name: str) -> PairsFile:
        """Parse the pairs file ``name`` (checked as `protocol_path` says); a pair naming a
        missing image is an error."""
        from siamface.data.protocol import read_pairs

        return read_pairs(self.protocol_path(name), image_counts=self.image_counts)

    def read_people(self, name: str) -> PeopleFile:
        """Parse the people file ``name`` (checked as `protocol_path` says); a count beyond the
        images we have is an error."""
        from siamface.data.protocol import read_people

        return read_people(self.protocol_path(name), image_counts=self.image_counts)


def open_lfw(home: Path) -> LFWDataset:
    """Open the LFW copy imported into ``home``.

    Args:
        home: The data home (see `siamface.data.home.resolve_data_home`).

    Raises:
        DataNotFoundError: Nothing imported, or an import that never finished (if it was cut
            off while swapping its copy in, the message says how to get the previous one back
            from ``.lfw-old``).
        DamagedImportError: The images folder was changed after the import: it breaks LFW's
            layout, or holds other numbers of people or images than the manifest lists.
    """
    home = Path(home)
    root = home / LFW_DIR
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        old = home / OLD_DIR
        if old.is_dir() and not root.exists():  # cut off between an import's two renames
            raise DataNotFoundError(
                f"no LFW copy in {home}: an import was cut off while swapping in a new copy, "
                f"and the one before it is kept in {old}; move it back with "
                f"`mv {shlex.quote(str(old))} {shlex.quote(str(root))}` (the next "
                "`siamface data import` does so too, before it imports)"
            )
        if root.exists():
            kept = (f"; the copy before it is kept in {old}, and any import puts it back "
                    "before importing PATH" if old.is_dir() else "")
            raise DataNotFoundError(
                f"the LFW import in {root} did not finish (it has no {MANIFEST}); "
                f"run `siamface data import PATH` (or `siamface data fetch`) again{kept}"
            )
        raise DataNotFoundError(f"no LFW copy in {home}: {_HOW_TO_GET}")
    manifest = read_manifest(manifest_path)
    try:
        counts = scan_image_folder(root / IMAGES_DIR)
    except LayoutError as err:
        raise DamagedImportError(f"{err}; the LFW copy was changed after the import: "
                                 f"{_HOW_TO_REPAIR}") from err
    people, images = len(counts), sum(counts.values())
    if (people, images) != (manifest["people"], manifest["images"]):
        raise DamagedImportError(
            f"{root / IMAGES_DIR} holds {people:,} people and {images:,} images, but {MANIFEST} "
            f"lists {manifest['people']:,} and {manifest['images']:,}: the copy was changed "
            f"after the import; {_HOW_TO_REPAIR}"
        )
    return LFWDataset(
        home=home,
        variant=manifest["variant"],
        image_counts=counts,
        checksums=dict(manifest["checksums"]),
        images_sha256=_images_sha256(manifest),
        from_manifest=True,
    )


def _images_sha256(manifest: dict[str, Any]) -> str | None:
    """The manifest's record of the images as imported (None: absent from older imports)."""
    images_sha256 = manifest.get("images_sha256")
    return images_sha256 if isinstance(images_sha256, str) else None


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check ``manifest.json``; a damaged one counts as a missing import."""
    try:
        manifest = read_json_object(path, ("variant", "people", "images", "checksums"),
                                    DataNotFoundError)
    except DataNotFoundError as err:  # not UTF-8, not JSON, not an object or lacking a key
        raise DataNotFoundError(f"{err}; {_HOW_TO_GET}") from None
    except OSError as err:
        raise DataNotFoundError(f"{path} is unreadable ({err}); {_HOW_TO_GET}") from err
    if not isinstance(manifest["variant"], str):
        raise DataNotFoundError(f"{path}: variant must be a name, found {manifest['variant']!r}; "
                                f"{_HOW_TO_GET}")
    checksums = manifest["checksums"]
    if not isinstance(checksums, dict) or not all(
        isinstance(v, str) for v in checksums.values()
    ):
        raise DataNotFoundError(f"{path}: checksums must map file names to sha256; {_HOW_TO_GET}")
    counts = [manifest[k] for k in ("people", "images")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        raise DataNotFoundError(
            f"{path}: people and images must be whole numbers, found {counts}; {_HOW_TO_GET}"
        )
    return manifest


def scan_image_folder(images_dir: Path) -> dict[str, int]:
    """Person name -> image count, checking LFW's layout strictly.

    Every entry must be a folder ``<Name>`` holding exactly ``<Name>_0001.jpg`` ..
    ``<Name>_<n>.jpg`` (four digits, numbered 1..n without gaps) and nothing else.

    Args:
        images_dir: The folder holding one folder per person.

    Raises:
        LayoutError: Naming the first offending path and what was expected there.
    """
    from siamface.data.protocol import NAME_RULE, is_person_name

    if not images_dir.is_dir():
        raise LayoutError(f"{images_dir} is not a folder")
    counts: dict[str, int] = {}
    with os.scandir(images_dir) as entries:
        people = sorted(entries, key=lambda e: e.name)
    for person in people:
        if not person.is_dir():
            raise LayoutError(f"{person.path}: expected only one folder per person here")
        if not is_person_name(person.name):  # the protocol files could never name it
            raise LayoutError(f"{person.path}: expected a person's folder, {NAME_RULE}")
        counts[person.name] = _count_images(Path(person.path))
    if not counts:
        raise LayoutError(f"{images_dir} holds no person folders")
    return counts


def _count_images(folder: Path) -> int:
    name = folder.name
    numbers: list[int] = []
    with os.scandir(folder) as entries:
        files = [(entry.name, entry.is_file()) for entry in entries]
    for file, is_file in files:
        match = _NUMBERED.fullmatch(file, pos=len(name)) if file.startswith(name) else None
        if match is None or not is_file:
            raise LayoutError(f"{folder / file}: expected files named {name}_NNNN.jpg")
        numbers.append(int(match.group(1)))
    numbers.sort()
    if not numbers:
        raise LayoutError(f"{folder}: a person folder must hold at least one image")
    for expected, number in enumerate(numbers, start=1):
        if number != expected:  # sorted and distinct: the first mismatch is a gap or a _0000
            raise LayoutError(
                f"{folder}: images must be numbered {name}_0001.jpg, {name}_0002.jpg, ... "
                f"without gaps, but {name}_{number:04d}.jpg is where "
                f"{name}_{expected:04d}.jpg belongs"
            )
    return len(numbers)
