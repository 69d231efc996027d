import json
import re
import shutil
import signal
import time
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from siamface.data.lfw import open_lfw
from siamface.data.splits import LeakageError
from siamface.experiments.search import (
    SearchResult,
    default_storage_url,
    evaluate_best,
    make_pruner,
    make_sampler,
    make_storage,
    run_search,
    space_refusal,
)
from siamface.experiments.spec import SpecError, spec_from_dict
from siamface.experiments.study_folder import StudyFolder, StudyFolderError
from siamface.run_folder import Run

from .conftest import FIXED, siamface_process, tiny_spec, write_spec


def storage_trials(folder: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=StudyFolder(folder).spec().name,
                              storage=f"sqlite:///{folder / 'study.db'}")
    return study.get_trials()


def test_failed_trials_keep_their_reason_and_the_search_goes_on(finished_study: Path):
    records = {tuple(r["params"].values()): r for r in StudyFolder(finished_study).trials()}
    assert len(records) == 4  # the 2 x 2 grid, each combination once
    assert records[(3e-3, None)]["state"] == "complete"
    impossible = records[(3e-3, 0.9)]
    assert impossible["state"] == "failed" and impossible["run"] is None
    assert "optim.momentum does not apply to optimizer 'adamw'" in impossible["reason"]
    diverged = records[(1e30, None)]
    assert diverged["state"] == "failed" and "loss became nan" in diverged["reason"]
    assert diverged["run"] is not None  # its run folder is kept
    states = sorted(t.state.name for t in storage_trials(finished_study))
    assert states == ["COMPLETE", "FAIL", "FAIL", "FAIL"]


def test_the_value_is_the_chosen_epochs_validation_objective(finished_study: Path):
    folder = StudyFolder(finished_study)
    (record,) = [r for r in folder.trials() if r["state"] == "complete"]
    run = Run(folder.run_dir(record["number"]))
    assert record["value"] == pytest.approx(run.summary()[run.best_epoch - 1]["val_loss"],
                                            rel=1e-5)
    (trial,) = [t for t in storage_trials(finished_study) if t.state.name == "COMPLETE"]
    assert trial.value == record["value"]


def test_evaluate_scores_only_the_best_trial_on_devtest(finished_study: Path):
    folder = StudyFolder(finished_study)
    best = next(r for r in folder.trials() if r["state"] == "complete")
    assert folder.study_info()["evaluated_trial"] == best["number"]
    scored = sorted(finished_study.glob("trials/*/*/eval/pairsDevTest/metrics.json"))
    assert scored == [folder.run_dir(best["number"]) / "eval/pairsDevTest/metrics.json"]


def test_rerunning_a_finished_study_runs_no_trial(finished_study: Path, synthetic_home: Path):
    folder = StudyFolder(finished_study)
    spec = folder.spec()
    before = {p: p.stat().st_mtime_ns for p in finished_study.glob("trials/*/trial.json")}
    result = run_search(spec, open_lfw(synthetic_home), finished_study)
    assert result.counts["complete"] == 1 and result.counts["failed"] == 3
    assert {p: p.stat().st_mtime_ns for p in finished_study.glob("trials/*/trial.json")} == before
    assert len(storage_trials(finished_study)) == 4


def test_a_study_folder_refuses_another_spec(finished_study: Path, synthetic_home: Path):
    other = spec_from_dict(tiny_spec(name="finished"))
    with pytest.raises(StudyFolderError, match="started with a different spec"):
        run_search(other, open_lfw(synthetic_home), finished_study)


