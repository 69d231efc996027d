"""siamface's Python API: quick to import, and train -> evaluate -> verify end to end."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import siamface
from conftest import make_lfw_tree
from siamface.evaluation.identification import OneShotError
from siamface.inference.gallery import Gallery
from siamface.inference.verifier import Verifier

TRAIN = {f"Train_{chr(65 + i)}x": 2 + i % 3 for i in range(12)}
TEST = {f"Test_{chr(65 + i)}x": 2 + i % 2 for i in range(6)}
# NCHW training: torch 2.13's channels_last backward can hang at width 4 on CPU.
TINY = ["data.preprocessing=null", "data.size=32", "data.val_fraction=0.3",
        "data.identities_per_batch=4", "data.images_per_identity=2", "model.input_size=32",
        "model.width=4", "model.embedding_dim=8", "train.epochs=1", "train.eval_batch_size=16",
        "schedule.warmup_epochs=0.5", "train.channels_last=false"]


def protocol_lines(people: dict[str, int]) -> dict[str, list[str]]:
    """A View 1 pairs file (one matching pair per person, as many non-matching) and people."""
    names = sorted(people)
    matching = [f"{n}\t1\t2" for n in names]
    non_matching = [f"{a}\t1\t{names[(k + 1) % len(names)]}\t1" for k, a in enumerate(names)]
    return {"pairs": [str(len(names)), *matching, *non_matching],
            "people": [str(len(names)), *(f"{n}\t{people[n]}" for n in names)]}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    from siamface.data.importer import import_lfw

    src = tmp_path_factory.mktemp("api_lfw")
    make_lfw_tree(src / "lfw-deepfunneled", {**TRAIN, **TEST}, size=40)
    sums = []
    for side, people in (("Train", TRAIN), ("Test", TEST)):
        for kind, lines in protocol_lines(people).items():
            path = src / f"{kind}Dev{side}.txt"
            path.write_text("\n".join(lines) + "\n")
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    (src / "SHA256SUMS").write_text("".join(sums))  # vouch for these non-official files
    home = tmp_path_factory.mktemp("api_home")
    import_lfw([src], home, progress=False)
    return home


def test_import_siamface_does_not_import_torch():
    code = "import sys, siamface; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_api_names_are_the_inference_classes():
    assert siamface.Verifier is Verifier and siamface.Gallery is Gallery
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        siamface.nothing  # noqa: B018


def test_train_evaluate_and_verify(home, tmp_path):
    run_dir = siamface.train("default", TINY, data_dir=home, runs_dir=tmp_path, progress=False)
    assert run_dir.parent == tmp_path and (run_dir / "model.json").is_file()

    metrics = siamface.evaluate(run_dir, "pairsDevTest.txt", data_dir=home, plots=False,
                                progress=False)
    assert metrics["pairs"] == 2 * len(TEST)
    assert metrics == json.loads((run_dir / "eval" / "pairsDevTest" / "metrics.json").read_text())

    verifier = siamface.load_verifier(run_dir, detect=False)
    assert verifier.threshold == metrics["threshold"] and verifier.flip_tta
    photo = home / "lfw" / "images" / "Test_Ax" / "Test_Ax_0001.jpg"
    assert verifier.verify(photo, photo).same


@pytest.mark.parametrize(("call", "message"), [
    (lambda home, out: siamface.train("default", "train.epochs=1", data_dir=home, runs_dir=out),
     "overrides: expected a list of overrides"),  # not taken letter by letter
    (lambda home, out: siamface.run("default", TINY, data_dir=home, runs_dir=out,
                                    import_paths="/elsewhere/lfw"),
     "import_paths: expected a list of paths"),
])
def test_a_lone_string_where_a_list_belongs_is_refused(home, tmp_path, call, message):
    with pytest.raises(TypeError, match=message):
        call(home, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda home, out: siamface.train(None, data_dir=home, runs_dir=out), TypeError,
     "config_name: expected a config name or a YAML path, got None"),
    (lambda home, out: siamface.train("default", TINY, data_dir=home, runs_dir=out,
                                      progress="no"), TypeError,
     "progress: expected True or False, got 'no'"),
    (lambda home, out: siamface.evaluate(None, data_dir=home), TypeError,
     "run_dir: expected a path"),
    (lambda home, out: siamface.evaluate(out, [], data_dir=home), ValueError,
     "nothing to evaluate: give a pairs file"),
    (lambda home, out: siamface.evaluate(out, [], one_shot=[2], ten_fold=True, data_dir=home),
     ValueError, "one-shot draws its people from the pairs files"),
    (lambda home, out: siamface.evaluate(out, ten_fold="no", data_dir=home), TypeError,
     "ten_fold: expected True or False, got 'no'"),
    (lambda home, out: siamface.load_verifier(out, detect="no"), TypeError,
     "detect: expected True or False, got 'no'"),
    (lambda home, out: siamface.load_verifier(5), TypeError, "run_dir: expected a path"),
    (lambda home, out: siamface.Gallery(None), TypeError, "verifier: expected a Verifier"),
    (lambda home, out: siamface.Gallery.load(out, "run"), TypeError,
     "verifier: expected a Verifier"),
])
def test_arguments_of_the_wrong_kind_are_named(home, tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(home, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("settings", "message"), [
    ({"one_shot": [1]}, "one-shot N: expected whole numbers of at least 2"),
    ({"one_shot": 5}, "one-shot N: expected whole numbers of at least 2"),
    ({"one_shot": [2, 99]}, "one-shot N = 99: .* has 6 people"),
    ({"trials": 0}, "one-shot trials: expected a whole number of at least 1"),
    ({"one_shot": (), "trials": 500}, "trials=500 sets the trials of one_shot; give one_shot"),
])
def test_one_shot_settings_that_cannot_run_are_refused_before_training(home, tmp_path,
                                                                       settings, message):
    with pytest.raises(OneShotError, match=message):
        siamface.run("default", TINY, data_dir=home, runs_dir=tmp_path, progress=False,
                     **settings)
    assert not any(tmp_path.iterdir())  # nothing trained


def test_evaluate_makes_no_folder_of_a_path_that_is_no_run(home, tmp_path):
    from siamface.run_folder import RunNotFinishedError

    typo = tmp_path / "runs" / "defualt-20261207-101010"
    with pytest.raises(RunNotFinishedError, match=f"{typo}: no such folder; expected a run"):
        siamface.evaluate(typo, data_dir=home)
    assert not typo.exists()  # no lock file made a folder of it


def test_a_pretrained_models_folder_is_a_verifier_but_not_evaluated(home, tmp_path,
                                                                      monkeypatch):
    from siamface.inference.pretrained import PRETRAINED_FILE, PretrainedError, PretrainedVerifier

    folder = tmp_path / "dlib-resnet"
    folder.mkdir()
    (folder / PRETRAINED_FILE).write_text("{}")
    monkeypatch.setattr(PretrainedVerifier, "from_folder", classmethod(
        lambda cls, path, **kwargs: ("pretrained", path, kwargs)))
    assert siamface.load_verifier(folder, detect=False) == (
        "pretrained", folder, {"detect": False})
    with pytest.raises(PretrainedError, match=r"is a pretrained model's folder .*evaluation "
                                              r"needs a training run"):
        siamface.evaluate(folder, data_dir=home)
