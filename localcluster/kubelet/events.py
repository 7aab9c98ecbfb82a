"""core/v1 Events about pods from the scheduler and the kubelet (Scheduled, FailedScheduling)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.meta import Obj, rfc3339
from kubeapi.paths import EVENTS

log = logging.getLogger("localcluster.kubelet")
SCHEDULER = "default-scheduler"
KUBELET = "kubelet"


def event_body(
    pod: Obj, *, reason: str, message: str, kind: str, component: str, now: float, host: str = ""
) -> dict[str, Any]:
    """The Event for one occurrence on a pod (named `<pod>.<nanoseconds in hex>`)."""
    meta = pod.get("metadata") or {}
    stamp = rfc3339(now)
    source = {"component": component, **({"host": host} if host else {})}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{int(now * 1e9):x}", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": source,
        "reportingComponent": component,
        "reportingInstance": host or component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventSender:
    """Sends events from one task, so that they never hold up a pod's sync. A token bucket (`burst`
    events, then `rate` a second) and a bounded queue keep a burst of thousands of pods from becoming
    thousands of Events: beyond them events are dropped, as client-go's spam filter and a full
    broadcaster drop them."""

    def __init__(
        self,
        client: Client,
        *,
        capacity: int = 256,
        burst: float = 32,
        rate: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(capacity)
        self._burst, self._rate, self._clock = burst, rate, clock
        self._tokens, self._stamp = burst, clock()
        self.sent = 0
        self.dropped = 0

    def post(self, body: dict[str, Any]) -> None:
        """Queue one event (dropped when over the rate or the queue is full)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens < 1:
            self.dropped += 1
            return
        self._tokens -= 1
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        """Send queued events until cancelled; a failed send is logged and dropped."""
        while True:
            body = await self._queue.get()
            try:
                await self.client.create(EVENTS, body["metadata"]["namespace"], body)
            except ApiError as err:
                self.dropped += 1
                log.debug("kubelet: event %s not recorded: %s", body["reason"], err)
            else:
                self.sent += 1
