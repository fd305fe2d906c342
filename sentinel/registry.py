"""Plugins by registry: one module a kind, looked up by the ``kind:`` key in YAML."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a kind name to a plugin class; registering a kind twice fails loudly.

    >>> kinds: Registry[type] = Registry("example")
    >>> @kinds.register("thing")
    ... class Thing: ...
    >>> kinds.get("thing") is Thing, kinds.kinds()
    (True, ['thing'])
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._plugins: dict[str, T] = {}

    def register(self, kind: str) -> Callable[[T], T]:
        def add(plugin: T) -> T:
            if kind in self._plugins:
                raise ValueError(f"{self.family} kind {kind!r} is registered twice")
            self._plugins[kind] = plugin
            return plugin

        return add

    def get(self, kind: str) -> T:
        try:
            return self._plugins[kind]
        except KeyError:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise KeyError(f"unknown {self.family} kind {kind!r} (known: {known})") from None

    def kinds(self) -> list[str]:
        return sorted(self._plugins)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._plugins.items()))
