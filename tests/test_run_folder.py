"""The run folder: its files, the typed config, the chosen model, summary.csv."""

import contextlib
import json
import math
import os
import re
import shutil
import threading
import time
import warnings
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.conftest import write_tiny_run
from siamface.errors import SiamfaceError
from siamface.models.io import save_weights
from siamface.run_folder import (
    ResultsDroppedWarning,
    Run,
    RunFolderError,
    RunNotFinishedError,
    read_summary_csv,
)
from siamface.utils.atomic import umask_mode
from siamface.utils.hashing import sha256_file
from siamface.utils.lock import file_lock

CSV = """epoch,train_loss,val_loss,train_acc,val_acc,val_auc,lr,seconds
1,0.69,0.68,0.55,0.56,0.60,0.001,12.5
2,0.52,0.58,0.72,0.70,0.77,0.0005,11.9
3,0.41,,0.81,,,0.00025,12.1
"""


def test_read_summary_csv(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text(CSV)
    rows = read_summary_csv(path)
    assert len(rows) == 3
    assert rows[0] == {
        "epoch": 1,
        "train_loss": 0.69,
        "val_loss": 0.68,
        "train_acc": 0.55,
        "val_acc": 0.56,
        "val_auc": 0.60,
        "lr": 0.001,
        "seconds": 12.5,
    }
    assert isinstance(rows[2]["epoch"], int)
    assert math.isnan(rows[2]["val_loss"])  # empty cell: no validation that epoch


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch,train_loss\n1,0.5\n2,abc\n", r"summary.csv:3: column 'train_loss'.*'abc'"),
        ("epoch,train_loss\n1.5,0.5\n", r"summary.csv:2: column 'epoch'"),
        ("epoch,train_loss\n1,0.5,9\n", r"summary.csv:2: expected 2 cells"),
        ("train_loss\n0.5\n", "'epoch' column"),
        ("epoch,train_loss\n1,0.5\n3,0.4\n", r"summary.csv:3: epoch 3, expected 2: a row for "
                                              "each epoch, in order"),
        ("epoch,train_loss\n2,0.5\n1,0.4\n", r"summary.csv:2: epoch 2, expected 1"),
    ],
)
def test_read_summary_csv_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "summary.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_summary_csv(path)


# -- the chosen model, checked on load -----------------------------------------------------


@pytest.fixture
def finished(tmp_path):
    """A finished run of an untrained tiny model (see tests/inference/conftest.py)."""
    return Run(write_tiny_run(tmp_path / "run"))


def rewrite_meta(run, **changes):
    meta = json.loads(run.model_meta_path.read_text())
    run.model_meta_path.write_text(json.dumps({**meta, **changes}))
    return Run(run.path)


def test_a_finished_run_loads_its_model_once_with_its_threshold(finished):
    assert finished.model is finished.model  # loaded once
    assert finished.threshold == 4.5 and finished.best_epoch == 1
    assert len(json.loads(finished.model_meta_path.read_text())["weights_sha256"]) == 64


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "4.5", None, True])
def test_a_threshold_that_is_not_a_finite_number_is_refused(finished, threshold):
    run = rewrite_meta(finished, threshold=threshold)
    with pytest.raises(RunFolderError, match=r"model.json: 'threshold' must be a finite number"):
        _ = run.threshold


@pytest.mark.parametrize("epoch", [True, 0, 1.0, "1"])
def test_a_best_epoch_that_is_not_an_epoch_number_is_refused(finished, epoch):
    with pytest.raises(RunFolderError, match=r"model.json: 'best_epoch' must be an epoch number "
                                             rf">= 1, got {re.escape(repr(epoch))}$"):
        _ = rewrite_meta(finished, best_epoch=epoch).best_epoch


