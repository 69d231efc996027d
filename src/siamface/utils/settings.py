"""Typed settings from plain mappings: the shared work behind every config section.

A section is a dataclass deriving from ``Settings``: its fields, annotations and defaults are
the schema, and its ``__post_init__`` (the one hook a subclass fills) checks the ranges with
``check``. ``from_dict`` refuses unknown keys (listing the valid ones) and values of the wrong
type (naming the dotted key); ``to_dict`` writes every field back as plain YAML-safe data.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from siamface.errors import ConfigError


def check(ok: bool, key: str, expected: str, value: Any) -> None:
    """Raise ``ConfigError("<key>: expected <expected>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")


PLAIN_NAME = "a plain name (no '/' or '\\', not starting with '.')"


def is_plain_name(name: str) -> bool:
    """A run's or study's name starts its folder's name: it must not lead out of the parent."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


# The models and the augmentation compute in float32, where 1e300 is inf and 1e-300 is 0: a
# value that passed a range check in float64 can still be NaN, inf or a division by zero there.
FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float32
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal positive float32: 1/it is finite
FLOAT32_FINITE = f"finite: a number within +-{FLOAT32_MAX:.1e} (float32)"
FLOAT32_POSITIVE = f"positive: a number from {FLOAT32_TINY:.1e} to {FLOAT32_MAX:.1e} (float32)"


def is_finite_float32(value: float) -> bool:
    """Whether ``value`` stays finite in float32 (``FLOAT32_FINITE``); NaN does not."""
    return abs(value) <= FLOAT32_MAX


def is_positive_float32(value: float) -> bool:
    """Whether ``value`` stays a positive number in float32 whose reciprocal is finite too
    (``FLOAT32_POSITIVE``); NaN does not."""
    return FLOAT32_TINY <= value <= FLOAT32_MAX


def describe(tp: Any) -> str:
    """A human name for an annotation: 'float or null', "one of 'pairs', 'identities'"."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is list:
        return f"a list of {describe(args[0])}"
    if origin is dict:
        return f"a mapping of {describe(args[0])} to {describe(args[1])}"
    names = {type(None): "null", bool: "true/false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints widened to float, tuples to
    lists). Raises ConfigError naming ``key`` and the expected type; no number in a config may
    be NaN or infinite (not even under ``Any``: a component's keyword arguments)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:  # not checked element by element below
        return _finite(value, key)
    if isinstance(value, float):
        _finite(value, key)
    if origin in (Union, types.UnionType):
        for arm in args:
            try:
                return coerce(value, arm, key)
            except ConfigError:
                continue
    elif origin is Literal:
        # type equality too: True == 1, but `channels: true` is a mistake, not 1 channel
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            return [coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return {coerce(k, args[0], key): coerce(v, args[1], f"{key}.{k}")
                    for k, v in value.items()}
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
        raise TypeError(f"settings annotation {tp!r} at {key} is not supported")
    raise ConfigError(f"{key}: expected {describe(tp)}, got {value!r}")


def _finite(value: Any, key: str) -> Any:
    """``value``, once no float in it, however deep, is NaN or infinite."""
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _finite(v, f"{key}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{key}.{k}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    return value


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def plain(value: Any) -> Any:
    """A deep copy made of plain lists and dicts (safe for yaml.safe_dump)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _is_nested(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, (Settings, ComponentSettings))


class Settings:
    """Base of the section dataclasses. ``SECTION`` is the section's dotted path in the whole
    config ("train.early_stopping"), used in messages."""

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
            kwargs[key] = tp.from_dict(value) if _is_nested(tp) else coerce(value, tp, dotted)
        return cls(**kwargs)

    @classmethod
    def child(cls, key: str) -> Any:
        """The type of field ``key``: a nested settings class, or a plain annotation."""
        return get_type_hints(cls)[key]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else plain(value)
        return out


@dataclasses.dataclass
class ComponentSettings:
    """A section built by name from a registry: ``name`` plus the factory's keyword arguments.

    In YAML the section is flat, ``{name: koch2015, batchnorm: true}``; here the options live
    in ``kwargs``, which the registry checks against the factory (``Registry.check_kwargs``).
    """

    SECTION: ClassVar[str] = ""

    name: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and bool(self.name), f"{self.SECTION}.name",
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
        return cls(name=name, kwargs=_finite(plain(d), cls.SECTION))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **plain(self.kwargs)}
