"""A tiny name -> factory registry: components are built by name from a config (timm style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories for one kind of component (models, losses, optimizers, ...).

    Args:
        kind: What is registered, used in error messages ("model", "loss", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return decorator

    def build(self, name: str, **kwargs: Any) -> T:
        """Build the component registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._factories:
            choices = ", ".join(self.names())
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of: {choices}")
        return self._factories[name]

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