@pytest.mark.parametrize(("validation", "message"), [
    ({"epoch": 1, "val_auc": float("nan")},
     "'validation.val_auc' must be a finite number, got nan"),
    ({"val_loss": float("inf")}, "'validation.val_loss' must be a finite number, got inf"),
    ({"val_acc": "0.9"}, "'validation.val_acc' must be a finite number, got '0.9'"),
    ([0.9], "'validation' must be an object, got [0.9]"),
])
def test_validation_metrics_that_are_not_finite_numbers_are_refused(finished, validation, message):
    # repeat and view2 average them: a NaN there printed "nan ± nan" and wrote NaN into JSON
    with pytest.raises(RunFolderError, match=f"model.json: {re.escape(message)}$"):
        _ = rewrite_meta(finished, validation=validation).model_meta


def test_runs_created_in_one_second_each_get_their_own_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda _: "20261207-101010")
    real_exists = Path.exists  # as when another process made the folder after our look
    monkeypatch.setattr(Path, "exists", lambda self: False if "r-2026" in self.name
                        else real_exists(self))
    names = [Run.create(tmp_path / "runs", "r").path.name for _ in range(3)]
    assert names == ["r-20261207-101010", "r-20261207-101010-2", "r-20261207-101010-3"]


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "expected a JSON object, got list"),
    ("{not json", "not valid JSON"),
    ('{"config": {}, "best_epoch": 1}', "missing 'threshold'"),
])
def test_a_malformed_model_json_is_named(finished, text, message):
    finished.model_meta_path.write_text(text)
    with pytest.raises(RunFolderError, match=message) as info:
        _ = Run(finished.path).model
    assert str(finished.model_meta_path) in str(info.value)


@pytest.mark.parametrize("sha", [None, 64])
def test_weights_without_a_checksum_to_check_them_by_are_refused(finished, sha):
    with pytest.raises(RunFolderError, match=r"model.json: no 'weights_sha256' to check "
                                             r"model.safetensors against: the file was edited"):
        _ = rewrite_meta(finished, weights_sha256=sha).model


@pytest.mark.parametrize(("key", "value"), [("size", 40), ("channels", 1),
                                            ("crop", [0, 0, 250, 250])])
def test_a_preprocessing_that_is_not_the_configs_is_refused(finished, key, value):
    meta = json.loads(finished.model_meta_path.read_text())
    run = rewrite_meta(finished, preprocessing={**meta["preprocessing"], key: value})
    with pytest.raises(RunFolderError, match=r"model.json: 'preprocessing' is not the one its "
                                             r"'config' makes"):
        _ = run.preprocessing
    assert rewrite_meta(run, preprocessing=meta["preprocessing"]).preprocessing.size == 32


def test_a_bad_threshold_is_not_called_a_preprocessing_error(finished):
    run = rewrite_meta(finished, threshold=float("nan"))
    with pytest.raises(RunFolderError, match=r"^\S*model.json: 'threshold' must be a finite"):
        _ = run.preprocessing


def test_damaged_weights_are_refused_by_their_checksum(finished):
    data = bytearray(finished.weights_path.read_bytes())
    data[-4096:] = b"\x7f" * 4096  # tensor bytes overwritten, header intact
    finished.weights_path.write_bytes(bytes(data))
    with pytest.raises(RunFolderError, match="sha256 does not match"):
        _ = Run(finished.path).model


@pytest.mark.parametrize("damage", [b"", b"\x00" * 100, b"random bytes, not a file"])
def test_unreadable_weights_are_named(finished, damage):
    finished.weights_path.write_bytes(damage)
    run = rewrite_meta(finished, weights_sha256=sha256_file(finished.weights_path))  # vouched for
    with pytest.raises(RunFolderError, match=r"model\.safetensors is not a readable safetensors"):
        _ = run.model


