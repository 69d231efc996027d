"""The run configuration: typed nested dataclasses, loaded from YAML with dotted overrides.

A run is described by one YAML file under ``configs/`` (by name, ``koch2015``, or by path) plus
command-line overrides such as ``optim.lr=0.001`` or ``model.batchnorm=true``. Override values
are parsed as YAML, so numbers, booleans, ``null`` and lists (``augment.scale=[0.9,1.1]``) work.
A file may leave out keys: the dataclass defaults below fill them in.

Every key is checked. An unknown key, in a file or an override, raises a ConfigError that lists
the valid keys at that level, so a typo like ``optim.lrr`` fails before any training starts. The
sections built by name from a registry (model, loss, optim, schedule) are checked against the
signature of the registered factory by ``validate_kwargs``; the registries are imported lazily in
``validate_config`` so that this module imports nothing but the standard library and YAML.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from siamface.utils.atomic import write_text_atomic

# configs/ at the repository root (src/siamface/training/config.py -> parents[3])
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says where and what is valid."""


# ---------------------------------------------------------------------------------------------
# YAML: safe, with two fixes over plain yaml.safe_load

class _YamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader that reads ``1e-3`` as a float and rejects duplicate keys.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``) and ``1e-3`` is a *string*;
    a learning rate written the natural way would then fail the type check. Duplicate keys are
    silently "last one wins" in PyYAML, which hides mistakes in hand-edited configs.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text safely (no Python objects); errors name ``source`` and the line.

    Args:
        text: The YAML document.
        source: What the text is (a file path, an override), for error messages.
    """
    try:
        return yaml.load(text, Loader=_YamlLoader)  # safe: _YamlLoader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source} line {mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


# ---------------------------------------------------------------------------------------------
# Type checking of values against the dataclass annotations


def _describe(tp: Any) -> str:
    """A human name for an annotation: 'float or null', "one of 'pairs', 'identities'"."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    names = {type(None): "null", bool: "true/false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints widened to float, tuples to
    lists). Raises ConfigError naming ``key`` and the expected type."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        for arm in args:
            try:
                return _coerce(value, arm, key)
            except ConfigError:
                continue
    elif origin is Literal:
        # type equality too: True == 1, but `channels: true` is a mistake, not 1 channel
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return {
                _coerce(k, args[0], key): _coerce(v, args[1], f"{key}.{k}")
                for k, v in value.items()
            }
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"config annotation {tp!r} at {key} is not supported")
    raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")


def _check(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Sections


class _Section:
    """Shared from_dict/to_dict for the section dataclasses. ``SECTION`` is the dotted path of
    the section in the whole config ("train.early_stopping"), used in error messages."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """Build the section from a mapping; unknown keys and wrong types raise ConfigError."""
        where = cls.SECTION or "the top level"
        if not isinstance(d, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {d!r}")
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        hints = get_type_hints(cls)
        kwargs = {}
        for key, value in d.items():
            dotted = f"{cls.SECTION}.{key}" if cls.SECTION else str(key)
            if key not in names:
                raise ConfigError(
                    f"unknown key {dotted!r}; valid keys at {where}: {', '.join(names)}"
                )
            tp = hints[key]
            if isinstance(tp, type) and issubclass(tp, (_Section, ComponentConfig)):
                kwargs[key] = tp.from_dict(value)
            else:
                kwargs[key] = _coerce(value, tp, dotted)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else _plain(value)
        return out


def _plain(value: Any) -> Any:
    """A deep copy made of plain lists and dicts (safe for yaml.safe_dump)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class ComponentConfig:
    """A section built by name from a registry: ``name`` plus the factory's keyword arguments.

    In YAML the section is flat, ``{name: koch2015, batchnorm: true}``; here the options live in
    ``kwargs``. They are checked against the factory's signature by ``validate_config``.
    """

    SECTION: ClassVar[str] = ""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and bool(self.name), f"{self.SECTION}.name",
               "a non-empty string", self.name)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        if not isinstance(d, Mapping):
            raise ConfigError(f"{cls.SECTION}: expected a mapping with a 'name', got {d!r}")
        d = dict(d)
        default = next(f.default for f in dataclasses.fields(cls) if f.name == "name")
        name = d.pop("name", default)
        if name is dataclasses.MISSING:
            raise ConfigError(f"{cls.SECTION}: 'name' is required")
        return cls(name=name, kwargs=_plain(d))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **_plain(self.kwargs)}


