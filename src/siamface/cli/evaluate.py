"""`siamface evaluate RUN --pairs FILE`: score a finished run on protocol files, once.

Verification metrics on each pairs file (at the threshold chosen on validation data), and on
request N-way one-shot identification among the people of those files and LFW's View 2
ten-fold protocol. Results go to RUN/eval/<file>/ and into RUN/report.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siamface.cli.errors import UsageError
from siamface.data.home import resolve_data_home
from siamface.evaluation.bootstrap import N_BOOTSTRAP, check_bootstrap
from siamface.evaluation.metrics import FARS, tar_key
from siamface.evaluation.oneshot import ONE_SHOT_TRIALS
from siamface.reporting.formatting import format_ci, seen_people_caveat


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    ev = subparsers.add_parser(
        "evaluate",
        help="evaluate a finished run on pairs files (one-shot, ten-fold on request)",
        description="Score RUN's chosen model on pairs files at the threshold chosen "
        "on its validation pairs. Evaluate on pairsDevTest.txt once, at the end: choosing "
        "anything by its result makes it a validation set.",
    )
    ev.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    add_evaluation_arguments(ev, one_shot=[])
    ev.add_argument("--pairs", nargs="+", action="extend", default=[], metavar="FILE",
                    help="imported pairs files by name (e.g. pairsDevTest.txt), or paths of other "
                    "pairs files (results in eval/<stem>-<hash>/)")
    ev.add_argument("--identification", action="store_true",
                    help="open-set identification among DevTest people: galleries of 10, 100 "
                    "and all, CMC and DIR at FPIR, thresholds set on validation people")
    ev.add_argument("--ten-fold", action="store_true",
                    help="LFW View 2 on pairs.txt (with the DevTrain overlap caveat)")
    ev.add_argument("--folder", type=Path, metavar="DIR",
                    help="your own people: DIR/<Name>/ folders of photos, scored through the "
                    "photo path (every matching pair, as many seeded non-matching ones)")
    ev.set_defaults(func=_evaluate)


def add_evaluation_arguments(parser: argparse.ArgumentParser, one_shot: list[int]) -> None:
    """The options shared by ``evaluate`` and ``run``; ``one_shot``: the default values of N."""
    default = (f"{' '.join(map(str, one_shot))}; --one-shot with no N: none" if one_shot
               else "none")
    parser.add_argument(
        "--one-shot", nargs="*", type=int, default=one_shot, metavar="N",
        help=f"N-way one-shot identification for each N (default: {default})",
    )
    parser.add_argument("--bootstrap", type=int, default=None, metavar="N",
                        help=f"bootstrap resamples for the 95%% intervals (default "
                        f"{N_BOOTSTRAP}; 0: none)")
    parser.add_argument("--no-plots", action="store_true",
                        help="write no evaluation figures (the run report's learning curves "
                        "are drawn still)")
    parser.add_argument("--trials", type=int, default=None,
                        help=f"trials per N for --one-shot (default {ONE_SHOT_TRIALS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_evaluation_arguments(args: argparse.Namespace) -> None:
    """Refuse impossible evaluation options before anything is loaded or written."""
    bad_n = [n for n in args.one_shot if n < 2]
    if bad_n:
        raise UsageError(f"--one-shot: N must be at least 2 (one true candidate and one "
                         f"distractor), got {bad_n[0]}")
    if args.trials is not None and not args.one_shot:
        raise UsageError("--trials sets the trials of --one-shot; give --one-shot N too")
    args.trials = ONE_SHOT_TRIALS if args.trials is None else args.trials
    if args.trials < 1:
        raise UsageError(f"--trials: expected at least 1 trial, got {args.trials}")
    args.bootstrap = N_BOOTSTRAP if args.bootstrap is None else args.bootstrap
    check_bootstrap(args.bootstrap, "--bootstrap")


def _evaluate(args: argparse.Namespace) -> int:
    from siamface.data.lfw import open_lfw
    from siamface.pipeline import check_evaluable, evaluate
    from siamface.run_folder import Run

    if not args.pairs and not args.ten_fold and not args.identification and args.folder is None:
        raise UsageError("nothing to evaluate: give --pairs FILE (e.g. pairsDevTest.txt), "
                         "--identification, --ten-fold and/or --folder DIR")
    if args.one_shot and not args.pairs:
        raise UsageError("--one-shot draws its people from the --pairs files; give one")
    if args.bootstrap is not None and not args.pairs and args.folder is None:
        raise UsageError("--bootstrap sets the intervals of --pairs and --folder results; "
                         "View 2 and identification have none")
    check_evaluation_arguments(args)
    run = Run(args.run)
    check_evaluable(run, "`siamface evaluate`")  # before the data home is opened
    needs_lfw = args.pairs or args.ten_fold or args.identification  # --folder alone: none
    lfw = open_lfw(resolve_data_home(args.data_dir)) if needs_lfw else None
    evaluate(run, lfw, args.pairs, args.one_shot, args.trials, args.ten_fold, args.bootstrap,
             identification=args.identification,
             plots=not args.no_plots, progress=not args.no_progress, on_result=printer(),
             folder=args.folder)
    print(f"report: {run.report_path}")
    return 0


def printer() -> Callable[[str, dict[str, Any], Path], None]:
    """Prints each evaluation result as ``siamface.pipeline.evaluate`` hands it over."""

    def show(kind: str, result: dict[str, Any], folder: Path) -> None:
        if kind == "metrics":
            print(format_metrics(result, folder))
        elif kind == "one_shot":
            print(format_one_shot(result))
        elif kind == "folder":
            print(format_folder(result, folder))
        elif kind == "open_set":
            print(format_open_set(result))
        else:
            print_ten_fold(result)

    return show


def ci_text(m: dict[str, Any], key: str) -> str:
    """"  95% CI [low, high]" of metric ``key``, or nothing when ``m`` has no interval."""
    ci = m.get(f"{key}_ci95")
    return f"  95% CI {format_ci(ci)}" if ci else ""


def format_metrics(m: dict[str, Any], out_dir: Path) -> str:
    """The summary table of one pairs file's metrics.json."""
    c = m["confusion"]
    rows = [
        ("loss", f"{m['loss']:.4f}"),
        ("accuracy at validation threshold", f"{m['accuracy']:.4f}{ci_text(m, 'accuracy')}"),
        ("accuracy at p = 0.5", f"{m['accuracy_at_p05']:.4f}"),
        ("AUC", f"{m['auc']:.4f}{ci_text(m, 'auc')}"),
        ("EER", f"{m['eer']:.4f}"),
        *((f"TAR at FAR {far * 100:g}%", f"{m[tar_key(far)]:.4f}") for far in FARS),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"{m['pairs_file']}: {m['pairs']:,} pairs ({m['matching']:,} matching), model of epoch "
        f"{m['best_epoch']}, threshold {m['threshold']:.4f} (logit, from validation)",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
        *([f"  caveat: {seen_people_caveat(m['seen_people'])}"] if m.get("seen_people") else []),
        f"  {'confusion':<{width}}  {'':>10}  pred. diff  pred. same",
        f"  {'':<{width}}  {'different':>10}  {c['tn']:>10,}  {c['fp']:>10,}",
        f"  {'':<{width}}  {'same':>10}  {c['fn']:>10,}  {c['tp']:>10,}",
        _files_line(out_dir),
    ]
    return "\n".join(lines)


