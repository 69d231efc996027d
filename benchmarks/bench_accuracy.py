"""Accuracy benchmark: train a config for several seeds, evaluate each once on pairsDevTest.

For each seed this runs exactly what `siamface train` + `siamface evaluate` do: train on
DevTrain people only, choose the epoch and the threshold on the person-disjoint validation
split of pairsDevTrain, then score pairsDevTest once with the chosen model. It reports the
mean and standard deviation of DevTest accuracy over the seeds and the training wall time per
seed, against the targets of issue 3 (default: >= 80% with <= 30 minutes of training per seed).

    .venv/bin/python benchmarks/bench_accuracy.py --config default --seeds 0 1 2 \
        --lfw ../shared/lfw --out benchmarks/results/accuracy_default.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from siamface.data.importer import import_lfw
from siamface.data.lfw import open_lfw
from siamface.pipeline import evaluate, train
from siamface.training.builder import resolve_config
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

TARGET_ACCURACY = 0.80
TARGET_TRAIN_MINUTES = 30.0


def run_seed(config_name: str, seed: int, overrides: list[str], home: Path,
             runs_dir: Path) -> dict[str, Any]:
    """Train one seed and evaluate it once on pairsDevTest."""
    config = resolve_config(config_name, [*overrides, f"seed={seed}"])
    lfw = open_lfw(home)
    t0, cpu0 = time.perf_counter(), time.process_time()
    run, fit = train(config, lfw, runs_dir, progress=False,
                     on_epoch_end=lambda row: print(f"  seed {seed} {row}", flush=True))
    train_seconds = time.perf_counter() - t0
    # CPU seconds / threads is what the wall time would be on an otherwise idle machine; the
    # development machine is shared, so both are recorded.
    cpu_seconds = time.process_time() - cpu0
    test = evaluate(run, lfw, ["pairsDevTest.txt"], plots=False,
                    progress=False).metrics["pairsDevTest.txt"]
    best = fit.history[fit.best_epoch - 1]
    return {
        "seed": seed,
        "run_dir": str(run.path),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "epochs_run": len(fit.history),
        # train + validate, from summary.csv's per-epoch seconds (the checkpoint is written in
        # the background, during the next epoch)
        "seconds_per_epoch": round(statistics.mean(row["seconds"] for row in fit.history), 1),
        "best_epoch": fit.best_epoch,
        "stopped_because": fit.stopped_because,
        "val_accuracy": best["val_acc"],
        "val_auc": best["val_auc"],
        "test": {k: test[k] for k in ("accuracy", "accuracy_ci95", "accuracy_at_p05", "auc",
                                      "eer", "tar_at_far_0.01", "loss", "confusion")},
    }


def summarise(args: argparse.Namespace, seeds: list[dict[str, Any]],
              machine: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's JSON for the seeds finished so far."""
    accuracies = [s["test"]["accuracy"] for s in seeds]
    minutes = max(s["train_seconds"] for s in seeds) / 60
    mean = statistics.mean(accuracies)
    targets = ({"test_accuracy_mean": TARGET_ACCURACY, "max_train_minutes": TARGET_TRAIN_MINUTES}
               if args.config == "default" else None)  # issue 3 sets targets for default only
    return {
        "benchmark": "accuracy",
        "config": args.config,
        "overrides": args.set,
        "evaluated_on": "pairsDevTest.txt (once per seed, chosen model, validation threshold)",
        "seeds_requested": args.seeds,
        "seeds_completed": [s["seed"] for s in seeds],
        "test_accuracy_mean": mean,
        "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "test_auc_mean": statistics.mean(s["test"]["auc"] for s in seeds),
        "max_train_minutes": round(minutes, 2),
        "targets": targets,
        "passed": (len(seeds) == len(args.seeds) and mean >= TARGET_ACCURACY
                   and minutes <= TARGET_TRAIN_MINUTES) if targets else None,
        "seeds": seeds,
        "machine": machine,
        "loadavg_at_end": machine_info()["loadavg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--lfw", type=Path, default=Path("../shared/lfw"))
    parser.add_argument("--home", type=Path, help="an existing data home (else a temporary one)")
    parser.add_argument("--runs", type=Path, help="where run folders go (else a temporary dir)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "data"
        import_lfw([args.lfw], home, progress=False)  # a no-op when already imported
        runs = args.runs or Path(tmp) / "runs"
        machine = machine_info()
        seeds: list[dict[str, Any]] = []
        for seed in args.seeds:
            seeds.append(run_seed(args.config, seed, args.set, home, runs))
            print(seeds[-1], flush=True)
            # written after every seed, so a long benchmark that is cut off keeps what it measured
            result = summarise(args, seeds, machine)
            write_json_atomic(args.out, result)
        mean, std = result["test_accuracy_mean"], result["test_accuracy_std"]
        print(f"{args.config}: pairsDevTest accuracy {mean:.4f} +- {std:.4f} over seeds "
              f"{args.seeds}; max training {result['max_train_minutes']:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
