"""Safe extraction of .tgz/.tar.gz/.tar/.zip archives.

An archive is untrusted input: a member may be named ``../../.bashrc`` or ``/etc/passwd``, be a
link pointing anywhere, or the archive may unpack to far more than the disk holds. We therefore
write every member ourselves, after checking it, instead of calling ``extractall``:

- names must be relative, without ``..`` parts, and land inside ``dest``;
- only regular files and folders are allowed: every link and device file is rejected (LFW has
  none, so the simplest policy is also the safest);
- the number of members and the total bytes written are capped;
- the metadata macOS adds to the archives it makes (``__MACOSX/``, ``.DS_Store``, ``._*``
  AppleDouble files) is skipped, after the checks above: a link is refused whatever its name;
- a tar archive must end as tar archives do, with its end-of-archive marker: tarfile takes an
  archive cut short at a member's header for a complete one with fewer members (a download
  stopped there would import as a smaller LFW), and a cut gzip stream is only found when it is
  read to its end; a zip member that is encrypted, or compressed by a method Python cannot
  read (Deflate64, as Windows writes large zips), is refused by name.

Where Python provides tarfile's "data" filter (3.12, and backports) it vets each tar member
as a second opinion; our own checks come first because older Pythons lack the filter.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from siamface.errors import SiamfaceError

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")
_CHUNK = 1 << 20
# What the tar/zip/gzip readers raise on a corrupt or truncated archive.
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, zlib.error, EOFError,
                lzma.LZMAError)
_TAR_BLOCK = 512  # a tar archive is whole blocks, and ends with two of zeros
# the zip compression methods zipfile reads
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class ArchiveError(SiamfaceError, ValueError):
    """An archive that cannot be read (corrupt, truncated or not an archive)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member that must not be extracted (traversal, link, device, size limits)."""


def is_macos_metadata(name: str) -> bool:
    """Whether a relative path is macOS metadata: in ``__MACOSX/``, a .DS_Store or a ._ file."""
    parts = PurePosixPath(name).parts
    return bool(parts) and (
        "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._")
    )


def is_archive(path: Path) -> bool:
    """Whether ``path``'s name ends in one of the archive suffixes we can extract."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_extract(
    archive: Path,
    dest: Path,
    max_members: int = 50_000,
    max_bytes: int = 2 * 1024**3,
    progress: bool = False,
) -> None:
    """Extract ``archive`` into ``dest`` (created if needed), refusing anything unsafe.

    On an error ``dest`` may hold part of the archive, so extract into a staging folder.

    Args:
        archive: A .tgz, .tar.gz, .tar or .zip file.
        dest: The folder to extract into: new or empty.
        max_members: Most members (files and folders) allowed.
        max_bytes: Most bytes allowed in all files together, once uncompressed.
        progress: Show a tqdm bar counting members.

    Raises:
        UnsafeArchiveError: A member breaks one of the rules above (names archive and member).
        ArchiveError: The archive is corrupt or not an archive of a known kind.
    """
    archive = Path(archive)
    if not is_archive(archive):
        raise ArchiveError(f"{archive}: not a known archive kind ({', '.join(ARCHIVE_SUFFIXES)})")
    dest = Path(dest)
    # An empty destination cannot hold a link planted beforehand, so checking member names
    # is enough to keep every write inside it.
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty; extract {archive.name} into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    opener = _zip_members if archive.name.lower().endswith(".zip") else _tar_members
    members = 0
    written = 0
    seen: set[Path] = set()  # files written
    made: set[Path] = set()  # folders known to exist
    try:
        for name, size, source in tqdm(
            opener(archive, root), desc=f"extract {archive.name}", unit=" members",
            disable=not progress,
        ):
            members += 1
            if members > max_members:
                raise UnsafeArchiveError(
                    f"{archive}: more than {max_members:,} members; refusing to extract it"
                )
            target = _target(archive, root, name)
            if is_macos_metadata(name):
                continue
            if source is None:  # a folder
                with _no_clash(archive, name):
                    target.mkdir(parents=True, exist_ok=True)
                continue
            if target in seen:  # a later copy would silently replace the first
                raise UnsafeArchiveError(f"{archive}: member {name!r} appears twice")
            seen.add(target)
            written += size
            if written > max_bytes:
                raise UnsafeArchiveError(
                    f"{archive}: unpacks to more than {max_bytes:,} bytes (at member {name!r}); "
                    "refusing to extract it"
                )
            with _no_clash(archive, name):
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                with source() as fin, open(target, "wb") as fout:
                    # Copy at most the declared size: a lying header cannot make us write more.
                    copied = _copy_limited(fin, fout, size)
            if copied != size:
                raise ArchiveError(f"{archive}: member {name!r} is truncated")
    except _READ_ERRORS as err:
        raise ArchiveError(f"{archive}: corrupt or unreadable archive ({err})") from err


