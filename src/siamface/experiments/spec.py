"""A search spec: a base config, fixed overrides, a search space, a sampler and the budgets.

    name: lr-and-width            # the study's name (default: the file's stem)
    base: default                 # a shipped config name or a YAML path
    fixed: [train.epochs=10]      # overrides applied to every trial
    space:                        # dotted config key -> its distribution
      optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      model.width: {type: int, low: 8, high: 32, step: 8}
      optim.name: {type: categorical, choices: [adam, adamw]}
    sampler: tpe                  # tpe, or grid (every space entry categorical)
    objective: val_auc            # val_auc (maximised), val_acc (maximised), val_loss (minimised)
    pruner: median                # none, median, percentile or hyperband (on the per-epoch
                                  # objective), or {name: percentile, percentile: 20, ...}:
                                  # the Optuna pruner's own options
    n_trials: 20                  # at most; a grid stops when every combination has run
    time_budget_s: null           # the study's: the seconds its trials have run, every
                                  # worker's and every command's; no trial starts once spent
    trial_time_budget_s: null     # each trial's train.time_budget_s
    seed: 0                       # the sampler's seed
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siamface.config.loader import names_a_file, parse_yaml
from siamface.errors import ConfigError
from siamface.utils.files import is_number, read_text
from siamface.utils.settings import PLAIN_NAME, is_plain_name

SPEC_DIR = Path(__file__).resolve().parents[1] / "configs" / "search"

# objective -> the direction Optuna optimises it in
OBJECTIVES = {"val_auc": "maximize", "val_acc": "maximize", "val_loss": "minimize"}
SAMPLERS = ("tpe", "grid")
# pruner name -> the class in optuna.pruners that prunes that way
PRUNERS = {"none": "NopPruner", "median": "MedianPruner", "percentile": "PercentilePruner",
           "hyperband": "HyperbandPruner"}
# The least value of each integer option of Optuna's pruners. Hyperband checks its own only
# when it first prunes, which would stop a search midway with a traceback.
PRUNER_MINIMA = {"min_resource": 1, "max_resource": 1, "reduction_factor": 2,
                 "bootstrap_count": 0, "n_startup_trials": 0, "n_warmup_steps": 0,
                 "interval_steps": 1, "n_min_trials": 1}
PARAM_TYPES = ("categorical", "int", "float")
# the keys each parameter type takes (besides `type`), and which of them are required
PARAM_KEYS = {
    "categorical": ({"choices"}, {"choices"}),
    "int": ({"low", "high", "step", "log"}, {"low", "high"}),
    "float": ({"low", "high", "step", "log"}, {"low", "high"}),
}
TOP_KEYS = {"name", "base", "fixed", "space", "sampler", "objective", "pruner", "n_trials",
            "time_budget_s", "trial_time_budget_s", "seed"}


class SpecError(ConfigError):
    """A search spec is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """One searched config key and its distribution.

    Attributes:
        key: The dotted config key, e.g. "optim.lr".
        type: "categorical", "int" or "float".
        choices: The values of a categorical parameter.
        low, high: The bounds of an int or float parameter (both included).
        step: The spacing of an int or float parameter (None: continuous floats, ints by 1).
        log: Sample on a log scale.
    """

    key: str
    type: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    def extremes(self) -> tuple[Any, ...]:
        """Values that together span what a trial may be given: every choice, or the bounds
        and the middle of the range (geometric on a log scale)."""
        if self.type == "categorical":
            return self.choices
        low, high = float(self.low), float(self.high)
        middle = (low * high) ** 0.5 if self.log else (low + high) / 2
        if self.step:  # a value a trial can be given
            middle = low + round((middle - low) / self.step) * self.step
        if self.type == "int":
            return (int(low), round(middle), int(high))
        return (low, middle, high)

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log,
                                   step=int(self.step or 1))
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class SearchSpec:
    """A parsed, checked search spec (see the module docstring for the file format).

    Attributes:
        name: The study's name.
        base: The base config's name or path.
        fixed: Overrides applied to every trial.
        space: The searched parameters, in the file's order.
        sampler, objective, pruner, n_trials, time_budget_s, trial_time_budget_s, seed: As in
            the file.
        pruner_options: The pruner's settings, the file's ``pruner`` mapping without its name.
        source: Where the spec was read from.
    """

    name: str
    base: str
    fixed: tuple[str, ...] = ()
    space: tuple[Param, ...] = ()
    sampler: str = "tpe"
    objective: str = "val_auc"
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int = 20
    time_budget_s: float | None = None
    trial_time_budget_s: float | None = None
    seed: int = 0
    source: str = field(default="<spec>", compare=False)

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    def grid(self) -> dict[str, list[Any]]:
        """Key -> choices, for the grid sampler (every parameter categorical)."""
        return {p.key: list(p.choices) for p in self.space}

    def grid_size(self) -> int:
        return math.prod(len(p.choices) for p in self.space)

    def planned_trials(self) -> int:
        """How many trials the study runs at most: n_trials, or fewer for a smaller grid."""
        return min(self.n_trials, self.grid_size()) if self.sampler == "grid" else self.n_trials

    def to_dict(self) -> dict[str, Any]:
        """The spec as its file would hold it (every default filled in)."""
        out = asdict(self)
        out.pop("source")
        out["fixed"] = list(self.fixed)
        out["space"] = {p.key: _param_dict(p) for p in self.space}
        out["pruner"] = {"name": self.pruner, **out.pop("pruner_options")}
        return out


