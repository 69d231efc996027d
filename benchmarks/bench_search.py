"""Pruning's saving: a TPE study of `default` with the median, percentile or Hyperband pruner
against the same study without it (same seed), on the real LFW; then a kill-and-resume check.

    python benchmarks/bench_search.py --trials 12 --epochs 6   # ~80 minutes on 2 AMD cores

Writes benchmarks/results/search.json: for each study its trials (by state), trial-epochs
spent, wall time, best validation AUC, and the best trial's pairsDevTest accuracy (scored once,
after the study); the machine; and whether a search killed mid-trial and run again finished
without rerunning a trial. Target: the pruned study spends >= 40% fewer trial-epochs for a best
validation AUC within 0.005 of the unpruned one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from siamface.data.importer import import_lfw
from siamface.experiments.search import run_search
from siamface.experiments.spec import PRUNERS, load_spec, spec_from_dict
from siamface.experiments.study_folder import StudyFolder
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_SAVING = 0.40
TARGET_AUC_GAP = 0.005


def study_spec(name: str, epochs: int, trials: int, pruner: dict | None, overrides: list[str],
               drop: list[str], seed: int = 0) -> dict:
    """The shipped TPE spec at ``epochs`` epochs a trial, with ``pruner`` (None: no pruning),
    without the searched keys in ``drop``, its sampler seeded by ``seed`` (the trials' training
    seed is the config's: ``--set seed=N`` changes it)."""
    spec = load_spec("default-tpe").to_dict()
    spec["space"] = {k: v for k, v in spec["space"].items() if k not in drop}
    spec.update(name=name, n_trials=trials, seed=seed,
                fixed=[*spec["fixed"], f"train.epochs={epochs}", *overrides])
    spec["pruner"] = pruner or {"name": "none"}
    return spec


def trial_curves(folder: StudyFolder) -> list[dict]:
    """Each trial's state and validation AUC after every epoch it ran (from its run folder)."""
    curves = []
    for record in folder.trials():
        run_dir = folder.run_dir(record["number"])
        rows = [] if run_dir is None else Run(run_dir).summary()
        curves.append({"number": record["number"], "state": record["state"],
                       "val_auc": [round(float(r["val_auc"]), 4) for r in rows]})
    return curves


def run_study(spec: dict, lfw, root: Path) -> dict:
    start = time.perf_counter()
    result = run_search(spec_from_dict(spec), lfw, root / spec["name"], evaluate=True)
    wall = time.perf_counter() - start
    folder = StudyFolder(root / spec["name"])
    records = folder.trials()
    return {
        "trials": result.counts,
        "trial_epochs": sum(r.get("epochs", 0) for r in records),
        "wall_seconds": wall,
        "best_val_auc": None if result.best is None else result.best["value"],
        "best_params": None if result.best is None else result.best["params"],
        "best_devtest_accuracy": None if result.test_metrics is None
        else result.test_metrics["accuracy"],
        "curves": trial_curves(folder),
    }


def kill_and_resume(spec: dict, home: Path, root: Path) -> dict:
    """Run the search as `siamface search`, SIGKILL it while a trial after the first is past
    its first epoch, run it again."""
    path = root / "kill.yaml"
    path.write_text(yaml.safe_dump({**spec, "name": "kill"}))
    study = root / "kill"
    cmd = [sys.executable, "-m", "siamface", "--data-dir", str(home), "search", str(path),
           "--study-dir", str(study), "--heartbeat", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    killed: list[int] = []
    while not killed:  # a trial pruned at its first epoch may end before the kill lands
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        while not running_past_first_epoch(study):
            if worker.poll() is not None:
                raise SystemExit("the search ended before a trial could be killed in it")
            time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed = [r["number"] for r in StudyFolder(study).trials() if r["state"] == "running"]
    finished_before = {r["number"] for r in StudyFolder(study).trials()
                       if r["state"] != "running"}
    time.sleep(5)  # past the grace period (two heartbeats)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    records = StudyFolder(study).trials()
    reran = [r["number"] for r in records if r.get("retried_from") in finished_before]
    states = [r["state"] for r in records]
    finished = states.count("complete") + states.count("pruned")  # a pruned trial ended too
    retried = all(any(r.get("retried_from") == k for r in records) for k in killed)
    return {"killed_in_trial": killed[0], "trials_after_resume": len(records),
            "complete": states.count("complete"), "pruned": states.count("pruned"),
            "finished_trials_rerun": reran, "dead_trial_retried": retried,
            "ok": not reran and retried and finished == spec["n_trials"]}


def running_past_first_epoch(study: Path) -> bool:
    """Whether a trial other than the first is running and has finished an epoch."""
    return any(r["state"] == "running" and r["number"] >= 1
               and any(study.glob(f"trials/{r['number']:04d}/*/summary.csv"))
               for r in StudyFolder(study).trials())


def recheck_kill(args: argparse.Namespace, pruner: dict) -> None:
    """Run the kill-and-resume check again and replace it (and its machine) in ``args.out``."""
    out = json.loads(args.out.read_text(encoding="utf-8"))
    asked = {"pruner": pruner, "epochs": args.epochs, "overrides": args.overrides,
             "seed": args.seed}
    measured = {k: out["settings"].get(k) for k in asked}
    if measured != asked:
        raise SystemExit(f"{args.out} was measured with {measured}, not {asked}")
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = Path(tmp)
        home = args.home or root / "home"
        import_lfw([args.lfw], home, progress=False)
        spec = study_spec("kill", args.epochs, args.kill_trials, pruner, args.overrides,
                          args.drop, args.seed)
        out["kill_and_resume"] = kill_and_resume(spec, home, root)
    out["kill_and_resume_machine"] = machine_info()
    write_json_atomic(args.out, out)
    print(json.dumps(out["kill_and_resume"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "lfw")
    parser.add_argument("--home", type=Path, help="data home (default: a temporary one)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--pruner", choices=[name for name in PRUNERS if name != "none"],
                        default="median")
    parser.add_argument("--percentile", type=float, default=25.0,
                        help="percentile pruner: the top share of finished trials' values at "
                        "an epoch, in percent, that a trial must reach to go on")
    parser.add_argument("--startup", type=int, default=2,
                        help="trials that complete before any is pruned")
    parser.add_argument("--warmup", type=int, default=1,
                        help="n_warmup_steps (epochs count from 1, so 1 lets the pruner stop a "
                        "trial after its first epoch)")
    parser.add_argument("--min-resource", type=int, default=1,
                        help="hyperband: the epochs of its first rung")
    parser.add_argument("--reduction-factor", type=int, default=3,
                        help="hyperband: 1 in this many trials goes on at each rung")
    parser.add_argument("--seed", type=int, default=0,
                        help="the samplers' seed (both studies sample the same trials until "
                        "one is pruned)")
    parser.add_argument("--kill-trials", type=int, default=3,
                        help="trials of the kill-and-resume study")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[],
                        help="extra fixed overrides (e.g. data.size=32 for a smoke test)")
    parser.add_argument("--drop", nargs="*", default=[], metavar="KEY",
                        help="searched keys to leave out (e.g. data.identities_per_batch on a "
                        "data set of fewer than 48 people)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "search.json")
    parser.add_argument("--kill-only", action="store_true",
                        help="run only the kill-and-resume check and update it in --out")
    args = parser.parse_args()
    if args.pruner == "hyperband":  # successive halving at rungs min_resource x factor^k
        pruner = {"name": "hyperband", "min_resource": args.min_resource,
                  "max_resource": args.epochs, "reduction_factor": args.reduction_factor}
    else:
        pruner = {"name": args.pruner, "n_startup_trials": args.startup,
                  "n_warmup_steps": args.warmup}
    if args.pruner == "percentile":
        pruner["percentile"] = args.percentile
    if args.kill_only:
        recheck_kill(args, pruner)
        return

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = Path(tmp)
        home = args.home or root / "home"
        lfw = import_lfw([args.lfw], home, progress=False)
        studies = {}
        for name, study_pruner in (("pruned", pruner), ("unpruned", None)):
            spec = study_spec(name, args.epochs, args.trials, study_pruner, args.overrides,
                              args.drop, args.seed)
            studies[name] = run_study(spec, lfw, root)
            print(name, json.dumps(studies[name]), flush=True)
        kill_spec = study_spec("kill", args.epochs, args.kill_trials, pruner, args.overrides,
                               args.drop, args.seed)
        kill = kill_and_resume(kill_spec, home, root)
    p, u = studies["pruned"], studies["unpruned"]
    saving = 1 - p["trial_epochs"] / u["trial_epochs"]
    gap = (u["best_val_auc"] or 0) - (p["best_val_auc"] or 0)
    out = {
        "command": " ".join(sys.argv),
        "settings": {"trials": args.trials, "epochs": args.epochs, "seed": args.seed,
                     "spec": "default-tpe", "pruner": pruner, "overrides": args.overrides,
                     "dropped": args.drop},
        "studies": studies,
        "trial_epoch_saving": saving,
        "best_val_auc_gap": gap,
        "target": {"saving_at_least": TARGET_SAVING, "auc_gap_at_most": TARGET_AUC_GAP,
                   "met": saving >= TARGET_SAVING and gap <= TARGET_AUC_GAP},
        "kill_and_resume": kill,
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, out)
    print(json.dumps({k: out[k] for k in ("trial_epoch_saving", "best_val_auc_gap", "target",
                                          "kill_and_resume")}, indent=1))


if __name__ == "__main__":
    main()
