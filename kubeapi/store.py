"""A keyed store of (transformed) objects; a relist replaces it and reports only real differences. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


class Store(Generic[T]):
    """Objects by key."""

    def __init__(self) -> None:
        self._items: dict[Key, T] = {}

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

    def put(self, key: Key, value: T) -> Change[T] | None:
        """Add or update; None when the value is unchanged (no flap)."""
        old = self._items.get(key)
        self._items[key] = value
        return None if old == value else Change(key, old, value)

    def remove(self, key: Key) -> Change[T] | None:
        """Delete; None when the key was absent."""
        old = self._items.pop(key, None)
        return None if old is None else Change(key, old, None)

    def replace(self, items: Iterable[tuple[Key, T]]) -> list[Change[T]]:
        """Make the store hold exactly `items` (a relist) and return what differs: adds, updates, deletes."""
        fresh = dict(items)
        changes = [Change(k, None, v) for k, v in fresh.items() if k not in self._items]
        changes += [
            Change(k, self._items[k], v) for k, v in fresh.items() if k in self._items and self._items[k] != v
        ]
        changes += [Change(k, v, None) for k, v in self._items.items() if k not in fresh]
        self._items = fresh
        return changes
