"""The built-in table of known LFW files: where to download them and their sha256.

The URLs and sums of the downloadable files are the ones scikit-learn's LFW loader uses
(sklearn/datasets/_lfw.py): figshare mirrors, since the original UMass server is gone. The
deep-funneled archive and the people/names files are not on figshare; we only know their sums,
which lets `siamface data import` verify a local copy of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from siamface.data.people import PAIRS_FILES, PEOPLE_FILES, TEST_PAIRS, TRAIN_PAIRS, VIEW2_PAIRS
from siamface.errors import SiamfaceError
from siamface.utils.files import read_text

# The folder names that the LFW archives unpack to; the name is the variant.
VARIANTS = ("lfw", "lfw_funneled", "lfw-deepfunneled", "lfw2")

# The protocol text files an import may carry (View 1 and View 2 of the LFW protocol).
PROTOCOL_NAMES = (*PAIRS_FILES, *PEOPLE_FILES, "lfw-names.txt")


class ChecksumError(SiamfaceError, ValueError):
    """A file's sha256 differs from the one we expected for it."""


@dataclass(frozen=True)
class RemoteFile:
    """A file we know how to download.

    Args:
        filename: The name it is stored under.
        url: Where to download it from.
        sha256: Its hex sha256, checked after every download.
    """

    filename: str
    url: str
    sha256: str


DEFAULT_VARIANT = "lfw_funneled"  # what `siamface data fetch` and a first `make run` download
# Image archives by variant (the folder each one unpacks to).
ARCHIVES: dict[str, RemoteFile] = {
    "lfw": RemoteFile(
        filename="lfw.tgz",
        url="https://ndownloader.figshare.com/files/5976018",
        sha256="055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
    ),
    "lfw_funneled": RemoteFile(
        filename="lfw-funneled.tgz",
        url="https://ndownloader.figshare.com/files/5976015",
        sha256="b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
    ),
}

# The pairs files (View 1 train/test and View 2's ten folds).
PROTOCOL_FILES: tuple[RemoteFile, ...] = (
    RemoteFile(
        filename=TRAIN_PAIRS,
        url="https://ndownloader.figshare.com/files/5976012",
        sha256="1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
    ),
    RemoteFile(
        filename=TEST_PAIRS,
        url="https://ndownloader.figshare.com/files/5976009",
        sha256="7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
    ),
    RemoteFile(
        filename=VIEW2_PAIRS,
        url="https://ndownloader.figshare.com/files/5976006",
        sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
    ),
)

# Files with no known download location whose sums we still know (official LFW copies).
LOCAL_SHA256: dict[str, str] = {
    "lfw-deepfunneled.tgz": "34567285ab74f04d0370e627692cef9a7c2e299b29045f0cf990d1fa97f6b740",
    "peopleDevTrain.txt": "2e58df13ba4cc143189336e001cc2c195f1dfa5b29a6475c02857be353c2a2fa",
    "peopleDevTest.txt": "c3ed1f90499473401542101a56c14c1d82396bb8218c67a356d7460601047555",
    "people.txt": "bc8fa2b7f25c895cf7efb6de4f4fc27ca8b8d1cfa63350ad8b96eae2b198d365",
    "lfw-names.txt": "403cd39411ee297f99f69241959bd8f0496b44377711913a76ccdd8562874164",
}


def known_sha256() -> dict[str, str]:
    """File name -> sha256 for every file in the tables above.

    Built on each call (not at import) so that tests which swap the tables see their own sums.
    """
    known = dict(LOCAL_SHA256)
    for remote in (*ARCHIVES.values(), *PROTOCOL_FILES):
        known[remote.filename] = remote.sha256
    return known


def read_sha256sums(path: Path) -> dict[str, str]:
    """Parse a ``sha256sum`` listing (``<hex>  <name>`` or ``<hex> *<name>`` per line).

    Args:
        path: The SHA256SUMS file.

    Raises:
        ChecksumError: Bytes that are not UTF-8, a line that is not a 64-digit hex sum
            followed by a file name, or a file listed twice with two sums.
    """
    sums: dict[str, str] = {}
    lines: dict[str, int] = {}
    text = read_text(path, ChecksumError).removeprefix("\ufeff")  # a BOM, as protocol files
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name.lstrip(" *").rstrip().removeprefix("./")  # (sha256sum ./* writes ./name)
        if len(digest) != 64 or not _is_hex(digest) or not name:
            raise ChecksumError(
                f"{path}, line {number}: expected '<64 hex digits>  <file name>', got {line!r}"
            )
        if sums.get(name, digest.lower()) != digest.lower():
            raise ChecksumError(f"{path}, line {number}: {name} is listed on line "
                                f"{lines[name]} with another sum")
        sums[name], lines[name] = digest.lower(), number
    return sums


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
