import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import safetensors.torch
import torch
import yaml
from torch import nn

from siamface.data.lfw import open_lfw
from siamface.evaluation import embed
from siamface.evaluation.verify import score_index_pairs
from siamface.models.siamese import PairScores, SiameseNet
from siamface.pipeline import evaluate, train
from siamface.run_folder import SUMMARY_FIELDS, Run, RunFolderError
from siamface.training import builder
from siamface.training.batches import PairBatches
from siamface.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_latest,
    read_pointer,
)
from siamface.training.inputs import TrainingInputs, prepare_inputs
from siamface.training.trainer import PrecisionKeptWarning, Trainer, TrainingDivergedError
from siamface.utils import machine
from siamface.utils.hashing import sha256_file

from .conftest import interrupted_run, tiny


def test_fit_writes_summary_checkpoints_and_a_loadable_model(synthetic_home, tmp_path):
    run, fit = train(tiny(), open_lfw(synthetic_home), tmp_path, progress=False)
    run_dir = run.path
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert list(rows[0]) == SUMMARY_FIELDS
    assert fit.stopped_because == "epochs"
    # where the fit's time went: its phases add up to the epochs' seconds (plus the last wait)
    assert list(fit.seconds) == ["training steps", "validation", "checkpoints and logs"]
    assert all(s >= 0 for s in fit.seconds.values()) and fit.seconds["training steps"] > 0
    epochs = sum(float(r["seconds"]) for r in rows)
    assert fit.seconds["training steps"] + fit.seconds["validation"] <= epochs
    assert sum(fit.seconds.values()) >= epochs
    # restore_best (monitor val_auc): epoch 1's is already 1.0, and a later epoch must beat the
    # best to replace it, so the run ends with epoch 1's weights, not the last epoch's
    assert float(rows[0]["val_auc"]) == 1.0
    assert fit.best_epoch == 1
    best_weights, _, _ = load_checkpoint(run.checkpoints_dir / "epoch-001")
    saved = safetensors.torch.load_file(str(run.weights_path))
    assert saved.keys() == best_weights.keys()
    for key, value in best_weights.items():
        assert torch.equal(saved[key], value), key
    for name in ("config.yaml", "environment.json", "data.json", "train.log", "model.json"):
        assert (run_dir / name).is_file(), name
    model, meta = Run(run_dir).model, Run(run_dir).model_meta
    assert meta["best_epoch"] == fit.best_epoch and meta["threshold"] == fit.threshold
    x = torch.rand(2, 3, 32, 32)
    assert torch.isfinite(model(x, x.flip(0)).logits).all()


def test_the_runs_threshold_is_the_best_cut_of_its_models_validation_scores(synthetic_home,
                                                                              tmp_path):
    lfw = open_lfw(synthetic_home)
    run, fit = train(tiny(), lfw, tmp_path, progress=False)
    # re-score the run's validation pairs with the model it chose, as validation scored them
    inputs = prepare_inputs(run.config, lfw, progress=False)
    logits = score_index_pairs(run.model, inputs.cache.images, inputs.val_pairs,
                               run.config.train.eval_batch_size,
                               precision=run.precision_used()).logits.double().numpy()
    same = inputs.val_target == 1
    # they are separated: the only cut that gets every pair right lies between the highest
    # different pair and the lowest same pair, and the middle of that gap is the one chosen
    highest_different, lowest_same = logits[~same].max(), logits[same].min()
    assert highest_different < lowest_same
    middle = (highest_different + lowest_same) / 2
    assert run.model_meta["threshold"] == pytest.approx(middle, abs=1e-5)
    chosen = run.summary()[fit.best_epoch - 1]
    assert chosen["val_threshold"] == pytest.approx(middle, rel=1e-5)  # summary.csv: 6 digits
    assert chosen["val_acc"] == 1.0


@pytest.mark.parametrize("every", [1, 2])
def test_the_running_loss_is_logged_every_log_every_steps(synthetic_home, tmp_path, every):
    run, fit = train(tiny(f"train.log_every={every}", "train.epochs=1"),
                     open_lfw(synthetic_home), tmp_path, progress=False)
    found = [re.search(r"epoch 1 step (\d+)/(\d+): running loss (\S+) lr", line)
             for line in run.log_path.read_text().splitlines()]
    logged = [(int(m[1]), int(m[2]), float(m[3])) for m in found if m]
    steps = logged[0][1]
    assert steps >= 3  # enough steps for every=2 to skip some
    assert [step for step, _, _ in logged] == list(range(every, steps + 1, every))
    if every == 1:  # the last step's running loss is the epoch's mean loss
        assert logged[-1][2] == pytest.approx(fit.history[0]["train_loss"], abs=1e-4)


