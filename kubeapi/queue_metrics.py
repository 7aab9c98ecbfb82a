"""What a work queue measures, under the names client-go's workqueue metrics use: adds, retries, the
time keys wait in the queue and the time their work takes (histograms), and the work still running."""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# client-go's buckets for workqueue_queue_duration_seconds and workqueue_work_duration_seconds
DURATION_BOUNDS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(10))


@dataclass(slots=True)
class Durations:
    """A histogram of seconds: counts per upper bound (the last slot is +Inf), their sum and count."""

    bounds: tuple[float, ...] = DURATION_BOUNDS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it) for each bound, +Inf last."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class QueueStats(Generic[K]):
    """Counts kept by a work queue as it runs (cheap: a few dict operations per key)."""

    adds: int = 0
    retries: int = 0
    queue_wait: Durations = field(default_factory=Durations)
    work: Durations = field(default_factory=Durations)
    queued_at: dict[K, float] = field(default_factory=dict)
    started_at: dict[K, float] = field(default_factory=dict)

    def added(self, key: K, now: float) -> None:
        self.adds += 1
        self.queued_at.setdefault(key, now)

    def taken(self, key: K, now: float) -> None:
        since = self.queued_at.pop(key, None)
        if since is not None:
            self.queue_wait.observe(max(now - since, 0.0))
        self.started_at[key] = now

    def finished(self, key: K, now: float) -> None:
        since = self.started_at.pop(key, None)
        if since is not None:
            self.work.observe(max(now - since, 0.0))

    def unfinished_seconds(self, now: float) -> float:
        """Work in progress, summed over the keys being worked on."""
        return sum(max(now - t, 0.0) for t in self.started_at.values())

    def longest_running_seconds(self, now: float) -> float:
        return max((max(now - t, 0.0) for t in self.started_at.values()), default=0.0)