@contextmanager
def _no_clash(archive: Path, name: str) -> Iterator[None]:
    """A member whose path another member holds as a file where it needs a folder (or the
    other way round) is an ArchiveError naming both, not an OSError naming the staging copy."""
    try:
        yield
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise UnsafeArchiveError(f"{archive}: member {name!r} is a file and a folder at once "
                                 "(two members of one name)") from None


# Each reader yields (member name, size in bytes, a function opening its data) in archive
# order; folders come with None instead of the function. Checks that depend on the member's
# kind happen in the readers, the name checks in _target.
_Member = tuple[str, int, "Callable[[], IO[bytes]] | None"]


def _tar_members(archive: Path, root: Path) -> Iterator[_Member]:
    _check_tar_ends(archive)
    # Stream mode ("r|*") reads the (compressed) archive once, front to back.
    with tarfile.open(archive, mode="r|*") as tf:
        for member in tf:
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"{archive}: member {member.name!r} is {_tar_kind(member)}; "
                    "only regular files and folders are allowed"
                )
            if hasattr(tarfile, "data_filter"):
                try:
                    tarfile.data_filter(member, str(root))
                except tarfile.FilterError as err:
                    raise UnsafeArchiveError(
                        f"{archive}: member {member.name!r} is unsafe ({err})"
                    ) from err
            if member.isdir():
                yield member.name, 0, None
            else:
                # extractfile never returns None for a regular file
                yield member.name, member.size, partial(tf.extractfile, member)


def _check_tar_ends(archive: Path) -> None:
    """Read the tar data of ``archive`` (decompressed) to its end: a cut compressed stream
    raises there, and the data must be whole blocks ending with the end-of-archive marker."""
    with open(archive, "rb") as fh:
        magic = fh.read(6)
    opener = (gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic[:3] == b"BZh"
              else lzma.open if magic == b"\xfd7zXZ\x00" else open)
    total, tail = 0, b""
    with opener(archive, "rb") as data:
        while chunk := data.read(_CHUNK):
            total += len(chunk)
            tail = (tail + chunk)[-2 * _TAR_BLOCK:]
    if total % _TAR_BLOCK or tail != bytes(2 * _TAR_BLOCK):
        raise ArchiveError(f"{archive}: truncated: its tar data ends without the end-of-archive "
                           "marker (an interrupted download? fetch or copy it again)")


def _zip_members(archive: Path, root: Path) -> Iterator[_Member]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.flag_bits & 0x1:
                raise ArchiveError(f"{archive}: member {info.filename!r} is encrypted; "
                                   "re-pack the images without a password")
            if info.compress_type not in _ZIP_METHODS:
                raise ArchiveError(
                    f"{archive}: member {info.filename!r} is compressed by method "
                    f"{info.compress_type}, which Python cannot read (Deflate64 is 9); re-pack "
                    "the images as a plain zip or a .tgz")
            # Unix file type bits, when the zip was made on Unix (0 otherwise: a plain file)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is a link or special file; "
                    "only regular files and folders are allowed"
                )
            if info.is_dir():
                yield info.filename, 0, None
            else:
                yield info.filename, info.file_size, partial(zf.open, info)


def _target(archive: Path, root: Path, name: str) -> Path:
    """The path a member named ``name`` extracts to, after the name checks."""
    if not name or "\\" in name or "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member name {name!r} is not a plain relative path")
    posix = PurePosixPath(name)
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in posix.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the archive (..)")
    # Relative, no "..", root empty at the start and no links ever extracted: so the target is
    # inside root without resolving it (resolve() costs a few lstat calls per member).
    return root.joinpath(*posix.parts)


def _copy_limited(fin: IO[bytes], fout: IO[bytes], size: int) -> int:
    copied = 0
    while copied < size:
        chunk = fin.read(min(_CHUNK, size - copied))
        if not chunk:
            break
        fout.write(chunk)
        copied += len(chunk)
    return copied


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.isdev():
        return "a device file or FIFO"
    return "not a regular file"

