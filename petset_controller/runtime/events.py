"""core/v1 Events about PetSets, sent in the background with a per-set spam filter; never blocks a sync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.meta import rfc3339
from kubeapi.paths import EVENTS
from petset_controller.core.model import PetSet

log = logging.getLogger("petset_controller.events")
COMPONENT = "petset-controller"
Gate = Callable[[str, str, str], None]  # (verb, kind, name) before every write; raises Fenced to refuse it


class Fenced(Exception):
    """Writes are not allowed now: this replica does not hold the leader lease."""


def open_gate(verb: str, kind: str, name: str) -> None:
    """The gate of a controller that needs no leadership: every write may go."""
    del verb, kind, name


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


def event_body(pet_set: PetSet, *, reason: str, message: str, kind: str, now: float) -> dict[str, Any]:
    """The Event object for one occurrence on a PetSet (named `<set>.<nanoseconds in hex>`)."""
    stamp = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pet_set.name}.{int(now * 1e9):x}", "namespace": pet_set.namespace},
        "involvedObject": {
            "apiVersion": pet_set.api_version,
            "kind": pet_set.kind,
            "name": pet_set.name,
            "namespace": pet_set.namespace,
            "uid": pet_set.uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Queues events and sends them from one task; full queue or empty bucket: the event is dropped.

    Each set has a token bucket (`burst` events, then one per `refill` seconds), as client-go's
    spam filter does, so a thousand creates do not become a thousand Events.
    """

    def __init__(
        self,
        client: Client,
        *,
        burst: int = 25,
        refill: float = 300.0,
        capacity: int = 1000,
        clock: Callable[[], float] = time.time,
        gate: Gate = open_gate,
    ) -> None:
        self.client = client
        self.gate = gate
        self.burst = burst
        self.refill = refill
        self.clock = clock
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(capacity)
        self._buckets: dict[str, _Bucket] = {}
        self.sent = 0
        self.dropped = 0

    def record(self, pet_set: PetSet, reason: str, *, message: str, kind: str = "Normal") -> None:
        """Queue one event (logged either way)."""
        level = logging.WARNING if kind == "Warning" else logging.INFO
        log.log(level, "%s/%s %s: %s", pet_set.namespace, pet_set.name, reason, message)
        now = self.clock()
        if not self._take(pet_set.uid or f"{pet_set.namespace}/{pet_set.name}", now):
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(event_body(pet_set, reason=reason, message=message, kind=kind, now=now))
        except asyncio.QueueFull:
            self.dropped += 1

    def _take(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) / self.refill)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    async def run(self) -> None:
        """Send queued events until cancelled; a failed send is logged and dropped."""
        while True:
            body = await self._queue.get()
            try:
                await self._send(body)
            except (ApiError, Fenced) as err:
                self.dropped += 1
                log.debug("event %s not recorded: %s", body["reason"], err)

    async def flush(self) -> None:
        """Send what is queued now (on shutdown), giving up on the first failure."""
        with contextlib.suppress(ApiError, Fenced):
            while not self._queue.empty():
                await self._send(self._queue.get_nowait())

    async def _send(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.gate("create", "Event", meta["name"])
        await self.client.create(EVENTS, meta["namespace"], body)
        self.sent += 1
