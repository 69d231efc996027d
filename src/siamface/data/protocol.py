"""Typed records and strict parsers for LFW's protocol files (pairs*.txt and people*.txt).

The formats, with fields separated by tabs or spaces:

    pairsDevTrain.txt, pairsDevTest.txt (View 1)    pairs.txt (View 2)
        N                                           F   N
        N lines  name i j            matching       then F times:  N lines  name i j
        N lines  name1 i name2 j     non-matching                  N lines  name1 i name2 j

    peopleDevTrain.txt, peopleDevTest.txt (View 1)  people.txt (View 2)
        N                                           F
        N lines  name n                             then F times:  a line with N_k
                                                                   N_k lines  name n

Image numbers are 1-based, as in the files: ``Aaron_Peirsol 1 2`` pairs Aaron_Peirsol_0001.jpg
with Aaron_Peirsol_0002.jpg. Folds are numbered from 0 in `Pair.fold`; a View 1 file is one
unnumbered fold (`Pair.fold` is None, `PairsFile.folds` is 1).

The parsers are strict on purpose: a protocol file read slightly wrong (a block one line short,
a person misspelt, a pair listed twice) silently shifts every accuracy computed from it. Every
deviation is a `ProtocolError` naming the file, the line, what was found and what was expected.
The real files have no blank lines, no duplicate pairs and no pair of an image with itself, so
all of these are errors; blank lines at the very end of a file are tolerated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from siamface.errors import SiamfaceError

# A person's name becomes a folder and a file name: one path component, no spaces, no slashes,
# no leading dot (so never "." or ".."). LFW's names only use letters, "_" and "-".
_NAME = re.compile(r"[^\s/\\.][^\s/\\]*")
_DIGITS = re.compile(r"[0-9]+")
_MAX_DIGITS = 9  # no count in a protocol file comes near a billion (LFW has 13,233 images)
NAME_RULE = "a name without spaces, slashes or a leading dot"


def is_person_name(text: str) -> bool:
    """Whether ``text`` can be a person's name: one path component (``NAME_RULE``)."""
    return _NAME.fullmatch(text) is not None