def _param_dict(param: Param) -> dict[str, Any]:
    if param.type == "categorical":
        return {"type": "categorical", "choices": list(param.choices)}
    out = {"type": param.type, "low": param.low, "high": param.high, "log": param.log}
    return out if param.step is None else {**out, "step": param.step}


def resolve_spec_path(name_or_path: str | Path) -> Path:
    """A shipped spec's path for a bare name (``seed001-grid``), else the path itself."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
    else:
        path = SPEC_DIR / f"{text}.yaml"
    if not path.is_file():
        shipped = ", ".join(list_specs())
        raise SpecError(f"search spec {path} not found; shipped specs: {shipped}")
    return path


def list_specs() -> list[str]:
    """The names of the shipped search specs."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> SearchSpec:
    """Read and check a search spec file (its base config is checked when trials resolve it).

    Args:
        name_or_path: A shipped spec's name or a YAML path.

    Raises:
        SpecError: naming the file and the key at fault.
    """
    path = resolve_spec_path(name_or_path)
    raw = parse_yaml(read_text(path, SpecError), source=str(path))
    return spec_from_dict(raw, source=str(path), default_name=path.stem)


def spec_from_dict(raw: Any, source: str = "<spec>", default_name: str = "study") -> SearchSpec:
    """Check a spec mapping and return it typed.

    Args:
        raw: The parsed YAML.
        source: Named in error messages.
        default_name: The study's name when the mapping has none.
    """
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping of spec keys, got {raw!r}")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise SpecError(f"{source}: unknown key {unknown[0]!r}; valid keys: "
                        f"{', '.join(sorted(TOP_KEYS))}")
    if "base" not in raw:
        raise SpecError(f"{source}: 'base' is required (a config name, e.g. default)")
    if not raw.get("space"):
        raise SpecError(f"{source}: 'space' is required: dotted config key -> distribution")
    fixed = raw.get("fixed") or []
    if isinstance(fixed, dict):  # a mapping reads more naturally: {train.epochs: 10}
        fixed = [f"{k}={json.dumps(v)}" for k, v in fixed.items()]
    if not isinstance(fixed, list) or not all(isinstance(f, str) and "=" in f for f in fixed):
        raise SpecError(f"{source}: 'fixed' must be a list of key=value overrides or a mapping")
    if not isinstance(raw["space"], dict):
        raise SpecError(f"{source}: 'space' must map dotted config keys to distributions")
    space = tuple(_param(key, value, source) for key, value in raw["space"].items())
    base = str(raw["base"])
    if names_a_file(base):  # absolute: the study folder's copy of the spec then names the same
        base = str(Path(base).resolve())  # file wherever the study is continued from
    pruner = raw.get("pruner") or "none"
    pruner = pruner if isinstance(pruner, dict) else {"name": pruner}
    spec = SearchSpec(
        name=str(raw.get("name") or default_name),
        base=base,
        fixed=tuple(fixed),
        space=space,
        sampler=_choice(raw, "sampler", SAMPLERS, "tpe", source),
        objective=_choice(raw, "objective", tuple(OBJECTIVES), "val_auc", source),
        pruner=_choice(pruner, "name", tuple(PRUNERS), "none", source, prefix="pruner."),
        pruner_options=_pruner_options(pruner, source),
        n_trials=_number(raw, "n_trials", int, 20, source, minimum=1),
        time_budget_s=_number(raw, "time_budget_s", float, None, source, minimum=0),
        trial_time_budget_s=_number(raw, "trial_time_budget_s", float, None, source, minimum=0),
        seed=_number(raw, "seed", int, 0, source, minimum=0, maximum=2**32 - 1),  # numpy's
        source=source,
    )
    if not is_plain_name(spec.name):
        raise SpecError(f"{source}: name: expected {PLAIN_NAME}, got {spec.name!r}")
    if spec.sampler == "grid":
        continuous = [p.key for p in spec.space if p.type != "categorical"]
        if continuous:
            raise SpecError(f"{source}: space.{continuous[0]}: the grid sampler needs "
                            "type categorical (a list of choices)")
    return spec


