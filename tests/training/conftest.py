import pytest

from siamface.config import Config
from siamface.training.builder import resolve_config

TINY = [
    "data.preprocessing=null", "data.size=32", "data.val_fraction=0.3",
    "data.identities_per_batch=4", "data.images_per_identity=2",
    "model.width=4", "model.embedding_dim=8",
    "train.epochs=3", "train.eval_batch_size=16", "schedule.warmup_epochs=0.5",
    # torch 2.13's CPU backward in channels_last corrupts memory for this tiny width (a crash
    # or garbage, seen here; widths >= 8 and the default's 24 are fine), so tests use NCHW.
    "train.channels_last=false",
]


@pytest.fixture
def tiny_config() -> Config:
    """The default recipe shrunk to a 32x32 input and a width-4 ResFace: seconds per run."""
    return resolve_config("default", TINY)


def tiny(*overrides: str) -> Config:
    return resolve_config("default", [*TINY, *overrides])


class Interrupt(Exception):
    """Stands in for a kill in the middle of a run."""


def interrupted_run(lfw, config, folder, epoch=2):
    """A run of ``config`` stopped in epoch ``epoch`` (its latest checkpoint: the one before)."""
    from siamface.pipeline import train

    def stop(row):
        if row["epoch"] == epoch:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config, lfw, folder, progress=False, on_epoch_end=stop)
    (run_dir,) = folder.iterdir()
    return run_dir
