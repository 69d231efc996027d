"""`siamface verify | identify | export`: verdicts, tables, files, exit codes, error messages."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch
from PIL import Image

from inference.conftest import (
    IDENTICAL_LOGIT,
    lfw_faces,  # noqa: F401 (a fixture)
    random_photo,
    write_tiny_run,
)
from siamface.cli.main import main
from siamface.evaluation.open_set import ImpostorTail
from siamface.run_folder import Run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_tiny_run(tmp_path_factory.mktemp("use_cli") / "run", threshold=4.5)


@pytest.fixture
def photos(tmp_path):
    """Three synthetic 250x250 frames: a.png, b.png and gallery/{Ann,Bo,Cy}.png (Bo = b)."""
    for name, seed in (("a.png", 1), ("b.png", 2), ("gallery/Ann.png", 1),
                       ("gallery/Bo.png", 2), ("gallery/Cy.png", 3)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(random_photo(seed)).save(tmp_path / name)
    return tmp_path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_prints_one_verdict_line(capsys, run_dir, photos):
    code, out, err = run(capsys, "verify", run_dir, photos / "a.png", photos / "a.png",
                         "--no-detect")
    assert code == 0 and err == ""
    assert out.count("\n") == 1
    assert out.startswith("same person: p = 0.993 >= 0.989 (logit 5.000 >= 4.500)")
    code, out, _ = run(capsys, "verify", run_dir, photos / "a.png", photos / "b.png",
                       "--no-detect")
    assert code == 0 and out.startswith("different people: p = ")


def test_verify_json(capsys, run_dir, photos):
    code, out, _ = run(capsys, "verify", run_dir, photos / "a.png", photos / "a.png",
                       "--no-detect", "--json")
    result = json.loads(out)
    assert code == 0 and result["same"] is True and result["threshold"] == 4.5
    assert result["logit"] == pytest.approx(IDENTICAL_LOGIT, abs=1e-5)
    assert result["box_a"] is None


def test_verify_without_a_face_names_the_file(capsys, run_dir, tmp_path):
    wall = tmp_path / "wall.jpg"
    Image.new("RGB", (300, 300), (200, 190, 180)).save(wall)
    code, out, err = run(capsys, "verify", run_dir, wall, wall)
    assert code == 2 and out == ""
    assert err.startswith(f"siamface: error: no face found in {wall}")
    assert err.count("\n") == 1


def test_verify_missing_photo_or_run(capsys, run_dir, photos, tmp_path):
    code, _, err = run(capsys, "verify", run_dir, photos / "a.png", tmp_path / "nope.jpg")
    assert code == 2 and err == f"siamface: error: {tmp_path / 'nope.jpg'}: no such image file\n"
    code, _, err = run(capsys, "verify", tmp_path, photos / "a.png", photos / "a.png")
    assert code == 2 and err == f"siamface: error: {tmp_path}: not a run folder (no config.yaml)\n"


def test_identify_prints_a_ranked_table(capsys, run_dir, photos):
    code, out, err = run(capsys, "identify", run_dir, photos / "b.png", "--gallery",
                       photos / "gallery", "--top-k", "2", "--no-detect")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "identified: Bo"
    rank, name, _, logit = zip(*(line.split() for line in lines[2:4]), strict=True)
    assert rank == ("1", "2") and name[0] == "Bo" and name[1] in {"Ann", "Cy"}  # not Bo again
    margin = re.fullmatch(r"margin over the second-best: (\d\.\d{3}) \(logit\)", lines[5])
    # the two printed logits' difference, within their rounding
    assert float(logit[0]) > float(logit[1])
    assert float(margin[1]) == pytest.approx(float(logit[0]) - float(logit[1]), abs=0.0015)
    assert len(lines) == 6 and lines[4].startswith("threshold: p >= 0.989")
    assert "one-to-one verification threshold" in lines[4]  # the tiny run has no calibration
    assert "siamface: note: this model has no gallery calibration" in err


def test_identify_at_the_threshold_for_the_gallerys_size(capsys, run_dir, photos):
    scores = torch.linspace(4.9, -5.0, 20_001)  # different-person scores, descending
    Run(run_dir).write_gallery_calibration(scores, 20_001, 30)
    try:
        code, out, err = run(capsys, "identify", run_dir, photos / "b.png", "--gallery",
                             photos / "gallery", "--no-detect", "--json", "--fpir", "0.05")
        result = json.loads(out)
        assert code == 0 and err == "" and result["name"] == "Bo"
        assert (result["threshold_kind"], result["gallery_size"], result["people"],
                result["target_fpir"]) == ("gallery", 3, 3, 0.05)  # Ann, Bo and Cy
        tail = ImpostorTail(scores.double().numpy(), 20_001)
        assert result["threshold"] == tail.threshold(3, 0.05).threshold
        code, _, err = run(capsys, "identify", run_dir, photos / "b.png", "--gallery",
                           photos / "gallery", "--no-detect", "--fpir", "0.5")
        assert code == 2 and err == ("siamface: error: --fpir: expected a rate above 0 and at "
                                     "most 0.1, got 0.5\n")
    finally:
        Run(run_dir).gallery_calibration_path.unlink()


def test_identify_with_a_saved_gallery(capsys, run_dir, photos, tmp_path):
    saved = tmp_path / "saved"
    code, first, _ = run(capsys, "identify", run_dir, photos / "a.png", "--gallery",
                         photos / "gallery", "--save-gallery", saved, "--no-detect", "--json")
    assert code == 0 and first.startswith(f"gallery saved: {saved}\n")
    code, second, _ = run(capsys, "identify", run_dir, photos / "a.png", "--gallery", saved,
                          "--no-detect", "--json")
    assert code == 0 and json.loads(second) == json.loads(first.splitlines()[1])
    assert json.loads(second)["name"] == "Ann"
    # The saved embeddings were made without detection: with it, they would not compare.
    code, _, err = run(capsys, "identify", run_dir, photos / "a.png", "--gallery", saved)
    assert code == 2 and "other settings (detect differs" in err


def test_a_gallery_to_save_among_photos_is_refused_before_any_is_embedded(
        capsys, run_dir, photos, monkeypatch):
    from siamface.inference.gallery import Gallery

    def fit(self, folder):
        raise AssertionError("the photos were embedded before the folder was checked")

    monkeypatch.setattr(Gallery, "fit", fit)
    code, _, err = run(capsys, "identify", run_dir, photos / "a.png", "--gallery",
                       photos / "gallery", "--save-gallery", photos / "gallery", "--no-detect")
    assert code == 2 and "holds files that are not a saved gallery's" in err


def test_export_torchscript_into_the_run(capsys, run_dir):
    code, out, _ = run(capsys, "export", run_dir)
    target = run_dir / "export" / "torchscript"
    assert code == 0
    assert out.strip() == f"exported (torchscript): model.pt and export.json in {target}"
    assert (target / "model.pt").is_file()
    assert json.loads((target / "export.json").read_text())["threshold"] == 4.5


def test_export_onnx_without_its_packages_says_what_to_install(capsys, run_dir, tmp_path,
                                                               monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    code, _, err = run(capsys, "export", run_dir, "--format", "onnx", "--out", tmp_path)
    assert code == 2 and "pip install onnx onnxscript" in err


def test_export_unknown_format_is_a_usage_error(capsys, run_dir):
    code, _, err = run(capsys, "export", run_dir, "--format", "tflite")
    assert code == 2 and "invalid choice: 'tflite'" in err


@pytest.fixture
def two_face_photo(tmp_path, lfw_faces):  # noqa: F811
    """group.png: two LFW faces, the larger on the left; solo.png: one of them alone."""
    from inference.conftest import random_photo as background

    canvas = Image.fromarray(background(8, size=(600, 1000)))
    canvas.paste(lfw_faces[0].resize((380, 380)), (40, 100))
    canvas.paste(lfw_faces[1], (650, 250))
    canvas.save(tmp_path / "group.png")
    lfw_faces[1].save(tmp_path / "solo.png")
    return tmp_path


@pytest.mark.real_data
def test_verify_reports_the_faces_and_picks_one_with_face(capsys, run_dir, two_face_photo):
    group, solo = two_face_photo / "group.png", two_face_photo / "solo.png"
    code, out, err = run(capsys, "verify", run_dir, group, solo)
    assert code == 0 and "siamface: note: " in err and "2 faces found, the largest used" in err
    lines = out.splitlines()
    assert lines[1].startswith(f"{group}: 2 faces found; used the largest, box ")
    assert lines[2].startswith(f"{solo}: 1 face found; used the largest, box ")
    code, out, err = run(capsys, "verify", run_dir, group, solo, "--face", "2", "1", "--json")
    result = json.loads(out)
    assert code == 0 and "note" not in err
    assert result["faces_a"] == 2 and len(result["boxes_a"]) == 2
    assert result["box_a"] == result["boxes_a"][1] and result["box_a"]["left"] > 600
    assert len(result["box_a"]["landmarks"]) == 5
    code, _, err = run(capsys, "verify", run_dir, group, solo, "--face", "3", "1")
    assert code == 2 and "the 3rd largest face asked for, but 2 faces were found" in err


@pytest.mark.real_data
def test_identify_all_faces(capsys, run_dir, two_face_photo, lfw_faces):  # noqa: F811
    gallery = two_face_photo / "people"
    gallery.mkdir()
    lfw_faces[0].save(gallery / "Left.png")
    lfw_faces[1].save(gallery / "Right.png")
    code, out, _ = run(capsys, "identify", run_dir, two_face_photo / "group.png", "--gallery",
                       gallery, "--all-faces", "--json")
    results = json.loads(out)
    assert code == 0 and len(results) == 2
    assert [r["faces_found"] for r in results] == [2, 2]
    assert results[0]["box"]["left"] < 600 < results[1]["box"]["left"]
    code, out, _ = run(capsys, "identify", run_dir, two_face_photo / "group.png", "--gallery",
                       gallery, "--all-faces")
    assert out.startswith("face 1 of 2: box ") and "face 2 of 2: box " in out


@pytest.mark.real_data
def test_a_pretrained_folder_is_labelled_outside_data(capsys, tmp_path, two_face_photo):
    from siamface.inference.pretrained import FORMAT

    folder = tmp_path / "dlib-resnet"
    folder.mkdir()
    (folder / "pretrained.json").write_text(json.dumps({
        "format": FORMAT, "name": "dlib-resnet", "label": "outside data", "scale": 10.0,
        "offset": 6.0, "threshold": 0.0}))
    solo = two_face_photo / "solo.png"
    code, out, _ = run(capsys, "verify", folder, solo, solo)
    assert code == 0 and out.splitlines()[0].startswith("same person: p = ")
    assert out.splitlines()[0].endswith("[outside data]")
    code, out, _ = run(capsys, "verify", folder, solo, solo, "--json")
    assert json.loads(out)["label"] == "outside data"
    for command in (["export", folder], ["report", folder], ["serve", folder],
                    ["evaluate", folder, "--pairs", "pairsDevTest.txt"]):
        code, _, err = run(capsys, *command)
        assert code == 2 and "is a pretrained model's folder (outside data)" in err
        assert f"`siamface {command[0]}` needs a training run" in err


def test_serve_without_its_extra_says_what_to_install(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # an import of it fails, as uninstalled
    code, out, err = run(capsys, "serve", tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("siamface: error: siamface serve needs the serve extra: pip install "
                          "'siamface[serve]' (") and err.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--top-k", "0"], "--top-k: expected at least 1 person to list, got 0"),
    (["--fpir", "0.5"], "--fpir: expected a rate above 0 and at most 0.1, got 0.5"),
    (["--fpir", "nan"], "--fpir: expected a rate above 0 and at most 0.1, got nan"),
    (["--fpir", "0"], "--fpir: expected a rate above 0"),
    (["--top-k", "-3"], "--top-k: expected at least 1 person to list, got -3"),
    (["--face", "0"], "--face: expected a face number of 1 or more, got 0"),
    (["--face", "2", "--no-detect"], "cannot go with --no-detect"),
    (["--all-faces", "--no-detect"], "cannot go with --no-detect"),
])
def test_bad_identify_options_fail_before_the_gallery_is_embedded(capsys, run_dir, photos,
                                                                   args, message):
    code, out, err = run(capsys, "identify", run_dir, photos / "b.png", "--gallery",
                         photos / "gallery", *args)
    assert code == 2 and out == ""
    assert err.startswith("siamface: error: ") and err.count("\n") == 1 and message in err


def corrupt_exif_jpeg(path, seed: int = 1) -> None:
    """A 250x250 JPEG whose EXIF block says it holds more entries than it does."""
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: as stored
    Image.fromarray(random_photo(seed)).save(path, "JPEG", exif=exif.tobytes())
    data = bytearray(path.read_bytes())
    ifd = data.index(b"Exif\x00\x00") + 6 + 8  # the TIFF header, then the entry count
    data[ifd:ifd + 2] = b"\x30\x00" if data[ifd - 8:ifd - 6] == b"II" else b"\x00\x30"
    path.write_bytes(bytes(data))


def test_a_photo_with_corrupt_exif_gets_one_note_naming_it(capsys, run_dir, photos):
    corrupt_exif_jpeg(photos / "c.jpg")
    code, out, err = run(capsys, "verify", run_dir, photos / "a.png", photos / "c.jpg",
                         "--no-detect")
    assert code == 0 and out.startswith(("same person", "different people"))
    (note,) = err.splitlines()  # Pillow warns at open and at exif_transpose: one note
    assert note.startswith(f"siamface: note: {photos / 'c.jpg'}: Corrupt EXIF data.")
    assert note.endswith("(Pillow)")


@pytest.mark.parametrize("command", [["export", "RUN"], ["pretrained", "dlib-resnet"]])
def test_an_empty_out_folder_is_refused_not_read_as_the_current_one(capsys, command):
    code, out, err = run(capsys, *command, "--out", "")
    assert code == 2 and out == ""
    assert err.rstrip().endswith("argument --out: expected a folder, got an empty name")
