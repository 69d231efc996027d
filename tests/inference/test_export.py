"""Export: the exported embedding and head compute what the PyTorch verifier computes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import require
from siamface.cli.main import build_parser
from siamface.inference import export
from siamface.inference.align import FACE_SIDE, LFW_LANDMARKS
from siamface.inference.detectors import HOG_FACE_PX
from siamface.inference.export import EXPORTERS, ExportFolderError, export_model, export_run

from .conftest import random_photo, write_tiny_run


@pytest.fixture
def faces(tiny_verifier):
    return [tiny_verifier.align(random_photo(k)) for k in range(5)]


def test_the_command_line_offers_every_format_and_only_those(capsys):
    # (the command line spells them out so that `siamface --help` need not import torch)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "RUN", "--format", "x"])
    offered = re.search(r"choose from (.*)\)", capsys.readouterr().err).group(1)
    names = [name.strip("'\" ") for name in offered.split(",")]  # quoted or not, by version
    assert sorted(names) == EXPORTERS.names() == ["onnx", "torchscript"]


def test_torchscript_round_trip(tiny_verifier, faces, tmp_path):
    sidecar_path = export_model(tiny_verifier, tmp_path / "ts", "torchscript")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["files"] == {"embed": "model.pt", "score": "model.pt"}
    assert sidecar["threshold"] == tiny_verifier.threshold and sidecar["flip_tta"] is True
    assert sidecar["preprocessing"] == {"crop": [50, 50, 200, 200], "size": 32, "channels": 3}
    assert sidecar["input"]["size"] == 32 and sidecar["embedding_dim"] == 8
    frame = sidecar["face_frame"]  # as verify aligns: by dlib's landmarks, else by a box
    assert frame["landmarks"]["frame_points"] == [list(p) for p in LFW_LANDMARKS]
    assert frame["box"]["face_side"] == FACE_SIDE and frame["frame_size"] == 250
    assert frame["landmarks"]["detector_settings"]["face_px"] == HOG_FACE_PX  # as verify finds

    module = torch.jit.load(str(tmp_path / "ts" / "model.pt"))
    x = torch.from_numpy(np.stack([f.pixels for f in faces])).float() / 255  # (5, 3, 32, 32)
    expected = tiny_verifier.embed(faces)  # traced with a batch of 2, run on 5
    with torch.no_grad():
        got = module(x)
        logits, distances = module.score(got[:2], got[3:])
    assert torch.allclose(got, expected, atol=1e-5)
    want = tiny_verifier.model.score(expected[:2], expected[3:])
    assert torch.allclose(logits, want.logits, atol=1e-5)
    assert torch.allclose(distances, want.distances, atol=1e-5)


def test_onnx_round_trip(tiny_verifier, faces, tmp_path):
    require("onnx")
    require("onnxscript")
    from onnx.reference import ReferenceEvaluator

    export_model(tiny_verifier, tmp_path / "onnx", "onnx")
    x = np.stack([f.pixels for f in faces]).astype(np.float32) / 255  # (5, 3, 32, 32)
    (got,) = ReferenceEvaluator(str(tmp_path / "onnx" / "embed.onnx")).run(None, {"images": x})
    expected = tiny_verifier.embed(faces)
    assert np.allclose(got, expected.numpy(), atol=1e-5)
    logits, distances = ReferenceEvaluator(str(tmp_path / "onnx" / "score.onnx")).run(
        None, {"embeddings_a": got[:2], "embeddings_b": got[3:]}
    )
    want = tiny_verifier.model.score(expected[:2], expected[3:])
    assert np.allclose(logits, want.logits.detach().numpy(), atol=1e-5)
    assert np.allclose(distances, want.distances.detach().numpy(), atol=1e-5)


def test_export_run_describes_its_source(tmp_path):
    run_dir = write_tiny_run(tmp_path / "run", threshold=0.75)
    sidecar = json.loads(export_run(run_dir, tmp_path / "out", "torchscript",
                                    flip_tta=False).read_text())
    assert sidecar["run"] == str(run_dir) and sidecar["model_name"] == "resface"
    assert sidecar["threshold"] == 0.75 and sidecar["flip_tta"] is False


def test_unknown_format(tiny_verifier, tmp_path):
    with pytest.raises(KeyError, match="unknown export format 'tflite'"):
        export_model(tiny_verifier, tmp_path, "tflite")


def test_a_disk_full_during_the_torchscript_write_keeps_the_export_before_it(
        tiny_verifier, tmp_path, monkeypatch):
    out = tmp_path / "ts"
    export_model(tiny_verifier, out, "torchscript")
    before = (out / "model.pt").read_bytes()

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match=r"no space left on device writing .*ts/model\.pt$"):
        export_model(tiny_verifier, out, "torchscript")
    monkeypatch.undo()
    assert (out / "model.pt").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [".export.lock", "export.json", "model.pt"]



def test_an_export_stopped_before_its_side_car_leaves_no_side_car_of_the_export_before(
        tiny_verifier, tmp_path, monkeypatch):
    out = tmp_path / "ts"
    export_model(tiny_verifier, out, "torchscript", description={"run": "old"})
    before = (out / "model.pt").read_bytes()

    def stop(path, obj):
        raise KeyboardInterrupt  # Ctrl-C between the model file and export.json

    torch.manual_seed(1)
    for p in tiny_verifier.model.parameters():  # another model, so another model.pt
        p.data.add_(torch.randn_like(p))
    monkeypatch.setattr(export, "write_json_atomic", stop)
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_verifier, out, "torchscript", description={"run": "new"})
    monkeypatch.undo()
    # not the new model.pt beside the old run's threshold and fingerprint: no export.json at all
    assert sorted(p.name for p in out.iterdir()) == [".export.lock", "model.pt"]
    assert (out / "model.pt").read_bytes() != before
    export_model(tiny_verifier, out, "torchscript", description={"run": "new"})  # goes over it
    assert json.loads((out / "export.json").read_text())["run"] == "new"


def test_the_staging_folder_a_killed_export_left_is_removed_by_the_next(tiny_verifier, tmp_path):
    out = tmp_path / "ts"
    export_model(tiny_verifier, out, "torchscript")
    killed = out / ".export.k1ll3dab.tmp"  # as a SIGKILL mid-export leaves it
    killed.mkdir()
    (killed / "model.pt").write_bytes(b"half a model")
    export_model(tiny_verifier, out, "torchscript")
    assert sorted(p.name for p in out.iterdir()) == [".export.lock", "export.json", "model.pt"]


def test_two_exports_into_one_folder_take_turns(tiny_verifier, tmp_path, monkeypatch):
    import threading

    out, done = tmp_path / "ts", {}
    a_staged, b_building = threading.Event(), threading.Event()
    build = EXPORTERS.build

    def staged_then_wait(*args, **kwargs):  # A stages its files, then lets B in (unlocked)
        if threading.current_thread().name == "B":
            b_building.set()
        written = build(*args, **kwargs)
        if threading.current_thread().name == "A":
            a_staged.set()
            b_building.wait(1.0)
        return written

    def export(name):
        done[name] = export_model(tiny_verifier, out, "torchscript")

    monkeypatch.setattr(EXPORTERS, "build", staged_then_wait)
    a = threading.Thread(target=export, args=("A",), name="A")
    a.start()
    a_staged.wait(10.0)
    b = threading.Thread(target=export, args=("B",), name="B")  # it swept A's staging folder
    b.start()
    a.join()
    b.join()
    assert done == {"A": out / "export.json", "B": out / "export.json"}
    assert sorted(p.name for p in out.iterdir()) == [".export.lock", "export.json", "model.pt"]


def test_an_export_goes_only_into_an_empty_folder_or_over_one_of_its_format(tiny_verifier,
                                                                            tmp_path):
    out = tmp_path / "out"
    export_model(tiny_verifier, out, "torchscript")
    export_model(tiny_verifier, out, "torchscript")  # over itself: the same files, rewritten
    with pytest.raises(ExportFolderError, match=r"out holds a torchscript export: export onnx "
                                                r"into an empty folder, or over a onnx export"):
        export_model(tiny_verifier, out, "onnx")  # model.pt would stay beside an onnx export.json
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_bytes(b"the user's own")
    with pytest.raises(ExportFolderError, match=r"mine holds other files \(notes\.txt\)"):
        export_model(tiny_verifier, mine, "torchscript")
    assert (mine / "notes.txt").read_bytes() == b"the user's own"
    (mine / "notes.txt").unlink()
    (mine / "model.pt").write_bytes(b"the user's own TorchScript model")  # an export's name
    with pytest.raises(ExportFolderError, match=r"mine holds other files \(model\.pt\)"):
        export_model(tiny_verifier, mine, "torchscript")
    assert (mine / "model.pt").read_bytes() == b"the user's own TorchScript model"
    broken = tmp_path / "broken"  # an export killed mid-write: its files and lock, no export.json
    broken.mkdir()
    (broken / ".export.lock").touch()
    (broken / "embed.onnx").write_bytes(b"half")
    (broken / ".model.pt.x1y2z3w4.tmp").write_bytes(b"half")
    export_model(tiny_verifier, broken, "torchscript")  # the next export goes over it
    assert json.loads((broken / "export.json").read_text())["format"] == "torchscript"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ExportFolderError, match="a-file is a file"):
        export_model(tiny_verifier, tmp_path / "a-file", "torchscript")
