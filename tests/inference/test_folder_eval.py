"""evaluate --folder: every matching pair, seeded others, metrics and figures, no-face photos."""

from __future__ import annotations

import csv
import json
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from siamface.inference.folder_eval import folder_pairs, people_photos
from siamface.inference.gallery import GalleryError
from siamface.utils.files import UnprintableNameError

from .conftest import lfw_faces, write_tiny_run  # noqa: F401


def test_pairs_are_every_matching_pair_and_as_many_others():
    rows, labels = folder_pairs(["A", "A", "A", "B", "B", "C"], seed=0)
    same = rows[labels == 1].tolist()
    assert same == [[0, 1], [0, 2], [1, 2], [3, 4]]
    different = rows[labels == 0]
    assert len(different) == 4 and all(
        ["A", "A", "A", "B", "B", "C"][i] != ["A", "A", "A", "B", "B", "C"][j]
        for i, j in different)
    again, _ = folder_pairs(["A", "A", "A", "B", "B", "C"], seed=0)
    assert np.array_equal(rows, again)  # seeded


def test_what_is_no_folder_is_named_for_what_it_is(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"^{tmp_path / 'gone'}: no such folder$"):
        people_photos(tmp_path / "gone")
    (tmp_path / "photo.jpg").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=f"^{tmp_path / 'photo.jpg'}: a file; expected "
                                                 "a folder of people's folders of photos$"):
        people_photos(tmp_path / "photo.jpg")


def test_a_folder_needs_two_people(tmp_path):
    (tmp_path / "Ann").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "Ann" / "1.png")
    with pytest.raises(GalleryError, match="at least two people"):
        people_photos(tmp_path)


@pytest.mark.parametrize(("person", "photo"), [
    ("Bo\udcff", "1.png"),  # a byte that is not UTF-8, as os.listdir gives it
    ("Bo", "2\udcfe.png"),
    ("Bo", "3\x1b[31m.png"),  # a terminal's escape sequence
])
def test_names_that_do_not_print_as_themselves_are_refused_before_any_scoring(
        tmp_path, person, photo):
    for name, file in (("Ann", "1.png"), (person, photo)):
        (tmp_path / name).mkdir(exist_ok=True)
        Image.new("RGB", (10, 10)).save(tmp_path / name / file)
    with pytest.raises(UnprintableNameError, match=r"has control characters or bytes that are "
                                                   r"not UTF-8; rename it"):
        people_photos(tmp_path)


@pytest.mark.real_data
def test_folder_evaluation_writes_an_lfw_like_report(tmp_path, lfw_faces,  # noqa: F811
                                                     monkeypatch):
    from siamface import pipeline
    from siamface.pipeline import evaluate
    from siamface.run_folder import Run

    # The tiny run has no training history for report.md; that report is tested elsewhere.
    monkeypatch.setattr(pipeline, "write_run_report", lambda run: None)

    people = tmp_path / "people"
    for k, name in enumerate(["Ann", "Bo", "Cy, Jr"]):  # a comma: scores.csv quotes it
        (people / name).mkdir(parents=True)
        lfw_faces[2 * k].save(people / name / "1.jpg")
        lfw_faces[2 * k].transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(people / name / "2.jpg")
    Image.new("RGB", (300, 300), (200, 190, 180)).save(people / "Cy, Jr" / "wall.jpg")
    run = Run(write_tiny_run(tmp_path / "run"))
    out = evaluate(run, None, folder=people, n_bootstrap=20)
    m = out.folder
    assert m["photos"] == 7 and m["people"] == 3 and m["matching"] == 3 and m["pairs"] == 6
    assert m["no_face"] == [str(people / "Cy, Jr" / "wall.jpg")]
    assert m["threshold"] == run.threshold and "accuracy_ci95" in m
    folder = next(p for p in run.eval_dirs() if p.name.startswith("people-"))
    assert json.loads((folder / "metrics.json").read_text())["pairs"] == 6
    assert (folder / "roc.png").is_file() and (folder / "confusion.png").is_file()
    with (folder / "scores.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and sum(int(r["same"]) for r in rows) == 3
    assert {r["left"] for r in rows} <= set(map(str, people.glob("*/*.jpg")))
    for r in rows:  # the columns of an LFW pairs file's scores.csv, computed per row
        assert int(r["predicted_same"]) == (float(r["logit"]) >= run.threshold)
        assert int(r["correct"]) == (r["predicted_same"] == r["same"])
        assert float(r["probability"]) == pytest.approx(1 / (1 + math.exp(-float(r["logit"]))),
                                                        abs=1e-6)


@pytest.mark.real_data
def test_another_folder_of_the_same_name_and_files_keeps_its_own_results(
        tmp_path, lfw_faces):  # noqa: F811
    from siamface.pipeline import evaluate_folder
    from siamface.run_folder import Run

    run = Run(write_tiny_run(tmp_path / "run"))
    outs = []
    for where, first in (("here", 0), ("there", 4)):  # the same names, other photos
        people = tmp_path / where / "people"
        for k, name in enumerate(["Ann", "Bo"]):
            (people / name).mkdir(parents=True)
            for number in (1, 2):
                lfw_faces[first + k].rotate(3 * number).save(people / name / f"{number}.jpg")
        outs.append(evaluate_folder(run, people, n_bootstrap=0, plots=False)[1])
    assert outs[0] != outs[1] and all(p.name.startswith("people-") for p in outs)
    assert [json.loads((p / "metrics.json").read_text())["folder"] for p in outs] == [
        str(tmp_path / "here" / "people"), str(tmp_path / "there" / "people")]


@pytest.mark.real_data
@pytest.mark.parametrize(("grey_p", "noticed"), [("0.2", False), ("0", True)])
def test_folder_evaluation_uses_the_run_as_verify_does(tmp_path, lfw_faces,  # noqa: F811
                                                       monkeypatch, grey_p, noticed):
    """Grey photos get the grey-photo note only from a model that never saw grey ones in
    training, as from `siamface verify`."""
    from siamface import pipeline
    from siamface.inference.verifier import GreyPhotoWarning
    from siamface.run_folder import Run

    monkeypatch.setattr(pipeline, "write_run_report", lambda run: None)
    people = tmp_path / "people"
    for k, name in enumerate(["Ann", "Bo"]):
        (people / name).mkdir(parents=True)
        for n in (1, 2):
            lfw_faces[2 * k + n - 1].convert("L").save(people / name / f"{n}.jpg")
    run = Run(write_tiny_run(tmp_path / "run", overrides=[f"augment.grey_p={grey_p}"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.evaluate(run, None, folder=people, n_bootstrap=0, plots=False)
    assert any(issubclass(w.category, GreyPhotoWarning) for w in caught) == noticed


def test_a_bad_pairs_file_beside_a_folder_is_refused_before_the_folder_is_scored(
        tmp_path, synthetic_home, monkeypatch):
    from siamface import pipeline
    from siamface.data.lfw import open_lfw
    from siamface.errors import SiamfaceError
    from siamface.run_folder import Run

    def score_folder(*args):
        raise AssertionError("the folder was scored before the pairs files were checked")

    monkeypatch.setattr(pipeline, "evaluate_folder", score_folder)
    run = Run(write_tiny_run(tmp_path / "run"))
    with pytest.raises(SiamfaceError, match=r"nosuch\.txt"):
        pipeline.evaluate(run, open_lfw(synthetic_home), pairs=["nosuch.txt"],
                          folder=tmp_path / "people", n_bootstrap=0, plots=False)
    assert run.eval_dirs() == []
