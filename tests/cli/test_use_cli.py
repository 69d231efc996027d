"""`siamface verify | identify | export`: verdicts, tables, files, exit codes, error messages."""

from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

from inference.conftest import IDENTICAL_LOGIT, random_photo, write_tiny_run
from siamface.cli.main import main


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
    assert code == 2 and "is not a finished run" in err


def test_identify_prints_a_ranked_table(capsys, run_dir, photos):
    code, out, _ = run(capsys, "identify", run_dir, photos / "b.png", "--gallery",
                       photos / "gallery", "--top-k", "2", "--no-detect")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "identified: Bo"
    assert [line.split()[1] for line in lines[2:4]] == ["Bo", lines[3].split()[1]]
    assert len(lines) == 5 and lines[4].startswith("threshold: p >= 0.989")


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
    assert code == 2 and "other settings (detect differ" in err


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