def check_new_spec(spec: SearchSpec) -> None:
    """What a new study is refused for, beyond what any spec is (studies started before these
    checks still continue, and compare): a key both fixed and searched (the space's value
    silently won), categorical choices Python holds equal (a grid ran 0 and 0.0 twice, and
    Optuna recorded the later as the earlier), a time budget under a second (0 gave "no
    trials"), a Hyperband pruner whose min_resource exceeds its max_resource (it never pruned).

    Raises:
        SpecError: Naming the spec's file and the key.
    """
    where = spec.source
    fixed = {item.split("=", 1)[0].strip() for item in spec.fixed}
    for param in spec.space:
        if param.key in fixed:
            raise SpecError(f"{where}: space.{param.key}: also set in fixed; a key is either "
                            "searched or fixed")
        choices = param.choices or ()
        if any(a == b for i, a in enumerate(choices) for b in choices[i + 1:]):
            raise SpecError(f"{where}: space.{param.key}: choices must differ, as Python "
                            f"compares them (1 and true, 0 and 0.0 are one choice), got "
                            f"{list(choices)}")
    for key in ("time_budget_s", "trial_time_budget_s"):
        budget = getattr(spec, key)
        if budget is not None and budget < 1:
            raise SpecError(f"{where}: {key} must be at least 1 second or null, got {budget:g}")
    low = spec.pruner_options.get("min_resource", 1)
    high = spec.pruner_options.get("max_resource", "auto")
    if is_number(low, int) and is_number(high, int) and low > high:
        raise SpecError(f"{where}: pruner.min_resource ({low}) must not exceed max_resource "
                        f"({high})")


def _param(key: Any, value: Any, source: str) -> Param:
    where = f"{source}: space.{key}"
    if not isinstance(key, str) or not all(key.split(".")):
        raise SpecError(f"{where}: expected a dotted config key such as optim.lr")
    if not isinstance(value, dict) or value.get("type") not in PARAM_TYPES:
        raise SpecError(f"{where}: expected a mapping with type one of {', '.join(PARAM_TYPES)}")
    kind = value["type"]
    allowed, required = PARAM_KEYS[kind]
    given = set(value) - {"type"}
    if given - allowed:
        raise SpecError(f"{where}: unknown key {sorted(given - allowed)[0]!r} for type {kind}; "
                        f"valid: {', '.join(sorted(allowed))}")
    if required - given:
        raise SpecError(f"{where}: type {kind} needs {', '.join(sorted(required - given))}")
    if kind == "categorical":
        choices = value["choices"]
        if not isinstance(choices, list) or not choices or not all(
                c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise SpecError(f"{where}: choices must be a non-empty list of numbers, strings, "
                            "booleans or null")
        if len({json.dumps(c) for c in choices}) < len(choices):  # a grid would run it twice
            raise SpecError(f"{where}: choices must differ, got {choices}")
        return Param(key, kind, choices=tuple(choices))
    low, high, step = value["low"], value["high"], value.get("step")
    for name, v in (("low", low), ("high", high), ("step", step)):
        if v is not None and not is_number(v, int if kind == "int" else float):
            what = "an integer" if kind == "int" else "a number"
            raise SpecError(f"{where}: {name} must be {what}, got {v!r}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{where}: log must be true or false, got {log!r}")
    if not low <= high:
        raise SpecError(f"{where}: low ({low}) must not exceed high ({high})")
    if log and (low <= 0 or (step is not None and (kind == "float" or step != 1))):
        raise SpecError(f"{where}: a log scale needs low > 0 and no step (an int's may be 1)")
    if step is not None and step <= 0:
        raise SpecError(f"{where}: step must be positive, got {step}")
    if step is not None and not math.isclose((high - low) / step, round((high - low) / step),
                                             abs_tol=1e-9):  # Optuna would cut the range short
        raise SpecError(f"{where}: high - low ({high} - {low}) must be a multiple of step "
                        f"({step})")
    return Param(key, kind, low=low, high=high, step=step, log=log)


def _pruner_options(pruner: dict[str, Any], source: str) -> dict[str, Any]:
    """The pruner's options but its name, each of the type Optuna's pruners take: a number for
    ``percentile``, "auto" or an integer for ``max_resource``, an integer for the rest (epochs,
    trials, a reduction factor), at least its PRUNER_MINIMA. Optuna checks their names when it
    makes one (and the rest of the ranges)."""
    options = {k: v for k, v in pruner.items() if k != "name"}
    for key, value in options.items():
        ok = is_number(value) if key == "percentile" else (
            is_number(value, int) or (key == "max_resource" and value == "auto"))
        if not ok:
            what = "a number" if key == "percentile" else "an integer"
            raise SpecError(f"{source}: pruner.{key}: expected {what}, got {value!r}")
        least = PRUNER_MINIMA.get(key)
        if least is not None and value != "auto" and value < least:
            raise SpecError(f"{source}: pruner.{key}: expected an integer of at least {least}, "
                            f"got {value}")
    return options


def _choice(raw: dict[str, Any], key: str, valid: tuple[str, ...], default: str,
            source: str, prefix: str = "") -> str:
    value = raw.get(key, default)
    if value not in valid:
        raise SpecError(f"{source}: {prefix}{key} must be one of {', '.join(valid)}, "
                        f"got {value!r}")
    return value


def _number(raw: dict[str, Any], key: str, kind: type, default: Any, source: str,
            minimum: float, maximum: float = math.inf) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if not is_number(value, kind) or not minimum <= value <= maximum:
        what = "an integer" if kind is int else "a number"
        bounds = f">= {minimum:g}" if maximum == math.inf else f"from {minimum:g} to {maximum}"
        raise SpecError(f"{source}: {key} must be {what} {bounds}"
                        f"{' or null' if default is None else ''}, got {value!r}")
    return kind(value)