@dataclass
class ModelConfig(ComponentConfig):
    """``name`` in siamface.models.MODELS plus its factory's options."""

    SECTION: ClassVar[str] = "model"
    name: str = "koch2015"


@dataclass
class LossConfig(ComponentConfig):
    """``name`` in siamface.losses.LOSSES plus its options."""

    SECTION: ClassVar[str] = "loss"
    name: str = "bce"


@dataclass
class ScheduleConfig(ComponentConfig):
    """``name`` in siamface.training.schedules.SCHEDULES plus its options."""

    SECTION: ClassVar[str] = "schedule"
    name: str = "constant"


@dataclass
class DataConfig(_Section):
    """What the network sees and how training batches are drawn.

    Args:
        preprocessing: A preset name ("full", "face", "tight"), an explicit crop box
            ``[left, top, right, bottom]`` in the 250x250 source frame, or null (full frame).
        size: Side of the square network input in pixels.
        channels: 1 (grey) or 3 (RGB).
        split: How validation data is held out of pairsDevTrain / peopleDevTrain: "person"
            (no person on both sides) or "random" (pairs at random; people leak, it warns).
        val_fraction: Fraction held out for validation.
        sampling: "pairs" trains on the pairsDevTrain pairs only (LFW's restricted setting);
            "identities" draws P x K identity batches from DevTrain people's images (the
            unrestricted setting, which uses identity labels).
        mined_pairs: Extra hard pairs mined per epoch (unrestricted setting only).
        identities_per_batch: P, people per identity batch.
        images_per_identity: K, images per person in an identity batch.
        min_images_per_person: People with fewer images are left out of identity sampling.
    """

    SECTION: ClassVar[str] = "data"

    preprocessing: str | list[int] | None = "face"
    size: int = 105
    channels: Literal[1, 3] = 1
    split: Literal["person", "random"] = "person"
    val_fraction: float = 0.1
    sampling: Literal["pairs", "identities"] = "pairs"
    mined_pairs: int = 0
    identities_per_batch: int = 16
    images_per_identity: int = 4
    min_images_per_person: int = 2

    def __post_init__(self) -> None:
        p = self.preprocessing
        if isinstance(p, list):
            ok = len(p) == 4 and 0 <= p[0] < p[2] and 0 <= p[1] < p[3]
            _check(ok, "data.preprocessing",
                   "a crop [left, top, right, bottom] with 0 <= left < right, 0 <= top < bottom", p)
        _check(self.size >= 1, "data.size", "a positive integer", self.size)
        _check(0.0 < self.val_fraction < 1.0, "data.val_fraction", "a fraction in (0, 1)",
               self.val_fraction)
        _check(self.mined_pairs >= 0, "data.mined_pairs", "a count >= 0", self.mined_pairs)
        # an identity batch needs two people (for negatives) and two images each (for positives)
        _check(self.identities_per_batch >= 2, "data.identities_per_batch", "at least 2",
               self.identities_per_batch)
        _check(self.images_per_identity >= 2, "data.images_per_identity", "at least 2",
               self.images_per_identity)
        _check(self.min_images_per_person >= 1, "data.min_images_per_person", "at least 1",
               self.min_images_per_person)


