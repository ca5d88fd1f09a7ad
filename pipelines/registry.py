"""Name -> class registries, so configs can pick implementations by a string.

Backbones, SDEs, samplers and text aligners each get one `Registry`; new implementations plug in
with a decorator and become buildable from a config without touching call sites. Each registry
takes the names pipelines/choices.py declares for its kind, so that an implementation cannot
reach the CLI without its line of help.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories (usually classes) of one kind."""

    def __init__(self, kind: str, declared: Collection[str] | None = None) -> None:
        """declared: the only names that may be registered (None: any)."""
        self.kind = kind
        self._declared = declared
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that records `factory` under `name`; duplicate and undeclared names are an error."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if self._declared is not None and name not in self._declared:
                raise KeyError(f"{self.kind} {name!r} is not declared (pipelines/choices.py gives each name its help)")
            if name in self._entries:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def build(self, name: str, *args: Any, **options: Any) -> T:
        return self.get(name)(*args, **options)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
