"""The dataset plots write real PNGs of what they are given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from siamface.reporting.dataset_plots import (
    plot_images_per_person,
    plot_pair_people_frequency,
    plot_top_people,
)

BLUE = (31, 119, 180)  # matplotlib's tab:blue
ORANGE = (255, 127, 14)  # tab:orange


def pixels_of(path: Path, colour: tuple[int, int, int]) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)  # (H, W, 3)
    return int((np.abs(rgb - np.array(colour)).sum(axis=2) < 30).sum())


def test_images_per_person(tmp_path: Path) -> None:
    path = tmp_path / "out" / "images_per_person.png"
    returned = plot_images_per_person([(1, 4069), (2, 779), (3, 291), (530, 1)], path)
    assert returned == path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 200
    assert pixels_of(path, BLUE) > 100  # the stems are drawn


def test_top_people_grows_with_the_ranking(tmp_path: Path) -> None:
    few = plot_top_people([("George_W_Bush", 530), ("Colin_Powell", 236)], tmp_path / "few.png")
    many = plot_top_people([(f"Person_{k}", 50 - k) for k in range(20)], tmp_path / "many.png")
    with Image.open(few) as a, Image.open(many) as b:
        assert b.height > 2 * a.height and a.width == b.width
    assert pixels_of(few, BLUE) > 1000  # two bars


def test_pair_people_frequency_draws_both_kinds(tmp_path: Path) -> None:
    path = tmp_path / "pairs.png"
    path.write_bytes(b"old")  # replaced, and no temporary file is left behind
    plot_pair_people_frequency([(1, 500), (2, 120), (5, 3)], [(1, 900), (2, 40)], path, "x")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.png"]
    assert pixels_of(path, BLUE) > 50 and pixels_of(path, ORANGE) > 50