@dataclass
class OptimConfig(_Section):
    """The optimizer: ``name`` in siamface.training.optim.OPTIMIZERS and its hyperparameters.

    ``momentum``, ``nesterov`` and ``betas`` are null unless set; setting one the optimizer does
    not take (``momentum`` for Adam) is an error rather than silently ignored.

    Args:
        name: "sgd", "adam", "adamw" or "rmsprop".
        lr: Base learning rate (the schedule multiplies it).
        weight_decay: L2 on weights (not on biases or norm layers, see optim.py).
        momentum: SGD / RMSprop momentum.
        nesterov: SGD Nesterov momentum.
        betas: Adam / AdamW ``[beta1, beta2]``.
        layer_weight_decay: Parameter-name prefix -> L2, overriding ``weight_decay`` for the
            parameters under that prefix (the paper's per-layer lambda_j).
        grad_clip: Clip the global gradient norm to this value; null for none.
    """

    SECTION: ClassVar[str] = "optim"

    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 0.0
    momentum: float | None = None
    nesterov: bool | None = None
    betas: list[float] | None = None
    layer_weight_decay: dict[str, float] = field(default_factory=dict)
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr", "a positive number", self.lr)
        _check(self.weight_decay >= 0, "optim.weight_decay", "a number >= 0", self.weight_decay)
        if self.momentum is not None:
            _check(0 <= self.momentum < 1, "optim.momentum", "a number in [0, 1)", self.momentum)
        if self.betas is not None:
            ok = len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)
            _check(ok, "optim.betas", "[beta1, beta2] in [0, 1)", self.betas)
        for prefix, wd in self.layer_weight_decay.items():
            _check(wd >= 0, f"optim.layer_weight_decay.{prefix}", "a number >= 0", wd)
        if self.grad_clip is not None:
            _check(self.grad_clip > 0, "optim.grad_clip", "a positive number or null",
                   self.grad_clip)

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments for the optimizer factory: ``lr`` and whatever else is set."""
        out: dict[str, Any] = {"lr": self.lr}
        for key in ("momentum", "nesterov", "betas"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class AugmentConfig(_Section):
    """Batched random augmentation of training images (see augment.py).

    Args:
        enabled: Off means the images pass through untouched.
        affine_p: Probability of each affine component (rotation, the two shears, the two
            scales, the two translations), drawn independently per image; the paper uses 0.5.
        rotation_deg: Rotation angle drawn from [-rotation_deg, rotation_deg] degrees.
        shear: Shears drawn from [-shear, shear] (below 1, so the map stays invertible).
        scale: ``[low, high]`` range of the x and y scale factors.
        translate_px: Translations drawn from [-translate_px, translate_px] pixels of the
            network input.
        hflip_p: Probability of a horizontal flip.
        brightness: Brightness factor drawn from [1 - brightness, 1 + brightness].
        contrast: Contrast factor drawn from [1 - contrast, 1 + contrast].
    """

    SECTION: ClassVar[str] = "augment"

    enabled: bool = True
    affine_p: float = 0.5
    rotation_deg: float = 10.0
    shear: float = 0.3
    scale: list[float] = field(default_factory=lambda: [0.8, 1.2])
    translate_px: float = 2.0
    hflip_p: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    def __post_init__(self) -> None:
        for key in ("affine_p", "hflip_p"):
            _check(0 <= getattr(self, key) <= 1, f"augment.{key}", "a probability in [0, 1]",
                   getattr(self, key))
        _check(0 <= self.rotation_deg <= 180, "augment.rotation_deg", "degrees in [0, 180]",
               self.rotation_deg)
        _check(0 <= self.shear < 1, "augment.shear", "a number in [0, 1)", self.shear)
        ok = len(self.scale) == 2 and 0 < self.scale[0] <= self.scale[1]
        _check(ok, "augment.scale", "[low, high] with 0 < low <= high", self.scale)
        _check(self.translate_px >= 0, "augment.translate_px", "pixels >= 0", self.translate_px)
        for key in ("brightness", "contrast"):
            _check(0 <= getattr(self, key) < 1, f"augment.{key}", "a number in [0, 1)",
                   getattr(self, key))


@dataclass
class EarlyStoppingConfig(_Section):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: "val_loss" (minimised), "val_acc" or "val_auc" (maximised).
        patience: Epochs without improvement before stopping; null never stops early.
        min_delta: The smallest change that counts as an improvement.
        restore_best: End with the weights of the best epoch rather than the last.
    """

    SECTION: ClassVar[str] = "train.early_stopping"

    monitor: Literal["val_loss", "val_acc", "val_auc"] = "val_loss"
    patience: int | None = 10
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.patience is not None:
            _check(self.patience >= 1, "train.early_stopping.patience", "at least 1 or null",
                   self.patience)
        _check(self.min_delta >= 0, "train.early_stopping.min_delta", "a number >= 0",
               self.min_delta)