def format_folder(m: dict[str, Any], out_dir: Path) -> str:
    """The summary of a folder evaluation (``evaluate --folder``)."""
    c = m["confusion"]
    lines = [
        f"{m['folder']}: {m['photos']:,} photos of {m['people']:,} people, {m['pairs']:,} pairs "
        f"({m['matching']:,} matching), threshold {m['threshold']:.4f} (logit, from validation)",
        f"  accuracy at validation threshold  {m['accuracy']:.4f}{ci_text(m, 'accuracy')}",
        f"  AUC  {m['auc']:.4f}   EER  {m['eer']:.4f}   TAR at FAR 1%  "
        f"{m[tar_key(0.01)]:.4f}",
        f"  confusion: same pairs {c['tp']:,} right, {c['fn']:,} wrong; different pairs "
        f"{c['tn']:,} right, {c['fp']:,} wrong",
        f"  no face found in {len(m['no_face'])} photo(s)"
        + "".join(f"\n    {p}" for p in m["no_face"]),
        _files_line(out_dir),
    ]
    return "\n".join(lines)


def _files_line(out_dir: Path) -> str:
    """The line that says where an evaluation's files are."""
    from siamface.evaluation.report import METRICS_FILE, SCORES_FILE
    from siamface.reporting.eval_figures import ROC_FIGURE

    figures = ", figures" if (out_dir / ROC_FIGURE).is_file() else ""
    return f"  files: {out_dir}/ ({METRICS_FILE}, {SCORES_FILE}{figures})"


