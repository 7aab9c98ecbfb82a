"""core/v1 Events about pods from the scheduler and the kubelet (Scheduled, FailedScheduling)."""

from __future__ import annotations

import logging
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


async def record(client: Client, body: dict[str, Any]) -> bool:
    """Create the event; a failure is logged and dropped (events never block a pod's sync)."""
    try:
        await client.create(EVENTS, body["metadata"]["namespace"], body)
    except ApiError as err:
        log.debug("kubelet: event %s not recorded: %s", body["reason"], err)
        return False
    return True
