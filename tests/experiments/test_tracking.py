from pathlib import Path

import pytest

from conftest import require
from siamface.experiments.study_folder import StudyFolder
from siamface.run_folder import Run


def test_each_trial_gets_tensorboard_scalars_and_hparams(finished_study: Path):
    """The event files hold every summary.csv value at its epoch, and the complete trial's
    parameters and objective value (TensorBoard's HPARAMS tab)."""
    require("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    folder = StudyFolder(finished_study)
    done = next(r for r in folder.trials() if r["state"] == "complete")
    events = EventAccumulator(str(folder.trial_dir(done["number"]) / "tensorboard")).Reload()
    summary = Run(folder.run_dir(done["number"])).summary()
    assert len(summary) == done["epochs"]
    columns = [key for key in summary[0] if key != "epoch"]
    assert {"val_loss", "val_auc", "train_loss"} <= set(columns)
    objective = f"objective/{folder.spec().objective}"
    assert sorted(events.Tags()["scalars"]) == sorted([*columns, objective])
    for key in columns:  # each value as summary.csv has it (events store float32)
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(int(row["epoch"]), pytest.approx(row[key], rel=1e-6))
                          for row in summary], key
    (value,) = [e.value for e in events.Scalars(objective)]
    assert value == pytest.approx(done["value"], rel=1e-6)

    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    logged = {key: getattr(v, v.WhichOneof("kind")) for key, v in start.hparams.items()}
    # numbers as numbers; None, which TensorBoard has no type for, as its name
    expected = {key: "None" if v is None else v for key, v in done["params"].items()}
    assert logged == expected == {"optim.lr": 3e-3, "optim.momentum": "None"}