@pytest.mark.parametrize("damage", ["delete", "empty"])
def test_a_study_whose_storage_was_lost_is_refused_not_run_again_over_its_records(
        finished_study: Path, synthetic_home: Path, tmp_path: Path, damage: str):
    import shutil

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    db = copy / "study.db"
    db.unlink() if damage == "delete" else db.write_bytes(b"")
    records = {p: p.read_bytes() for p in copy.glob("trials/*/trial.json")}
    with pytest.raises(StudyFolderError, match=r"trials/0000 records a trial that .*study\.db "
                                               r"does not hold: the study's storage was deleted"):
        run_search(StudyFolder(copy).spec(), open_lfw(synthetic_home), copy)
    assert {p: p.read_bytes() for p in copy.glob("trials/*/trial.json")} == records
    assert not list(copy.glob("trials/0004"))  # no trial was run


def test_two_specs_of_one_name_cannot_share_a_study_in_one_storage(synthetic_home: Path,
                                                                   tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    one = {"optim.lr": {"type": "categorical", "choices": [3.0e-3]}}
    first = spec_from_dict(tiny_spec(name="shared", space=one, n_trials=1))
    run_search(first, open_lfw(synthetic_home), tmp_path / "a", storage_url=url)
    other = spec_from_dict(tiny_spec(name="shared", space=one, n_trials=2, objective="val_auc"))
    with pytest.raises(StudyFolderError, match="made by another spec of that name"):
        run_search(other, open_lfw(synthetic_home), tmp_path / "c", storage_url=url)
    assert not (tmp_path / "c").exists()  # refused before its folder was started
    more = spec_from_dict(tiny_spec(name="shared", space=one, n_trials=2))  # only longer
    assert run_search(more, open_lfw(synthetic_home), tmp_path / "a2",
                      storage_url=url).counts["complete"] >= 1
    longer_trials = tiny_spec(name="shared", space=one, n_trials=2)
    longer_trials["fixed"] = [*longer_trials["fixed"], "train.epochs=4"]  # another recipe
    with pytest.raises(StudyFolderError, match=r"trains another recipe than this spec's base "
                                               r"config and fixed overrides \(train.epochs: 3 "
                                               r"then, 4 now\)"):
        run_search(spec_from_dict(longer_trials), open_lfw(synthetic_home), tmp_path / "d",
                   storage_url=url)


def test_a_retry_interrupted_again_names_its_own_retry(tmp_path: Path):
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from siamface.experiments.search import sync_killed_trials

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    lr = {"params": {"optim.lr": 0.1}, "distributions": {"optim.lr": FloatDistribution(0, 1)}}
    study.add_trial(create_trial(state=TrialState.FAIL, **lr))  # interrupted, retried as 1
    study.add_trial(create_trial(state=TrialState.FAIL, **lr, system_attrs={
        "failed_trial": 0, "retry_history": [0]}))  # interrupted again, retried as 2
    study.add_trial(create_trial(state=TrialState.WAITING, **lr, system_attrs={
        "failed_trial": 0, "retry_history": [0, 1]}))
    folder = StudyFolder(tmp_path)
    for number in (0, 1):
        folder.write_trial(number, state="running", params={"optim.lr": 0.1})
    sync_killed_trials(study, folder)
    assert folder.trial(0)["reason"].endswith("; retried as trial 1")
    assert folder.trial(1)["reason"].endswith("; retried as trial 2")


def test_a_study_begun_before_a_new_spec_check_is_still_read(finished_study: Path,
                                                              tmp_path: Path):
    import shutil

    import yaml

    from siamface.experiments.compare import compare

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    spec = yaml.safe_load((copy / "spec.yaml").read_text())
    spec["fixed"].append("optim.lr=0.1")  # searched too: refused for a new study only
    (copy / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert StudyFolder(copy).spec().fixed[-1] == "optim.lr=0.1"
    assert len(compare([copy]).rows) == 4


def test_workers_whose_base_config_lies_elsewhere_join_one_study(synthetic_home: Path,
                                                                  tmp_path: Path):
    import shutil

    from siamface.config.loader import CONFIG_DIR

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    rates = {"optim.lr": {"type": "categorical", "choices": [1.0e-3, 3.0e-3]}}
    for machine, trials in (("a", 1), ("b", 2)):  # the same file, at another path on each
        base = tmp_path / machine / "mine.yaml"
        base.parent.mkdir()
        shutil.copy(CONFIG_DIR / "default.yaml", base)
        spec = spec_from_dict(tiny_spec(name="mine", base=str(base), space=rates,
                                        n_trials=trials))
        run_search(spec, open_lfw(synthetic_home), tmp_path / machine / "study",
                   storage_url=url)
    assert len(optuna.load_study(study_name="mine", storage=url).trials) == 2


MEDIAN_FROM_THE_FIRST = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}


def margin_study(home: Path, folder: Path, epochs: int,
                 pruner: dict = MEDIAN_FROM_THE_FIRST) -> SearchResult:
    """Two trials of ``epochs`` epochs under ``pruner`` (by default the median rule with one
    startup trial), the second worse than the first at every epoch by construction, not by
    training noise: the tiny model's 8-d embeddings leave a BatchNorm standardised, a few units
    apart, so a different-person pair costs (1000 - d)^2 / 2, about 5e5, under contrastive
    margin 1000 and a few units at most under margin 1 (val_loss about 2.5e5 against 0.24). The
    grid's order for seed 0 runs margin 1 first when the choices are listed this way."""
    spec = spec_from_dict(tiny_spec(
        fixed=[*FIXED, f"train.epochs={epochs}", "loss.name=contrastive", "model.head=euclidean"],
        seed=0, pruner=pruner,
        space={"loss.margin": {"type": "categorical", "choices": [1000.0, 1.0]}}))
    return run_search(spec, open_lfw(home), folder)


def test_the_median_pruner_stops_a_trial_worse_than_the_median(synthetic_home: Path,
                                                               tmp_path: Path):
    # the second trial is pruned at its first epoch, whose val_loss is worse than the first's
    result = margin_study(synthetic_home, tmp_path / "study", epochs=3)
    assert result.counts["complete"] == 1 and result.counts["pruned"] == 1
    folder = StudyFolder(tmp_path / "study")
    first, second = folder.trials()
    assert first["state"] == "complete" and second["state"] == "pruned"
    assert second["reason"].startswith("pruned after epoch 1: val_loss")
    pruned_run = Run(folder.run_dir(second["number"]))
    assert not pruned_run.is_finished and second["epochs"] == 1  # kept, as far as it got
    first_curve = Run(folder.run_dir(first["number"])).summary()
    assert pruned_run.summary()[0]["val_loss"] > first_curve[0]["val_loss"]
    assert len(first_curve) == 3


def test_hyperband_stops_a_worse_trial_at_its_first_rung(synthetic_home: Path, tmp_path: Path):
    # max_resource given, as default-tpe gives it; 3 epochs with reduction factor 4 make one
    # bracket with one rung, at epoch 1, where 1 trial in 4 (and at least the best so far) goes
    # on: the second trial, worse there, stops
    hyperband = {"name": "hyperband", "min_resource": 1, "reduction_factor": 4,
                 "max_resource": 3}
    result = margin_study(synthetic_home, tmp_path / "study", epochs=3, pruner=hyperband)
    assert result.counts["complete"] == 1 and result.counts["pruned"] == 1
    first, second = StudyFolder(tmp_path / "study").trials()
    assert first["epochs"] == 3 and second["epochs"] == 1
    assert second["reason"].startswith("pruned after epoch 1: val_loss")


def test_a_pruner_takes_optunas_own_options_and_a_bad_one_is_one_line():
    spec = spec_from_dict(tiny_spec(sampler="tpe", pruner={
        "name": "percentile", "percentile": 20.0, "n_startup_trials": 6, "n_warmup_steps": 1}))
    assert isinstance(make_pruner(spec), optuna.pruners.PercentilePruner)
    no_percentile = spec_from_dict(tiny_spec(sampler="tpe", pruner={"name": "percentile"}))
    with pytest.raises(SpecError, match=r"pruner percentile: .*'percentile'"):
        make_pruner(no_percentile)


def test_a_trial_that_ran_every_epoch_completes_however_it_compares(synthetic_home: Path,
                                                                    tmp_path: Path):
    # one epoch a trial: the second trial's only epoch is its last, so the median rule that
    # pruned it there now leaves it complete, with its value recorded
    result = margin_study(synthetic_home, tmp_path / "study", epochs=1)
    assert result.counts["complete"] == 2 and result.counts["pruned"] == 0
    first, second = StudyFolder(tmp_path / "study").trials()
    assert second["value"] > first["value"]  # worse than the median, kept all the same


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def test_a_killed_search_resumes_and_retries_the_dead_trial(synthetic_home: Path,
                                                            tmp_path: Path):
    # one trial, long enough to be killed in the middle of it (a few seconds an epoch here)
    spec = write_spec(tmp_path / "spec.yaml", name="killed", n_trials=1,
                      fixed=[*FIXED, "train.epochs=12"],
                      space={"optim.lr": {"type": "categorical", "choices": [1e-3]}})
    study = tmp_path / "study"
    args = ["search", str(spec), "--study-dir", str(study), "--heartbeat", "1", "--no-progress"]
    worker = siamface_process(synthetic_home, *args)
    wait_for(lambda: any(study.glob("trials/0000/*/summary.csv")))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert StudyFolder(study).trial(0)["state"] == "running"
    time.sleep(2.5)  # the grace period: two heartbeats
    again = siamface_process(synthetic_home, *args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    folder = StudyFolder(study)
    dead, retry = folder.trials()
    assert dead["state"] == "failed" and "died mid-trial" in dead["reason"]
    assert dead["run"] == folder.run_dir(0).name  # it had begun its run folder
    assert "retried as trial 1" in dead["reason"]
    assert retry["state"] == "complete" and retry["retried_from"] == 0
    assert retry["params"] == dead["params"]
    assert [t.state.name for t in storage_trials(study)] == ["FAIL", "COMPLETE"]
    assert "trial 1: complete" in out
    assert json.loads((study / "study.json").read_text())["name"] == "killed"


def test_a_terminated_search_stops_as_ctrl_c_does(synthetic_home: Path, tmp_path: Path):
    spec = write_spec(tmp_path / "spec.yaml", name="stopped", n_trials=1,
                      fixed=[*FIXED, "train.epochs=6"],
                      space={"optim.lr": {"type": "categorical", "choices": [1e-3]}})
    study = tmp_path / "study"
    worker = siamface_process(synthetic_home, "search", str(spec), "--study-dir", str(study),
                              "--no-progress")
    wait_for(lambda: any(study.glob("trials/0000/*/summary.csv")))
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    # its line, then it dies by the signal, as a stopped process is expected to
    assert worker.returncode == -signal.SIGTERM and err.endswith("siamface: terminated\n")
    stopped = StudyFolder(study).trial(0)  # failed at once, not left "running", and queued
    assert stopped["state"] == "failed" and "interrupted" in stopped["reason"]
    assert "retried as trial 1" in stopped["reason"]
    assert [t.state.name for t in storage_trials(study)] == ["FAIL", "WAITING"]
    again = siamface_process(synthetic_home, "search", str(spec), "--study-dir", str(study),
                             "--no-progress")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    retry = StudyFolder(study).trial(1)  # the stopped trial's parameters, run to the end
    assert retry["state"] == "complete" and retry["retried_from"] == 0
    assert retry["params"] == stopped["params"]


def test_workers_counting_at_once_start_only_the_trials_left(synthetic_home: Path,
                                                             tmp_path: Path, monkeypatch):
    """Two workers, one trial left: each count takes long enough that, unlocked, both would
    see it free and both start it."""
    import threading

    from siamface.experiments import search

    counted = search.count_states

    def slow_count(study):
        counts = counted(study)
        time.sleep(2.0)  # longer than a worker takes to open the study
        return counts

    monkeypatch.setattr(search, "count_states", slow_count)
    spec = spec_from_dict(tiny_spec(name="race", sampler="tpe", n_trials=1, space={
        "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}))
    lfw, folder = open_lfw(synthetic_home), tmp_path / "study"
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            run_search(spec, lfw, folder)
        except BaseException as err:  # shown by the assert below
            errors.append(err)

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    assert errors == []  # both workers opened the new study and counted
    assert [t.state.name for t in storage_trials(folder)] == ["COMPLETE"]


@pytest.mark.parametrize(("space", "value", "problem"), [
    ({"optim.bogus": {"type": "float", "low": 0.1, "high": 0.2}}, "every value",
     "unknown key 'optim.bogus'"),
    ({"optim.lr": {"type": "float", "low": -1.0, "high": -0.5}}, "every value",
     "optim.lr: expected a positive number"),
    # one bad value among good ones: the trials given it would fail, a part of the space lost
    ({"optim.lr": {"type": "float", "low": -1.0, "high": 1.0}}, "-1.0",
     "optim.lr: expected a positive number"),
    ({"optim.lr": {"type": "categorical", "choices": [0.001, "abc"]}}, "'abc'",
     "optim.lr: expected float"),
])
def test_a_value_every_trial_given_it_would_fail_on_is_refused_before_the_study(
        synthetic_home, tmp_path, space, value, problem):
    spec = spec_from_dict(tiny_spec(space=space, sampler="tpe"), source="bad.yaml")
    folder = tmp_path / "study"
    with pytest.raises(SpecError, match=rf"bad\.yaml: space\.{next(iter(space))}: the base config "
                                        rf"refuses {re.escape(value)}.* tried \(.*{problem}"):
        run_search(spec, open_lfw(synthetic_home), folder)
    assert not folder.exists()


@pytest.mark.parametrize("where", ["fixed", "space"])
def test_a_view2_fold_is_refused_before_a_study_that_ends_with_a_test(synthetic_home, tmp_path,
                                                                      where):
    values = ({"fixed": [*FIXED, "data.view2_fold=0"]} if where == "fixed" else
              {"space": {"data.view2_fold": {"type": "categorical", "choices": [0, 1]}}})
    spec = spec_from_dict(tiny_spec(**values), source="folds.yaml")
    error, message = ((LeakageError, "data.view2_fold=0: a run on a View 2 fold") if where ==
                      "fixed" else (SpecError, r"folds\.yaml: space\.data\.view2_fold: a run on "
                                               "a View 2 fold cannot be tested"))
    folder = tmp_path / "study"
    with pytest.raises(error, match=message):
        run_search(spec, open_lfw(synthetic_home), folder, evaluate=True)
    assert not folder.exists()


def test_a_value_the_base_refuses_alone_is_taken_beside_another_parameter():
    # a momentum does not apply to the base's AdamW, but does beside optim.name: sgd
    name = {"type": "categorical", "choices": ["adamw", "sgd"]}
    momentum = {"type": "categorical", "choices": [0.9]}
    fixed = [*FIXED, "optim.betas=null"]
    spec = spec_from_dict(tiny_spec(fixed=fixed,
                                    space={"optim.name": name, "optim.momentum": momentum}))
    assert space_refusal(spec, spec.space[1], 0.9) is None
    alone = spec_from_dict(tiny_spec(fixed=fixed, space={"optim.momentum": momentum}))
    assert "does not apply" in space_refusal(alone, alone.space[0], 0.9)


def test_a_value_taken_only_beside_two_other_parameters_at_once_is_not_refused():
    # Nesterov needs SGD and a momentum: neither alone makes a trial that takes it
    spec = spec_from_dict(tiny_spec(fixed=[*FIXED, "optim.betas=null"], space={
        "optim.name": {"type": "categorical", "choices": ["adamw", "sgd"]},
        "optim.momentum": {"type": "categorical", "choices": [None, 0.9]},
        "optim.nesterov": {"type": "categorical", "choices": [False, True]}}))
    assert space_refusal(spec, spec.space[2], True) is None


def test_tpe_draws_anew_for_each_trial_of_a_study_and_alike_for_a_new_study():
    spec = spec_from_dict(tiny_spec(sampler="tpe", space={
        "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}))

    def first_draw(trials_before: int) -> float:
        study = optuna.create_study(sampler=make_sampler(spec, trials_before))
        return study.ask().suggest_float("optim.lr", 1e-4, 1e-2, log=True)

    # a study continued after 1 or 2 trials (or a second worker) does not repeat trial 0's
    draws = [first_draw(n) for n in (0, 1, 2)]
    assert len(set(draws)) == 3 and first_draw(1) == draws[1]


def test_an_in_memory_storage_is_refused():
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(SpecError, match=f"--storage {url}: an in-memory database ends"):
            make_storage(url)


def test_a_study_folder_that_is_a_file_or_a_storage_out_of_reach_is_one_line_and_no_folder(
        synthetic_home: Path, tmp_path: Path):
    spec = spec_from_dict(tiny_spec(name="nowhere"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StudyFolderError, match=r"afile is a file: a study is kept in a folder"):
        run_search(spec, open_lfw(synthetic_home), tmp_path / "afile")
    bad = "postgresql+psycopg2://u:secret@127.0.0.1:1/none"  # nothing listens on port 1
    with pytest.raises(SpecError, match=r"--storage postgresql\+psycopg2://u:\*\*\*@"):
        run_search(spec, open_lfw(synthetic_home), tmp_path / "new", storage_url=bad)
    assert not (tmp_path / "new").exists()


def test_a_damaged_study_db_is_named_as_the_folders_own(finished_study: Path,
                                                        synthetic_home: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "finished"
    shutil.copytree(finished_study, copy)
    (copy / "study.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    with pytest.raises(SpecError, match=r"^.*finished/study\.db: "):
        run_search(StudyFolder(copy).spec(), open_lfw(synthetic_home), copy)


def test_the_default_storage_keeps_a_study_name_a_name(tmp_path):
    folder = StudyFolder(tmp_path / "what?x%41#")
    url = default_storage_url(folder)  # "?" would start a query, "%41" would be "A"
    assert make_url(url).database == str(tmp_path / "what?x%41#" / "study.db")


def test_a_continued_tpe_study_draws_new_parameters(synthetic_home: Path, tmp_path: Path):
    spec = spec_from_dict(tiny_spec(name="again", sampler="tpe", n_trials=2, space={
        "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}))
    lfw, folder = open_lfw(synthetic_home), tmp_path / "study"

    def stop(record: dict) -> None:
        raise KeyboardInterrupt  # after the first trial, as Ctrl-C between trials

    with pytest.raises(KeyboardInterrupt):
        run_search(spec, lfw, folder, on_trial=stop)
    run_search(spec, lfw, folder)  # a new process would draw with a fresh sampler too
    first, second = StudyFolder(folder).trials()
    assert first["state"] == second["state"] == "complete"
    assert first["params"] != second["params"]  # one seed per process drew trial 0's again


def test_a_trial_that_crashes_is_failed_not_queued_again(synthetic_home, tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug in training")

    monkeypatch.setattr("siamface.pipeline.train", bug)
    spec = spec_from_dict(tiny_spec(name="crash", n_trials=1))
    with pytest.raises(RuntimeError, match="a bug in training"):  # shown, as a bug is
        run_search(spec, open_lfw(synthetic_home), tmp_path / "study", storage_url="")
    assert [t.state.name for t in storage_trials(tmp_path / "study")] == ["FAIL"]  # no retry
    folder = StudyFolder(tmp_path / "study")
    assert folder.storage() is None  # "" is the folder's own study.db
    # its own failure, not an interrupted process's
    assert folder.trial(0)["reason"] == "RuntimeError: a bug in training"
    again = run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    assert again.counts["failed"] == 1 and again.counts["killed"] == 0


def test_evaluate_waits_for_another_workers_running_trial(synthetic_home, tmp_path):
    from siamface.experiments.search import open_study

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    spec = spec_from_dict(tiny_spec(name="busy", n_trials=2))
    open_study(spec, make_storage(url)).ask()  # another worker's trial, running (its heartbeat
    # not begun: never taken for dead)
    result = run_search(spec, open_lfw(synthetic_home), tmp_path / "a", storage_url=url,
                        evaluate=True)
    assert result.counts["complete"] == 1 and result.counts["running"] == 1
    # its best so far is not the study's choice yet: no model scored on the test pairs
    assert result.test_metrics is None and "1 trial(s) still running" in result.not_tested
    assert not list((tmp_path / "a").glob("trials/*/*/eval/pairsDevTest"))


def test_evaluate_names_a_best_trial_in_another_workers_folder(synthetic_home, tmp_path):
    from optuna.trial import TrialState, create_trial

    from siamface.experiments.search import open_study

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    spec = spec_from_dict(tiny_spec(name="elsewhere", n_trials=2))
    run_search(spec, open_lfw(synthetic_home), tmp_path / "a", storage_url=url)
    study = open_study(spec, make_storage(url))
    ours = study.trials  # another worker completes a better trial in its own folder
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=min(t.value for t in ours) - 1,
                                 params=ours[0].params, distributions=ours[0].distributions))
    result = run_search(spec, open_lfw(synthetic_home), tmp_path / "a", storage_url=url,
                        evaluate=True)
    assert result.best is None and result.test_metrics is None
    assert (f"the best trial, {len(ours)}, ran in another worker's study folder"
            in result.not_tested)


def test_an_interrupt_after_a_trials_record_but_before_optuna_knows_runs_it_again(
        synthetic_home: Path, tmp_path: Path, monkeypatch):
    # the trial's record said "complete" while Optuna failed it: no retry was queued, so a
    # grid point was never run and another ran twice
    import siamface.experiments.search as search

    logged = search.log_run

    def ctrl_c(*args, **kwargs):
        logged(*args, **kwargs)
        raise KeyboardInterrupt  # in the logging after the record, before Optuna's

    monkeypatch.setattr(search, "log_run", ctrl_c)
    spec = spec_from_dict(tiny_spec(name="late", n_trials=1))
    with pytest.raises(KeyboardInterrupt):
        run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    stopped = StudyFolder(tmp_path / "study").trial(0)
    assert stopped["state"] == "failed" and "retried as trial 1" in stopped["reason"]
    assert [t.state.name for t in storage_trials(tmp_path / "study")] == ["FAIL", "WAITING"]
    monkeypatch.setattr(search, "log_run", logged)
    run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    states = [t["state"] for t in StudyFolder(tmp_path / "study").trials()]
    assert states == ["failed", "complete"]


def test_two_workers_making_a_new_servers_tables_at_once_both_go_on(tmp_path, monkeypatch):
    # PostgreSQL's "relation already exists" is a ProgrammingError: it ended the second worker
    from optuna import storages
    from sqlalchemy.exc import ProgrammingError

    made = []
    real = storages.RDBStorage

    def racing(*args, **kwargs):
        made.append(1)
        if len(made) == 1:
            raise ProgrammingError("CREATE TABLE studies", {},
                                   Exception('relation "studies" already exists'))
        return real(*args, **kwargs)

    monkeypatch.setattr(storages, "RDBStorage", racing)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert make_storage(f"sqlite:///{tmp_path / 'study.db'}") is not None and len(made) == 2


def test_a_trial_stopped_by_the_data_homes_error_is_run_again_not_failed(synthetic_home,
                                                                        tmp_path, monkeypatch):
    from siamface.data.lfw import CopyChangedError

    def reimported(*args, **kwargs):
        raise CopyChangedError("manifest.json: LFW was imported again while this command ran")

    monkeypatch.setattr("siamface.pipeline.train", reimported)
    spec = spec_from_dict(tiny_spec(name="reimport", n_trials=1))
    with pytest.raises(CopyChangedError):
        run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    # not the trial's own failure: its grid point is queued again
    assert [t.state.name for t in storage_trials(tmp_path / "study")] == ["FAIL", "WAITING"]
    assert StudyFolder(tmp_path / "study").trial(0)["reason"] == (
        "stopped by CopyChangedError: manifest.json: LFW was imported again while this command "
        "ran; retried as trial 1")


def test_a_failed_trials_record_written_late_gets_its_own_reason(tmp_path: Path):
    from optuna.trial import TrialState, create_trial

    from siamface.experiments.search import FAIL_REASON, sync_killed_trials

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    study.add_trial(create_trial(state=TrialState.FAIL,
                                 user_attrs={FAIL_REASON: "RuntimeError: a bug"}))
    folder = StudyFolder(tmp_path)
    folder.write_trial(0, state="running", params={})  # its write of "failed" met a full disk
    sync_killed_trials(study, folder)
    assert folder.trial(0)["state"] == "failed"
    assert folder.trial(0)["reason"] == "RuntimeError: a bug"


def test_a_studys_time_budget_counts_every_command_that_ran_it(synthetic_home, tmp_path,
                                                               monkeypatch):
    import siamface.pipeline as pipeline

    train = pipeline.train

    def a_second_at_least(*args, **kwargs):
        time.sleep(1.1)  # a warm tiny trial can take under a second: this one never does
        return train(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train", a_second_at_least)
    rates = {"optim.lr": {"type": "categorical", "choices": [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]}}
    spec = spec_from_dict(tiny_spec(name="budget", space=rates, n_trials=4, time_budget_s=1))
    first = run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    ran = first.counts["complete"]
    assert 1 <= ran < 4  # each trial takes more than the whole second
    again = run_search(spec, open_lfw(synthetic_home), tmp_path / "study", evaluate=True)
    assert again.counts["complete"] == ran  # spent: no trial starts, whichever command
    assert again.not_tested is None and again.test_metrics is not None  # the study has ended


def test_a_trial_queued_again_runs_after_the_budget_is_spent_and_the_study_then_ends(
        synthetic_home, tmp_path, monkeypatch):
    import siamface.pipeline as pipeline
    from siamface.data.lfw import CopyChangedError

    train = pipeline.train
    calls = []

    def reimported_after_training_once(*args, **kwargs):
        calls.append(1)
        trained = train(*args, **kwargs)
        if len(calls) == 1:
            time.sleep(1.1)  # the trial has run over a second: the study's budget is spent
            raise CopyChangedError("manifest.json: LFW was imported again")
        return trained

    monkeypatch.setattr(pipeline, "train", reimported_after_training_once)
    spec = spec_from_dict(tiny_spec(name="spent", n_trials=2, time_budget_s=1))
    with pytest.raises(CopyChangedError):
        run_search(spec, open_lfw(synthetic_home), tmp_path / "study")
    result = run_search(spec, open_lfw(synthetic_home), tmp_path / "study", evaluate=True)
    # the stopped trial's retry ran though the budget was spent; the study, ended, was tested
    assert result.counts["complete"] == 1 and result.counts["waiting"] == 0
    assert result.not_tested is None and result.test_metrics is not None


def test_the_best_trial_whose_record_names_no_run_is_refused_in_one_line(
        finished_study: Path, synthetic_home: Path, tmp_path: Path):
    folder = StudyFolder(shutil.copytree(finished_study, tmp_path / "study"))
    best = next(t for t in folder.trials() if t["state"] == "complete")
    best = folder.write_trial(best["number"], run=None)
    with pytest.raises(StudyFolderError, match=r"the best trial's record names no run folder"):
        evaluate_best(folder, best, open_lfw(synthetic_home))
