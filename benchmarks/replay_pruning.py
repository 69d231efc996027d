"""Replay a pruning rule on the unpruned studies that `bench_search.py` recorded.

Each trial's validation AUC per epoch is reported to a fresh Optuna study with the rule's
pruner, in the trials' own order, as the search would have reported it; a trial stops where the
pruner says so (never after its last epoch, as in `siamface search`). Printed per results file:
the share of trial-epochs saved and how far the best finished trial falls below the unpruned
study's best. A replay only estimates a rule: in a real pruned study TPE samples from what the
pruned trials told it, so its trials differ after the random start (benchmarks/README.md).

    .venv/bin/python benchmarks/replay_pruning.py hyperband min_resource=1 reduction_factor=4
    .venv/bin/python benchmarks/replay_pruning.py median n_startup_trials=1 n_warmup_steps=3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import yaml

from siamface.experiments.search import optuna_pruner
from siamface.experiments.spec import PRUNERS

RESULTS = Path(__file__).resolve().parent / "results"


def replay(curves: list[dict], pruner: optuna.pruners.BasePruner) -> tuple[float, float]:
    """(share of trial-epochs saved, best AUC lost) of ``pruner`` on the ``curves`` of one
    unpruned study; the study is named "pruned", as bench_search's is (Hyperband puts a trial
    in its bracket by the study's name and the trial's number)."""
    study = optuna.create_study(study_name="pruned", direction="maximize", pruner=pruner)
    spent, best = 0, float("-inf")
    for curve in curves:
        trial = study.ask()
        aucs = curve["val_auc"]
        for epoch, auc in enumerate(aucs, start=1):
            trial.report(auc, epoch)
            spent += 1
            if epoch < len(aucs) and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, max(aucs))
            best = max(best, *aucs)
    unpruned_best = max(max(c["val_auc"]) for c in curves)
    return 1 - spent / sum(len(c["val_auc"]) for c in curves), unpruned_best - best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pruner", choices=tuple(PRUNERS))
    parser.add_argument("options", nargs="*", metavar="KEY=VALUE",
                        help="the pruner's arguments (max_resource defaults to the epochs)")
    parser.add_argument("--results", type=Path, nargs="*",
                        default=sorted(RESULTS.glob("search*.json")))
    args = parser.parse_args()
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.options)}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for path in args.results:
        measured = json.loads(path.read_text(encoding="utf-8"))
        curves = measured["studies"]["unpruned"]["curves"]
        kwargs = dict(options)
        if args.pruner == "hyperband":
            kwargs.setdefault("max_resource", measured["settings"]["epochs"])
        saved, lost = replay(curves, optuna_pruner(args.pruner, kwargs))
        print(f"{path.name}: {len(curves)} trials x {measured['settings']['epochs']} epochs, "
              f"{saved:.0%} of trial-epochs saved, best validation AUC {lost:.4f} below")


if __name__ == "__main__":
    main()
