"""One short run of the whole pipeline on the real LFW: import, cache, train, evaluate."""

import json

import pytest

from siamface.pipeline import evaluate, train
from siamface.training.builder import resolve_config


@pytest.mark.real_data
def test_one_epoch_on_real_lfw_trains_on_devtrain_and_evaluates_devtest(real_lfw, tmp_path):
    # The default recipe, shrunk: 32x32 grey crops, a narrow ResFace, one epoch of 20 steps.
    config = resolve_config("default", [
        "data.size=32", "data.channels=1", "model.width=8", "model.embedding_dim=32",
        "train.epochs=1", "schedule.warmup_epochs=0.1",
    ])
    run, fit = train(config, real_lfw, tmp_path, progress=False)
    run_dir = run.path
    data = json.loads((run_dir / "data.json").read_text())
    assert data["setting"] == "unrestricted (identity labels)"
    assert data["val_pairs"] == 440 and data["val_matching"] == 220  # 20% of pairsDevTrain
    metrics = evaluate(run, real_lfw, ["pairsDevTest.txt"], n_bootstrap=50, plots=False,
                       progress=False).metrics["pairsDevTest.txt"]
    assert metrics["pairs"] == 1000 and metrics["matching"] == 500
    # one epoch of a tiny model already separates faces better than chance
    assert metrics["auc"] > 0.6
    assert metrics["threshold"] == fit.threshold
    assert (run_dir / "eval" / "pairsDevTest" / "scores.csv").read_text().count("\n") == 1001
