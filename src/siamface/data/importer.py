"""Import LFW from archives, folders and protocol files into the data home, atomically.

    sources ─► classify ─► verify sha256 ─► (unchanged? done) ─► stage ─► parse protocol
            ─► swap in ─► manifest

Everything is built in ``<home>/.lfw-staging`` first; then the image caches of the data home
are removed (they may hold the pixels of images this import repairs), the old ``<home>/lfw`` is
moved aside to ``<home>/.lfw-old``, the staging folder is renamed to ``<home>/lfw`` and
``manifest.json`` is written last. A crash before the swap leaves the previous import as it
was, and one after the manifest the new one complete. A crash during the swap leaves the
previous import (if any) in ``.lfw-old`` and either no ``lfw`` folder (between the two
renames) or one without a manifest, which `open_lfw` reports as missing (naming ``.lfw-old``)
or unfinished. Running the import again first moves the previous import back and cleans up the
leftovers, then does its work. An import holds the data home's lock file
(``siamface.utils.lock``) from that clean-up to writing the manifest: a second import into the
same home waits for the first, then finds its work done or does its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from siamface import __version__
from siamface.data import sources as known
from siamface.data.archive import is_archive, is_macos_metadata, safe_extract
from siamface.data.cache import remove_caches
from siamface.data.lfw import (
    IMAGES_DIR,
    LFW_DIR,
    MANIFEST,
    OLD_DIR,
    PROTOCOL_DIR,
    DataNotFoundError,
    LayoutError,
    LFWDataset,
    open_lfw,
    read_manifest,
    scan_image_folder,
)
from siamface.data.protocol import ProtocolError, read_pairs, read_people
from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.utils.atomic import is_temporary, write_json_atomic
from siamface.utils.files import check_printable_name
from siamface.utils.hashing import sha256_file
from siamface.utils.lock import DATA_HOME_LOCK, file_lock

JPEG_START = b"\xff\xd8\xff"  # every JPEG file begins with its SOI marker, then another
MANIFEST_FORMAT = 2  # 2: images_sha256, the images as imported (a repair re-imports them)
SUMS_FILE = "SHA256SUMS"
# The folder in the data home where an import is built (the previous one waits in OLD_DIR
# while the new one is swapped in).
_STAGING = ".lfw-staging"


# What makes an import fail and remove its staging folder: the errors it reports (bad sources,
# a full disk) and Ctrl-C. Anything else is a bug and, like a crash, leaves the folder for the
# next import to clean up.
_FAILURES = (ValueError, OSError, KeyboardInterrupt)


class SourceError(SiamfaceError, ValueError):
    """A source that is not LFW, or a set of sources that does not make one import."""


class ProtocolNotKeptWarning(SiamfaceWarning):
    """Protocol files of a damaged import that a new import does not keep."""


def import_lfw(
    sources: Sequence[Path], home: Path, progress: bool = True, replace_protocol: bool = False
) -> LFWDataset:
    """Import one set of LFW images and any protocol files into ``home/lfw``.

    The import replaces any previous one as a whole, except that the protocol files imported
    before and not given now are kept (unless ``replace_protocol``), and that re-importing
    sources with the same checksums as the current import does nothing, as long as the copy is
    complete (the images its manifest counts, the protocol files it lists). Every protocol
    file is parsed against the images before anything is swapped in. Protocol files given
    without images are added to the current import (people.txt, which `siamface data fetch`
    cannot download): its images are staged again as they are, the same swap as any import.

    Args:
        sources: Any mix of: an archive of one LFW variant (.tgz/.tar.gz/.tar/.zip whose top
            folder is ``lfw/``, ``lfw_funneled/``, ``lfw-deepfunneled/`` or ``lfw2/``); such a
            folder, extracted, or its parent; protocol files (``pairs*.txt``, ``people*.txt``,
            ``lfw-names.txt``); a folder holding any of these. At most one set of images,
            and none only where ``home`` holds a complete import to add protocol files to.
        home: The data home.
        progress: Show tqdm bars while extracting or copying.
        replace_protocol: Import only the protocol files given now, dropping those imported
            before.

    Returns:
        The imported copy, as `open_lfw(home)` opens it.

    Raises:
        SourceError: Unrecognised sources, no images or more than one set of them (none is
            refused where there is no import to add to, or its images changed since); a
            protocol file to keep that is missing or changed in the current copy; a link, a
            special file or a name that is not UTF-8 in a folder given.
        ChecksumError: A file whose sha256 differs from its SHA256SUMS line or the built-in one.
        ArchiveError: A corrupt or unsafe archive.
        LayoutError: Images not laid out as ``<Name>/<Name>_NNNN.jpg``, numbered 1..n, or a
            file among them that is no JPEG.
        ProtocolError: A pairs or people file that does not parse, or names images or people
            that the images do not have.
        LockTimeoutError: Another process kept the data home locked for too long.
    """
    home = Path(home)
    images, protocol = _classify([Path(s) for s in sources])
    image_sum = None if images is None else _verified_sha256(images)
    given = {name: _verified_sha256(path) for name, path in protocol.items()}
    with file_lock(home / DATA_HOME_LOCK, f"import LFW into {home}"):
        _clean_up_after_crash(home)
        current = _current_import(home)
        if images is None:  # protocol files only: to add to the current import
            images, image_label, image_sum, variant = _current_images(home, current)
            images_intact = True  # (_current_images refuses images changed since)
        else:
            _check_replaceable(home, images)
            image_label, variant = _label(images), None  # (the variant: the images' folder)
            images_intact = False  # (not known yet: read below only if all else is the same)
        kept = {} if replace_protocol else _kept_protocol(home, set(protocol))
        sums = {**given, **{name: sha for name, (_, sha) in kept.items()}}
        checksums = {image_label: image_sum, **dict(sorted(sums.items()))}
        files = {**protocol, **{name: path for name, (path, _) in kept.items()}}
        if (current is not None and current.checksums == checksums
                and _protocol_intact(current) and (images_intact or _images_intact(current))):
            return current
        return _import_locked(images, files, set(kept), checksums, home, progress, variant)


def _current_images(home: Path, current: LFWDataset | None) -> tuple[Path, str, str, str]:
    """The images of the current import, as the image source of an import that gives none:
    their folder, their source's label in the manifest, its sha256 and their variant.

    Raises:
        SourceError: No complete import, or one whose images changed since it was made.
    """
    if current is None:
        raise SourceError(
            f"no LFW images among the sources, and {home} holds no import to add protocol files "
            f"to: give an archive or a folder of one of the variants {', '.join(known.VARIANTS)}"
        )
    if not _images_intact(current):
        raise SourceError(f"{current.images_dir}: the images changed since they were imported; "
                          "give the images again with the protocol files")
    label, sha = next((name, sha) for name, sha in current.checksums.items()
                      if name not in known.PROTOCOL_NAMES)
    return current.images_dir, label, sha, current.variant


def _import_locked(
    images: Path,
    protocol: dict[str, Path],
    kept: set[str],
    checksums: dict[str, str],
    home: Path,
    progress: bool,
    variant: str | None = None,
) -> LFWDataset:
    """Stage, check and swap in an import, with the data home's lock held.

    ``protocol`` maps each protocol file to import to its source; those named in ``kept`` come
    from the current import. ``variant`` names the images where their folder does not (the
    current import's own ``images``).
    """
    staging, old, lfw_dir = home / _STAGING, home / OLD_DIR, home / LFW_DIR
    try:
        staging.mkdir(parents=True)
        staged = _stage_images(images, staging, progress)
        variant = variant or staged
        try:
            counts = scan_image_folder(staging / IMAGES_DIR)
            _check_jpeg_starts(staging / IMAGES_DIR)
        except LayoutError as err:  # named by the source, not by its staging copy
            where = str(images) if images.is_dir() else f"{images} member {variant}"
            raise type(err)(str(err).replace(str(staging / IMAGES_DIR), where)) from None
        _check_protocol(protocol, kept, counts)
        (staging / PROTOCOL_DIR).mkdir()
        for name, path in protocol.items():
            shutil.copyfile(path, staging / PROTOCOL_DIR / name)
        images_sha256 = _tree_sha256(staging / IMAGES_DIR)
        remove_caches(home)  # a repair keeps the checksums the keys are made of, not the pixels
    except _FAILURES:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    if lfw_dir.exists():
        lfw_dir.rename(old)
    staging.rename(lfw_dir)
    manifest = {
        "format": MANIFEST_FORMAT,
        "variant": variant,
        "people": len(counts),
        "images": sum(counts.values()),
        "checksums": checksums,
        "images_sha256": images_sha256,
        "siamface_version": __version__,
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(lfw_dir / MANIFEST, manifest)  # last: from now on the import is complete
    if old.exists():
        shutil.rmtree(old)
    return open_lfw(home)


def _clean_up_after_crash(home: Path) -> None:
    """Undo what an import that crashed left behind, with the data home's lock held.

    After a crash during the swap, the previous import goes back from ``.lfw-old`` to
    ``home/lfw``, where the import finds the protocol files to keep; the staging folder and any
    other leftovers are removed.
    """
    staging, old, lfw_dir = home / _STAGING, home / OLD_DIR, home / LFW_DIR
    if old.exists() and not (lfw_dir / MANIFEST).is_file():  # a crash during the swap
        shutil.rmtree(lfw_dir, ignore_errors=True)  # (the new copy, if it got in, unfinished)
        old.rename(lfw_dir)  # the copy before it was complete: it stays until the next one is
    for leftover in (staging, old):
        if leftover.is_symlink():  # (an import before links were refused moved one here)
            leftover.unlink()
        elif leftover.exists():
            shutil.rmtree(leftover)


def _check_replaceable(home: Path, images: Path) -> None:
    """Refuse an import that would replace what siamface did not make: ``home/lfw`` that is a
    link (its copy would be swapped out from under it), or a folder that is no import (an
    import's has its manifest, or only images/ and protocol/ where one was cut short), or
    that holds the images to import.

    Raises:
        SourceError: Naming the folder, and what to do instead.
    """
    lfw_dir = home / LFW_DIR
    if lfw_dir.is_symlink():
        raise SourceError(f"{lfw_dir}: is a link; an import replaces this folder whole: give "
                          "the folder it links to as the data home (--data-dir) instead")
    if lfw_dir.is_dir() and images.resolve().is_relative_to(lfw_dir.resolve()):
        raise SourceError(f"{images}: is inside {lfw_dir}, which an import replaces; move the "
                          "images elsewhere first, or choose another data home")
    if not lfw_dir.is_dir() or (lfw_dir / MANIFEST).is_file():
        return
    foreign = sorted(p.name for p in lfw_dir.iterdir()
                     if p.name not in (IMAGES_DIR, PROTOCOL_DIR) and not is_temporary(p.name))
    if foreign:
        raise SourceError(f"{lfw_dir}: exists and is not a siamface import (it holds "
                          f"{foreign[0]}); move it away, or choose another data home")


def _kept_protocol(home: Path, given: set[str]) -> dict[str, tuple[Path, str]]:
    """The current import's protocol files that ``given`` does not replace: name -> (path, sha).

    Raises:
        SourceError: One of them is missing from the copy or differs from its manifest sha256.
    """
    manifest = home / LFW_DIR / MANIFEST
    try:
        if not manifest.is_file():
            raise DataNotFoundError(f"{manifest} not found")
        previous = read_manifest(manifest)["checksums"]
    except DataNotFoundError as err:  # none, or unreadable: nothing we could trust to keep
        lost = sorted(p.name for p in (home / LFW_DIR / PROTOCOL_DIR).glob("*.txt")
                      if p.name not in given)
        if lost:
            warnings.warn(ProtocolNotKeptWarning(
                f"{', '.join(lost)} not kept: {err}; give them again to keep them"), stacklevel=3)
        return {}
    kept: dict[str, tuple[Path, str]] = {}
    for name, sha in sorted(previous.items()):
        if name not in known.PROTOCOL_NAMES or name in given:
            continue
        path = home / LFW_DIR / PROTOCOL_DIR / name
        if not path.is_file() or sha256_file(path) != sha:
            state = "is missing" if not path.is_file() else f"differs from its sha256 in {manifest}"
            raise SourceError(
                f"{path}: the protocol file imported before {state}; give {name} again to keep "
                "it, or import with --replace-protocol (replace_protocol=True) to drop it"
            )
        kept[name] = (path, sha)
    return kept


def _check_protocol(protocol: dict[str, Path], kept: set[str], counts: dict[str, int]) -> None:
    """Parse every pairs and people file strictly against the image ``counts``.

    Raises:
        ProtocolError: The parser's, naming the file and line; for a file kept from the current
            import it also says how to drop it.
    """
    for name, path in sorted(protocol.items()):
        if name.startswith("pairs"):
            parse = read_pairs
        elif name.startswith("people"):
            parse = read_people
        else:
            continue  # lfw-names.txt: a plain list of names that nothing reads
        try:
            parse(path, image_counts=counts)
        except ProtocolError as err:
            if name not in kept:
                raise
            how = "it was kept from the previous import; give a new one or --replace-protocol"
            raise ProtocolError(err.path, err.line, err.found, f"{err.expected} ({how})") from err


def _classify(paths: Sequence[Path]) -> tuple[Path | None, dict[str, Path]]:
    """Split the sources into the one image source (archive or folder), None where only
    protocol files are given, and protocol files."""
    images: list[Path] = []
    protocol: dict[str, Path] = {}
    sums: list[Path] = []  # given by name: read only beside the files it vouches for

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
            elif path.name == SUMS_FILE:
                sums.append(path)
            else:
                raise SourceError(
                    f"{path}: not an LFW archive (.tgz, .tar.gz, .tar, .zip) or protocol file "
                    f"({', '.join(known.PROTOCOL_NAMES)})"
                )
        else:
            found_images, found_protocol = _folder_sources(path)
            images += found_images
            for child in found_protocol:
                add_protocol(child)
    beside = {p.parent.resolve() for p in [*images, *protocol.values()]}
    for path in sums:
        if path.parent.resolve() not in beside:
            raise SourceError(f"{path}: a {SUMS_FILE} vouches only for files beside it, and no "
                              "file given lies there; move it beside the files it lists")
    unique = sorted({p.resolve(): p for p in images}.values())
    if not unique and not protocol:
        raise SourceError(
            "no LFW images among the sources: give an archive or a folder of one of the "
            f"variants {', '.join(known.VARIANTS)}"
        )
    if len(unique) > 1:
        raise SourceError(
            f"more than one set of LFW images given ({', '.join(map(str, unique))}); "
            "import one of them"
        )
    return (unique[0] if unique else None), protocol


def _folder_sources(path: Path) -> tuple[list[Path], list[Path]]:
    """The image sources and protocol files of a folder: the archives, variant folders and
    protocol files in it; failing those, the folder itself if it is named after a variant (not
    by name alone: a download folder is often called "lfw" too)."""
    images, protocol = [], []
    for child in sorted(path.iterdir()):
        if child.is_file() and child.name in known.PROTOCOL_NAMES:
            protocol.append(child)
        elif (child.is_file() and is_archive(child)) or (
                child.is_dir() and child.name in known.VARIANTS):
            images.append(child)
    if (protocol and not images and path.name in known.VARIANTS
            and any(child.is_dir() for child in path.iterdir())):
        raise SourceError(f"{path}: person folders with protocol files among them "
                          f"({protocol[0].name}); move the protocol files beside the folder, "
                          "then give the folder and them")
    if images or protocol:
        return images, protocol
    if path.name in known.VARIANTS:
        return [path], []
    raise SourceError(
        f"{path}: found no LFW archive, image folder ({', '.join(known.VARIANTS)}) or protocol "
        "file in it; a folder of person folders must be named after its variant"
    )


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
    """Every file under ``folder``, sorted, without the metadata macOS leaves (.DS_Store, ._*).

    Raises:
        SourceError: a link or a special file (a FIFO, a device) in it: a link to a folder
            would be skipped, one to a file copied from elsewhere, and a FIFO read forever;
            a name that does not print as itself (bytes that are not UTF-8, from another disk).
    """
    found = []
    for parent, folders, names in os.walk(folder):
        for name in [*folders, *names]:
            path = Path(parent) / name
            check_printable_name(path, SourceError)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise SourceError(f"{path}: a link or special file; expected plain files and "
                                  "folders (copy the files themselves in)")
        found += [Path(parent) / name for name in names]
    return sorted(f for f in found if not is_macos_metadata(f.relative_to(folder).as_posix()))


def _check_jpeg_starts(folder: Path) -> None:
    """Refuse an image that is no JPEG (a text file or a PNG named .jpg), which training would
    otherwise meet much later, named by the data home's copy. Its first bytes tell: a JPEG
    begins with JPEG_START; whether the rest decodes is the image cache's to find."""
    for path in sorted(folder.glob("*/*.jpg")):
        with open(path, "rb") as fh:
            start = fh.read(len(JPEG_START))
        if start != JPEG_START:
            raise LayoutError(f"{path}: not a JPEG image (it begins {start!r}); expected the "
                              "JPEG files of an LFW variant")


def _current_import(home: Path) -> LFWDataset | None:
    try:
        return open_lfw(home)
    except (DataNotFoundError, LayoutError):  # none, unfinished or damaged: import over it
        return None


def _protocol_intact(lfw: LFWDataset) -> bool:
    """Whether the copy holds exactly the protocol files its manifest lists, unchanged."""
    listed = sorted(name for name in lfw.checksums if name in known.PROTOCOL_NAMES)
    return lfw.protocol_names() == listed and all(map(lfw.protocol_as_imported, listed))


def _images_intact(lfw: LFWDataset) -> bool:
    """Whether the copy's images are the bytes imported (an import from before the manifest
    recorded them counts as changed, so importing it again repairs it too)."""
    recorded = read_manifest(lfw.root / MANIFEST).get("images_sha256")
    try:
        return recorded == _tree_sha256(lfw.images_dir)
    except (SourceError, OSError):  # a link put in, or a file gone, since: not intact
        return False


def _stage_images(source: Path, staging: Path, progress: bool) -> str:
    """Put the images of ``source`` into ``staging/images`` (IMAGES_DIR); return the variant
    name."""
    if source.is_dir():
        files = _files(source)
        if not files:
            raise SourceError(f"{source}: holds no images")
        for person in source.iterdir():  # an empty one too, refused as from an archive
            if person.is_dir() and not is_macos_metadata(person.name):
                (staging / IMAGES_DIR / person.name).mkdir(parents=True, exist_ok=True)
        for file in tqdm(files, desc=f"copy {source.name}", unit=" files", disable=not progress):
            target = staging / IMAGES_DIR / file.relative_to(source)
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
    (extracted / top[0]).rename(staging / IMAGES_DIR)
    extracted.rmdir()
    return top[0]