def test_weights_that_hold_nan_or_do_not_fit_the_config_are_refused(finished):
    model = finished.model
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    save_weights(model, finished.weights_path)
    with pytest.raises(RunFolderError, match=r"tensor '.*' holds NaN or infinite values"):
        _ = rewrite_meta(finished, weights_sha256=sha256_file(finished.weights_path)).model
    config = json.loads(finished.model_meta_path.read_text())["config"]
    config["model"]["width"] = 8
    with pytest.raises(RunFolderError, match=r"does not fit the model that model\.json describes"):
        _ = rewrite_meta(finished, config=config).model


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_weights_of_a_dtype_that_is_not_floating_point_are_refused_not_cast(finished, dtype):
    weights = safetensors.torch.load_file(str(finished.weights_path))
    safetensors.torch.save_file({k: v.to(dtype) for k, v in weights.items()},
                                str(finished.weights_path))
    run = rewrite_meta(finished, weights_sha256=sha256_file(finished.weights_path))
    with pytest.raises(RunFolderError, match=rf"^{re.escape(str(finished.weights_path))}: tensor "
                                             rf"'.*' is {re.escape(str(dtype))}, expected a "
                                             r"floating-point dtype \(torch\.float32\)"):
        _ = run.model


def test_a_config_asking_for_a_model_too_large_to_allocate_is_refused_not_tried(finished):
    config = json.loads(finished.model_meta_path.read_text())["config"]
    config["model"]["embedding_dim"] = 10**13  # the sha256 covers the weights, not this
    with pytest.raises(RunFolderError, match=r"model\.json: 'config': model: resface with these "
                                             r"values has [\d,]+ parameters; the most siamface "
                                             r"builds is 250,000,000"):
        _ = rewrite_meta(finished, config=config).model


# -- evaluation folders --------------------------------------------------------------------


def test_eval_folders_of_imported_and_outside_files_never_collide(tmp_path):
    run = Run(tmp_path)
    assert run.eval_dir("pairsDevTest.txt") == tmp_path / "eval" / "pairsDevTest"
    outside = run.eval_dir("pairsDevTest.txt", "ab" * 32)
    assert outside == tmp_path / "eval" / "pairsDevTest-abababababab"
    assert run.ten_fold_dir not in (run.eval_dir("pairs.txt"), outside)


def test_a_new_eval_folder_replaces_the_old_one_whole_and_only_once_complete(tmp_path):
    run = Run(tmp_path)
    folder = run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / "roc.png").write_bytes(b"old")
    dropped = r"eval/pairsDevTest: replaced by this evaluation, which did not make roc\.png again"
    with pytest.warns(ResultsDroppedWarning, match=dropped), run.new_eval_dir(folder) as new:
        assert list(new.iterdir()) == [] and (folder / "roc.png").read_bytes() == b"old"
        assert run.eval_dirs() == [folder]  # the folder being written is not listed
        (new / "metrics.json").write_text("{}")
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]
    assert [p.name for p in run.eval_root.iterdir()] == ["pairsDevTest"]
    assert not list(tmp_path.glob(".eval-*"))  # no staging folder is left
    assert folder.stat().st_mode & 0o777 == umask_mode(0o777)  # not mkdtemp's 0700
    with pytest.raises(ValueError, match="not an evaluation folder"), \
            run.new_eval_dir(tmp_path / "elsewhere"):
        pass


def test_an_evaluation_that_makes_all_the_earlier_results_again_warns_of_nothing(tmp_path):
    run = Run(tmp_path)
    folder = run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with run.new_eval_dir(folder) as new:
            (new / "metrics.json").write_text('{"new": 1}')
            (new / "roc.png").write_bytes(b"more than before")
    assert (folder / "metrics.json").read_text() == '{"new": 1}'


def test_a_failed_evaluation_leaves_the_earlier_one_as_it_was(tmp_path):
    run = Run(tmp_path)
    folder = run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / "one_shot.json").write_text("{}")
    with pytest.raises(RuntimeError, match="scoring failed"), run.new_eval_dir(folder) as new:
        (new / "metrics.json").write_text("{}")
        raise RuntimeError("scoring failed")
    assert [p.name for p in folder.iterdir()] == ["one_shot.json"]
    assert [p.name for p in run.eval_root.iterdir()] == ["pairsDevTest"]
    assert not list(tmp_path.glob(".eval-*"))