@dataclass
class TrainConfig(_Section):
    """The training loop.

    Args:
        epochs: Maximum number of epochs.
        batch_size: Pairs per step ("pairs" sampling); identity batches have P x K images.
        early_stopping: See EarlyStoppingConfig.
        time_budget_s: Stop after this many seconds of training; null for no limit.
        threads: torch CPU threads; null leaves torch's default. 1 makes a run repeatable bit
            for bit; with more, some CPU kernels sum in a varying order, so two runs of one
            seed differ in the last bits from the second step on (measured).
        channels_last: Use the channels-last memory format (often faster for convs on CPU).
        keep_freed_memory: On glibc, keep freed memory for reuse instead of returning it to the
            OS, so each step's large buffers do not page-fault anew (~20% faster steps,
            5-30% more resident memory); see ``siamface.utils.allocator``.
        eval_batch_size: Images per forward pass when embedding for evaluation.
        log_every: Log the running loss every this many steps.
    """

    SECTION: ClassVar[str] = "train"

    epochs: int = 30
    batch_size: int = 128
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    time_budget_s: float | None = None
    threads: int | None = None
    channels_last: bool = False
    keep_freed_memory: bool = True
    eval_batch_size: int = 256
    log_every: int = 50

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_batch_size", "log_every"):
            _check(getattr(self, key) >= 1, f"train.{key}", "at least 1", getattr(self, key))
        if self.time_budget_s is not None:
            _check(self.time_budget_s > 0, "train.time_budget_s", "seconds > 0 or null",
                   self.time_budget_s)
        if self.threads is not None:
            _check(self.threads >= 1, "train.threads", "at least 1 or null", self.threads)


@dataclass
class Config(_Section):
    """A whole run: its name, seed and one field per section."""

    SECTION: ClassVar[str] = ""

    name: str = "default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(bool(self.name), "name", "a non-empty string", self.name)
        _check(self.seed >= 0, "seed", "an integer >= 0", self.seed)


# ---------------------------------------------------------------------------------------------
# Checks against the registries