class ProtocolError(SiamfaceError, ValueError):
    """A protocol file deviates from its format: ``<path>:<line>: <found>; expected <expected>``.

    Args:
        path: The file at fault.
        line: The 1-based line number at fault.
        found: What the line holds.
        expected: What the format asks for there.
    """

    def __init__(self, path: str | os.PathLike[str], line: int, found: str, expected: str) -> None:
        self.path = Path(path)
        self.line = line
        self.found = found
        self.expected = expected
        super().__init__(f"{self.path}:{line}: {found}; expected {expected}")


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image of one person: ``ImageRef("Aaron_Peirsol", 1)`` is Aaron_Peirsol_0001.jpg.

    Args:
        name: The person's name as in LFW's folder names.
        number: The 1-based image number, as in the protocol files.
    """

    name: str
    number: int

    def __post_init__(self) -> None:
        if not is_person_name(self.name):
            raise ValueError(f"invalid person name {self.name!r}: {NAME_RULE}")
        if self.number < 1:
            raise ValueError(f"invalid image number {self.number} of {self.name}: they start at 1")

    @property
    def filename(self) -> str:
        """The image's file name inside its person's folder, e.g. ``Aaron_Peirsol_0001.jpg``."""
        return f"{self.name}_{self.number:04d}.jpg"


@dataclass(frozen=True)
class Pair:
    """Two images and whether they show the same person.

    Args:
        left: The first image.
        right: The second image.
        same: True for a matching pair (one person), False for a non-matching pair (two people).
        fold: The 0-based View 2 fold; None for View 1 files and for mined pairs.
        line: The line of the protocol file it was read from; 0 when it was not read from one.
    """

    left: ImageRef
    right: ImageRef
    same: bool
    fold: int | None = None
    line: int = 0

    def __post_init__(self) -> None:
        if self.same != (self.left.name == self.right.name):
            kind = "matching" if self.same else "non-matching"
            raise ValueError(f"a {kind} pair of {self.left.name} and {self.right.name}")
        if self.left == self.right:
            raise ValueError(f"a pair of {self.left.filename} with itself")

    @property
    def key(self) -> frozenset[ImageRef]:
        """The pair without its order: ``a, b`` and ``b, a`` are the same pair."""
        return frozenset((self.left, self.right))

    @property
    def people(self) -> tuple[str, str]:
        return self.left.name, self.right.name


@dataclass(frozen=True)
class PairsFile:
    """A parsed pairs file.

    Args:
        path: Where it was read from.
        pairs: Every pair in file order.
        folds: The number of folds: 10 for pairs.txt, 1 for a View 1 file.
    """

    path: Path
    pairs: tuple[Pair, ...]
    folds: int

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    @property
    def matching(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if p.same)

    @property
    def non_matching(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if not p.same)

    def fold(self, k: int) -> tuple[Pair, ...]:
        """The pairs of 0-based fold ``k``; fold 0 of a View 1 file is the whole file.

        Args:
            k: The fold, from 0 to ``folds - 1``.
        """
        if not 0 <= k < self.folds:
            raise IndexError(f"fold {k} of a file with {self.folds} fold(s) (folds count from 0)")
        if self.folds == 1:
            return self.pairs
        return tuple(p for p in self.pairs if p.fold == k)

    def people(self) -> frozenset[str]:
        """Everyone who appears in any pair."""
        return frozenset(name for p in self.pairs for name in p.people)

    def images(self) -> frozenset[ImageRef]:
        """Every distinct image used by the pairs."""
        return frozenset(ref for p in self.pairs for ref in (p.left, p.right))


@dataclass(frozen=True)
class PersonEntry:
    """One line ``name n`` of a people file.

    Args:
        name: The person's name.
        count: Their number of images.
        line: The line it was read from.
    """

    name: str
    count: int
    line: int = 0


@dataclass(frozen=True)
class PeopleFile:
    """A parsed people file.

    Args:
        path: Where it was read from.
        folds: The entries of each fold in file order; a View 1 file has a single fold.
    """

    path: Path
    folds: tuple[tuple[PersonEntry, ...], ...]

    def __len__(self) -> int:
        return sum(len(fold) for fold in self.folds)

    @property
    def entries(self) -> tuple[PersonEntry, ...]:
        """Every entry of every fold, in file order."""
        return tuple(entry for fold in self.folds for entry in fold)

    @property
    def names(self) -> tuple[str, ...]:
        """Every person's name, in file order."""
        return tuple(entry.name for entry in self.entries)

    def people(self) -> frozenset[str]:
        return frozenset(self.names)


class _Lines:
    """Hands out a file's lines one at a time and raises `ProtocolError` at the line at fault.

    Blank lines after the last non-blank line are dropped (a final newline, an editor's extra
    empty line); a blank line anywhere else is an error when it is reached.
    """

    def __init__(
        self, path: str | os.PathLike[str], image_counts: Mapping[str, int] | None
    ) -> None:
        self.path = Path(path)
        self.image_counts = image_counts
        data = self.path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise ProtocolError(self.path, line, "bytes that are not UTF-8", "a text file") from e
        # split("\n"), not splitlines(): splitlines also breaks at \f, \x1c, \u2028 and friends,
        # which would shift the line numbers in our messages away from what an editor shows.
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        self.end = len(self.lines)
        while self.end > 0 and not self.lines[self.end - 1].strip():
            self.end -= 1
        self.index = 0  # 0-based index of the next line to hand out

    def error(self, line: int, found: str, expected: str) -> ProtocolError:
        return ProtocolError(self.path, line, found, expected)

    def peek(self) -> list[str] | None:
        """The fields of the next line without consuming it; None at the end of the file."""
        return self.lines[self.index].split() if self.index < self.end else None

    def next(self, expected: str) -> tuple[int, list[str]]:
        """The next line's 1-based number and fields; ``expected`` says what it should hold."""
        if self.index >= self.end:
            raise self.error(max(self.end, 1), "the file ends here", expected)
        self.index += 1
        fields = self.lines[self.index - 1].split()
        if not fields:
            raise self.error(self.index, "a blank line", expected)
        return self.index, fields

    def expect_end(self, after: str) -> None:
        """Raise if anything but blank lines follows; ``after`` says what was read so far."""
        if self.index < self.end:
            found = f"an extra line `{_show(self.lines[self.index].split())}`"
            if not self.lines[self.index].strip():
                found = "a blank line followed by more lines"
            expected = f"the end of the file after {after}, as the header on line 1 says"
            raise self.error(self.index + 1, found, expected)


