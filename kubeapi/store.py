"""A keyed store of (transformed) objects with secondary indexes; a relist replaces it and reports only real
differences. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """One difference: old None = added, new None = deleted, both set = updated."""

    key: Key
    old: T | None
    new: T | None


Indexer = Callable[[T], Iterable[str]]
"""The index values of one object (a pod's owner, a Service's selector pairs, ...); none leaves it out."""


class Store(Generic[T]):
    """Objects by key, plus the indexes named in `indexers`: index name -> index value -> the objects
    with that value, by key, in the order they joined it."""

    def __init__(self, indexers: Mapping[str, Indexer[T]] | None = None) -> None:
        self._items: dict[Key, T] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, dict[Key, T]]] = {name: {} for name in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def get(self, key: Key) -> T | None:
        """The object stored under a key."""
        return self._items.get(key)

    def values(self) -> list[T]:
        """Every stored object."""
        return list(self._items.values())

    def keys_by(self, index: str, value: str) -> set[Key]:
        """The keys of the objects whose `index` includes `value` (KeyError for an index not configured)."""
        return set(self._indexes[index].get(value, ()))

    def values_by(self, index: str, value: str) -> list[T]:
        """The objects whose `index` includes `value`, in the order they joined it (no sort: cheap)."""
        return list(self._indexes[index].get(value, {}).values())

    def by(self, index: str, value: str) -> list[T]:
        """The objects whose `index` includes `value`, in key order."""
        bucket = self._indexes[index].get(value, {})
        return [bucket[k] for k in sorted(bucket)]

    def index_values(self, index: str) -> list[str]:
        """Every value `index` holds now."""
        return list(self._indexes[index])

    def put(self, key: Key, value: T) -> Change[T] | None:
        """Add or update; None when the value is unchanged (no flap)."""
        old = self._items.get(key)
        self._items[key] = value
        if old == value:
            return None
        self._reindex(key, old, value)
        return Change(key, old, value)

    def remove(self, key: Key) -> Change[T] | None:
        """Delete; None when the key was absent."""
        old = self._items.pop(key, None)
        if old is None:
            return None
        self._reindex(key, old, None)
        return Change(key, old, None)

    def replace(self, items: Iterable[tuple[Key, T]]) -> list[Change[T]]:
        """Make the store hold exactly `items` (a relist) and return what differs: adds, updates, deletes."""
        fresh = dict(items)
        changes = [Change(k, None, v) for k, v in fresh.items() if k not in self._items]
        changes += [
            Change(k, self._items[k], v) for k, v in fresh.items() if k in self._items and self._items[k] != v
        ]
        changes += [Change(k, v, None) for k, v in self._items.items() if k not in fresh]
        self._items = fresh
        for change in changes:
            self._reindex(change.key, change.old, change.new)
        return changes

    def _reindex(self, key: Key, old: T | None, new: T | None) -> None:
        for name, indexer in self._indexers.items():
            index = self._indexes[name]
            before = set(indexer(old)) if old is not None else set()
            after = set(indexer(new)) if new is not None else set()
            for value in before - after:
                bucket = index[value]
                del bucket[key]
                if not bucket:
                    del index[value]
            if new is not None:
                for value in after:
                    index.setdefault(value, {})[key] = new