def test_an_evaluation_waits_for_another_to_finish_replacing_its_folder(tmp_path):
    run = Run(tmp_path)
    folder = run.eval_dir("pairsDevTest.txt")
    done = threading.Event()

    def evaluate() -> None:
        with run.new_eval_dir(folder) as new:
            (new / "metrics.json").write_text("{}")
        done.set()

    # another process is between its two renames: ours must not interleave with them
    with file_lock(run.eval_lock_path, "test"):
        thread = threading.Thread(target=evaluate)
        thread.start()
        assert not done.wait(0.5) and not folder.exists()
    thread.join(10)
    assert done.is_set() and [p.name for p in folder.iterdir()] == ["metrics.json"]


def test_an_interrupt_between_the_renames_puts_the_old_evaluation_back(tmp_path, monkeypatch):
    run = Run(tmp_path)
    folder = run.eval_dir("pairsDevTest.txt")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("old")
    rename = Path.rename

    def interrupted(self, target):
        if Path(target) == folder and self.name.startswith(".eval-") and \
                not self.name.endswith(".old"):
            raise KeyboardInterrupt  # Ctrl-C after the old folder moved aside
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt), run.new_eval_dir(folder) as new:
        (new / "metrics.json").write_text("new")
    assert (folder / "metrics.json").read_text() == "old"  # eval/ was left empty before


def test_what_killed_evaluations_left_is_recovered(tmp_path):
    run = Run(tmp_path)
    (tmp_path / ".eval-pairs.v1.ab12cd34.old").mkdir()  # killed between the renames
    (tmp_path / ".eval-pairs.v1.ab12cd34.old" / "metrics.json").write_text("old")
    (tmp_path / ".eval-pairs.v1.ab12cd34").mkdir()  # its staging folder
    (tmp_path / ".eval-ten-fold.zz99yy88").mkdir()  # killed while it scored
    run.eval_root.mkdir()
    (run.eval_root / "open-set").mkdir()  # whole; a stale copy of it goes
    (tmp_path / ".eval-open-set.qq11ww22.old").mkdir()
    run.recover_evaluations()
    assert [p.name for p in run.eval_dirs()] == ["open-set", "pairs.v1"]
    assert (run.eval_root / "pairs.v1" / "metrics.json").read_text() == "old"
    assert not list(tmp_path.glob(".eval-*"))


def test_an_evaluation_of_a_hidden_photo_folder_is_listed(tmp_path):
    run = Run(tmp_path)
    folder = run.eval_dir(".people", "ab" * 32)
    with run.new_eval_dir(folder) as new:
        (new / "metrics.json").write_text("{}")
    assert run.eval_dirs() == [folder]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=10)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([None, "config", "threshold", "best_epoch", "preprocessing",
                        "weights_sha256"]), JSON)
def test_any_model_json_loads_or_fails_with_a_siamface_error(finished, key, value):
    original = finished.model_meta_path.read_text()
    meta = json.loads(original)
    text = json.dumps(value) if key is None else json.dumps({**meta, key: value})
    finished.model_meta_path.write_text(text)
    try:
        run = Run(finished.path)
        with contextlib.suppress(SiamfaceError):
            _ = (run.threshold, run.best_epoch, run.preprocessing, run.model)
    finally:
        finished.model_meta_path.write_text(original)


def test_the_gallery_calibration_round_trips_and_follows_the_weights(finished):
    assert finished.read_gallery_calibration() is None  # none written yet
    finished.write_gallery_calibration(torch.tensor([3.0, 2.5, 2.5, -1.0]), 40, 9)
    scores, pairs = finished.read_gallery_calibration()
    assert scores.tolist() == [3.0, 2.5, 2.5, -1.0] and pairs == 40
    save_weights(finished.model, finished.weights_path)  # the same weights: still valid
    assert finished.read_gallery_calibration() is not None
    with torch.no_grad():
        next(finished.model.parameters()).add_(1.0)
    save_weights(finished.model, finished.weights_path)  # another model (e.g. resumed)
    assert finished.read_gallery_calibration() is None  # made for weights the run no longer has
    finished.weights_path.unlink()
    assert finished.read_gallery_calibration() is None  # no weights: no calibration of theirs


