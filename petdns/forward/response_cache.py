"""The response cache (pure): bounded LRU of forwarded answers with TTLs, negative entries and serve-stale.

Times are seconds of a monotonic clock that the caller passes in; nothing here reads a clock or locks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Entry count bound (0 disables the cache), TTL bounds, and how long an expired entry may still be
    served when no upstream answers (0: never)."""

    size: int = 10_000
    max_ttl: int = 3600
    min_ttl: int = 0
    max_negative_ttl: int = 1800
    stale: float = 30.0

    def __post_init__(self) -> None:
        if self.size < 0 or self.stale < 0:
            raise ValueError("cache size and serve-stale window must not be negative")
        if not 0 <= self.min_ttl <= self.max_ttl or self.max_negative_ttl < 0:
            raise ValueError(f"cache TTL bounds {self.min_ttl}..{self.max_ttl} are not a range")

    def lifetime(self, ttl: int, *, negative: bool) -> int:
        """How long an answer whose records (or SOA, for a negative one) say `ttl` stays fresh."""
        cap = min(self.max_ttl, self.max_negative_ttl) if negative else self.max_ttl
        return min(max(ttl, self.min_ttl), cap)


class _Item(Generic[V]):
    __slots__ = ("expires", "negative", "stored", "value")

    def __init__(self, value: V, stored: float, expires: float, negative: bool) -> None:
        self.value = value
        self.stored = stored
        self.expires = expires
        self.negative = negative


class ResponseCache(Generic[V]):
    """Values by key with a lifetime; least recently used first out. Counters are plain attributes;
    entries, hits and evictions are also counted for negative values (NXDOMAIN, NODATA) alone."""

    def __init__(self, policy: CachePolicy = CachePolicy()) -> None:
        self.policy = policy
        self._items: OrderedDict[bytes, _Item[V]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0
        self.inserts = 0
        self.evictions = 0
        self.negatives = 0  # entries holding a negative value
        self.negative_hits = 0
        self.negative_evictions = 0

    def carry_counters(self, other: ResponseCache[V]) -> None:
        """Continue the hit, miss, stale, insert and eviction counts of a cache this one replaces."""
        for name in ("hits", "misses", "stale_hits", "inserts", "evictions", "negative_hits"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.negative_evictions += other.negative_evictions

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes, now: float, *, count: bool = True) -> tuple[V, int] | None:
        """A fresh value and its age in whole seconds, or None (counted as a hit or miss with `count`)."""
        item = self._items.get(key)
        if item is None or now >= item.expires:
            if item is not None and now >= item.expires + self.policy.stale:
                self._remove(key, item)
            if count:
                self.misses += 1
            return None
        self._items.move_to_end(key)
        if count:
            self.hits += 1
            self.negative_hits += item.negative
        return item.value, int(now - item.stored)

    def stale(self, key: bytes, now: float) -> V | None:
        """An expired value still within the serve-stale window, or None."""
        item = self._items.get(key)
        if item is None or not item.expires <= now < item.expires + self.policy.stale:
            return None
        self._items.move_to_end(key)
        self.stale_hits += 1
        return item.value

    def put(self, key: bytes, value: V, lifetime: int, now: float, *, negative: bool = False) -> bool:
        """Store a value fresh for `lifetime` seconds (not at all when 0 or the cache is disabled)."""
        if self.policy.size == 0 or lifetime <= 0:
            return False
        old = self._items.get(key)
        if old is not None:
            self._remove(key, old)
        self._items[key] = _Item(value, now, now + lifetime, negative)
        self.negatives += negative
        self.inserts += 1
        while len(self._items) > self.policy.size:
            _, item = self._items.popitem(last=False)
            self.negatives -= item.negative
            self.evictions += 1
            self.negative_evictions += item.negative
        return True

    def _remove(self, key: bytes, item: _Item[V]) -> None:
        del self._items[key]
        self.negatives -= item.negative

    def clear(self) -> None:
        self._items.clear()
        self.negatives = 0
