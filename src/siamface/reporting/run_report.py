"""The Markdown report of a run: RUN/report.md, from the files the run and its evaluations wrote.

Everything here is formatting. The numbers come from the run folder: config.yaml, data.json,
model.json, environment.json and summary.csv (training), and eval/<pairs file>/metrics.json,
one_shot.json, ten_fold.json and open_set.json (evaluation). The only figure drawn here is the
learning curve, from summary.csv; the evaluation figures are linked where the evaluation wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from siamface.errors import SiamfaceError
from siamface.evaluation.identification import ONE_SHOT_FILE
from siamface.evaluation.metrics import FARS, tar_key
from siamface.evaluation.open_set import TARGET_FPIR
from siamface.evaluation.open_set_eval import FPIRS, OPEN_SET_FILE, RANKS, fpir_key
from siamface.evaluation.protocol10 import TEN_FOLD_FILE
from siamface.evaluation.report import METRICS_FILE, METRICS_KEYS, SCORES_FILE
from siamface.reporting.eval_figures import (
    ONE_SHOT_FIGURE,
    OPEN_SET_FIGURES,
    PAIR_FIGURES,
    ROC_FIGURE,
)
from siamface.reporting.formatting import (
    format_ci,
    markdown_table,
    markdown_text,
    seen_people_caveat,
)
from siamface.reporting.learning_curves import plot_learning_curves
from siamface.run_folder import SUMMARY_FIELDS, Run
from siamface.utils.atomic import write_text_atomic
from siamface.utils.files import DamagedFileError, read_json_object_if_present

# data.json keys, in the order and with the words the report shows them
DATA_LABELS = {
    "setting": "LFW setting",
    "sampling": "training batches",
    "split": "validation split",
    "train_people": "training people",
    "train_images": "training images",
    "train_pairs": "training pairs",
    "mined_pairs": "mined pairs (drawn once)",
    "val_people": "validation people",
    "val_pairs": "validation pairs",
    "val_matching": "matching validation pairs",
    "steps_per_epoch": "steps per epoch",
    "cache_key": "image cache key",
}


SHOWN_RANKS = RANKS[:2]  # the CMC ranks the open-set table shows (rank-1, rank-5)


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"  # 0.01 -> "1%", 0.001 -> "0.1%"


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _options(section: Mapping[str, Any]) -> str:
    """``name (key value, ...)`` for a config section built by name; ``key value, ...`` else."""
    rest = ", ".join(f"{k} {json.dumps(v)}" for k, v in section.items() if k != "name")
    if "name" not in section:
        return rest
    return f"{section['name']} ({rest})" if rest else str(section["name"])


def _config_section(config: dict[str, Any]) -> list[str]:
    train = dict(config["train"])
    stopping = train.pop("early_stopping")
    augment = config["augment"]
    rows = [
        ("model", _options(config["model"])),
        ("data", _options(config["data"])),
        ("loss", _options(config["loss"])),
        ("optimizer", _options(config["optim"])),
        ("schedule", _options(config["schedule"])),
        ("augmentation", _options(augment) if augment.get("enabled") else "off"),
        ("training", _options(train)),
        ("early stopping", _options(stopping)),
    ]
    return [
        "## Configuration",
        "",
        f"Config `{config['name']}`, seed {config['seed']}; every value, defaults included, is "
        "in [config.yaml](config.yaml).",
        "",
        *_lines(["section", "settings"], rows),
        "",
    ]


def _data_section(data: dict[str, Any], environment: dict[str, Any] | None,
                  view2_fold: int | None, restricted: bool) -> list[str]:
    out = ["## Data", ""]
    if environment is not None:
        scope = ("Validation pairs come from pairsDevTrain.txt's people only; no DevTest "
                 "person is trained or validated on." if view2_fold is None else
                 f"Trained and validated on View 2's folds but {view2_fold} (pairs.txt and "
                 f"people.txt, DevTest's people among them); fold {view2_fold}'s people are held "
                 "out, for `siamface view2` to score.")
        scope += (" The validation pairs are the file's own, its people held out in the groups "
                  "its pairs link (LFW's image-restricted rules)." if restricted else
                  " A non-matching pair whose second person fell on the other side of the "
                  "split has its second image replaced by another person's of its own side.")
        out += [f"LFW variant `{environment['data']['variant']}`. {scope}", ""]
    keys = [k for k in DATA_LABELS if k in data] + [k for k in data if k not in DATA_LABELS]
    out += _lines(["", "value"], [(DATA_LABELS.get(k, k), _num(data[k])) for k in keys])
    return [*out, ""]


def _training_section(model: dict[str, Any], summary: list[dict[str, float]],
                      curves: str | None) -> list[str]:
    chosen = model["validation"]
    monitor = model["config"]["train"]["early_stopping"]["monitor"]
    minutes = sum(row.get("seconds", 0.0) for row in summary) / 60
    out = [
        "## Training",
        "",
        f"{len(summary)} epochs in {minutes:.1f} minutes (stopped: {model['stopped_because']}). "
        f"The model is the one from epoch {model['best_epoch']}, chosen by `{monitor}` on the "
        f"validation pairs; its decision threshold, {model['threshold']:.4f} (logit), is the "
        "one that maximises validation accuracy at that epoch. Test pairs chose nothing.",
        "",
        *_lines(
            ["validation at the chosen epoch", "loss", "accuracy", "AUC", "threshold"],
            [(f"epoch {model['best_epoch']}", _num(chosen["val_loss"]), _num(chosen["val_acc"]),
              _num(chosen["val_auc"]), _num(chosen["val_threshold"]))],
        ),
        "",
    ]
    if curves:
        out += [f"![Learning curves]({curves})", ""]
    columns = [c for c in SUMMARY_FIELDS if c != "val_threshold"]  # the chosen one is above
    rows = [
        [f"**{int(r['epoch'])}**" if int(r["epoch"]) == model["best_epoch"]
         else str(int(r["epoch"]))]
        + [f"{r[c]:.2e}" if c == "lr" else _num(r[c], 1 if c == "seconds" else 4)
           for c in columns[1:] if c in r]
        for r in summary
    ]
    header = [c.replace("_", " ") for c in columns if not summary or c in summary[0]]
    out += ["<details><summary>Every epoch (the chosen one in bold)</summary>", "",
            *_lines(header, rows), "", "</details>", ""]
    return out


def _metrics_section(stem: str, m: dict[str, Any], loss: str, present: set[str]) -> list[str]:
    c = m["confusion"]
    rows = [
        ("accuracy at the validation threshold", _num(m["accuracy"]),
         format_ci(m.get("accuracy_ci95"))),
        ("accuracy at p = 0.5 (logit 0)", _num(m["accuracy_at_p05"]), "-"),
        ("ROC AUC", _num(m["auc"]), format_ci(m.get("auc_ci95"))),
        ("equal error rate", _num(m["eer"]), "-"),
        *((f"TAR at FAR {_percent(far)}", _num(m[tar_key(far)]), "-") for far in FARS),
        (f"{loss} loss, mean over pairs", _num(m.get("loss")), "-"),  # none for photo folders
        ("oracle accuracy (threshold fit on these pairs; a bound, not a result)",
         _num(m["oracle_accuracy"]), "-"),
    ]
    figures = [f"[{text}]({_eval_link(stem, name)})" for name, text in PAIR_FIGURES
               if name in present]
    out = [
        f"### {markdown_text(m['pairs_file'])}",
        "",
        f"{m['pairs']:,} pairs ({m['matching']:,} matching), scored once by the chosen model at "
        f"its validation threshold {m['threshold']:.4f}. Intervals: 95% bootstrap over pairs.",
        "",
        *([f"**Caveat:** {seen_people_caveat(m['seen_people'])}.", ""]
          if m.get("seen_people") else []),
        *_lines(["metric", "value", "95% CI"], rows),
        "",
        *_lines(["", "predicted different", "predicted same"],
                [("different", _num(c["tn"]), _num(c["fp"])),
                 ("same", _num(c["fn"]), _num(c["tp"]))]),
        "",
    ]
    if ROC_FIGURE in present:
        out += [f"![ROC on {markdown_text(m['pairs_file'])}]({_eval_link(stem, ROC_FIGURE)})",
                ""]
    if figures:
        out += ["Figures: " + " · ".join(figures) + f"; per-pair scores in "
                f"[{SCORES_FILE}]({_eval_link(stem, SCORES_FILE)}).", ""]
    return out


def _eval_link(stem: str, name: str) -> str:
    """The link to file ``name`` of evaluation folder ``stem``, percent-encoded: a folder named
    after "my pairs.txt" has a space, which ends a Markdown link target."""
    return quote(f"eval/{stem}/{name}")


def _one_shot_section(stem: str, o: dict[str, Any], plot: bool) -> list[str]:
    out = [
        f"### N-way one-shot identification ({markdown_text(o['people_file'])} people)",
        "",
        f"{o['trials']:,} trials per N among {o['images']:,} images of {o['people']:,} people "
        "with at least two images: a probe, one other image of its person and N - 1 images of "
        "other people; correct when the model's head scores the probe's person highest "
        "(Koch et al. 2015, section 4.3). Intervals: 95% Wilson over trials.",
        "",
    ]
    if o.get("seen_people"):
        out += [f"**Caveat:** {seen_people_caveat(o['seen_people'])}.", ""]
    rows = [(r["n_way"], _num(r["accuracy"]), format_ci(r["ci95"]), _num(r["chance"]))
            for r in o["results"]]
    out += [*_lines(["N", "accuracy", "95% CI", "chance (1/N)"], rows), ""]
    if plot:
        out += [f"![One-shot accuracy against N]({_eval_link(stem, ONE_SHOT_FIGURE)})", ""]
    return out


def _ten_fold_cells(r: dict[str, Any]) -> list[str]:
    tf = r.get("ten_fold")
    fold = (f"{tf['mean_accuracy']:.4f} ± {tf['sem']:.4f}" if tf
            else f"not possible: {r.get('ten_fold_skipped')}")
    return [_num(r["pairs"]), _num(r["matching"]), fold, _num(r.get("auc")),
            _num(r.get("accuracy_at_validation_threshold")), _num(r.get("majority_baseline"))]


def _open_set_section(stem: str, o: dict[str, Any], figures: set[str]) -> list[str]:
    rows = []
    for g in o["galleries"]:
        if "skipped" in g:
            rows.append((g["gallery_size"], f"skipped: {g['skipped']}",
                         *["-"] * (len(SHOWN_RANKS) + len(FPIRS) + 2)))
            continue
        chosen, verification = g["gallery_threshold"], g["verification_threshold"]
        rows.append((
            g["gallery_size"], *(_num(g["cmc"][str(k)]["rate"]) for k in SHOWN_RANKS),
            *(_num(g["dir_at_fpir"][fpir_key(f)]["dir"]["rate"]) for f in FPIRS),
            f"{_num(chosen['impostors_named']['rate'])} "
            f"{format_ci(chosen['impostors_named']['ci95'])}",
            _num(chosen["mated_named_wrongly"]["rate"]),
            _num(verification["impostors_named"]["rate"]),
        ))
    header = ["enrolled", *(f"rank-{k}" for k in SHOWN_RANKS),
              *(f"DIR at FPIR {_percent(f)}" for f in FPIRS),
              "impostors named (gallery threshold, 95% CI)", "mated named wrongly",
              "impostors named (verification threshold)"]
    return [
        "## Open-set identification (DevTest people)",
        "",
        f"{o['people']:,} DevTest people, {o['images']:,} images; each gallery enrols people "
        "with two or more images by their first image, the rest are probes. The gallery "
        f"threshold is set for the gallery's size at a {_percent(TARGET_FPIR)} FPIR target from "
        f"{o['validation_pairs']:,} different-person pairs of validation people (never "
        "DevTest); DIR at FPIR uses the test impostors' own scores, as the measure is defined.",
        "",
        *_lines(header, rows),
        "",
        *(f"![{n}]({_eval_link(stem, n)})" for n in OPEN_SET_FIGURES if n in figures),
        "",
    ]


def _ten_fold_section(t: dict[str, Any]) -> list[str]:
    o = t["overlap"]
    return [
        "## LFW View 2 (pairs.txt, ten folds)",
        "",
        f"> **{t['caveat']}**",
        "",
        f"Each fold is tested at the threshold that maximises accuracy on the other "
        f"{t['folds'] - 1} folds (LFW's protocol; mean ± standard error over folds). "
        f"pairs.txt has {o['pairs_people']:,} people; {o['shared_people']:,} of them are among "
        f"the {o['training_people']:,} DevTrain people.",
        "",
        *_lines(
            ["pairs", "count", "matching", "ten-fold accuracy", "AUC",
             "accuracy at validation threshold", "majority baseline"],
            [["all (contaminated)", *_ten_fold_cells(t["all_pairs"])],
             ["people outside DevTrain", *_ten_fold_cells(t["unseen_pairs"])]],
        ),
        "",
    ]


def _environment_section(env: dict[str, Any]) -> list[str]:
    machine = env["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    rows = [
        ("versions", versions),
        ("python", machine["python"]),
        ("platform", machine["platform"]),
        ("CPU", f"{machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch "
                "threads"),
        ("load average at the start", ", ".join(str(x) for x in machine["loadavg"] or [])),
        ("started", machine["date"]),
        ("git commit", env.get("git_commit") or "unknown"),
        ("command", "`" + " ".join(env.get("command") or []) + "`"),
    ]
    rows += [(f"sha256 of {name}", f"`{digest[:16]}...`")
             for name, digest in sorted(env["data"]["checksums"].items())]
    return ["## Environment", "", *_lines(["", ""], rows), ""]


def run_report(run: Run, curves: bool = True) -> str:
    """The Markdown report of a finished run (and of whatever evaluations it has).

    Args:
        run: The run.
        curves: Whether learning_curves.png exists beside the report, to show it.
    """
    run.require_finished()
    summary = run.finished_summary()  # missing or cut short: refused, not shown as 0 epochs
    model = run.model_meta
    config = run.config.to_dict()
    data = run.data()
    environment = run.environment()

    out = [
        f"# Run {markdown_text(run.name)}",
        "",
        f"Model `{config['model']['name']}` on {config['data']['size']}x{config['data']['size']} "
        f"images with {config['data']['channels']} channel(s). Written by siamface from the "
        "files in this folder; `siamface evaluate` adds evaluations and rewrites it.",
        "",
        *_config_section(config),
    ]
    with _written_from(run.environment_path):
        out += _data_section(data, environment, config["data"]["view2_fold"],
                             run.config.data.restricted)
    with _written_from(run.model_meta_path):
        out += _training_section(model, summary,
                                 run.learning_curves_path.name if curves else None)
    evals = run.eval_dirs()
    tests = []
    for folder in evals:
        metrics = read_json_object_if_present(folder / METRICS_FILE, METRICS_KEYS)
        one_shot = read_json_object_if_present(folder / ONE_SHOT_FILE)
        if metrics is not None:
            present = {name for name, _ in PAIR_FIGURES if (folder / name).is_file()}
            with _written_from(folder / METRICS_FILE):
                tests += _metrics_section(folder.name, metrics, config["loss"]["name"], present)
        if one_shot is not None:
            with _written_from(folder / ONE_SHOT_FILE):
                tests += _one_shot_section(folder.name, one_shot,
                                           (folder / ONE_SHOT_FIGURE).is_file())
    out += ["## Test results", ""]
    out += tests or ["No evaluation yet: `siamface evaluate RUN --pairs pairsDevTest.txt`.", ""]
    for folder in evals:
        ten_fold = read_json_object_if_present(folder / TEN_FOLD_FILE)
        if ten_fold is not None:
            with _written_from(folder / TEN_FOLD_FILE):
                out += _ten_fold_section(ten_fold)
        open_set = read_json_object_if_present(folder / OPEN_SET_FILE)
        if open_set is not None:
            with _written_from(folder / OPEN_SET_FILE):
                out += _open_set_section(folder.name, open_set,
                                         {n for n in OPEN_SET_FIGURES if (folder / n).is_file()})
    if environment is not None:
        with _written_from(run.environment_path):
            out += _environment_section(environment)
    return "\n".join(out)


@contextmanager
def _written_from(path: Path) -> Iterator[None]:
    """A section written from the file ``path``: a key it lacks or a value of another kind (a
    file edited, or left by another version of siamface) is named with the file, in one line,
    instead of a traceback that would also end every later ``evaluate``'s report."""
    try:
        yield
    except SiamfaceError:
        raise
    except KeyError as err:
        raise DamagedFileError(f"{path}: missing {err}; expected the file siamface writes "
                               "there") from None
    except (TypeError, ValueError, IndexError, AttributeError) as err:
        raise DamagedFileError(f"{path}: a value of another kind than siamface writes there "
                               f"({err})") from None


def write_run_report(run: Run) -> Path:
    """Draw the learning curves and write the run's report.md; return the report's path.

    Args:
        run: A finished run.
    """
    text = run_report(run)  # before the plot: it refuses an unfinished or damaged run
    plot_learning_curves(run.finished_summary(), run.learning_curves_path, title=f"Run {run.name}")
    write_text_atomic(run.report_path, text + "\n")
    return run.report_path


def _lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    return markdown_table(header, rows).splitlines()
