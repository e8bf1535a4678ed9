"""Name registries: recipes and the CLI refer to models, sources and readers by plain strings."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to classes or factories, filled by the `register` decorator.

    `fill_from` names the packages whose import registers the entries: they are imported on the first
    lookup, so `PEERS.build("dnsmos")` works without the caller importing `leanspeech.peers` first.
    """

    def __init__(self, kind: str, fill_from: tuple[str, ...] = ()):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._fill_from = fill_from
        self._filled = not fill_from

    def _fill(self) -> None:
        if not self._filled:
            self._filled = True  # set first: the imported modules register into this registry
            for module in self._fill_from:
                importlib.import_module(module)

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "__name__")
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            if isinstance(obj, type):
                obj.registry_name = key  # lets a saved object name the entry that rebuilds it
            return obj

        return decorator

    def get(self, name: str) -> T:
        self._fill()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        self._fill()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._fill()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._fill()
        return len(self._entries)


MODELS: Registry = Registry("model", fill_from=("leanspeech.models",))
SOURCES: Registry = Registry("corpus source", fill_from=("leanspeech.data.sources",))
READERS: Registry = Registry("corpus reader", fill_from=("leanspeech.data.readers",))
DATASETS: Registry = Registry("dataset", fill_from=("leanspeech.data.datasets",))
PEERS: Registry = Registry("peer", fill_from=("leanspeech.peers",))