def format_one_shot(o: dict[str, Any]) -> str:
    """The table of one one_shot.json."""
    lines = [f"N-way one-shot identification: {o['images']:,} images of {o['people']:,} people "
             f"of {o['people_file']}, {o['trials']:,} trials per N"]
    if o["seen_people"]:
        lines.append(f"  caveat: {seen_people_caveat(o['seen_people'])}")
    lines.append(f"  {'N':>4}  {'accuracy':>8}  {'95% CI':>16}  {'chance':>6}")
    lines += [f"  {r['n_way']:>4}  {r['accuracy']:>8.4f}  {format_ci(r['ci95'])}  "
              f"{r['chance']:>6.3f}" for r in o["results"]]
    return "\n".join(lines)


def _fold_cell(r: dict[str, Any]) -> str:
    tf = r["ten_fold"]
    if tf is None:
        return f"ten-fold not possible ({r['ten_fold_skipped']})"
    return f"{tf['mean_accuracy']:.4f} +- {tf['sem']:.4f} (mean +- s.e. over folds)"


def print_ten_fold(t: dict[str, Any]) -> None:
    """Print the View 2 results with their caveat first."""
    print(f"LFW View 2 ({t['pairs_file']}, {t['folds']} folds; each fold's threshold fit on the "
          "others)")
    print(f"  !! {t['caveat']}")
    for label, key in (("all pairs (contaminated)", "all_pairs"),
                       ("pairs of people outside DevTrain", "unseen_pairs")):
        r = t[key]
        extra = (f"; AUC {r['auc']:.4f}, majority baseline {r['majority_baseline']:.4f}"
                 if "auc" in r else "")
        print(f"  {label}: {r['pairs']:,} pairs ({r['matching']:,} matching): "
              f"{_fold_cell(r)}{extra}")


def format_open_set(o: dict[str, Any]) -> str:
    """The table of one open_set.json: a row per gallery size."""
    # (torch: not at the CLI's start)
    from siamface.evaluation.open_set_eval import FPIRS, fpir_key
    from siamface.reporting.run_report import SHOWN_RANKS

    columns = [
        *((f"rank-{k}", lambda g, k=k: g["cmc"][str(k)]["rate"]) for k in SHOWN_RANKS),
        *((f"DIR@{f * 100:g}%", lambda g, f=f: g["dir_at_fpir"][fpir_key(f)]["dir"]["rate"])
          for f in FPIRS),
        ("impostors named", lambda g: g["gallery_threshold"]["impostors_named"]["rate"]),
        ("(at the verification threshold)",
         lambda g: g["verification_threshold"]["impostors_named"]["rate"]),
    ]
    widths = [max(6, len(name)) for name, _ in columns]
    lines = [f"Open-set identification: {o['people']:,} DevTest people, galleries of their "
             "first images; thresholds for the gallery size set on validation people",
             f"  {'enrolled':>8}" + "".join(f"  {name:>{w}}"
                                            for (name, _), w in zip(columns, widths, strict=True))]
    for g in o["galleries"]:
        if "skipped" in g:
            lines.append(f"  {g['gallery_size']:>8,}  skipped: {g['skipped']}")
            continue
        lines.append(f"  {g['gallery_size']:>8,}" + "".join(
            f"  {value(g):>{w}.3f}" for (_, value), w in zip(columns, widths, strict=True)))
    return "\n".join(lines)