def validate_kwargs(factory: Callable[..., Any], kwargs: Mapping[str, Any], section: str) -> None:
    """Raise ConfigError if ``kwargs`` has a key that ``factory`` does not accept.

    Only unknown keys are errors: a required argument may be supplied by the trainer (a model's
    ``in_channels`` comes from ``data.channels``). A factory taking ``**kwargs`` accepts all.

    Args:
        factory: The registered callable (a function or a class).
        kwargs: The options from the config section.
        section: The section's dotted name, for the message ("model").
    """
    params = _parameters(factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    valid = [n for n, p in params.items() if p.kind in kinds]
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        name = getattr(factory, "__name__", repr(factory))
        raise ConfigError(
            f"unknown key {section}.{unknown[0]!s} for {name}; "
            f"valid keys at {section}: name, {', '.join(valid)}"
        )


def _parameters(factory: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    """The parameters of a factory; for a class, those of the ``__init__`` it defines.

    A class that inherits ``__init__`` from torch (a loss without options) would otherwise show
    ``nn.Module.__init__(*args, **kwargs)``, which takes those only to reject them.
    """
    if isinstance(factory, type):
        owner = next(c for c in factory.__mro__ if "__init__" in vars(c))
        if owner is object or owner.__module__.split(".")[0] == "torch":
            return {}
    return inspect.signature(factory).parameters


def _registry(module: str, attr: str) -> Any:
    """The registry ``attr`` of ``module``, or None when that module is not importable."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError:
        return None


def _factory(registry: Any, name: str, key: str) -> Callable[..., Any]:
    if name not in registry:
        raise ConfigError(
            f"{key}: unknown {registry.kind} {name!r}; choose one of: "
            + ", ".join(registry.names())
        )
    return registry.get(name)


def validate_config(config: Config) -> None:
    """Check the registry-built sections and the preprocessing preset against what exists.

    The registries are imported here rather than at the top of the module, so that importing
    config.py pulls in neither torch nor the other packages; a registry that cannot be imported
    is not checked.
    """
    for section, module, attr in (("model", "siamface.models", "MODELS"),
                                  ("loss", "siamface.losses", "LOSSES")):
        registry = _registry(module, attr)
        if registry is not None:
            component = getattr(config, section)
            factory = _factory(registry, component.name, f"{section}.name")
            validate_kwargs(factory, component.kwargs, section)
    from siamface.training.optim import optimizer_factory
    from siamface.training.schedules import build_schedule

    optimizer_factory(config.optim)
    try:  # building a schedule is cheap and checks its values too
        build_schedule(config.schedule, total_epochs=config.train.epochs)
    except TypeError as e:  # a value of the wrong type, e.g. step_size: "ten"
        raise ConfigError(f"schedule: {e}") from None
    presets = _registry("siamface.data.preprocess", "PRESETS")
    if presets is not None and isinstance(config.data.preprocessing, str):
        _factory(presets, config.data.preprocessing, "data.preprocessing")


# ---------------------------------------------------------------------------------------------
# Loading, overrides, saving


def list_configs(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the YAML files in ``config_dir``."""
    return sorted(p.stem for p in Path(config_dir).glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path, config_dir: Path = CONFIG_DIR) -> Path:
    """``configs/<name>.yaml`` for a bare name, else the path itself; it must exist."""
    text = str(name_or_path)
    is_path = text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file()
    path = Path(text) if is_path else Path(config_dir) / f"{text}.yaml"
    if not path.is_file():
        hint = "" if is_path else f"; known configs: {', '.join(list_configs(config_dir))}"
        raise ConfigError(f"config file {path} not found{hint}")
    return path


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"optim.lr=0.001"`` into ``(["optim", "lr"], 0.001)`` (the value parsed as YAML)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"override {text!r}: expected dotted.key=value, e.g. optim.lr=0.001")
    return key.strip().split("."), parse_yaml(value, source=f"override {text!r}")


def _override_target(parts: list[str], text: str) -> list[str]:
    """Check a dotted key against the schema; return the path of dict keys to set.

    Below a registry section (model, loss, schedule) any key is allowed here (the factory's
    signature is checked later) and deeper parts nest (``model.head_kwargs.margin=2``). Below a
    mapping field (``optim.layer_weight_decay``) the rest is one key, since parameter-name
    prefixes contain dots (``optim.layer_weight_decay.backbone.fc=0.001``).
    """
    cls: Any = Config
    for i, part in enumerate(parts):
        if isinstance(cls, type) and issubclass(cls, ComponentConfig):
            return parts
        names = [f.name for f in dataclasses.fields(cls)]
        if part not in names:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(
                f"override {text!r}: unknown key {'.'.join(parts[: i + 1])!r}; "
                f"valid keys at {where}: {', '.join(names)}"
            )
        tp = get_type_hints(cls)[part]
        if isinstance(tp, type) and issubclass(tp, (_Section, ComponentConfig)):
            cls = tp
        elif i + 1 < len(parts) and get_origin(tp) is dict:
            return [*parts[: i + 1], ".".join(parts[i + 1:])]
        elif i + 1 < len(parts):
            raise ConfigError(
                f"override {text!r}: {'.'.join(parts[: i + 1])!r} is a value, not a section"
            )
    return parts


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw config mapping (in place); return it.

    Args:
        raw: The mapping as read from YAML (or ``Config.to_dict()``).
        overrides: Strings such as ``"train.epochs=5"``.
    """
    for text in overrides:
        parts, value = parse_override(text)
        path = _override_target(parts, text)
        node = raw
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {key!r} is not a mapping")
            node = child
        node[path[-1]] = value
    return raw


def load_config(name_or_path: str | Path, overrides: Iterable[str] = (),
                config_dir: Path = CONFIG_DIR) -> Config:
    """Read a config by name (``configs/<name>.yaml``) or path, apply overrides, check it all.

    Args:
        name_or_path: "koch2015", or a path to a YAML file.
        overrides: Dotted ``key=value`` strings applied after the file.
        config_dir: Where bare names are looked up.
    """
    path = resolve_config_path(name_or_path, config_dir)
    raw = parse_yaml(path.read_text(encoding="utf-8"), source=str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {raw!r}")
    raw.setdefault("name", path.stem)
    apply_overrides(raw, overrides)
    try:
        config = Config.from_dict(raw)
        validate_config(config)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return config


def save_resolved(config: Config, path: str | Path) -> None:
    """Write the complete config (every default filled in) as YAML, atomically."""
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)
    write_text_atomic(path, text)
