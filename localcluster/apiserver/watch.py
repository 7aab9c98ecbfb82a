"""Watch fan-out: one store subscription, per-watch bounded queues, selector edges, and the chunked stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from kubeapi.meta import Obj
from localcluster.storage.meta import namespace_of
from localcluster.storage.store import Event

log = logging.getLogger(__name__)


class View(Protocol):
    """How one watch renders what it sends (apiVersion of the request, plain objects or Tables)."""

    key: str

    def event_line(self, event_type: str, obj: Obj) -> bytes:
        """One `{"type": ..., "object": ...}` line."""
        ...

    def bookmark_line(self, resource_version: int, *, initial_end: bool = False) -> bytes:
        """One BOOKMARK line."""
        ...


class Delivery:
    """One object as every interested watch sends it, rendered once per view and event type."""

    __slots__ = ("lines", "obj")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self.lines: dict[tuple[str, str], bytes] = {}

    def line(self, view: View, event_type: str) -> bytes:
        """The rendered line for this view."""
        key = (view.key, event_type)
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = view.event_line(event_type, self.obj)
        return line


@dataclass(frozen=True, slots=True)
class SelectorEdges:
    """What a selector watch sees: matching objects' events, ADDED/DELETED as one starts or stops matching."""

    matches: Callable[[Obj], bool]

    def decide(self, event_type: str, obj: Obj, old: Obj | None) -> str | None:
        """The event type this watch sends for a store event (old: the replaced version), None for nothing.

        A DELETED event without the replaced version is judged by its last state.
        """
        if event_type == "DELETED":
            before = old if old is not None else obj
            return "DELETED" if self.matches(before) else None
        was = old is not None and self.matches(old)
        if self.matches(obj):
            return "MODIFIED" if was else "ADDED"
        return "DELETED" if was else None


Item = tuple[str, Delivery] | bytes


class Watcher:
    """One open watch: filters the store's events into a bounded queue its stream drains."""

    def __init__(
        self,
        *,
        store_key: str,
        namespace: str | None,
        view: View,
        edges: SelectorEdges | None,
        capacity: int,
    ) -> None:
        self.store_key = store_key
        self.namespace = namespace
        self.view = view
        self.edges = edges
        self.capacity = capacity
        self.items: deque[Item] = deque()
        self.overflowed = False
        self.closed = False  # the server is shutting down: end the stream now
        self._waiter: asyncio.Future[None] | None = None

    def offer(
        self, event_type: str, delivery: Delivery, *, old: Obj | None = None, force: bool = False
    ) -> None:
        """Queue a store event if this watch wants it; overflow closes the watch, never blocks the store."""
        obj = delivery.obj
        if self.namespace is not None and namespace_of(obj) != self.namespace:
            return
        sent: str | None = event_type if self.edges is None else self.edges.decide(event_type, obj, old)
        if sent is None:
            return
        if len(self.items) >= self.capacity and not force:
            self.overflowed = True
        else:
            self.items.append((sent, delivery))
        self._wake()

    def close(self) -> None:
        """End the stream at its next wake-up (server shutdown)."""
        self.closed = True
        self._wake()

    def push(self, line: bytes) -> None:
        """Queue an already rendered line (initial events, errors)."""
        self.items.append(line)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, timeout: float) -> list[Item]:
        """Everything queued, waiting up to timeout seconds for something to arrive."""
        if not self.items and not self.overflowed and not self.closed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(max(timeout, 0), _release, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        out = list(self.items)
        self.items.clear()
        return out

    def render(self, items: list[Item]) -> bytes:
        """The bytes of queued items."""
        view = self.view
        return b"".join(item if isinstance(item, bytes) else item[1].line(view, item[0]) for item in items)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class WatchHub:
    """Subscribes once to the store and hands each event to the watches of its storage."""

    def __init__(self, subscribe: Callable[[Callable[[Event], None]], Callable[[], None]]) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self._unsubscribe = subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        watchers = self._watchers.get(event.store_key)
        if watchers:
            delivery = Delivery(event.object)
            for watcher in tuple(watchers):
                watcher.offer(event.type, delivery, old=event.old)

    def add(self, watcher: Watcher) -> None:
        """Start handing events to watcher."""
        self._watchers.setdefault(watcher.store_key, set()).add(watcher)

    def remove(self, watcher: Watcher) -> None:
        """Stop handing events to watcher."""
        watchers = self._watchers.get(watcher.store_key)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.store_key]

    @property
    def count(self) -> int:
        """How many watches are open."""
        return sum(len(w) for w in self._watchers.values())

    def close(self) -> None:
        """Unsubscribe from the store and end every open watch."""
        self._unsubscribe()
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.close()


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """When a watch stream ends and how often it sends bookmarks (None: no bookmarks)."""

    deadline: float
    bookmark_every: float | None


async def stream(
    resp: web.StreamResponse,
    watcher: Watcher,
    *,
    timing: StreamTiming,
    current_rv: Callable[[], int],
) -> None:
    """Write the watch's events until its deadline, an overflow, or the client going away."""
    clock = time.monotonic
    next_bookmark = clock() + timing.bookmark_every if timing.bookmark_every else float("inf")
    while not watcher.overflowed and not watcher.closed:
        now = clock()
        if now >= timing.deadline:
            break
        items = await watcher.take(min(timing.deadline, next_bookmark) - now)
        if watcher.overflowed:
            log.warning(
                "closing a watch of %s that fell %d events behind", watcher.store_key, watcher.capacity
            )
            break
        if items:
            await resp.write(watcher.render(items))
        if timing.bookmark_every and clock() >= next_bookmark and not watcher.items:
            await resp.write(watcher.view.bookmark_line(current_rv()))
            next_bookmark = clock() + timing.bookmark_every
    if not watcher.overflowed:
        tail = watcher.render(list(watcher.items))
        if timing.bookmark_every:
            tail += watcher.view.bookmark_line(current_rv())
        if tail:
            await resp.write(tail)
