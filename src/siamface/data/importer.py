"""Import LFW from archives, folders and protocol files into the data home, atomically.

    sources ─► classify ─► verify sha256 ─► (unchanged? done) ─► stage ─► swap in ─► manifest

Everything is built in ``<home>/.lfw-staging`` first; then the old ``<home>/lfw`` is moved
aside, the staging folder is renamed to ``<home>/lfw`` and ``manifest.json`` is written last.
A crash at any point leaves either the previous complete import or a folder without a
manifest, which `open_lfw` reports as unfinished; running the import again cleans up the
leftovers and finishes it. An import holds the data home's lock file (``siamface.utils.lock``)
from reading the current import to writing the manifest: a second import into the same home
waits for the first, then finds its work done or does its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from siamface import __version__
from siamface.data import sources as known
from siamface.data.archive import is_archive, safe_extract
from siamface.data.lfw import (
    MANIFEST,
    DataNotFoundError,
    LayoutError,
    LFWDataset,
    open_lfw,
    scan_image_folder,
)
from siamface.utils.atomic import write_json_atomic
from siamface.utils.hashing import sha256_file
from siamface.utils.lock import DATA_HOME_LOCK, file_lock

MANIFEST_FORMAT = 1
SUMS_FILE = "SHA256SUMS"


class SourceError(ValueError):
    """A source that is not LFW, or a set of sources that does not make one import."""


def import_lfw(sources: Sequence[Path], home: Path, progress: bool = True) -> LFWDataset:
    """Import one set of LFW images and any protocol files into ``home/lfw``.

    The import replaces any previous one as a whole (protocol files included), except that
    re-importing sources with the same checksums as the current import does nothing, as long as
    the copy is complete (the images its manifest counts, the protocol files it lists).

    Args:
        sources: Any mix of: an archive of one LFW variant (.tgz/.tar.gz/.tar/.zip whose top
            folder is ``lfw/``, ``lfw_funneled/``, ``lfw-deepfunneled/`` or ``lfw2/``); such a
            folder, extracted, or its parent; protocol files (``pairs*.txt``, ``people*.txt``,
            ``lfw-names.txt``); a folder holding any of these. Exactly one set of images.
        home: The data home.
        progress: Show tqdm bars while extracting or copying.

    Returns:
        The imported copy, as `open_lfw(home)` opens it.

    Raises:
        SourceError: Unrecognised sources, no images or more than one set of them.
        ChecksumError: A file whose sha256 differs from its SHA256SUMS line or the built-in one.
        ArchiveError: A corrupt or unsafe archive.
        LayoutError: Images not laid out as ``<Name>/<Name>_NNNN.jpg``, numbered 1..n.
    """
    home = Path(home)
    images, protocol = _classify([Path(s) for s in sources])
    checksums = {_label(images): _verified_sha256(images)}
    checksums |= {name: _verified_sha256(path) for name, path in sorted(protocol.items())}
    with file_lock(home / DATA_HOME_LOCK, f"import LFW into {home}"):
        return _import_locked(images, protocol, checksums, home, progress)


def _import_locked(
    images: Path, protocol: dict[str, Path], checksums: dict[str, str], home: Path, progress: bool
) -> LFWDataset:
    """The import, once the sources are verified and the data home's lock is held."""
    current = _current_import(home)
    if current is not None and current.checksums == checksums and _protocol_intact(current):
        return current

    staging, old, lfw_dir = home / ".lfw-staging", home / ".lfw-old", home / "lfw"
    for leftover in (staging, old):  # from an import that crashed
        if leftover.exists():
            shutil.rmtree(leftover)
    staging.mkdir(parents=True)
    variant = _stage_images(images, staging, progress)
    counts = scan_image_folder(staging / "images")
    (staging / "protocol").mkdir()
    for name, path in protocol.items():
        shutil.copyfile(path, staging / "protocol" / name)

    if lfw_dir.exists():
        lfw_dir.rename(old)
    staging.rename(lfw_dir)
    manifest = {
        "format": MANIFEST_FORMAT,
        "variant": variant,
        "people": len(counts),
        "images": sum(counts.values()),
        "checksums": checksums,
        "siamface_version": __version__,
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(lfw_dir / MANIFEST, manifest)  # last: from now on the import is complete
    if old.exists():
        shutil.rmtree(old)
    return open_lfw(home)


def _classify(paths: Sequence[Path]) -> tuple[Path, dict[str, Path]]:
    """Split the sources into the one image source (archive or folder) and protocol files."""
    images: list[Path] = []
    protocol: dict[str, Path] = {}

    def add_protocol(path: Path) -> None:
        seen = protocol.setdefault(path.name, path)
        if seen.resolve() != path.resolve() and sha256_file(seen) != sha256_file(path):
            raise SourceError(f"two different {path.name} given: {seen} and {path}")

    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            if path.name in known.PROTOCOL_NAMES:
                add_protocol(path)
            elif is_archive(path):
                images.append(path)
            elif path.name != SUMS_FILE:
                raise SourceError(
                    f"{path}: not an LFW archive (.tgz, .tar.gz, .tar, .zip) or protocol file "
                    f"({', '.join(known.PROTOCOL_NAMES)})"
                )
        else:
            # A folder holding archives, variant folders and/or protocol files; failing that,
            # the variant folder itself. (Not by name alone: a download folder is often
            # called "lfw" too.)
            found = False
            for child in sorted(path.iterdir()):
                if child.is_file() and child.name in known.PROTOCOL_NAMES:
                    add_protocol(child)
                    found = True
                elif (child.is_file() and is_archive(child)) or (
                    child.is_dir() and child.name in known.VARIANTS
                ):
                    images.append(child)
                    found = True
            if not found and path.name in known.VARIANTS:
                images.append(path)
            elif not found:
                raise SourceError(
                    f"{path}: found no LFW archive, image folder ({', '.join(known.VARIANTS)}) "
                    "or protocol file in it; a folder of person folders must be named after "
                    "its variant"
                )
    unique = sorted({p.resolve(): p for p in images}.values())
    if not unique:
        raise SourceError(
            "no LFW images among the sources: give an archive or a folder of one of the "
            f"variants {', '.join(known.VARIANTS)}"
        )
    if len(unique) > 1:
        raise SourceError(
            f"more than one set of LFW images given ({', '.join(map(str, unique))}); "
            "import one of them"
        )
    return unique[0], protocol


def _label(path: Path) -> str:
    """The key of a source in the manifest: its file name, or its folder name and a slash."""
    return f"{path.name}/" if path.is_dir() else path.name


def _verified_sha256(path: Path) -> str:
    """sha256 of a file (or of a folder's files, see _tree_sha256), checked where known.

    A SHA256SUMS file beside ``path`` wins over the built-in table, so that a user can vouch
    for files we do not know (or for modified protocol files).
    """
    if path.is_dir():
        return _tree_sha256(path)
    actual = sha256_file(path)
    sums_file = path.parent / SUMS_FILE
    listed = known.read_sha256sums(sums_file) if sums_file.is_file() else {}
    if path.name in listed:
        expected, origin = listed[path.name], str(sums_file)
    elif path.name in known.known_sha256():
        expected, origin = known.known_sha256()[path.name], "siamface's table of known files"
    else:
        return actual
    if actual != expected:
        raise known.ChecksumError(
            f"{path}: sha256 is {actual}, expected {expected} (from {origin}); the file is "
            f"damaged or not the official one (to vouch for it, list its sum in {SUMS_FILE} "
            "beside it)"
        )
    return actual


def _tree_sha256(folder: Path) -> str:
    """One sha256 for a folder: of every file's relative path and sha256, in sorted order."""
    digest = hashlib.sha256()
    for file in _files(folder):
        digest.update(f"{file.relative_to(folder).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    found = [Path(d) / f for d, _, names in os.walk(folder) for f in names]
    return sorted(found)


def _current_import(home: Path) -> LFWDataset | None:
    try:
        return open_lfw(home)
    except (DataNotFoundError, LayoutError):  # none, unfinished or damaged: import over it
        return None


def _protocol_intact(lfw: LFWDataset) -> bool:
    """Whether the copy holds exactly the protocol files its manifest lists, unchanged."""
    listed = {name: sha for name, sha in lfw.checksums.items() if name in known.PROTOCOL_NAMES}
    return lfw.protocol_names() == sorted(listed) and all(
        sha256_file(lfw.protocol_dir / name) == sha for name, sha in listed.items()
    )


def _stage_images(source: Path, staging: Path, progress: bool) -> str:
    """Put the images of ``source`` into ``staging/images``; return the variant name."""
    if source.is_dir():
        files = _files(source)
        for file in tqdm(files, desc=f"copy {source.name}", unit=" files", disable=not progress):
            target = staging / "images" / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
        return source.name
    extracted = staging / "extracted"
    safe_extract(source, extracted, progress=progress)
    top = sorted(p.name for p in extracted.iterdir())
    if len(top) != 1 or top[0] not in known.VARIANTS or not (extracted / top[0]).is_dir():
        raise SourceError(
            f"{source}: expected a single top folder named one of {', '.join(known.VARIANTS)}, "
            f"found {', '.join(top[:5]) or 'nothing'}{' ...' if len(top) > 5 else ''}"
        )
    (extracted / top[0]).rename(staging / "images")
    extracted.rmdir()
    return top[0]