def _show(fields: list[str]) -> str:
    text = " ".join(fields)
    return text if len(text) <= 60 else text[:57] + "..."


def _wrong_fields(fields: list[str]) -> str:
    return f"`{_show(fields)}` with {len(fields)} field{'s' if len(fields) != 1 else ''}"


def _positive(lines: _Lines, line: int, text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text) or (len(text) <= _MAX_DIGITS and int(text) < 1):
        raise lines.error(line, f"{what} `{_show([text])}`", "a positive integer")
    if len(text) > _MAX_DIGITS:  # before int(), which refuses more than 4,300 digits
        raise lines.error(line, f"{what} `{_show([text])}` of {len(text):,} digits",
                          f"a positive integer of at most {_MAX_DIGITS} digits")
    return int(text)


def _name(lines: _Lines, line: int, text: str) -> str:
    if not is_person_name(text):
        raise lines.error(line, f"person name `{text}`", NAME_RULE)
    if lines.image_counts is not None and text not in lines.image_counts:
        n = len(lines.image_counts)
        raise lines.error(line, f"unknown person `{text}`", f"one of the dataset's {n} people")
    return text


def _ref(lines: _Lines, line: int, name: str, number: str) -> ImageRef:
    ref = ImageRef(_name(lines, line, name), _positive(lines, line, number, "image number"))
    if lines.image_counts is not None and ref.number > lines.image_counts[ref.name]:
        count = lines.image_counts[ref.name]
        raise lines.error(
            line,
            f"image {ref.number} of `{ref.name}`, who has {count} image(s)",
            f"an image number from 1 to {count}",
        )
    return ref


def _pair(lines: _Lines, same: bool, fold: int | None, where: str) -> Pair:
    shape = "a matching pair `name i j`" if same else "a non-matching pair `name1 i name2 j`"
    expected = f"{shape} ({where})"
    line, fields = lines.next(expected)
    if len(fields) != (3 if same else 4):
        raise lines.error(line, _wrong_fields(fields), expected)
    if same:
        left = _ref(lines, line, fields[0], fields[1])
        right = _ref(lines, line, fields[0], fields[2])
        if left == right:
            found = f"image {left.number} of `{left.name}` paired with itself"
            raise lines.error(line, found, "two different images of one person")
    else:
        left = _ref(lines, line, fields[0], fields[1])
        right = _ref(lines, line, fields[2], fields[3])
        if left.name == right.name:
            found = f"`{left.name}` on both sides of a non-matching pair"
            raise lines.error(line, found, "two different people")
    return Pair(left, right, same, fold, line)