@pytest.mark.parametrize(("scores", "pairs", "message"), [
    (torch.tensor([1.0, 2.0]), 10, "descending order"),
    (torch.tensor([float("nan")]), 10, "descending order"),
    (torch.tensor([2.0, 1.0]), 1, "'pairs' must be a count of at least 2"),
])
def test_a_broken_gallery_calibration_is_named(finished, scores, pairs, message):
    finished.write_gallery_calibration(scores, pairs, 3)
    with pytest.raises(RunFolderError, match=f"gallery_calibration.safetensors: .*{message}"):
        finished.read_gallery_calibration()
    finished.gallery_calibration_path.write_bytes(b"not safetensors")
    with pytest.raises(RunFolderError, match="not a readable safetensors file"):
        finished.read_gallery_calibration()


@pytest.mark.parametrize("pairs", ["", "-2", "2.0", "\N{SUPERSCRIPT TWO}"])
def test_a_gallery_calibration_whose_pair_count_is_not_a_count_is_named(finished, pairs):
    finished.write_gallery_calibration(torch.tensor([2.0, 1.0]), 10, 3)
    path = finished.gallery_calibration_path
    with safetensors.safe_open(str(path), "pt") as fh:
        meta, scores = fh.metadata(), fh.get_tensor("scores")
    safetensors.torch.save_file({"scores": scores}, str(path), metadata={**meta, "pairs": pairs})
    with pytest.raises(RunFolderError, match=f"'pairs' must be a count of at least 2, got "
                                             f"{re.escape(repr(pairs))}"):
        finished.read_gallery_calibration()


def test_timings_round_trip_in_order_with_their_total(tmp_path):
    run = Run(tmp_path)
    assert run.timings() is None  # a run not made by `siamface run`
    run.write_timings({"training steps": 150.12345, "data": 3.0, "report": 0.5})
    assert run.timings() == {"training steps": 150.123, "data": 3.0, "report": 0.5}
    assert list(run.timings()) == ["training steps", "data", "report"]
    assert json.loads(run.timings_path.read_text())["total_seconds"] == 153.623


@pytest.mark.parametrize("text", [
    '{"phases": {"a": 1}}', '{"phases": [{"phase": "a"}]}', '{"seconds": {}}', "[1]",
    '{"phases": [{"phase": "a", "seconds": "x"}]}', "{not json"])
def test_a_malformed_timings_file_is_named(tmp_path, text):
    run = Run(tmp_path)
    run.timings_path.write_text(text)
    with pytest.raises(SiamfaceError, match=r"timings\.json: expected 'phases'"):
        run.timings()


def test_an_emptied_config_is_named_not_filled_with_defaults(finished):
    run = finished
    run.config_path.write_text("", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"config.yaml: no seed, data, model, loss, optim, "
                                             r"schedule, augment, train section"):
        _ = Run(finished.path).config


def test_a_config_cut_at_a_line_boundary_is_named(finished):
    lines = finished.config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("loss:"))
    finished.config_path.write_text("".join(lines[:cut]), encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"config.yaml: no loss, optim, schedule, augment, "
                                             r"train section: the file was cut short"):
        _ = Run(finished.path).config


@pytest.mark.parametrize(("old", "new", "message"), [
    ("channels: 3", "channels: 1", "data.channels is 1 but model.json recorded 3"),
    ("  width: 4\n", "", "model.width is 'missing' but model.json recorded 4"),
])
def test_a_config_that_no_longer_makes_the_model_disagrees_with_model_json(finished, old, new,
                                                                         message):
    text = finished.config_path.read_text(encoding="utf-8")
    assert old in text
    finished.config_path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RunFolderError, match=message):
        _ = Run(finished.path).config


def test_how_a_run_is_run_may_be_edited(finished):
    text = finished.config_path.read_text(encoding="utf-8")
    finished.config_path.write_text(text.replace("eval_batch_size: 256", "eval_batch_size: 32"),
                                    encoding="utf-8")
    assert Run(finished.path).config.train.eval_batch_size == 32