@pytest.mark.parametrize(("keep", "kept"), [(1, {3}), (3, {1, 2, 3})])
def test_keep_checkpoints_keeps_the_newest_epochs_and_the_best(synthetic_home, tmp_path, keep,
                                                                kept):
    run, fit = train(tiny(f"train.keep_checkpoints={keep}"), open_lfw(synthetic_home), tmp_path,
                     progress=False)
    folders = sorted(p.name for p in run.checkpoints_dir.glob("epoch-*"))
    assert folders == [f"epoch-{e:03d}" for e in sorted(kept | {fit.best_epoch})]


def test_resume_after_an_interruption_gives_the_uninterrupted_result(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.early_stopping.restore_best=false")
    whole_run, whole = train(config, lfw, tmp_path / "whole", progress=False)
    whole_dir = whole_run.path

    cut_dir = interrupted_run(lfw, config, tmp_path / "cut")
    assert read_pointer(cut_dir).name == "epoch-001"  # epoch 2 never got its checkpoint
    _, resumed = train(config, lfw, tmp_path, resume=cut_dir, progress=False)

    for a, b in zip(whole.history, resumed.history, strict=True):
        for key in SUMMARY_FIELDS[:-1]:  # all but the seconds
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    weights_a = safetensors.torch.load_file(str(whole_dir / "model.safetensors"))
    weights_b = safetensors.torch.load_file(str(cut_dir / "model.safetensors"))
    for key, value in weights_a.items():
        torch.testing.assert_close(weights_b[key], value, rtol=1e-5, atol=1e-6)


def test_a_run_whose_log_is_a_link_is_not_resumed_through_it(synthetic_home, tmp_path):
    # a run folder received from elsewhere: its train.log pointing at one of the user's files
    lfw = open_lfw(synthetic_home)
    cut_dir = interrupted_run(lfw, tiny(), tmp_path / "cut")
    victim = tmp_path / "notes.txt"
    victim.write_text("the user's notes\n")
    (cut_dir / "train.log").unlink()
    (cut_dir / "train.log").symlink_to(victim)
    with pytest.raises(RunFolderError, match=r"train\.log: is a link; a run's log is written "
                                             r"in its own folder only"):
        train(tiny(), lfw, tmp_path, resume=cut_dir, progress=False)
    assert victim.read_text() == "the user's notes\n"


def test_a_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(
    synthetic_home, tmp_path, monkeypatch
):
    from siamface.training import trainer as trainer_module

    real_step = trainer_module.Trainer._train_epoch

    def poisoned(self, epoch):
        if epoch == 1:
            self.loss_fn = lambda scores, target, weight=None: scores.logits.sum() * float("nan")
        return real_step(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", poisoned)
    with pytest.raises(TrainingDivergedError, match="epoch 2, step 1"):
        train(tiny(), open_lfw(synthetic_home), tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()
    assert read_pointer(run_dir).name == "epoch-001"


def test_a_run_that_diverges_in_its_first_epoch_keeps_its_folder_and_log(
        synthetic_home, tmp_path, monkeypatch):
    from siamface.training import trainer as trainer_module

    real_step = trainer_module.Trainer._train_epoch

    def poisoned(self, epoch):
        self.loss_fn = lambda scores, target, weight=None: scores.logits.sum() * float("nan")
        return real_step(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step 1.*no epoch finished"):
        train(tiny(), open_lfw(synthetic_home), tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()  # no checkpoint, but the log says where it diverged
    assert "loss became nan" in (run_dir / "train.log").read_text()


def test_time_budget_stops_at_an_epoch_boundary(synthetic_home, tmp_path):
    _, fit = train(tiny("train.time_budget_s=0.001"), open_lfw(synthetic_home), tmp_path,
                       progress=False)
    assert fit.stopped_because == "time_budget" and len(fit.history) == 1


def test_a_resumed_run_counts_the_time_its_budget_spent_before(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    run_dir = interrupted_run(lfw, tiny("train.threads=1"), tmp_path / "cut")  # after epoch 1
    meta_file = read_pointer(run_dir) / "checkpoint.json"
    spent = json.loads(meta_file.read_text())["elapsed_s"]
    assert spent > 0
    # under two epochs' worth: the uninterrupted run would have stopped after epoch 1
    edit_config(run_dir, "train", "time_budget_s", 1.5 * spent)
    _, fit = train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    assert fit.stopped_because == "time_budget" and len(fit.history) == 1
    resumes = Run(run_dir).environment()["resumes"]
    assert [r["after_epoch"] for r in resumes] == [1] and resumes[0]["machine"]["cpu_features"]
    assert Run(run_dir).environment()["machine"]["torch_threads"] == 1  # train.threads, applied


def test_a_checkpoint_from_before_elapsed_s_counts_its_epochs_seconds(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    run_dir = interrupted_run(lfw, tiny(), tmp_path / "cut")
    meta_file = read_pointer(run_dir) / "checkpoint.json"
    meta = json.loads(meta_file.read_text())
    del meta["elapsed_s"]
    meta_file.write_text(json.dumps(meta))
    edit_config(run_dir, "train", "time_budget_s", 1.5 * meta["history"][0]["seconds"])
    _, fit = train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    assert fit.stopped_because == "time_budget" and len(fit.history) == 1


def test_weights_broken_by_an_epochs_last_step_stop_as_a_divergence(synthetic_home, tmp_path,
                                                                     monkeypatch):
    from siamface.training import trainer as trainer_module

    real_epoch = trainer_module.Trainer._train_epoch

    def last_step_breaks(self, epoch):
        result = real_epoch(self, epoch)
        if epoch == 1:  # the loss of that step was finite: only validation sees it
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
        return result

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", last_step_breaks)
    with pytest.raises(TrainingDivergedError, match=r"training diverged in epoch 2: its "
                                                    r"validation scores are not finite; the "
                                                    r"checkpoints of epochs up to 1"):
        train(tiny(), open_lfw(synthetic_home), tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()
    assert "validation scores are not finite" in (run_dir / "train.log").read_text()


def test_early_stopping_ends_the_run_when_validation_stops_improving(synthetic_home, tmp_path):
    config = tiny("train.epochs=5", "optim.lr=1.0e-12", "train.early_stopping.monitor=val_loss",
                  "train.early_stopping.patience=1", "train.early_stopping.min_delta=0.01")
    _, fit = train(config, open_lfw(synthetic_home), tmp_path, progress=False)
    # epoch 1 sets the best; epoch 2 cannot beat it by 0.01 with a frozen model
    assert fit.stopped_because == "early_stopping" and len(fit.history) == 2
    assert fit.best_epoch == 1


def edit_config(run_dir, section, key, value):
    path = run_dir / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    (raw if section is None else raw[section])[key] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_a_resume_refuses_a_config_edited_in_what_the_run_computes(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    run_dir = interrupted_run(lfw, tiny("train.threads=1"), tmp_path / "cut")
    edit_config(run_dir, None, "seed", 5)
    with pytest.raises(CheckpointError, match=r"config.yaml: seed is 5, but the run was trained "
                                              r"to epoch 1 with 0; a resumed run goes on as it "
                                              r"began, so only train.time_budget_s, "):
        train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    edit_config(run_dir, None, "seed", 0)
    edit_config(run_dir, "optim", "lr", 0.5)
    with pytest.raises(CheckpointError, match=r"optim.lr is 0.5, but the run was trained"):
        train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    edit_config(run_dir, "optim", "lr", tiny().optim.lr)
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    warmup = raw["schedule"].pop("warmup_epochs")  # left out: the schedule's default
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(CheckpointError, match=r"schedule.warmup_epochs is 'not set', but the "
                                              rf"run was trained to epoch 1 with {warmup}"):
        train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    edit_config(run_dir, "schedule", "warmup_epochs", warmup)
    edit_config(run_dir, "train", "threads", 2)  # how it runs, not what: may change
    meta_file = read_pointer(run_dir) / "checkpoint.json"  # as an older siamface wrote it,
    meta = json.loads(meta_file.read_text())  # before train.channels_last existed
    del meta["config"]["train"]["channels_last"]  # (at its default now: the same run)
    meta_file.write_text(json.dumps(meta))
    _, fit = train(tiny(), lfw, tmp_path, resume=run_dir, progress=False)
    assert [row["epoch"] for row in fit.history] == [1, 2, 3]


def cast_weights(dtype):
    def edit(folder):
        weights = safetensors.torch.load_file(str(folder / "model.safetensors"))
        safetensors.torch.save_file({k: v.to(dtype) for k, v in weights.items()},
                                    str(folder / "model.safetensors"))
    return edit


def nan_weights(folder):
    weights = safetensors.torch.load_file(str(folder / "model.safetensors"))
    next(v for v in weights.values() if v.is_floating_point()).fill_(float("nan"))
    safetensors.torch.save_file(weights, str(folder / "model.safetensors"))


def optimizer_state(edit):
    def edit_file(folder):
        state = torch.load(folder / "trainer_state.pt", weights_only=True)
        edit(state["optimizer"])
        torch.save(state, folder / "trainer_state.pt")
    return edit_file


def reshape_a_moment(optimizer):
    optimizer["state"][0]["exp_avg"] = torch.zeros(1, 2)


def name_a_base_lr(optimizer):
    optimizer["param_groups"][0]["base_lr"] = "x"


def nan_moments(optimizer):
    optimizer["state"][0]["exp_avg"].fill_(float("nan"))


# Edits of the latest checkpoint, as a hand-converted or third-party run folder would hold it
# (its checksums updated to match), and what a resume says of each.
CHECKPOINT_EDITS = {
    "int64 weights": (cast_weights(torch.int64), r"model\.safetensors: tensor '.*' "
                                                 r"is torch\.int64, expected a floating-point"),
    "bool weights": (cast_weights(torch.bool), r"model\.safetensors: tensor '.*' "
                                               r"is torch\.bool, expected a floating-point"),
    # Run.model refuses these too; a resume called them a divergence, blaming optim.lr
    "NaN weights": (nan_weights, r"model\.safetensors: tensor '.*' holds NaN or infinite"),
    # load_state_dict takes these; the first step raised a traceback
    "a moment of another shape": (optimizer_state(reshape_a_moment),
                                  r"trainer_state\.pt: the optimizer's 'exp_avg' of shape "
                                  r"\(1, 2\) is for a parameter of shape \(\d+,"),
    "a base_lr that is not a number": (optimizer_state(name_a_base_lr),
                                       r"trainer_state\.pt: the optimizer's param_groups\[0\] "
                                       r"'base_lr' is 'x', expected a finite number$"),
    "NaN moments": (optimizer_state(nan_moments),
                    r"trainer_state\.pt: the optimizer's 'exp_avg' holds NaN or infinite"),
}


@pytest.fixture(scope="module")
def cut_run(synthetic_home, tmp_path_factory):
    """A tiny run interrupted in epoch 2: its latest checkpoint is epoch 1's."""
    return interrupted_run(open_lfw(synthetic_home), tiny(), tmp_path_factory.mktemp("cut"))


@pytest.mark.parametrize(("edit", "problem"), CHECKPOINT_EDITS.values(), ids=CHECKPOINT_EDITS)
def test_a_resume_refuses_a_checkpoint_that_does_not_fit_in_one_line_naming_the_file(
        synthetic_home, cut_run, tmp_path, edit, problem):
    run_dir = shutil.copytree(cut_run, tmp_path / "run")
    folder = read_pointer(run_dir)
    edit(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    meta["sha256"] = {file: sha256_file(folder / file) for file in meta["sha256"]}
    (folder / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(folder))}/{problem}"):
        train(tiny(), open_lfw(synthetic_home), tmp_path, resume=run_dir, progress=False)


def test_a_config_edit_that_would_not_build_is_refused_as_an_edit_before_the_data(
        synthetic_home, tmp_path, monkeypatch):
    lfw = open_lfw(synthetic_home)
    sgd = tiny("optim.name=sgd", "optim.momentum=0.7", "optim.nesterov=true", "optim.betas=null")
    run_dir = interrupted_run(lfw, sgd, tmp_path / "cut")
    edit_config(run_dir, "optim", "momentum", 0.0)  # torch refuses Nesterov without momentum

    def no_data(*args, **kwargs):
        raise AssertionError("the data was prepared before the checkpoint was checked")

    monkeypatch.setattr("siamface.pipeline.prepare_inputs", no_data)
    with pytest.raises(CheckpointError, match=r"config.yaml: optim.momentum is 0.0, but the run "
                                              r"was trained to epoch 1 with 0.7"):
        train(sgd, lfw, tmp_path, resume=run_dir, progress=False)


def edit_early_stopping(**values):
    def edit(meta):
        meta["early_stopping"].update(values)
    return edit


# Edits of the latest checkpoint.json's early-stopping state (epoch 1's), and what a resume
# says of each: a traceback before, at once or after a whole epoch, or a silent change
EARLY_STOPPING_EDITS = {
    "a best epoch in words": (edit_early_stopping(best_epoch="1"),
                              r"best_value .* and best_epoch '1': expected a number and an "
                              r"epoch from 1, or both null"),
    "a best value in words": (edit_early_stopping(best_value="0.41"), r"best_value '0.41'"),
    "a negative count": (edit_early_stopping(bad_epochs=-50),
                         r"bad_epochs is -50, expected a count of epochs from 0"),
    "a best epoch not yet trained": (edit_early_stopping(best_epoch=9),
                                     r"checkpoint.json: early_stopping says epoch 9 was the "
                                     r"best and 0 epochs since were not, after epoch 1"),
    "a count that does not add up": (edit_early_stopping(bad_epochs=1),
                                     r"early_stopping says epoch 1 was the best and 1 epochs"),
}


@pytest.mark.parametrize(("edit", "problem"), EARLY_STOPPING_EDITS.values(),
                         ids=EARLY_STOPPING_EDITS)
def test_a_resume_refuses_an_edited_early_stopping_state_in_one_line(synthetic_home, cut_run,
                                                                     tmp_path, edit, problem):
    run_dir = shutil.copytree(cut_run, tmp_path / "run")
    meta_file = read_pointer(run_dir) / "checkpoint.json"
    meta = json.loads(meta_file.read_text())
    assert meta["early_stopping"]["best_epoch"] == 1  # epoch 1 is the best so far
    edit(meta)
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=problem):
        train(tiny(), open_lfw(synthetic_home), tmp_path, resume=run_dir, progress=False)


def test_resuming_a_run_that_stopped_early_trains_nothing_more(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.epochs=4", "train.early_stopping.patience=1",
                  "train.early_stopping.min_delta=0.5")  # nothing improves by half a point
    run, fit = train(config, lfw, tmp_path, progress=False)
    assert fit.stopped_because == "early_stopping" and len(fit.history) == 2
    summary = run.summary_path.read_bytes()
    _, again = train(config, lfw, tmp_path, resume=run.path, progress=False)
    assert again.stopped_because == "early_stopping" and len(again.history) == 2
    assert run.summary_path.read_bytes() == summary


def test_a_run_that_fails_on_its_data_before_an_epoch_leaves_no_folder(synthetic_home, tmp_path,
                                                                       monkeypatch):
    from siamface.data.preprocess import ImageDecodeError
    from siamface.training import inputs

    def undecodable(*args, **kwargs):
        raise ImageDecodeError("Ann_0001.jpg: cannot decode image")

    monkeypatch.setattr(inputs, "load_or_build_cache", undecodable)
    with pytest.raises(ImageDecodeError):
        train(tiny(), open_lfw(synthetic_home), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing a user would keep


@pytest.mark.parametrize(("stopped_in", "best_json"), [
    (2, None),  # killed between epoch 1's writes of latest.json and best.json
    (3, "epoch-002"),  # a later epoch's, as a fallback past a damaged latest checkpoint leaves
])
def test_a_resume_keeps_and_saves_the_best_epoch_whatever_best_json_says(
        synthetic_home, tmp_path, stopped_in, best_json):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.keep_checkpoints=1")  # epoch 1 is the best: its val_auc is 1.0 already
    run_dir = interrupted_run(lfw, config, tmp_path / "cut", stopped_in)
    pointer = run_dir / "checkpoints" / "best.json"
    if best_json is None:
        pointer.unlink()
    else:
        pointer.write_text(json.dumps({"epoch": int(best_json[-3:]), "path": best_json}))
    run, fit = train(config, lfw, tmp_path, resume=run_dir, progress=False)

    assert fit.best_epoch == 1 and read_pointer(run_dir, "best").name == "epoch-001"
    assert run.model_meta["threshold"] == fit.history[0]["val_threshold"]
    kept = sorted(p.name for p in run.checkpoints_dir.glob("epoch-*"))
    assert kept == ["epoch-001", "epoch-003"]  # the best was not pruned
    best_weights, _, _ = load_checkpoint(run.checkpoints_dir / "epoch-001")
    saved = safetensors.torch.load_file(str(run.weights_path))
    assert saved.keys() == best_weights.keys()
    for key, value in best_weights.items():
        assert torch.equal(saved[key], value), key


@pytest.mark.parametrize("damage, problem", [
    (lambda folder: shutil.rmtree(folder), r"epoch-001 does not exist"),
    (lambda folder: (folder / "model.safetensors").write_bytes(b"\0" * 64),
     r"epoch-001/model\.safetensors is corrupt: its sha256 does not match"),
], ids=["gone", "damaged"])
def test_a_resume_whose_best_checkpoint_is_lost_names_it_instead_of_saving_another(
        synthetic_home, tmp_path, damage, problem):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.keep_checkpoints=1")  # epoch 1 is the best, as above
    run_dir = interrupted_run(lfw, config, tmp_path / "cut", 3)
    damage(run_dir / "checkpoints" / "epoch-001")
    (run_dir / "checkpoints" / "best.json").write_text(
        json.dumps({"epoch": 2, "path": "epoch-002"}))
    with pytest.raises(CheckpointError, match=problem + r".*; the run's best epoch so far is 1, "
                                                        "whose weights it would restore"):
        train(config, lfw, tmp_path, resume=run_dir, progress=False)
    assert not (run_dir / "model.safetensors").exists()
    assert read_pointer(run_dir).name == "epoch-002"  # refused before any epoch was trained


def test_a_resume_refuses_a_run_already_evaluated(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.epochs=4", "train.time_budget_s=1e-6")  # stops after epoch 1
    run, _ = train(config, lfw, tmp_path / "runs", progress=False)
    evaluate(run, lfw, ["pairsDevTest.txt"], n_bootstrap=0, plots=False)
    model = run.weights_path.read_bytes()
    edit_config(run.path, "train", "time_budget_s", None)  # as a user would, to train on
    with pytest.raises(CheckpointError, match=r"eval holds evaluations of the model .* chose "
                                              r"\(pairsDevTest\); training it further"):
        train(config, lfw, tmp_path, resume=run.path, progress=False)
    assert run.weights_path.read_bytes() == model and len(run.summary()) == 1


def test_a_resume_refuses_another_lfw_copy_than_the_one_it_was_trained_on(
        synthetic_home, view2_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    run_dir = interrupted_run(lfw, tiny(), tmp_path / "cut")
    data = (run_dir / "data.json").read_bytes()
    def copy_with(drop: str = "", **checksums):  # the same images, other protocol files
        kept = {k: v for k, v in lfw.checksums.items() if k != drop}
        return dataclasses.replace(lfw, checksums={**kept, **checksums})

    for other, what in ((open_lfw(view2_home), r"the images, pairsDevTrain\.txt.*"),
                        (copy_with(**{"pairsDevTrain.txt": "ab" * 32}), r"pairsDevTrain\.txt"),
                        # dropped since: the training people would be pairsDevTrain's alone
                        (copy_with(drop="peopleDevTrain.txt"), r"peopleDevTrain\.txt")):
        with pytest.raises(CheckpointError, match=(
                r"environment\.json: the run began on another LFW copy than the one imported now "
                rf"\({what} differ\); a resumed run goes on with the data it began on")):
            train(tiny(), other, tmp_path, resume=run_dir, progress=False)
    assert (run_dir / "data.json").read_bytes() == data
    assert read_pointer(run_dir).name == "epoch-001"
    # files the run does not read (pairs.txt, for View 2), and the same images imported from
    # another source, are no change: the run goes on
    more = copy_with(**{"pairs.txt": "cd" * 32, "lfw-names.txt": "ef" * 32})
    more = dataclasses.replace(more, checksums={
        ("lfw-deepfunneled.tgz" if k == "lfw-deepfunneled/" else k): v
        for k, v in more.checksums.items()}, from_manifest=False)  # (made up here: the home's
    assert lfw.images_sha256 and "lfw-deepfunneled.tgz" in more.checksums  # manifest is not its)
    run, _ = train(tiny(), more, tmp_path, resume=run_dir, progress=False)
    assert run.is_finished


# -- precision -------------------------------------------------------------------------------
# The forward passes in bf16 (autocast) or fp32, the loss and the optimizer state in fp32, as
# train.precision chooses.

AVX2_ONLY = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
AMX = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": True}


def summary_rows(run_dir: Path) -> list[dict[str, str]]:
    """summary.csv without the wall-clock column."""
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    for row in rows:
        row.pop("seconds")
    return rows


def run_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(run_dir / "model.safetensors"))


class DtypeSpy:
    """Wraps the parts built from a config to record the dtypes the model and the loss see."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.embeddings: list[tuple[bool, torch.dtype]] = []  # (training mode, dtype)
        self.loss_logits: list[torch.dtype] = []
        real = builder.TrainingParts.from_config

        def spied(config):
            parts = real(config)
            model, loss_fn = parts.model, parts.loss_fn
            model.backbone.register_forward_hook(
                lambda module, args, out: self.embeddings.append((module.training, out.dtype)))

            def loss(scores, target, weight=None):
                self.loss_logits.append(scores.logits.dtype)
                return loss_fn(scores, target, weight)

            return dataclasses.replace(parts, loss_fn=loss)

        monkeypatch.setattr(builder.TrainingParts, "from_config", staticmethod(spied))


def test_two_bf16_runs_with_one_thread_are_identical(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.precision=bf16", "train.threads=1", "train.epochs=2")
    run_a, _ = train(config, lfw, tmp_path / "a", progress=False)
    run_b, _ = train(config, lfw, tmp_path / "b", progress=False)
    assert summary_rows(run_a.path) == summary_rows(run_b.path)
    a, b = run_weights(run_a.path), run_weights(run_b.path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_runs_the_forward_passes_in_bf16_and_keeps_loss_and_state_fp32(
    synthetic_home, tmp_path, monkeypatch
):
    spy = DtypeSpy(monkeypatch)
    lfw = open_lfw(synthetic_home)
    run, _ = train(tiny("train.precision=bf16", "train.epochs=1"), lfw, tmp_path, progress=False)
    # training steps and the validation pass alike ran the backbone in bf16
    assert {dtype for _, dtype in spy.embeddings} == {torch.bfloat16}
    assert {mode for mode, _ in spy.embeddings} == {True, False}
    assert set(spy.loss_logits) == {torch.float32}
    assert {w.dtype for w in run_weights(run.path).values()} <= {torch.float32, torch.int64}
    _, _, state = load_latest(run.path)
    moments = [t for s in state["optimizer"]["state"].values() for t in s.values()
               if t.dim() > 0]
    assert moments and {t.dtype for t in moments} == {torch.float32}


def test_bf16_and_fp32_runs_of_one_seed_differ(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    fp32, _ = train(tiny("train.precision=fp32", "train.epochs=1"), lfw, tmp_path / "fp32",
                    progress=False)
    bf16, _ = train(tiny("train.precision=bf16", "train.epochs=1"), lfw, tmp_path / "bf16",
                    progress=False)
    assert summary_rows(fp32.path)[0]["train_loss"] != summary_rows(bf16.path)[0]["train_loss"]


@pytest.mark.parametrize(("features", "limit", "used", "dtype"), [
    (AVX2_ONLY, None, "fp32", torch.float32),  # the AMD EPYC kind: bf16 would be emulated
    (AMX, None, "bf16", torch.bfloat16),  # the Xeon kind with AMX-BF16
    (AMX, "AVX2", "fp32", torch.float32),  # the same Xeon with oneDNN capped at AVX2
])
def test_auto_follows_the_cpu_and_the_run_records_what_chose_it(
    synthetic_home, tmp_path, monkeypatch, onednn_cap, features, limit, used, dtype
):
    monkeypatch.setattr(machine, "cpu_features", lambda: features)
    onednn_cap(limit)
    spy = DtypeSpy(monkeypatch)
    run, _ = train(tiny("train.epochs=1"), open_lfw(synthetic_home), tmp_path, progress=False)
    assert run.config.train.precision == "auto"
    assert {d for _, d in spy.embeddings} == {dtype}
    recorded = json.loads((run.path / "environment.json").read_text())["precision"]
    assert recorded == {"requested": "auto", "used": used, "device_type": "cpu",
                        "cpu_features": features, "onednn_isa_limit": limit}


def test_a_run_resumed_where_auto_chooses_otherwise_goes_on_as_it_began(
    synthetic_home, tmp_path, monkeypatch
):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.threads=1", "train.epochs=3")
    monkeypatch.setattr(machine, "cpu_features", lambda: AMX)  # began in bf16 ...
    whole, _ = train(config, lfw, tmp_path / "whole", progress=False)

    cut = interrupted_run(lfw, config, tmp_path / "cut")
    monkeypatch.setattr(machine, "cpu_features", lambda: AVX2_ONLY)  # ... resumed on an AMD
    spy = DtypeSpy(monkeypatch)
    embedded_in = []  # the gallery calibration's, after the last epoch
    real_embed = embed.embed_images
    monkeypatch.setattr(embed, "embed_images", lambda *args, precision, **kwargs: (
        embedded_in.append(precision), real_embed(*args, precision=precision, **kwargs))[1])
    with pytest.warns(PrecisionKeptWarning, match=r"environment\.json: the run began in bf16 and "
                                                  r"goes on in it, where train\.precision: auto "
                                                  r"would choose fp32"):
        train(config, lfw, tmp_path, resume=cut, progress=False)
    assert {d for _, d in spy.embeddings} == {torch.bfloat16}
    assert embedded_in == ["bf16"]
    assert summary_rows(cut) == summary_rows(whole.path)


# -- one epoch on a stub model ---------------------------------------------------------------
# The two halves of an epoch on a stub model whose logits are set by hand: the accuracy that
# training reports (summary.csv's train_acc) and the threshold that validation chooses
# (val_threshold, which becomes model.json's threshold).


class Brightness(nn.Module):
    """A backbone whose one-number embedding is an image's mean pixel value (0 to 255)."""

    out_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))  # something for the loss to backpropagate to

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x.mean(dim=(1, 2, 3)).unsqueeze(1) * 255


class MeanMinus3_5(nn.Module):
    """A head whose logit is the mean of the two embeddings minus 3.5."""

    dim = 1

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        return PairScores((e1 + e2)[:, 0] / 2 - 3.5, (e1 - e2).abs()[:, 0])


# Image k of the cache is uniformly k (k = 0..6); pair k is image k with itself, so its logit is
# k - 3.5. Pairs 1..6 and whether each is of one person:
#   logit  -2.5  -1.5  -0.5   0.5   1.5   2.5
#   same     no   yes    no    no   yes   yes
IMAGES = np.arange(7, dtype=np.uint8).repeat(3 * 4 * 4).reshape(7, 3, 4, 4)
PAIRS = np.array([[k, k] for k in range(1, 7)])
SAME = np.array([0, 1, 0, 0, 1, 1], dtype=np.float32)


def stub_trainer(batch_size: int = 6) -> Trainer:
    model = SiameseNet(Brightness(), MeanMinus3_5())
    parts = SimpleNamespace(
        model=model,
        loss_fn=lambda scores, target, weight=None: nn.functional.binary_cross_entropy_with_logits(
            scores.logits, target),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),  # the logits stay as set
        schedule=SimpleNamespace(apply=lambda optimizer, t: None),
        augment=lambda x, generator: x,
        early_stopping=None,
        memory_format=torch.contiguous_format,
    )
    inputs = TrainingInputs(SimpleNamespace(images=IMAGES),
                            PairBatches(PAIRS, SAME, batch_size, seed=0), PAIRS, SAME)
    return Trainer(tiny("train.precision=fp32"), parts, inputs, run=None, progress=False)


def test_the_stub_model_scores_each_pair_by_hand():
    trainer = stub_trainer()
    x = torch.from_numpy(IMAGES[1:]).float() / 255
    logits = trainer.model(x, x).logits
    torch.testing.assert_close(logits, torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]))


def test_validation_chooses_the_threshold_that_gets_most_validation_pairs_right():
    val = stub_trainer().validate()
    # a cut between 0.5 and 1.5 gets 5 of the 6 right (all but the same pair at -1.5); every
    # other cut 4 or fewer: 4 at logit 0 (the default a wrong threshold would fall back on),
    # 3 with all pairs called different or all called same
    assert val["val_threshold"] == pytest.approx(1.0, abs=1e-5)
    assert val["val_acc"] == pytest.approx(5 / 6)
    # of the 3 x 3 (same, different) pairings the same pair scores above the different one in
    # 1 (-1.5 > -2.5) + 3 (1.5) + 3 (2.5)
    assert val["val_auc"] == pytest.approx(7 / 9)


@pytest.mark.parametrize("batch_size", [6, 3], ids=["one step", "two steps"])
def test_train_acc_is_the_share_of_training_pairs_on_the_right_side_of_logit_0(batch_size):
    _, train_acc, _ = stub_trainer(batch_size)._train_epoch(0)
    # logit > 0 says same: right for -2.5, -0.5 (different), 1.5 and 2.5 (same); wrong for
    # -1.5 (same) and 0.5 (different)
    assert train_acc == pytest.approx(4 / 6)
