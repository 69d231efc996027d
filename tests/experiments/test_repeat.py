import json
import math
from pathlib import Path

import pytest

from siamface.data.lfw import open_lfw
from siamface.data.splits import LeakageError
from siamface.errors import ConfigError
from siamface.experiments.repeat import (
    REPEAT_FILE,
    RepeatError,
    read_repeat,
    resume_repeat,
    run_repeat,
    summarise,
)
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


def test_a_folder_without_repeat_json_is_named_as_no_repeat_folder(tmp_path):
    with pytest.raises(RepeatError, match=f"^{tmp_path}: not a repeat folder "
                                          f"\\(no {REPEAT_FILE}\\)"):
        read_repeat(tmp_path)  # e.g. a run folder given to `siamface repeat --resume`


@pytest.mark.parametrize(("seeds", "message"), [
    (5, "seeds is 5, expected a list"),
    ([{"seed": 1}], "seeds.0.run: expected the seed's run folder"),
    ([{"seed": 1, "run": "/etc"}], "seeds.0.run: expected the seed's run folder"),
    ([{"seed": 1, "run": "seed-1/x", "eval_seconds": "slow"}],
     "seeds.0.eval_seconds is 'slow', expected a number"),
    ([{"seed": "1", "run": "seed-1/x"}], "seeds.0.seed is '1', expected a whole number"),
])
def test_a_damaged_repeat_json_is_named_with_its_field(tmp_path, seeds, message):
    (tmp_path / REPEAT_FILE).write_text(json.dumps({"config": "default", "seeds": seeds}))
    with pytest.raises(DamagedFileError, match=f"{REPEAT_FILE}: {message}"):
        read_repeat(tmp_path)


class Stop(Exception):
    """Stands in for a kill."""


def test_a_killed_repeat_continues_where_it_stopped_as_the_whole_one_would_have(
        synthetic_home: Path, tmp_path: Path):
    lfw = open_lfw(synthetic_home)
    two_epochs = [*FIXED, "train.epochs=2"]
    whole = run_repeat("default", two_epochs, [0, 1], lfw, tmp_path / "whole", evaluate=True)

    def killed_in_seed_0s_second_epoch(row):
        if row["epoch"] == 2:  # after epoch 1's checkpoint
            raise Stop

    with pytest.raises(Stop):
        run_repeat("default", two_epochs, [0, 1], lfw, tmp_path / "cut", evaluate=True,
                   on_epoch_end=killed_in_seed_0s_second_epoch)
    (folder,) = (tmp_path / "cut").iterdir()
    stopped = read_repeat(folder)  # written as the repeat began
    assert stopped["seeds"] == [] and "stats" not in stopped
    assert stopped["plan"] == {"config": "default", "overrides": two_epochs, "seeds": [0, 1],
                               "evaluate": True}
    seed_0_run = next((folder / "seed-0").iterdir())

    result = resume_repeat(folder, lfw)  # seed 0 goes on, seed 1 is trained
    assert result.runs[0].path == seed_0_run  # continued, not begun again beside it
    assert [len(list((folder / f"seed-{s}").glob("*/config.yaml"))) for s in (0, 1)] == [1, 1]
    for metric in ("val_loss", "test_accuracy", "test_auc"):
        assert result.stats[metric]["values"] == pytest.approx(
            whole.stats[metric]["values"], rel=1e-5, abs=1e-6), metric
    saved = read_repeat(folder)
    assert [s["seed"] for s in saved["seeds"]] == [0, 1] and "stats" in saved
    assert resume_repeat(folder, lfw).stats == result.stats  # finished: nothing trains again


def test_a_repeat_whose_config_changed_since_it_began_is_not_continued(synthetic_home: Path,
                                                                        tmp_path: Path):
    import shutil

    import yaml

    from siamface.config.loader import CONFIG_DIR

    mine = tmp_path / "mine.yaml"
    shutil.copy(CONFIG_DIR / "default.yaml", mine)
    lfw = open_lfw(synthetic_home)
    result = run_repeat(str(mine), [*FIXED, "train.epochs=1"], [0], lfw, tmp_path / "runs")
    edited = yaml.safe_load(mine.read_text())
    edited["optim"]["weight_decay"] = 0.125
    mine.write_text(yaml.safe_dump(edited))
    with pytest.raises(RepeatError, match=r"mine.yaml has changed since the repeat began "
                                          r"\(optim.weight_decay: .* then, 0.125 now\)"):
        resume_repeat(result.folder, lfw)
    (result.folder / REPEAT_FILE).write_text(json.dumps({"config": "default", "seeds": []}))
    with pytest.raises(RepeatError, match="no plan of the repeat's seeds"):
        resume_repeat(result.folder, lfw)


def test_resuming_a_path_that_is_no_repeat_makes_no_folder_of_it(synthetic_home: Path,
                                                                 tmp_path: Path):
    typo = tmp_path / "repeat-defualt"
    with pytest.raises(RepeatError, match=r"not a repeat folder \(no repeat\.json\)"):
        resume_repeat(typo, open_lfw(synthetic_home))
    assert not typo.exists()  # no lock file made a folder of it
