"""The two trainer changes of issue 12: the precision of the forward passes (bf16 autocast,
fp32 loss and optimizer state, chosen by ``train.precision``) and the checkpoints written on a
background thread (``CheckpointWriter``)."""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from siamface.data.lfw import open_lfw
from siamface.evaluation import embed
from siamface.pipeline import train
from siamface.training import builder
from siamface.training import checkpoint as ckpt
from siamface.training.checkpoint import CheckpointWriter, load_latest, read_pointer
from siamface.training.trainer import PrecisionKeptWarning
from siamface.utils import machine

from .conftest import interrupted_run, tiny

AVX2_ONLY = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
AMX = {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": True}


def summary_rows(run_dir: Path) -> list[dict[str, str]]:
    """summary.csv without the wall-clock column."""
    rows = list(csv.DictReader((run_dir / "summary.csv").open()))
    for row in rows:
        row.pop("seconds")
    return rows


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
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

            return replace(parts, loss_fn=loss)

        monkeypatch.setattr(builder.TrainingParts, "from_config", staticmethod(spied))


# -- precision -------------------------------------------------------------------------------


def test_two_bf16_runs_with_one_thread_are_identical(synthetic_home, tmp_path):
    lfw = open_lfw(synthetic_home)
    config = tiny("train.precision=bf16", "train.threads=1", "train.epochs=2")
    run_a, _ = train(config, lfw, tmp_path / "a", progress=False)
    run_b, _ = train(config, lfw, tmp_path / "b", progress=False)
    assert summary_rows(run_a.path) == summary_rows(run_b.path)
    a, b = weights(run_a.path), weights(run_b.path)
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
    assert {w.dtype for w in weights(run.path).values()} <= {torch.float32, torch.int64}
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


# -- checkpoints written in the background ----------------------------------------------------


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))


def test_the_checkpoint_holds_the_state_at_save_time_not_at_write_time(tmp_path, monkeypatch):
    model = small_model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    saved_weights = {k: v.clone() for k, v in model.state_dict().items()}
    saved_moment = opt.state[model[0].weight]["exp_avg"].clone()

    release = threading.Event()
    real_write = ckpt._write_checkpoint

    def slow_write(*args):
        release.wait(timeout=30)
        return real_write(*args)

    monkeypatch.setattr(ckpt, "_write_checkpoint", slow_write)
    writer = CheckpointWriter()
    writer.save(tmp_path, 1, model, {}, {"optimizer": opt.state_dict()})
    assert read_pointer(tmp_path) is None  # save returned with the write still pending
    opt.step()  # the next epoch changes weights and moments in place
    with torch.no_grad():
        model[0].weight.add_(1.0)
    release.set()
    writer.wait()

    state_dict, meta, state = load_latest(tmp_path)
    assert meta["epoch"] == 1
    for key, value in saved_weights.items():
        assert torch.equal(state_dict[key], value), key
    assert torch.equal(state["optimizer"]["state"][0]["exp_avg"], saved_moment)


def test_a_failed_background_write_is_raised_and_latest_stays_complete(tmp_path, monkeypatch):
    model = small_model()
    with CheckpointWriter() as writer:
        writer.save(tmp_path, 1, model, {}, {})
    real = ckpt._write_and_sync

    def full_disk(path, write, final):
        if final.name == "epoch-002" and path.name == ckpt.STATE_FILE:
            raise OSError(28, "No space left on device")
        return real(path, write, final)

    monkeypatch.setattr(ckpt, "_write_and_sync", full_disk)
    writer = CheckpointWriter()
    writer.save(tmp_path, 2, model, {}, {})
    with pytest.raises(OSError, match="No space"):
        writer.wait()
    assert read_pointer(tmp_path).name == "epoch-001"
    assert load_latest(tmp_path)[1]["epoch"] == 1
    assert not (tmp_path / "checkpoints" / "epoch-002").exists()


def test_leaving_the_writer_on_an_error_still_finishes_the_pending_checkpoint(tmp_path):
    class Interrupt(Exception):
        pass

    with pytest.raises(Interrupt), CheckpointWriter() as writer:
        writer.save(tmp_path, 1, small_model(), {}, {})
        raise Interrupt
    assert load_latest(tmp_path)[1]["epoch"] == 1


def test_the_writer_checks_its_arguments_on_the_callers_thread(tmp_path):
    writer = CheckpointWriter()
    with pytest.raises(ValueError, match="may not set"):
        writer.save(tmp_path, 1, small_model(), {"epoch": 3}, {})
    with pytest.raises(TypeError, match="trainer state"):
        writer.save(tmp_path, 1, small_model(), {}, {"rng": object()})
