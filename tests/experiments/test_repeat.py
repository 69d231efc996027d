import json
import math
from pathlib import Path

import pytest

from siamface.data.lfw import open_lfw
from siamface.data.splits import LeakageError
from siamface.errors import ConfigError
from siamface.experiments.repeat import REPEAT_FILE, read_repeat, run_repeat, summarise
from siamface.utils.files import DamagedFileError

from .conftest import FIXED


def test_summarise_is_mean_sample_std_min_max():
    s = summarise([1.0, 2.0, 3.0, 6.0])
    # mean 3; squared deviations 4 + 1 + 0 + 9 = 14 over n - 1 = 3
    assert s["mean"] == 3.0 and s["std"] == pytest.approx(math.sqrt(14 / 3))
    assert (s["min"], s["max"]) == (1.0, 6.0)
    assert summarise([0.5])["std"] == 0.0


def test_repeat_trains_each_seed_and_summarises_validation_and_test(synthetic_home: Path,
                                                                   tmp_path: Path):
    result = run_repeat("default", [*FIXED, "train.epochs=1"], [0, 1], open_lfw(synthetic_home),
                        tmp_path, evaluate=True)
    assert sorted(result.runs) == [0, 1]
    assert [r.config.seed for r in result.runs.values()] == [0, 1]
    aucs = [r.model_meta["validation"]["val_loss"] for r in result.runs.values()]
    assert result.stats["val_loss"]["mean"] == pytest.approx(sum(aucs) / 2)
    assert result.stats["val_loss"]["std"] == pytest.approx(abs(aucs[0] - aucs[1]) / math.sqrt(2))
    tests = [json.loads((r.eval_dir("pairsDevTest.txt") / "metrics.json").read_text())["accuracy"]
             for r in result.runs.values()]
    assert result.stats["test_accuracy"]["values"] == pytest.approx(tests)
    saved = json.loads((result.folder / REPEAT_FILE).read_text())
    assert [s["seed"] for s in saved["seeds"]] == [0, 1] and "eval_seconds" in saved["seeds"][0]
    assert saved["stats"]["val_auc"] == result.stats["val_auc"]


def test_repeat_refuses_a_view2_fold_it_would_test_before_training(synthetic_home: Path,
                                                                    tmp_path: Path):
    with pytest.raises(LeakageError, match=r"data.view2_fold=0: a run on a View 2 fold trains "
                                           "on DevTest's people"):
        run_repeat("default", [*FIXED, "data.view2_fold=0"], [0, 1], open_lfw(synthetic_home),
                   tmp_path / "runs", evaluate=True)
    assert not (tmp_path / "runs").exists()


def test_repeat_refuses_repeated_seeds(synthetic_home: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="expected different seeds"):
        run_repeat("default", FIXED, [1, 1], open_lfw(synthetic_home), tmp_path)


@pytest.mark.parametrize(("seeds", "message"), [
    (5, "seeds is 5, expected a list"),
    ([{"seed": 1}], "seeds.0.run: expected the seed's run folder"),
    ([{"seed": 1, "run": "/etc"}], "seeds.0.run: expected the seed's run folder"),
    ([{"seed": 1, "run": "seed-1/x", "eval_seconds": "slow"}],
     "seeds.0.eval_seconds is 'slow', expected a number"),
])
def test_a_damaged_repeat_json_is_named_with_its_field(tmp_path, seeds, message):
    (tmp_path / REPEAT_FILE).write_text(json.dumps({"config": "default", "seeds": seeds}))
    with pytest.raises(DamagedFileError, match=f"{REPEAT_FILE}: {message}"):
        read_repeat(tmp_path)