def test_a_summary_cut_before_the_chosen_epoch_is_named(finished):
    rows = [{"epoch": e, "train_loss": 0.5, "train_acc": 0.7, "val_loss": 0.6, "val_acc": 0.65,
             "val_auc": 0.7, "val_threshold": 0.0, "lr": 0.1, "seconds": 2.0} for e in (1, 2)]
    finished.write_summary(rows)
    assert finished.finished_summary() == finished.summary() and len(finished.summary()) == 2
    finished.summary_path.write_text("epoch,train_loss,train_acc,val_loss,val_")  # cut short
    assert finished.summary() == []  # what there is: a learning curve of no epochs
    with pytest.raises(RunFolderError, match=r"summary.csv: 0 epochs, but model.json chose "
                                             rf"epoch {finished.best_epoch}: the file was cut"):
        finished.finished_summary()


def test_a_finished_run_without_its_summary_is_named_not_shown_as_no_epochs(finished):
    finished.summary_path.unlink(missing_ok=True)
    with pytest.raises(RunFolderError, match=r"summary.csv not found: the run chose epoch "
                                             rf"{finished.best_epoch} of it; the run folder was "
                                             "damaged"):
        finished.finished_summary()


def test_the_precision_a_run_was_validated_in_is_read_from_its_environment(tmp_path):
    run = Run(tmp_path)
    assert run.precision_used() is None  # no environment.json: an older run
    for used, expected in (("bf16", "bf16"), ("fp32", "fp32"), ("fp16", None), (None, None)):
        run.environment_path.write_text(json.dumps({"precision": {"used": used}}))
        assert run.precision_used() == expected, used
    run.environment_path.write_text(json.dumps({"precision": "bf16"}))  # edited by hand
    assert run.precision_used() is None


def test_a_resume_is_added_to_the_environment_beside_where_the_run_began(tmp_path):
    run = Run(tmp_path)
    run.record_resume({"after_epoch": 1})  # a run older than environment.json: none made,
    assert not run.environment_path.exists()  # which its report would take for damaged
    run.write_environment({"machine": {"cpu": "A"}, "resumes": "damaged"})
    run.record_resume({"after_epoch": 1, "machine": {"cpu": "B"}})
    run.record_resume({"after_epoch": 3, "machine": {"cpu": "C"}})
    assert run.environment() == {"machine": {"cpu": "A"}, "resumes": [
        {"after_epoch": 1, "machine": {"cpu": "B"}}, {"after_epoch": 3, "machine": {"cpu": "C"}}]}


def test_an_unfinished_run_is_told_whether_it_can_be_resumed(tmp_path):
    run = Run(tmp_path)
    with pytest.raises(RunNotFinishedError, match=f"^{re.escape(str(tmp_path))}: not a run "
                                                  r"folder \(no config\.yaml\)$"):
        run.require_finished()  # e.g. a folder of photos given to `siamface report`
    run.config_path.write_text("")
    with pytest.raises(RunNotFinishedError, match="stopped before its first epoch ended: "
                                                  "start a new run"):
        run.require_finished()  # `train --resume` says there is nothing to resume
    (run.checkpoints_dir / "epoch-0001").mkdir(parents=True)
    with pytest.raises(RunNotFinishedError, match=r"resume it with `siamface train --resume`"):
        run.require_finished()


def test_a_path_safetensors_cannot_open_is_refused_before_training_and_named_after(tmp_path):
    # safetensors opens only UTF-8 paths: a run there would train its first epoch, then call
    # its own weights damaged
    odd = tmp_path / os.fsdecode(b"runs\xff")
    with pytest.raises(RunFolderError, match=f"^{re.escape(str(odd))}: the path has bytes "
                                             "that are not UTF-8"):
        Run.create(odd, "default")
    assert not odd.exists()
    copied = odd / "run"
    shutil.copytree(write_tiny_run(tmp_path / "run"), copied)
    with pytest.raises(RunFolderError, match=r"model\.safetensors: the path has bytes that are "
                                             "not UTF-8, and safetensors opens no such path"):
        _ = Run(copied).model
