"""The response cache (pure): bounded LRUs of forwarded answers with TTLs, negative entries, serve-stale
and prefetch, as CoreDNS's `cache` plugin keeps them.

Times are seconds of a monotonic clock that the caller passes in; nothing here reads a clock or locks.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Entry count bound (0 disables caching answers), TTL bounds, and how long an expired entry may
    still be served when no upstream answers (0: never).

    Negative answers (NXDOMAIN, NODATA) share the `size` entries unless `denial_size` gives them their
    own (CoreDNS's `success`/`denial CAPACITY [TTL] [MINTTL]`); `denial_min_ttl` is their floor (else
    `min_ttl`). `disable_success`/`disable_denial` keep that kind out. With `prefetch` N, an entry hit
    N times within `prefetch_window` seconds (each hit within the window of the one before) is fetched
    again once `prefetch_percentage` % or less of its lifetime is left."""

    size: int = 10_000
    max_ttl: int = 3600
    min_ttl: int = 0
    max_negative_ttl: int = 1800
    stale: float = 30.0
    denial_size: int | None = None
    denial_min_ttl: int | None = None
    disable_success: bool = False
    disable_denial: bool = False
    prefetch: int = 0
    prefetch_window: float = 60.0
    prefetch_percentage: int = 10

    def __post_init__(self) -> None:
        if self.size < 0 or self.stale < 0 or (self.denial_size or 0) < 0:
            raise ValueError("cache sizes and serve-stale window must not be negative")
        if not 0 <= self.min_ttl <= self.max_ttl or self.max_negative_ttl < 0:
            raise ValueError(f"cache TTL bounds {self.min_ttl}..{self.max_ttl} are not a range")
        if self.denial_min_ttl is not None and not 0 <= self.denial_min_ttl <= self.max_negative_ttl:
            raise ValueError(
                f"denial TTL bounds {self.denial_min_ttl}..{self.max_negative_ttl} are not a range"
            )
        if self.prefetch < 0 or self.prefetch_window <= 0 or not 0 <= self.prefetch_percentage <= 100:
            raise ValueError("prefetch needs an amount >= 0, a window > 0 and a percentage in 0..100")

    def lifetime(self, ttl: int, *, negative: bool) -> int:
        """How long an answer whose records (or SOA, for a negative one) say `ttl` stays fresh."""
        if negative:
            floor = self.min_ttl if self.denial_min_ttl is None else self.denial_min_ttl
            return min(max(ttl, floor), self.max_ttl, self.max_negative_ttl)
        return min(max(ttl, self.min_ttl), self.max_ttl)

    def floor(self, *, negative: bool) -> int:
        """The smallest TTL an answer of that kind is relayed with."""
        if negative and self.denial_min_ttl is not None:
            return self.denial_min_ttl
        return self.min_ttl

    def capacity(self, *, negative: bool) -> int:
        """How many answers of that kind may be kept (0: none)."""
        if negative:
            if self.disable_denial:
                return 0
            return self.size if self.denial_size is None else self.denial_size
        return 0 if self.disable_success else self.size


class _Item(Generic[V]):
    __slots__ = ("expires", "hits", "negative", "prefetching", "stored", "value", "window")

    def __init__(self, value: V, stored: float, expires: float, negative: bool) -> None:
        self.value = value
        self.stored = stored
        self.expires = expires
        self.negative = negative
        self.hits = 0  # within the current prefetch window
        self.window = stored  # when the current prefetch window began
        self.prefetching = False


class ResponseCache(Generic[V]):
    """Values by key with a lifetime; least recently used first out. Counters are plain attributes;
    entries, hits and evictions are also counted for negative values (NXDOMAIN, NODATA) alone."""

    def __init__(self, policy: CachePolicy = CachePolicy()) -> None:
        self.policy = policy
        self._items: OrderedDict[bytes, _Item[V]] = OrderedDict()  # both kinds, or successes alone
        self._denials: OrderedDict[bytes, _Item[V]] = OrderedDict()  # negatives with their own capacity
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0
        self.inserts = 0
        self.evictions = 0
        self.prefetches = 0
        self.negatives = 0  # entries holding a negative value
        self.negative_hits = 0
        self.negative_evictions = 0

    def carry_counters(self, other: ResponseCache[V]) -> None:
        """Continue the counts (hits, misses, stale, inserts, evictions, prefetches) of a cache replaced."""
        for name in ("hits", "misses", "stale_hits", "inserts", "evictions", "negative_hits", "prefetches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.negative_evictions += other.negative_evictions

    def __len__(self) -> int:
        return len(self._items) + len(self._denials)

    def _store(self, negative: bool) -> OrderedDict[bytes, _Item[V]]:
        return self._denials if negative and self.policy.denial_size is not None else self._items

    def _find(self, key: bytes) -> _Item[V] | None:
        item = self._items.get(key)
        return self._denials.get(key) if item is None and self._denials else item

    def get(self, key: bytes, now: float, *, count: bool = True) -> tuple[V, int] | None:
        """A fresh value and its age in whole seconds, or None (counted as a hit or miss with `count`)."""
        item = self._find(key)
        if item is None or now >= item.expires:
            if item is not None and now >= item.expires + self.policy.stale:
                self._remove(key, item)
            if count:
                self.misses += 1
            return None
        self._store(item.negative).move_to_end(key)
        if count:
            self.hits += 1
            self.negative_hits += item.negative
        return item.value, int(now - item.stored)

    def prefetch_due(self, key: bytes, now: float) -> bool:
        """After a hit: count it for prefetching; True (once per entry) when the entry is popular
        enough and close enough to expiring to be fetched again now."""
        policy = self.policy
        item = self._find(key) if policy.prefetch else None
        if item is None or item.prefetching:
            return False
        if now - item.window > policy.prefetch_window:
            item.window, item.hits = now, 1
        else:
            item.hits += 1
        threshold = math.ceil(policy.prefetch_percentage / 100 * (item.expires - item.stored))
        if item.hits >= policy.prefetch and item.expires - now <= threshold:
            item.prefetching = True
            self.prefetches += 1
            return True
        return False

    def stale(self, key: bytes, now: float) -> V | None:
        """An expired value still within the serve-stale window, or None."""
        item = self._find(key)
        if item is None or not item.expires <= now < item.expires + self.policy.stale:
            return None
        self._store(item.negative).move_to_end(key)
        self.stale_hits += 1
        return item.value

    def put(self, key: bytes, value: V, lifetime: int, now: float, *, negative: bool = False) -> bool:
        """Store a value fresh for `lifetime` seconds (not at all when 0 or its kind is not cached)."""
        capacity = self.policy.capacity(negative=negative)
        if capacity == 0 or lifetime <= 0:
            return False
        old = self._find(key)
        if old is not None:
            self._remove(key, old)
        store = self._store(negative)
        store[key] = _Item(value, now, now + lifetime, negative)
        self.negatives += negative
        self.inserts += 1
        while len(store) > capacity:
            _, item = store.popitem(last=False)
            self.negatives -= item.negative
            self.evictions += 1
            self.negative_evictions += item.negative
        return True

    def _remove(self, key: bytes, item: _Item[V]) -> None:
        del self._store(item.negative)[key]
        self.negatives -= item.negative

    def clear(self) -> None:
        self._items.clear()
        self._denials.clear()
        self.negatives = 0
