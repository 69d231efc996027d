"""Checkpoints: round trip, exact resume of an optimizer, pointers, pruning, crash safety,
clear errors for damaged files, and CheckpointWriter's writes in the background."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import safetensors
import torch
from torch import nn

from siamface.run_folder import SUMMARY_FIELDS
from siamface.training import checkpoint as ckpt
from siamface.training.checkpoint import (
    CheckpointError,
    CheckpointFallbackWarning,
    CheckpointWriter,
    load_checkpoint,
    load_latest,
    read_pointer,
    save_checkpoint,
)
from siamface.utils import atomic
from siamface.utils.atomic import WriteError


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 2))


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, steps: range) -> None:
    for step in steps:
        g = torch.Generator().manual_seed(step)
        x = torch.rand(5, 1, 4, 4, generator=g)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def save(run: Path, epoch: int, model: nn.Module, **kw: object) -> Path:
    return save_checkpoint(run, epoch, model, {"metrics": {"val_acc": 0.5 + epoch / 100}},
                           {"epoch_rng": torch.get_rng_state()}, **kw)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_checkpoints_files_and_folder_follow_the_umask(tmp_path: Path, umask: int) -> None:
    # a teammate resuming a run in a shared folder reads them (safetensors alone makes 0600)
    old = os.umask(umask)
    try:
        path = save(tmp_path, 1, small_model())
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.iterdir()]}
    assert modes == {"epoch-001": 0o777 & ~umask, "checkpoint.json": 0o666 & ~umask,
                     "model.safetensors": 0o666 & ~umask, "trainer_state.pt": 0o666 & ~umask}


def test_round_trip_weights_meta_and_state(tmp_path: Path) -> None:
    model = small_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    train_steps(model, opt, range(2))
    rng = np.random.default_rng(3)
    meta = {"config": {"optim": {"lr": 0.01}}, "metrics": {"val_loss": float("nan")},
            "threshold": -0.25}
    state = {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
             "numpy_rng": rng.bit_generator.state, "python": (3, [1, 2], None)}
    path = save_checkpoint(tmp_path, 2, model, meta, state)
    assert path == tmp_path / "checkpoints" / "epoch-002"
    assert sorted(p.name for p in path.iterdir()) == [
        "checkpoint.json", "model.safetensors", "trainer_state.pt"]

    weights, meta2, state2 = load_latest(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(weights[key], value), key
    assert meta2["epoch"] == 2 and meta2["threshold"] == -0.25 and meta2["config"] == meta["config"]
    assert np.isnan(meta2["metrics"]["val_loss"])
    assert torch.equal(state2["torch_rng"], state["torch_rng"])
    assert state2["numpy_rng"] == state["numpy_rng"]  # 128-bit ints survive weights_only
    assert state2["python"] == (3, [1, 2], None)


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: torch.optim.Adam(p, lr=0.01),
])
def test_a_step_after_restore_equals_a_step_without_interruption(tmp_path: Path,
                                                                 make_opt: object) -> None:
    model = small_model()
    opt = make_opt(model.parameters())
    train_steps(model, opt, range(3))
    save_checkpoint(tmp_path, 3, model, {}, {"optimizer": opt.state_dict()})
    train_steps(model, opt, range(3, 5))  # the uninterrupted run

    resumed = small_model(seed=99)  # different initial weights, overwritten by the load
    resumed_opt = make_opt(resumed.parameters())
    weights, _, state = load_latest(tmp_path)
    resumed.load_state_dict(weights)
    resumed_opt.load_state_dict(state["optimizer"])
    train_steps(resumed, resumed_opt, range(3, 5))
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_shared_and_non_contiguous_tensors_are_saved(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight  # tied: the state dict has the tensor twice
            self.register_buffer("view", torch.arange(12.0).view(3, 4).t())  # non-contiguous

    model = Tied()
    save_checkpoint(tmp_path, 1, model, {}, {})
    weights, _, _ = load_latest(tmp_path)
    assert torch.equal(weights["b.weight"], model.a.weight)
    assert torch.equal(weights["view"], model.view)
    model.load_state_dict(weights)


def test_latest_best_and_pruning(tmp_path: Path) -> None:
    model = small_model()
    for epoch in range(1, 7):
        save(tmp_path, epoch, model, best=epoch == 2, keep_last=2)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["best.json", "epoch-002", "epoch-005", "epoch-006", "latest.json"]
    assert read_pointer(tmp_path, "latest") == tmp_path / "checkpoints" / "epoch-006"
    assert load_checkpoint(read_pointer(tmp_path, "best"))[1]["epoch"] == 2
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text()) == {
        "epoch": 6, "path": "epoch-006"}


def test_saving_the_same_epoch_again_replaces_it(tmp_path: Path) -> None:
    save(tmp_path, 1, small_model(0))
    other = small_model(1)
    save(tmp_path, 1, other)
    weights, _, _ = load_latest(tmp_path)
    assert torch.equal(weights["3.weight"], other.state_dict()["3.weight"])
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")] == []


def test_a_crash_mid_save_keeps_the_previous_latest(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_model()
    save(tmp_path, 1, model)

    def crash(obj: object, path: Path) -> None:
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of torch.save

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, 2, model)
    monkeypatch.undo()

    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["epoch-001", "latest.json"]
    assert load_latest(tmp_path)[1]["epoch"] == 1


def test_a_temporary_folder_left_by_a_killed_save_is_ignored_then_cleaned(tmp_path: Path) -> None:
    model = small_model()
    save(tmp_path, 1, model)
    stale = tmp_path / "checkpoints" / ".epoch-002.abc123.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"truncated")
    assert load_latest(tmp_path)[1]["epoch"] == 1
    save(tmp_path, 2, model)
    assert not stale.exists()


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    path = save(tmp_path, 1, small_model())
    model_file = path / "model.safetensors"
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0xFF  # a damaged last byte of the weights
    model_file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"epoch-001/model\.safetensors is corrupt: its sha"):
        load_checkpoint(path)

    path = save(tmp_path, 2, small_model())
    (path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: not valid JSON"):
        load_checkpoint(path)

    (path / "trainer_state.pt").unlink()
    with pytest.raises(CheckpointError, match=r"epoch-002/trainer_state\.pt is missing"):
        load_checkpoint(path)

    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


def test_unreadable_files_with_matching_checksums_name_the_file(tmp_path: Path) -> None:
    path = save(tmp_path, 1, small_model())
    for name in ("model.safetensors", "trainer_state.pt"):
        (path / name).write_bytes(b"garbage")
    meta = json.loads((path / "checkpoint.json").read_text())
    meta["sha256"] = {n: ckpt.sha256_file(path / n) for n in meta["sha256"]}
    (path / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"model\.safetensors cannot be read"):
        load_checkpoint(path)


def history(epochs: int) -> list[dict[str, float]]:
    return [{key: float(epoch) if key != "epoch" else epoch for key in SUMMARY_FIELDS}
            for epoch in range(1, epochs + 1)]


@pytest.mark.parametrize(("edit", "message"), [
    ({"epoch": 5}, r"'epoch' is 5, expected 2"),
    ({"epoch": "2"}, r"'epoch' is '2', expected 2"),
    ({"history": history(1)}, r"'history' must hold the summary rows of epochs 1 to 2"),
    ({"history": [{"epoch": 1}, {"epoch": 1}]}, r"'history' must hold the summary rows"),
    ({"history": [*history(1), {**history(2)[1], "val_auc": "high"}]}, r"'history' must hold"),
])
def test_an_edited_checkpoint_json_is_corrupt_and_an_older_one_is_used(tmp_path: Path, edit,
                                                                        message) -> None:
    for epoch in (1, 2):
        save_checkpoint(tmp_path, epoch, small_model(epoch), {"history": history(epoch)},
                        {"epoch_rng": torch.get_rng_state()})
    meta_file = tmp_path / "checkpoints" / "epoch-002" / "checkpoint.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), **edit}))
    with pytest.raises(CheckpointError, match=f"checkpoint.json is corrupt: {message}"):
        load_checkpoint(meta_file.parent)
    with pytest.warns(CheckpointFallbackWarning, match=r"resuming from epoch-001"):
        _, meta, _ = load_latest(tmp_path)
    assert meta["epoch"] == 1 and meta["history"] == history(1)


def test_no_checkpoint_and_bad_pointer(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no latest checkpoint .*latest\.json"):
        load_latest(tmp_path)
    assert read_pointer(tmp_path, "best") is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.json").write_text('{"path": "../../etc"}')
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_latest(tmp_path)


def test_trainer_state_must_be_plain(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"trainer_state\['rng'\] is a ndarray"):
        save_checkpoint(tmp_path, 1, small_model(), {}, {"rng": np.zeros(3)})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path, 1, small_model(), {"x": torch.zeros(1)}, {})
    with pytest.raises(ValueError, match="may not set"):
        save_checkpoint(tmp_path, 1, small_model(), {"epoch": 3}, {})
    assert not (tmp_path / "checkpoints").exists()  # nothing written for bad input


def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path: Path) -> None:
    for epoch in (1, 2, 3):
        save(tmp_path, epoch, small_model(epoch))
    (tmp_path / "checkpoints" / "epoch-003" / "model.safetensors").write_bytes(b"cut off")
    with pytest.warns(CheckpointFallbackWarning, match=r"resuming from epoch-002.*corrupt"):
        state, meta, _ = load_latest(tmp_path)
    assert meta["epoch"] == 2
    torch.testing.assert_close(state["3.weight"], small_model(2).state_dict()["3.weight"])
    for epoch in (1, 2):
        (tmp_path / "checkpoints" / f"epoch-{epoch:03d}" / "checkpoint.json").unlink()
    with pytest.raises(CheckpointError, match=r"no other checkpoint .* is intact"):
        load_latest(tmp_path)


def assert_saving_epoch_2_names_a_full_disk(tmp_path: Path, name: str) -> None:
    """Saving epoch 2 fails with one line naming its ``name`` file; epoch 1 stays the latest."""
    with pytest.raises(WriteError) as info:
        save(tmp_path, 2, small_model())
    assert str(info.value) == (
        f"no space left on device writing {tmp_path / 'checkpoints' / 'epoch-002' / name}")
    assert read_pointer(tmp_path).name == "epoch-001"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-001", "latest.json"]


@pytest.mark.parametrize("target", ["safetensors", "torch"])
def test_a_full_disk_while_saving_names_the_file_and_keeps_the_previous_latest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    save(tmp_path, 1, small_model())

    def full(*args: object, **kwargs: object) -> None:
        if target == "torch":  # torch.save hides the errno: its message is about the zip writer
            raise RuntimeError("[enforce fail at inline_container.cc:858] . PytorchStreamWriter "
                               "failed writing file data/0: file write failed")
        raise OSError(errno.ENOSPC, "No space left on device")

    if target == "torch":
        monkeypatch.setattr(ckpt.torch, "save", full)
        monkeypatch.setattr(atomic.shutil, "disk_usage",
                            lambda path: SimpleNamespace(total=100, used=100, free=0))
        name = "trainer_state.pt"
    else:
        monkeypatch.setattr(ckpt.safetensors.torch, "save_file", full)
        name = "model.safetensors"
    assert_saving_epoch_2_names_a_full_disk(tmp_path, name)


@pytest.mark.parametrize("target", ["safetensors", "torch"])
def test_a_full_disk_is_named_though_the_writer_hides_the_errno_and_the_folder_is_new(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    save(tmp_path, 1, small_model())
    real_usage = shutil.disk_usage

    def free(left: int):
        def usage(path: str) -> SimpleNamespace:
            real_usage(path)  # epoch-002/ is made only once complete: measured there, it raises
            return SimpleNamespace(free=left)
        return usage

    if target == "torch":  # the errno hidden: the free space tells
        def full(*args: object, **kwargs: object) -> None:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos "
                               "12352 vs 12244")

        monkeypatch.setattr(ckpt.torch, "save", full)
        monkeypatch.setattr(atomic.shutil, "disk_usage", free(0))
        name = "trainer_state.pt"
    else:  # safetensors quotes the errno in its text: that tells, whatever the free space
        def full(*args: object, **kwargs: object) -> None:
            raise safetensors.SafetensorError("Error while serializing: I/O error: No space "
                                              "left on device (os error 28)")

        monkeypatch.setattr(ckpt.safetensors.torch, "save_file", full)
        monkeypatch.setattr(atomic.shutil, "disk_usage", free(1 << 40))
        name = "model.safetensors"
    assert_saving_epoch_2_names_a_full_disk(tmp_path, name)

@pytest.mark.parametrize(("file", "content", "used", "message"), [
    ("latest.json", b"\xff\xfe{}", 2, r"latest\.json: bytes that are not UTF-8"),
    ("epoch-002/checkpoint.json", b"[" * 100_000, 1,
     r"checkpoint\.json: not valid JSON \(nested too deeply\)"),
])
def test_an_undecodable_pointer_or_meta_is_corrupt_and_an_intact_checkpoint_is_used(
        tmp_path: Path, file: str, content: bytes, used: int, message: str) -> None:
    for epoch in (1, 2):
        save(tmp_path, epoch, small_model(epoch))
    (tmp_path / "checkpoints" / file).write_bytes(content)
    with pytest.warns(CheckpointFallbackWarning, match=rf"from epoch-00{used}, .*{message}"):
        _, meta, _ = load_latest(tmp_path)
    assert meta["epoch"] == used


# -- checkpoints written in the background ----------------------------------------------------


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))


def test_the_checkpoint_holds_the_state_at_save_time_not_at_write_time(tmp_path, monkeypatch):
    model = linear_model()
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
    model = linear_model()
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
        writer.save(tmp_path, 1, linear_model(), {}, {})
        raise Interrupt
    assert load_latest(tmp_path)[1]["epoch"] == 1


def test_the_writer_checks_its_arguments_on_the_callers_thread(tmp_path):
    writer = CheckpointWriter()
    with pytest.raises(ValueError, match="may not set"):
        writer.save(tmp_path, 1, linear_model(), {"epoch": 3}, {})
    with pytest.raises(TypeError, match="trainer state"):
        writer.save(tmp_path, 1, linear_model(), {}, {"rng": object()})


def test_a_run_path_safetensors_cannot_open_is_named_not_called_damaged(tmp_path: Path) -> None:
    save(tmp_path / "run", 1, small_model())
    odd = tmp_path / os.fsdecode(b"run\xff")
    shutil.copytree(tmp_path / "run", odd)
    with pytest.raises(CheckpointError, match=r"the path has bytes that are not UTF-8") as err:
        load_latest(odd)
    assert "intact" not in str(err.value)  # not taken for a damaged checkpoint