def read_pairs(
    path: str | os.PathLike[str], image_counts: Mapping[str, int] | None = None
) -> PairsFile:
    """Parse a View 1 (``N``) or View 2 (``folds N``) pairs file.

    Args:
        path: The pairs file.
        image_counts: Images per person of the dataset; when given, every referenced person
            must exist and every image number must be at most that person's count.

    Raises:
        ProtocolError: On any deviation from the format, at the line at fault.
    """
    lines = _Lines(path, image_counts)
    line, fields = lines.next("a header `N` (View 1) or `folds N` (View 2)")
    if len(fields) == 1:
        view1, folds, n = True, 1, _positive(lines, line, fields[0], "number of pairs")
    elif len(fields) == 2:
        view1 = False
        folds = _positive(lines, line, fields[0], "number of folds")
        n = _positive(lines, line, fields[1], "number of pairs per fold")
    else:
        found = "header " + _wrong_fields(fields)
        raise lines.error(line, found, "a header `N` (View 1) or `folds N` (View 2)")

    pairs: list[Pair] = []
    first_line: dict[frozenset[ImageRef], int] = {}
    for k in range(folds):
        in_fold = "" if view1 else f" of fold {k + 1} of {folds}"
        for same in (True, False):
            kind = "matching" if same else "non-matching"
            for i in range(n):
                where = f"{kind} pair {i + 1} of {n}{in_fold}, as the header on line 1 says"
                pair = _pair(lines, same, None if view1 else k, where)
                if pair.key in first_line:
                    found = f"the same pair as line {first_line[pair.key]}"
                    raise lines.error(pair.line, found, "each pair once")
                first_line[pair.key] = pair.line
                pairs.append(pair)
    lines.expect_end(f"{folds} fold(s) of {n} matching and {n} non-matching pairs")
    return PairsFile(Path(path), tuple(pairs), folds)


def _people(lines: _Lines, n: int, in_fold: str, seen: dict[str, int]) -> tuple[PersonEntry, ...]:
    entries = []
    for i in range(n):
        expected = f"a person `name n` (person {i + 1} of {n}{in_fold})"
        line, fields = lines.next(expected)
        if len(fields) != 2:
            raise lines.error(line, _wrong_fields(fields), expected)
        name = _name(lines, line, fields[0])
        count = _positive(lines, line, fields[1], "number of images")
        if name in seen:
            raise lines.error(
                line, f"`{name}` again (first on line {seen[name]})", "each person once"
            )
        if lines.image_counts is not None and count != lines.image_counts[name]:
            actual = lines.image_counts[name]
            raise lines.error(
                line, f"{count} image(s) for `{name}`", f"{actual}, their number of images"
            )
        seen[name] = line
        entries.append(PersonEntry(name, count, line))
    return tuple(entries)


def read_people(
    path: str | os.PathLike[str], image_counts: Mapping[str, int] | None = None
) -> PeopleFile:
    """Parse a View 1 (``N`` then N people) or View 2 (``folds`` then per fold ``N_k``) people file.

    The two headers look alike; a View 2 file is recognised by the lone count on its second line.

    Args:
        path: The people file.
        image_counts: Images per person of the dataset; when given, every person must exist
            and their count in the file must equal their count in the dataset.

    Raises:
        ProtocolError: On any deviation from the format, at the line at fault.
    """
    lines = _Lines(path, image_counts)
    line, fields = lines.next("a header: the number of people (View 1) or of folds (View 2)")
    if len(fields) != 1:
        found = "header " + _wrong_fields(fields)
        raise lines.error(line, found, "one number: of people (View 1) or of folds (View 2)")
    header = _positive(lines, line, fields[0], "header number")

    seen: dict[str, int] = {}
    second = lines.peek()
    if second is not None and len(second) == 1 and _DIGITS.fullmatch(second[0]):  # View 2
        folds = []
        for k in range(header):
            in_fold = f" of fold {k + 1} of {header}"
            line, fields = lines.next(f"the number of people{in_fold}")
            if len(fields) != 1:
                found = _wrong_fields(fields)
                raise lines.error(line, found, f"the number of people{in_fold}")
            n = _positive(lines, line, fields[0], "number of people")
            folds.append(_people(lines, n, in_fold, seen))
        lines.expect_end(f"{header} fold(s)")
        return PeopleFile(Path(path), tuple(folds))
    entries = _people(lines, header, "", seen)
    lines.expect_end(f"{header} person(s)")
    return PeopleFile(Path(path), (entries,))
