"""View 2 benchmark: LFW's reporting protocol, a model trained per fold, against the targets.

Runs what ``siamface view2 CONFIG`` runs (``experiments.view2.run_view2``): for each of
pairs.txt's ten folds a run of CONFIG trained on the other nine folds only, its epoch and
threshold chosen on a person-disjoint validation split of them, the fold scored once. It
records each fold, LFW's mean accuracy +- standard error, mean AUC and TAR at FAR 1%, minutes
per fold and the machine, under ``settings[<setting>]`` of the JSON (restricted or unrestricted,
as the config trains), so both settings live in one file. The folder is resumable: run the same
command with the same --folder to continue after an interruption.

    .venv/bin/python benchmarks/bench_view2.py --config default --home HOME \
        --folder runs/view2-default --out benchmarks/results/view2.json

Targets (issue 13): unrestricted >= 90% mean over the ten folds; the restricted figure is
reported beside it. For comparison, LFW's results page lists no "unrestricted, no outside data"
entry; its best image-restricted no-outside-data entries are quoted in the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from siamface.data.importer import import_lfw
from siamface.data.lfw import open_lfw
from siamface.data.people import VIEW2_FOLDS
from siamface.experiments.view2 import run_view2
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

TARGET_UNRESTRICTED = 0.90
# LFW's results page, image-restricted with no outside data (mean accuracy over View 2)
LFW_RESTRICTED_NO_OUTSIDE_DATA = {
    "MRF-Fusion-CSKDA (2014)": 0.959, "POP-PEP (2015)": 0.911, "Eigen-PEP (2014)": 0.890,
    "Fisher vector faces (2013)": 0.875,
}


def setting_of(folds: list[dict[str, Any]]) -> str:
    """"restricted" when every fold trained on given pairs only, else "unrestricted"."""
    return "restricted" if all(f["setting"] == "restricted" for f in folds) else "unrestricted"


def record(config: str, overrides: list[str], folder: Path, folds: list[dict[str, Any]],
           summary: dict[str, Any] | None, machine: dict[str, Any]) -> dict[str, Any]:
    """One setting's entry: the folds so far, the summary and whether the target is met."""
    setting = setting_of(folds)
    target = TARGET_UNRESTRICTED if setting == "unrestricted" else None
    complete = len(folds) == VIEW2_FOLDS
    return {
        "config": config,
        "overrides": overrides,
        "folder": str(folder),
        "folds_scored": len(folds),
        "mean_accuracy": summary["mean_accuracy"] if summary else None,
        "sem": summary["sem"] if summary else None,
        "mean_auc": summary["mean_auc"] if summary else None,
        "mean_tar_at_far_0_01": summary["mean_tar_at_far_0_01"] if summary else None,
        "minutes_per_fold": round(sum(f["train_seconds"] for f in folds) / 60 / len(folds), 2),
        "target_mean_accuracy": target,
        "passed": summary["mean_accuracy"] >= target if target and complete and summary
        else None,
        "folds": [{k: v for k, v in f.items() if k != "tar_on_grid"} for f in folds],
        "machine": machine,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--folds", type=int, nargs="+", default=list(range(VIEW2_FOLDS)))
    parser.add_argument("--lfw", type=Path, default=Path("../shared/lfw"))
    parser.add_argument("--home", type=Path, required=True, help="the data home")
    parser.add_argument("--folder", type=Path, required=True,
                        help="the View 2 folder (continued when it exists)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/view2.json"))
    args = parser.parse_args()

    import_lfw([args.lfw], args.home, progress=False)  # a no-op when already imported
    lfw = open_lfw(args.home)
    machine = machine_info()
    start = time.perf_counter()
    result = run_view2(args.config, args.set, lfw, args.folder, args.folds,
                       on_fold=lambda r: print(
                           f"fold {r['fold']}: {r['accuracy']:.4f} (AUC {r['auc']:.4f}, "
                           f"{r['train_seconds'] / 60:.1f} min)", flush=True))
    entry = record(args.config, args.set, args.folder, result.folds, result.summary, machine)
    entry["wall_minutes_this_call"] = round((time.perf_counter() - start) / 60, 1)
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    existing.update(benchmark="view2", protocol="LFW View 2: per fold, a model trained on the "
                    "other nine folds; epoch and threshold from a person-disjoint validation "
                    "split of them; the fold scored once",
                    lfw_restricted_no_outside_data=LFW_RESTRICTED_NO_OUTSIDE_DATA)
    existing.setdefault("settings", {})[setting_of(result.folds)] = entry
    write_json_atomic(args.out, existing)
    if result.summary:
        s = result.summary
        print(f"{args.config} ({setting_of(result.folds)}): {s['mean_accuracy']:.4f} ± "
              f"{s['sem']:.4f} over {s['folds_scored']} folds, AUC {s['mean_auc']:.4f} "
              f"-> {args.out}")


if __name__ == "__main__":
    main()
