"""A tiny name -> factory registry: components are built by name from a config (timm style).

A registry is the one place that knows which names exist and which keyword arguments each
factory takes: every check of a component's name or keys asks it (``get``, ``unknown_key``,
``valid_keys``), and a config section's builder may word the refusal for its keys. A factory
that passes ``**kwargs`` through to a class names that class with ``kwargs_of``, and the
class's own arguments become valid keys too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from siamface.errors import ConfigError, UnknownNameError, reason_of
from siamface.utils.files import is_number

T = TypeVar("T")

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class Registry(Generic[T]):
    """Maps names to factories for one kind of component (models, losses, optimizers, ...).

    Args:
        kind: What is registered, used in error messages ("model", "loss", ...).
        supplied: Arguments the caller passes itself (an optimizer's ``params``, a head's
            ``dim``): never valid config keys.
    """

    def __init__(self, kind: str, supplied: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.supplied = supplied
        self._factories: dict[str, Callable[..., T]] = {}
        self._kwargs_of: dict[str, Callable[..., Any]] = {}

    def register(
        self, name: str, kwargs_of: Callable[..., Any] | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``.

        Args:
            name: The name configs use.
            kwargs_of: The class that the factory's ``**kwargs`` go to, if any.
        """

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            if kwargs_of is not None:
                self._kwargs_of[name] = kwargs_of
            return factory

        return decorator

    def build(self, name: str, **kwargs: Any) -> T:
        """Build the component registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def get(self, name: str, key: str | None = None) -> Callable[..., T]:
        """The factory registered as ``name``; an unknown name lists the known ones, after
        ``key``, the config key that chose it (``schedule.name``), where one did."""
        if name not in self._factories:
            lead = f"{key}: " if key else ""
            raise UnknownNameError(
                f"{lead}unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            )
        return self._factories[name]

    def valid_keys(self, name: str) -> list[str] | None:
        """The keyword arguments ``name`` takes, in order; None when it takes any."""
        factory = self.get(name)
        keys: list[str] = []
        for target in (self._kwargs_of.get(name), factory):
            if target is None:
                continue
            for key, p in _parameters(target).items():
                if p.kind is inspect.Parameter.VAR_KEYWORD:
                    if target is factory and name in self._kwargs_of:
                        continue  # forwarded to kwargs_of, whose keys are listed
                    return None
                if p.kind in _NAMED and key not in self.supplied and key not in keys:
                    keys.append(key)
        return keys

    def check_kwargs(self, name: str, kwargs: Mapping[str, Any], section: str) -> None:
        """Raise ConfigError if ``kwargs`` holds a key that ``name`` does not take, or a value
        that ``check_types`` refuses.

        Only unknown keys are errors: a required argument may be supplied by the caller (a
        model's ``in_channels`` comes from ``data.channels``).

        Args:
            name: A registered name.
            kwargs: The options from the config section.
            section: The section's dotted name, for the message ("model").
        """
        unknown = self.unknown_key(name, kwargs)
        if unknown is not None:
            raise ConfigError(
                f"unknown key {section}.{unknown!s} for {name}; "
                f"valid keys at {section}: {', '.join(['name', *(self.valid_keys(name) or [])])}"
            )
        self.check_types(name, kwargs, section)

    def unknown_key(self, name: str, kwargs: Mapping[str, Any]) -> str | None:
        """The first key of ``kwargs`` that ``name`` does not take, or None."""
        valid = self.valid_keys(name)
        return next((k for k in kwargs if valid is not None and k not in valid), None)

    def check_types(self, name: str, kwargs: Mapping[str, Any], prefix: str) -> None:
        """Raise ConfigError, keyed ``<prefix>.<key>``, for a value of ``kwargs`` of another
        type than its annotation's, where that is a plain number, bool or string (``float``,
        ``int | None``...): a type the factory would trip over ("'<' not supported between
        'str' and 'int'") or take wrongly (``true`` for 1 epoch). Keys without such an
        annotation, or that ``name`` does not take, are left to the factory.
        """
        annotations = self._annotations(name)
        for key, value in kwargs.items():
            expected = _type_mismatch(annotations.get(key), value)
            if expected is not None:
                raise ConfigError(f"{prefix}.{key}: expected {expected}, got {value!r}")

    def _annotations(self, name: str) -> dict[str, Any]:
        """Each keyword argument's annotation, as written, for ``name`` and its ``kwargs_of``."""
        targets = (self._kwargs_of.get(name), self.get(name))
        return {key: p.annotation for target in targets if target is not None
                for key, p in _parameters(target).items()}

    def build_section(self, name: str, kwargs: Mapping[str, Any], section: str) -> T:
        """Build ``name`` from a config section's options, every mistake a ConfigError named
        by the section: an unknown key, a wrong option type (a TypeError), an unknown name of
        a component it builds in turn ("unknown head 'x'" -> "model: unknown head 'x'") and the
        component's own ConfigError ("margin must be positive" -> "loss.margin must be
        positive"). An unknown ``name`` itself is the UnknownNameError that lists the names,
        led by ``<section>.name``."""
        self.get(name, f"{section}.name")
        self.check_kwargs(name, kwargs, section)
        try:
            return self.build(name, **kwargs)
        except UnknownNameError as err:  # (a ConfigError too: first)
            raise ConfigError(f"{section}: {err}") from None
        except ConfigError as err:
            message = str(err)
            raise ConfigError(message if message.startswith(section) else f"{section}.{message}"
                              ) from None
        except TypeError as err:  # torch's may go on with C++ stack frames: its first line
            raise ConfigError(f"{section}: {reason_of(err)}") from None

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


# Annotations (as written, under ``from __future__ import annotations``) whose values are
# checked: what a value must be, and the test.
_PLAIN_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "float": ("a finite number", is_number),
    "int": ("a whole number", lambda v: is_number(v, int)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("a string", lambda v: isinstance(v, str)),
}


def _type_mismatch(annotation: Any, value: Any) -> str | None:
    """What ``value`` should be, when ``annotation`` is a plain type (or that ``| None``) that
    it is not; None when it is, or when the annotation is anything else."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    optional = text.endswith(" | None")
    plain = _PLAIN_TYPES.get(text.removesuffix(" | None"))
    if plain is None or (optional and value is None) or plain[1](value):
        return None
    return plain[0] + (" or null" if optional else "")


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
