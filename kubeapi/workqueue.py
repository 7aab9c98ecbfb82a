"""An asyncio work queue of keys (dedupe, one worker per key, delayed adds, per-key exponential backoff)
and the worker loop every controller runs over it, each with its own error handling."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from kubeapi.queue_metrics import QueueStats

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down and has nothing left to hand out."""


class WorkQueue(Generic[K]):
    """Keys to reconcile. A key is queued at most once; a key being worked on is queued again on done().

    `clock` gives the time for delayed adds (a test passes a fake one and calls wake() when it moves).
    Backoff per key is `base_delay * 2**failures`, capped at `max_delay`, until forget().
    `stats` counts adds, retries, waits and work times on `timer` (monotonic seconds).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        base_delay: float = 0.005,
        max_delay: float = 300.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._timer = timer
        self.stats: QueueStats[K] = QueueStats()
        self._base = base_delay
        self._max = max_delay
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()
        self._failures: dict[K, int] = {}
        self._wakeup = asyncio.Event()
        self._shut = False

    def __len__(self) -> int:
        """Keys ready to hand out now."""
        self._promote()
        return len(self._ready)

    @property
    def delayed(self) -> int:
        """Keys waiting for their time."""
        return len(self._due)

    def add(self, key: K) -> None:
        """Queue a key now (no-op if already queued; re-queued after done() if being worked on)."""
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        self.stats.added(key, self._timer())
        if key not in self._processing:
            self._ready.append(key)
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue a key once `delay` seconds have passed; an earlier pending time wins."""
        if self._shut:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._wakeup.set()

    def backoff(self, key: K) -> float:
        """The delay the next add_rate_limited(key) would use."""
        exponent = min(self._failures.get(key, 0), 64)
        return min(self._base * float(1 << exponent), self._max)

    def add_rate_limited(self, key: K) -> float:
        """Queue a key after its backoff (which then doubles); returns the delay used."""
        delay = self.backoff(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self.stats.retries += 1
        self.add_after(key, delay)
        return delay

    def failures(self, key: K) -> int:
        """How many rate-limited adds the key had since it was last forgotten."""
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """Reset the key's backoff (after a successful sync)."""
        self._failures.pop(key, None)

    def next_due(self) -> float | None:
        """The clock time of the earliest delayed key."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def get_nowait(self) -> K | None:
        """The next ready key (marked as being worked on), or None."""
        self._promote()
        if not self._ready:
            return None
        key = self._ready.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self.stats.taken(key, self._timer())
        return key

    async def get(self) -> K:
        """Wait for the next key; raises ShutDown once shut down and drained."""
        while True:
            key = self.get_nowait()
            if key is not None:
                return key
            if self._shut:
                raise ShutDown
            due = self.next_due()
            self._wakeup.clear()
            timeout = None if due is None else max(due - self._clock(), 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # unlike 3.11's wait_for, never loses a cancel
                    await self._wakeup.wait()

    def done(self, key: K) -> None:
        """The worker finished the key; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        self.stats.finished(key, self._timer())
        if key in self._dirty:
            self._ready.append(key)
            self._wakeup.set()

    def wake(self) -> None:
        """Re-check delayed keys now (after a fake clock moved)."""
        self._wakeup.set()

    def shut_down(self) -> None:
        """Accept no more keys; waiting get() calls raise ShutDown once the ready keys are gone."""
        self._shut = True
        self._due.clear()
        self._heap.clear()
        self._wakeup.set()

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def _promote(self) -> None:
        now = self._clock()
        self._drop_stale()
        while self._heap and self._heap[0][0] <= now:
            _, _, key = heapq.heappop(self._heap)
            del self._due[key]
            self.add(key)
            self._drop_stale()


class Workers(Generic[K]):
    """Workers taking keys from a queue. `sync(key)` succeeding forgets the key's backoff and, when it
    returns a delay, queues the key again after it; raising hands the error to `on_error(key, err)` and
    queues the key again rate-limited. `busy` counts the syncs in progress. They stop at shut down."""

    def __init__(
        self,
        queue: WorkQueue[K],
        sync: Callable[[K], Awaitable[float | None]],
        *,
        on_error: Callable[[K, Exception], None],
    ) -> None:
        self.queue = queue
        self._sync = sync
        self._on_error = on_error
        self.busy = 0

    async def run(self, count: int = 1) -> None:
        """Run `count` workers until the queue is shut down and drained."""
        await asyncio.gather(*(self._work() for _ in range(count)))

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            self.busy += 1
            try:
                await self.process(key)
            finally:
                self.busy -= 1
                self.queue.done(key)

    async def process(self, key: K) -> None:
        """One sync of one key, with its outcome applied to the queue."""
        try:
            again = await self._sync(key)
        except Exception as err:
            self._on_error(key, err)
            self.queue.add_rate_limited(key)
            return
        self.queue.forget(key)
        if again is not None:
            self.queue.add_after(key, again)
