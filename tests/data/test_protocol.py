"""Strict parsing of pairs*.txt and people*.txt: good files, each kind of bad file, real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamface.data.protocol import (
    ImageRef,
    Pair,
    ProtocolError,
    read_pairs,
    read_people,
)

COUNTS = {"Alice": 3, "Bob": 2, "Carol": 1, "Dan": 4}

VIEW1_PAIRS = """2
Alice\t1\t2
Dan 3   4
Alice\t1\tBob\t2
Bob 1 Carol 1
"""

VIEW2_PAIRS = """2\t1
Alice\t1\t3
Alice\t2\tDan\t4
Dan\t1\t2
Bob\t2\tCarol\t1
"""

VIEW1_PEOPLE = """3
Alice\t3
Bob 2
Carol\t1
"""

VIEW2_PEOPLE = """2
1
Alice\t3
2
Bob\t2
Dan\t4
"""


def write(tmp_path: Path, text: str | bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- records


def test_image_ref_file_name_and_validation() -> None:
    assert ImageRef("Aaron_Peirsol", 1).filename == "Aaron_Peirsol_0001.jpg"
    assert ImageRef("George_W_Bush", 530).filename == "George_W_Bush_0530.jpg"
    assert sorted([ImageRef("B", 1), ImageRef("A", 2), ImageRef("A", 1)])[0] == ImageRef("A", 1)
    for name in ("", "..", ".hidden", "a/b", "a\\b", "two words"):
        with pytest.raises(ValueError, match="invalid person name"):
            ImageRef(name, 1)
    with pytest.raises(ValueError, match="they start at 1"):
        ImageRef("A", 0)


def test_pair_checks_its_label_against_its_people() -> None:
    with pytest.raises(ValueError, match="a matching pair of A and B"):
        Pair(ImageRef("A", 1), ImageRef("B", 1), same=True)
    with pytest.raises(ValueError, match="a non-matching pair of A and A"):
        Pair(ImageRef("A", 1), ImageRef("A", 2), same=False)
    with pytest.raises(ValueError, match="with itself"):
        Pair(ImageRef("A", 1), ImageRef("A", 1), same=True)
    a = Pair(ImageRef("A", 1), ImageRef("B", 2), same=False)
    b = Pair(ImageRef("B", 2), ImageRef("A", 1), same=False, line=7)
    assert a.key == b.key and a != b


# ----------------------------------------------------------------------------- good files


def test_view1_pairs(tmp_path: Path) -> None:
    pf = read_pairs(write(tmp_path, VIEW1_PAIRS), COUNTS)
    assert pf.folds == 1 and len(pf) == 4
    assert pf.pairs[0] == Pair(ImageRef("Alice", 1), ImageRef("Alice", 2), True, None, 2)
    assert pf.pairs[1] == Pair(ImageRef("Dan", 3), ImageRef("Dan", 4), True, None, 3)
    assert pf.pairs[3] == Pair(ImageRef("Bob", 1), ImageRef("Carol", 1), False, None, 5)
    assert [p.line for p in pf.matching] == [2, 3]
    assert [p.line for p in pf.non_matching] == [4, 5]
    assert pf.fold(0) == pf.pairs
    with pytest.raises(IndexError):
        pf.fold(1)
    assert pf.people() == {"Alice", "Bob", "Carol", "Dan"}
    assert len(pf.images()) == 7  # Alice 1 appears twice


def test_view2_pairs(tmp_path: Path) -> None:
    pf = read_pairs(write(tmp_path, VIEW2_PAIRS))
    assert pf.folds == 2 and len(pf) == 4
    assert [p.fold for p in pf] == [0, 0, 1, 1]
    assert [p.same for p in pf] == [True, False, True, False]
    assert [p.line for p in pf.fold(1)] == [4, 5]
    assert pf.fold(0)[1].right == ImageRef("Dan", 4)


def test_view1_and_view2_people(tmp_path: Path) -> None:
    v1 = read_people(write(tmp_path, VIEW1_PEOPLE, "v1.txt"), COUNTS)
    assert len(v1.folds) == 1 and len(v1) == 3
    assert v1.names == ("Alice", "Bob", "Carol")
    assert [e.line for e in v1.entries] == [2, 3, 4]
    assert [e.count for e in v1.entries] == [3, 2, 1]

    v2 = read_people(write(tmp_path, VIEW2_PEOPLE, "v2.txt"), COUNTS)
    assert [[e.name for e in fold] for fold in v2.folds] == [["Alice"], ["Bob", "Dan"]]
    assert [e.line for e in v2.entries] == [3, 5, 6]
    assert v2.people() == {"Alice", "Bob", "Dan"}


def test_crlf_bom_and_trailing_blank_lines_are_accepted(tmp_path: Path) -> None:
    text = "\ufeff" + VIEW1_PAIRS.replace("\n", "\r\n") + "\r\n\n  \n"
    messy = read_pairs(write(tmp_path, text))
    assert messy.pairs == read_pairs(write(tmp_path, VIEW1_PAIRS, "g.txt")).pairs


@st.composite
def pairs_files(draw: st.DrawFn) -> tuple[int, int, list[tuple[str, ...]]]:
    """A valid View 2 pairs file as rows of fields, with unique pairs."""
    folds = draw(st.integers(1, 3))
    n = draw(st.integers(1, 4))
    names = [f"P{i}" for i in range(6)]
    rows, seen = [], set()
    for _ in range(folds):
        for same in (True, False):
            for _ in range(n):
                a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
                if same:
                    i, j = draw(st.lists(st.integers(1, 99), min_size=2, max_size=2, unique=True))
                    b = a
                else:
                    b = draw(st.sampled_from([m for m in names if m != a]))
                    i, j = draw(st.integers(1, 99)), draw(st.integers(1, 99))
                key = frozenset({(a, i), (b, j)})
                if key in seen:  # the parser rejects duplicates, so make a fresh one
                    i, j = 100 + len(seen), 100 + len(seen) + 1000
                    key = frozenset({(a, i), (b, j)})
                seen.add(key)
                rows.append((a, str(i), str(j)) if same else (a, str(i), b, str(j)))
    return folds, n, rows


@settings(max_examples=40, deadline=None)
@given(spec=pairs_files(), seps=st.lists(st.sampled_from(["\t", " ", "  ", " \t"]), min_size=1))
def test_pairs_round_trip(tmp_path_factory: pytest.TempPathFactory, spec, seps) -> None:
    folds, n, rows = spec
    body = [seps[k % len(seps)].join(row) for k, row in enumerate(rows)]
    path = write(tmp_path_factory.mktemp("rt"), "\n".join([f"{folds}\t{n}", *body]) + "\n")
    pf = read_pairs(path)
    assert pf.folds == folds and len(pf) == len(rows) == 2 * folds * n
    for k, (pair, row) in enumerate(zip(pf, rows, strict=True)):
        assert pair.line == k + 2 and pair.fold == k // (2 * n)
        assert (pair.left.name, str(pair.left.number)) == row[:2]
        assert str(pair.right.number) == row[-1] and pair.same == (len(row) == 3)


# ----------------------------------------------------------------------------- bad files

PAIRS_HEAD = "a header `N` (View 1) or `folds N` (View 2)"
M2 = "a matching pair `name i j` (matching pair 2 of 2, as the header on line 1 says)"
N2 = (
    "a non-matching pair `name1 i name2 j` (non-matching pair 2 of 2, as the header on line 1 says)"
)
SAYS = ", as the header on line 1 says"
END = "the end of the file after 1 fold(s) of 2 matching and 2 non-matching pairs" + SAYS

BAD_PAIRS = [
    # (file text, image counts, line, found, expected)
    ("", None, 1, "the file ends here", PAIRS_HEAD),
    ("2 1 3\n", None, 1, "header `2 1 3` with 3 fields", PAIRS_HEAD),
    ("x\n", None, 1, "number of pairs `x`", "a positive integer"),
    ("0\n", None, 1, "number of pairs `0`", "a positive integer"),
    ("10\t-3\n", None, 1, "number of pairs per fold `-3`", "a positive integer"),
    ("2\nAlice 1 2\nAlice 1\n", None, 3, "`Alice 1` with 2 fields", M2),
    ("2\nAlice 1 2\nAlice 1 x\n", None, 3, "image number `x`", "a positive integer"),
    ("2\nAlice 1 2\nAlice 0 2\n", None, 3, "image number `0`", "a positive integer"),
    ("2\nAlice 1 2\nAlice 1.5 2\n", None, 3, "image number `1.5`", "a positive integer"),
    ("2\nAlice 1 2\n\nDan 1 2\n", None, 3, "a blank line", M2),
    # the header promises 2 matching pairs, the file has 1 and starts the non-matching block
    ("2\nAlice 1 2\nAlice 1 Bob 1\n", None, 3, "`Alice 1 Bob 1` with 4 fields", M2),
    ("2\nAlice 1 2\nDan 1 2\nAlice 1 Bob 1\n", None, 4, "the file ends here", N2),
    (
        "2\nAlice 1 2\nDan 1 2\nAlice 1 Bob 1\nBob 1 Bob 2\n",
        None,
        5,
        "`Bob` on both sides of a non-matching pair",
        "two different people",
    ),
    ("2\nAlice 1 2\nAlice 2 1\n", None, 3, "the same pair as line 2", "each pair once"),
    (
        "2\nAlice 1 2\nDan 1 2\nAlice 1 Bob 1\nBob 1 Alice 1\n",
        None,
        5,
        "the same pair as line 4",
        "each pair once",
    ),
    (
        "2\nAlice 1 2\nDan 3 3\n",
        None,
        3,
        "image 3 of `Dan` paired with itself",
        "two different images of one person",
    ),
    (VIEW1_PAIRS + "Carol 1 Dan 1\n", None, 6, "an extra line `Carol 1 Dan 1`", END),
    (VIEW1_PAIRS + "\nCarol 1 Dan 1\n", None, 6, "a blank line followed by more lines", END),
    (
        "2\n../x 1 2\n",
        None,
        2,
        "person name `../x`",
        "a name without spaces, slashes or a leading dot",
    ),
    ("2\nAlice 1 2\nZed 1 2\n", COUNTS, 3, "unknown person `Zed`", "one of the dataset's 4 people"),
    (
        "2\nAlice 1 2\nDan 1 2\nAlice 1 Bob 3\n",
        COUNTS,
        4,
        "image 3 of `Bob`, who has 2 image(s)",
        "an image number from 1 to 2",
    ),
    (
        "2\t1\nAlice 1 2\nAlice 1 Bob 1\nDan 1 2\nDan 1 Bob 1\nDan 2 Bob 2\n",
        None,
        6,
        "an extra line `Dan 2 Bob 2`",
        "the end of the file after 2 fold(s) of 1 matching and 1 non-matching pairs" + SAYS,
    ),
    (
        "2\t1\nAlice 1 2\nAlice 1 Bob 1\nDan 1 Bob 1\n",
        None,
        4,
        "`Dan 1 Bob 1` with 4 fields",
        "a matching pair `name i j` (matching pair 1 of 1 of fold 2 of 2, "
        "as the header on line 1 says)",
    ),
    (b"2\nAlice 1 2\nAl\xe9 1 2\n", None, 3, "bytes that are not UTF-8", "a text file"),
]


@pytest.mark.parametrize(("text", "counts", "line", "found", "expected"), BAD_PAIRS)
def test_bad_pairs_files(tmp_path: Path, text, counts, line, found, expected) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as info:
        read_pairs(path, counts)
    assert str(info.value) == f"{path}:{line}: {found}; expected {expected}"
    assert (info.value.path, info.value.line) == (path, line)
    assert isinstance(info.value, ValueError)


BAD_PEOPLE = [
    ("3\nAlice 3\nBob\n", None, 3, "`Bob` with 1 field", "a person `name n` (person 2 of 3)"),
    (
        "3\nAlice 3\nBob 2 1\n",
        None,
        3,
        "`Bob 2 1` with 3 fields",
        "a person `name n` (person 2 of 3)",
    ),
    ("3\nAlice 3\nBob two\n", None, 3, "number of images `two`", "a positive integer"),
    ("3\nAlice 3\nBob 0\n", None, 3, "number of images `0`", "a positive integer"),
    ("3\nAlice 3\nAlice 3\n", None, 3, "`Alice` again (first on line 2)", "each person once"),
    ("2\nAlice 3\n\nBob 2\n", None, 3, "a blank line", "a person `name n` (person 2 of 2)"),
    ("3\nAlice 3\nBob 2\n", None, 3, "the file ends here", "a person `name n` (person 3 of 3)"),
    (
        "1\nAlice 3\nBob 2\n",
        None,
        3,
        "an extra line `Bob 2`",
        "the end of the file after 1 person(s), as the header on line 1 says",
    ),
    ("2\nAlice 2\nBob 2\n", COUNTS, 2, "2 image(s) for `Alice`", "3, their number of images"),
    ("2\nAlice 3\nZed 2\n", COUNTS, 3, "unknown person `Zed`", "one of the dataset's 4 people"),
    (
        "1 2\n",
        None,
        1,
        "header `1 2` with 2 fields",
        "one number: of people (View 1) or of folds (View 2)",
    ),
    (
        "2\n1\nAlice 3\n2\nBob 2\n",
        None,
        5,
        "the file ends here",
        "a person `name n` (person 2 of 2 of fold 2 of 2)",
    ),
    (
        "2\n1\nAlice 3\nBob 2\n",
        None,
        4,
        "`Bob 2` with 2 fields",
        "the number of people of fold 2 of 2",
    ),
    (
        "2\n1\nAlice 3\n1\nBob 2\n1\nDan 4\n",
        None,
        6,
        "an extra line `1`",
        "the end of the file after 2 fold(s), as the header on line 1 says",
    ),
]


@pytest.mark.parametrize(("text", "counts", "line", "found", "expected"), BAD_PEOPLE)
def test_bad_people_files(tmp_path: Path, text, counts, line, found, expected) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as info:
        read_people(path, counts)
    assert str(info.value) == f"{path}:{line}: {found}; expected {expected}"
    assert (info.value.path, info.value.line) == (path, line)


# ----------------------------------------------------------------------------- the real files


def real_counts(lfw_source: Path) -> dict[str, int]:
    rows = (line.split("\t") for line in (lfw_source / "lfw-names.txt").read_text().splitlines())
    return {name: int(count) for name, count in rows}


@pytest.mark.real_data
def test_real_protocol_files(lfw_source: Path) -> None:
    counts = real_counts(lfw_source)
    assert (len(counts), sum(counts.values())) == (5749, 13233)

    train = read_pairs(lfw_source / "pairsDevTrain.txt", counts)
    test = read_pairs(lfw_source / "pairsDevTest.txt", counts)
    view2 = read_pairs(lfw_source / "pairs.txt", counts)
    assert (len(train), len(train.matching), train.folds) == (2200, 1100, 1)
    assert (len(test), len(test.matching), test.folds) == (1000, 500, 1)
    assert (len(view2), len(view2.matching), view2.folds) == (6000, 3000, 10)
    assert all(len(view2.fold(k)) == 600 for k in range(10))
    assert not train.people() & test.people()

    people_train = read_people(lfw_source / "peopleDevTrain.txt", counts)
    people_test = read_people(lfw_source / "peopleDevTest.txt", counts)
    people = read_people(lfw_source / "people.txt", counts)
    assert (len(people_train), len(people_test)) == (4038, 1711)
    assert not people_train.people() & people_test.people()
    assert len(people.folds) == 10 and people.people() == set(counts)
    # View 1's pairs draw on View 1's people files
    assert train.people() <= people_train.people() and test.people() <= people_test.people()
