"""Shared fixtures: where the real LFW copy lives, and a tiny synthetic LFW-like tree; what a
test does when something it needs is missing."""

from __future__ import annotations

import importlib
import itertools
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import pytest
from PIL import Image

from siamface.utils.hashing import sha256_file

REPO = Path(__file__).resolve().parents[1]
SHARED_LFW = Path(os.environ.get("SIAMFACE_TEST_LFW", REPO.parent / "shared" / "lfw"))


def missing(what: str) -> NoReturn:
    """Fail under CI (CI=true), which installs everything the tests need; skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(what)
    pytest.skip(what)


def require(module: str) -> ModuleType:
    """Import ``module`` of an optional extra that the dev extra installs (``missing`` if not)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing(f"cannot import {module} ({err}): pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def lfw_source() -> Path:
    """The real LFW files beside the checkout (../shared/lfw); ``missing`` when absent."""
    if not (SHARED_LFW / "lfw-deepfunneled.tgz").is_file():
        missing(f"real LFW data not found at {SHARED_LFW}")
    return SHARED_LFW


def make_lfw_tree(root: Path, counts: dict[str, int], size: int = 250, seed: int = 0) -> Path:
    """Write a tiny LFW-like folder ``root/<Name>/<Name>_000k.jpg`` with ``counts[name]`` images.

    Each person gets a distinct mean colour so that identities are learnable.
    """
    rng = np.random.default_rng(seed)
    for p, (name, count) in enumerate(sorted(counts.items())):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = (np.array([37, 91, 151]) * (p + 1)) % 200 + 20
        for k in range(1, count + 1):
            noise = rng.integers(-20, 20, size=(size, size, 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{k:04d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def real_lfw(lfw_source: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real LFW imported once per test session into a temporary data home (~30 s)."""
    from siamface.data.importer import import_lfw

    return import_lfw([lfw_source], tmp_path_factory.mktemp("real_home"), progress=False)


@pytest.fixture
def tiny_counts() -> dict[str, int]:
    return {"Alice_Able": 3, "Bob_Baker": 2, "Carol_Cole": 1, "Dan_Dunn": 4, "Eve_Evans": 2}


@pytest.fixture
def tiny_tree(tmp_path: Path, tiny_counts: dict[str, int]) -> Path:
    """A tiny ``lfw-deepfunneled/`` tree of 5 people and 12 images of 250x250 RGB."""
    return make_lfw_tree(tmp_path / "lfw-deepfunneled", tiny_counts)


def write_pairs_file(path: Path, matching: list[tuple[str, int, int]],
                     non_matching: list[tuple[str, int, str, int]]) -> Path:
    """Write a View 1 pairs file (header N, N matching lines, N non-matching lines)."""
    assert len(matching) == len(non_matching)
    lines = [str(len(matching))]
    lines += [f"{n}\t{i}\t{j}" for n, i, j in matching]
    lines += [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in non_matching]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_people_file(path: Path, counts: dict[str, int]) -> Path:
    """Write a View 1 people file (header count, then `name n` lines)."""
    path.write_text(f"{len(counts)}\n" + "".join(f"{n}\t{c}\n" for n, c in sorted(counts.items())))
    return path


def make_protocol_split(folder: Path, counts: dict[str, int], test_people: set[str],
                        seed: int = 0) -> None:
    """Write pairsDevTrain/DevTest and peopleDevTrain/DevTest for ``counts``.

    The people of ``test_people`` get the DevTest files; everyone else DevTrain. Each side gets
    one matching pair per person with 2+ images and as many non-matching pairs, these within
    groups of four people in name order (a last group of fewer joins the one before): as in
    LFW's files, whose pairs link people in small groups (pairsDevTrain's largest has 18 of
    its 2,132 people).
    """
    rng = np.random.default_rng(seed)
    sides = (("Train", sorted(set(counts) - test_people)), ("Test", sorted(test_people)))
    for side, people in sides:
        multi = [n for n in people if counts[n] >= 2]
        matching = [(n, 1, 2) for n in multi]
        groups = [people[i:i + 4] for i in range(0, len(people), 4)]
        if len(groups) > 1 and len(groups[-1]) < 3:
            groups[-2:] = [groups[-2] + groups[-1]]
        non_matching = []
        for k in range(len(matching)):  # each group's pairs of people in turn, none twice
            group = groups[k % len(groups)]
            a, b = list(itertools.combinations(group, 2))[k // len(groups)]
            non_matching.append((a, int(rng.integers(1, counts[a] + 1)),
                                 b, int(rng.integers(1, counts[b] + 1))))
        write_pairs_file(folder / f"pairsDev{side}.txt", matching, non_matching)
        write_people_file(folder / f"peopleDev{side}.txt", {n: counts[n] for n in people})
    # Our synthetic files carry official names, so vouch for them as a user would.
    sums = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(folder.glob("*.txt"))]
    (folder / "SHA256SUMS").write_text("".join(sums))


def make_view2_files(folder: Path, counts: dict[str, int], folds: int = 10) -> None:
    """Write a View 2 people.txt and pairs.txt: ``counts``'s people dealt to ``folds`` folds in
    name order, each fold's pairs drawn from its own people (two matching pairs, of its first
    two people, and two non-matching pairs), as LFW's folds are person-disjoint."""
    names = sorted(counts)
    fold_people = [names[k::folds] for k in range(folds)]
    people = [str(folds)]
    pairs = [f"{folds}\t2"]
    for group in fold_people:
        assert len(group) >= 3 and all(counts[n] >= 2 for n in group[:2])
        people += [str(len(group)), *(f"{n}\t{counts[n]}" for n in group)]
        pairs += [f"{group[0]}\t1\t2", f"{group[1]}\t1\t2",
                  f"{group[0]}\t1\t{group[2]}\t1", f"{group[1]}\t2\t{group[2]}\t1"]
    (folder / "people.txt").write_text("\n".join(people) + "\n")
    (folder / "pairs.txt").write_text("\n".join(pairs) + "\n")


@pytest.fixture(scope="session")
def synthetic_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An imported data home of 24 synthetic people (18 DevTrain, 6 DevTest), 250x250 RGB."""
    from siamface.data.importer import import_lfw

    src = tmp_path_factory.mktemp("synthetic_lfw")
    counts = {f"Person_{chr(65 + i)}{chr(97 + i)}": 2 + i % 3 for i in range(24)}
    test_people = set(sorted(counts)[18:])
    make_lfw_tree(src / "lfw-deepfunneled", counts)
    make_protocol_split(src, counts, test_people)
    home = tmp_path_factory.mktemp("synthetic_home")
    import_lfw([src], home, progress=False)
    return home


@pytest.fixture(scope="session")
def view2_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An imported data home of 40 synthetic people with View 2's files (ten folds of four
    people) and View 1's (DevTest: the last 8 people by name)."""
    from siamface.data.importer import import_lfw

    src = tmp_path_factory.mktemp("view2_lfw")
    counts = {f"Person_{chr(65 + i // 26)}{chr(97 + i % 26)}": 2 + i % 3 for i in range(40)}
    make_lfw_tree(src / "lfw-deepfunneled", counts)
    make_view2_files(src, counts)
    make_protocol_split(src, counts, set(sorted(counts)[32:]))  # its SHA256SUMS covers all
    home = tmp_path_factory.mktemp("view2_home")
    import_lfw([src], home, progress=False)
    return home


@pytest.fixture
def onednn_cap(monkeypatch: pytest.MonkeyPatch):
    """Set (or, with None, clear) the oneDNN instruction-set cap for the test's duration."""

    def cap(limit: str | None) -> None:
        monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
        if limit is None:
            monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        else:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)

    return cap
