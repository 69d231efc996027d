"""Dataset and pairs-file statistics on a tiny hand-checked set, the report, and the real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamface.data.protocol import PairsFile, PeopleFile, read_pairs, read_people
from siamface.data.stats import (
    DatasetStats,
    Overlap,
    PairsStats,
    PeopleStats,
    dataset_stats,
    lfw_stats,
    pairs_stats,
    people_overlap,
    people_stats,
)
from siamface.reporting.dataset_report import write_stats_report

COUNTS = {"Ann": 4, "Ben": 1, "Cid": 2, "Dee": 1, "Eva": 3, "Fay": 2}

# matching: Ann twice, Eva once; non-matching: Ann twice, Cid twice, Ben and Eva once
DEV_TRAIN = """3
Ann 1 2
Ann 2 4
Eva 1 3
Ann 3 Ben 1
Ann 4 Cid 2
Cid 1 Eva 2
"""
DEV_TEST = """1
Fay 1 2
Dee 1 Ben 1
"""
PEOPLE_TRAIN = "3\nAnn 4\nCid 2\nEva 3\n"
PEOPLE_TEST = "3\nBen 1\nDee 1\nFay 2\n"


class FakeLFW:
    """What `write_stats_report` uses of an LFWDataset: protocol files in a folder."""

    def __init__(self, folder: Path, image_counts: dict[str, int]) -> None:
        self.variant = "lfw-deepfunneled"
        self.images_dir = folder / "images"
        self.image_counts = image_counts
        self.checksums: dict[str, str] = {}
        self.folder = folder

    def protocol_path(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():  # like LFWDataset: DataNotFoundError is a FileNotFoundError
            raise FileNotFoundError(f"no protocol file {name!r}")
        return path

    def read_pairs(self, name: str) -> PairsFile:
        return read_pairs(self.protocol_path(name), self.image_counts)

    def read_people(self, name: str) -> PeopleFile:
        return read_people(self.protocol_path(name), self.image_counts)


def fake_lfw(folder: Path, files: dict[str, str]) -> FakeLFW:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return FakeLFW(folder, COUNTS)


def test_dataset_stats() -> None:
    assert dataset_stats(COUNTS, top=3) == DatasetStats(
        people=6,
        images=13,
        histogram=((1, 2), (2, 2), (3, 1), (4, 1)),
        more_than=((1, 4), (2, 2), (5, 0), (10, 0), (20, 0), (50, 0), (100, 0)),
        top=(("Ann", 4), ("Eva", 3), ("Cid", 2)),
    )
    # ties are broken by name
    assert dataset_stats({"B": 2, "A": 2, "C": 1}, top=2).top == (("A", 2), ("B", 2))


def test_pairs_stats(tmp_path: Path) -> None:
    path = tmp_path / "pairsDevTrain.txt"
    path.write_text(DEV_TRAIN)
    assert pairs_stats(read_pairs(path, COUNTS), top=3) == PairsStats(
        file="pairsDevTrain.txt",
        pairs=6,
        matching=3,
        non_matching=3,
        folds=1,
        matching_people=2,  # Ann, Eva
        non_matching_people=4,  # Ann, Ben, Cid, Eva
        shared_people=2,  # Ann, Eva
        images=10,  # Ann 1-4, Ben 1, Cid 1-2, Eva 1-3
        top_matching=(("Ann", 2), ("Eva", 1)),
        top_non_matching=(("Ann", 2), ("Cid", 2), ("Ben", 1)),
        matching_histogram=((1, 1), (2, 1)),
        non_matching_histogram=((1, 2), (2, 2)),
    )


def test_people_stats_and_overlap(tmp_path: Path) -> None:
    view2 = tmp_path / "people.txt"
    view2.write_text("2\n2\nAnn 4\nBen 1\n1\nEva 3\n")
    assert people_stats(read_people(view2, COUNTS)) == PeopleStats("people.txt", 2, 3, 8)
    overlap = people_overlap("a.txt", ["Ann", "Ben", "Cid"], "b.txt", {"Cid", "Ann", "Zed", "Yan"})
    assert overlap == Overlap("a.txt", "b.txt", 3, 4, 2, ("Ann", "Cid"))
    many = people_overlap(
        "a", [f"P{k:02d}" for k in range(30)], "b", [f"P{k:02d}" for k in range(5, 40)]
    )
    assert many.shared == 25 and many.examples == tuple(f"P{k:02d}" for k in range(5, 15))


def test_write_stats_report(tmp_path: Path) -> None:
    lfw = fake_lfw(
        tmp_path / "protocol",
        {
            "pairsDevTrain.txt": DEV_TRAIN,
            "pairsDevTest.txt": DEV_TEST,
            "peopleDevTrain.txt": PEOPLE_TRAIN,
            "peopleDevTest.txt": PEOPLE_TEST,
        },
    )
    out = tmp_path / "report"
    markdown = write_stats_report(lfw, out, top=3)

    assert (out / "stats.md").read_text() == markdown
    assert markdown.startswith("# LFW statistics (lfw-deepfunneled)\n")
    assert "| 6 | 13 | 2.17 |" in markdown
    assert "| 1 | 4 |\n| 2 | 2 |\n| 5 | 0 |" in markdown
    assert "| 1 | Ann | 4 |\n| 2 | Eva | 3 |\n| 3 | Cid | 2 |" in markdown
    assert "| pairsDevTrain.txt | 6 | 3 | 3 | 1 | 2 | 4 | 2 | 10 |" in markdown
    assert "| pairsDevTest.txt | 2 | 1 | 1 | 1 | 1 | 2 | 0 | 4 |" in markdown
    assert "| peopleDevTrain.txt | 1 | 3 | 9 |" in markdown
    # Ben is in pairsDevTrain and pairsDevTest: the report names him
    assert "| pairsDevTrain.txt | pairsDevTest.txt | 4 | 3 | 1 |" in markdown
    assert "| peopleDevTrain.txt | peopleDevTest.txt | 3 | 3 | 0 |" in markdown
    assert "pairsDevTrain.txt and pairsDevTest.txt share 1 people (Ben)" in markdown
    assert "Not imported, so skipped: pairs.txt, people.txt." in markdown

    saved = json.loads((out / "stats.json").read_text())
    assert saved == json.loads(json.dumps(lfw_stats(lfw, top=3).to_dict()))
    assert saved["dataset"]["more_than"][:2] == [[1, 4], [2, 2]]
    assert saved["missing"] == ["pairs.txt", "people.txt"]
    assert [p["file"] for p in saved["pairs"]] == ["pairsDevTrain.txt", "pairsDevTest.txt"]

    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "images_per_person.png",
        "pairs_people_pairsDevTest.png",
        "pairs_people_pairsDevTrain.png",
        "top_people.png",
    ]
    for png in pngs:
        assert f"]({png})" in markdown
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted([*pngs, "stats.json", "stats.md"])


def test_report_with_no_protocol_files(tmp_path: Path) -> None:
    stats = lfw_stats(fake_lfw(tmp_path / "protocol", {}))
    assert (stats.pairs, stats.people, stats.overlaps) == ((), (), ())
    assert len(stats.missing) == 6 and stats.dataset.images == 13


def test_a_bad_protocol_file_fails_the_report_and_writes_nothing(tmp_path: Path) -> None:
    lfw = fake_lfw(
        tmp_path / "protocol", {"pairsDevTrain.txt": DEV_TRAIN.replace("Eva 1 3", "Eva 1 4")}
    )
    with pytest.raises(ValueError, match=r"pairsDevTrain.txt:4: image 4 of `Eva`, who has 3"):
        write_stats_report(lfw, tmp_path / "report")
    assert not (tmp_path / "report").exists()


@pytest.mark.real_data
def test_real_lfw_stats(lfw_source: Path) -> None:
    rows = (line.split("\t") for line in (lfw_source / "lfw-names.txt").read_text().splitlines())
    lfw = FakeLFW(lfw_source, {name: int(n) for name, n in rows})
    stats = lfw_stats(lfw, top=3)
    assert (stats.dataset.people, stats.dataset.images) == (5749, 13233)
    assert stats.dataset.more_than[0] == (1, 1680)  # LFW's 1,680 people with two or more images
    assert stats.dataset.top[0] == ("George_W_Bush", 530)
    assert [(p.file, p.pairs, p.matching, p.folds) for p in stats.pairs] == [
        ("pairsDevTrain.txt", 2200, 1100, 1),
        ("pairsDevTest.txt", 1000, 500, 1),
        ("pairs.txt", 6000, 3000, 10),
    ]
    assert [(p.file, p.people) for p in stats.people] == [
        ("peopleDevTrain.txt", 4038),
        ("peopleDevTest.txt", 1711),
        ("people.txt", 5749),
    ]
    assert [o.shared for o in stats.overlaps] == [0, 0, 1689]
    assert stats.missing == ()
