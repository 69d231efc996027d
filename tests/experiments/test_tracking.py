from pathlib import Path

from conftest import require
from siamface.experiments.study_folder import StudyFolder


def test_each_trial_gets_tensorboard_scalars_and_hparams(finished_study: Path):
    require("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = StudyFolder(finished_study)
    done = next(r for r in folder.trials() if r["state"] == "complete")
    events = EventAccumulator(str(folder.trial_dir(done["number"]) / "tensorboard")).Reload()
    tags = events.Tags()["scalars"]
    assert {"val_loss", "val_auc", "train_loss"} <= set(tags)
    assert [e.step for e in events.Scalars("val_loss")] == list(range(1, done["epochs"] + 1))
    runs = list((folder.trial_dir(done["number"]) / "tensorboard").rglob("events.out.*"))
    assert len(runs) >= 2  # the scalars and the trial's hparams/objective
