"""A pod's log as `pods/log` serves it (pure): no container runs in the local cluster, so a container's log
is the lifecycle the simulated kubelet wrote into the pod, one line per step with its RFC 3339 time.

A container's log holds the pod's steps (scheduled to its node, claims bound, init containers started and
completed, in order) and its own (started, ready, killed, exited); an init container's holds the pod's
steps up to its own end. Lines are read back from the pod's status and metadata, so they survive a
restart of the cluster; each step is there once (the latest time a condition turned, as the status
keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeapi.meta import Obj, dig, parse_time, rfc3339
from localcluster.storage.errors import ApiError, bad_request


@dataclass(frozen=True, slots=True, order=True)
class Line:
    """One log line: when, and what happened."""

    at: float
    seq: int
    text: str

    def render(self, *, timestamps: bool) -> str:
        """The line as served; `timestamps` puts an RFC 3339 stamp with nanoseconds first, as upstream."""
        body = f"{rfc3339(self.at)} {self.text}"
        if not timestamps:
            return body
        stamp = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        return f"{stamp} {body}"


def _items(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def container_names(pod: Obj, key: str = "containers") -> list[str]:
    """The names of spec.containers (or spec.initContainers)."""
    return [str(c.get("name", "")) for c in _items(dig(pod, "spec", key))]


def _go_list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def pick_container(pod: Obj, wanted: str) -> str:
    """The container a log request is for, or the 400 upstream gives: no such container, or several and
    none named (the `kubectl.kubernetes.io/default-container` choice is kubectl's, not the server's)."""
    name = str(dig(pod, "metadata", "name") or "")
    main, init = container_names(pod), container_names(pod, "initContainers")
    if wanted:
        if wanted not in main and wanted not in init:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(main) == 1:
        return main[0]
    message = f"a container name must be specified for pod {name}, choose one of: {_go_list(main)}"
    if init:
        message += f" or one of the init containers: {_go_list(init)}"
    raise bad_request(message)


def _status_of(pod: Obj, container: str) -> tuple[Obj | None, bool]:
    for key, is_init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for status in _items(dig(pod, "status", key)):
            if status.get("name") == container:
                return status, is_init
    return None, container in container_names(pod, "initContainers")


def check_started(pod: Obj, container: str) -> None:
    """The 400 upstream gives for a pod with no node or a container that has not started yet."""
    name = str(dig(pod, "metadata", "name") or "")
    if not dig(pod, "spec", "nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    status, _ = _status_of(pod, container)
    state = (status or {}).get("state") or {}
    if "running" in state or "terminated" in state:
        return
    reason = dig(state, "waiting", "reason") or "ContainerCreating"
    raise ApiError(
        400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}'
    )


def _condition_since(pod: Obj, kind: str) -> float | None:
    for cond in _items(dig(pod, "status", "conditions")):
        if cond.get("type") == kind and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def _claims(pod: Obj) -> list[str]:
    return [
        str(dig(v, "persistentVolumeClaim", "claimName"))
        for v in _items(dig(pod, "spec", "volumes"))
        if dig(v, "persistentVolumeClaim", "claimName")
    ]


def _probe_text(pod: Obj, container: str) -> str:
    for c in _items(dig(pod, "spec", "containers")):
        if c.get("name") == container:
            probe = c.get("readinessProbe")
            if not isinstance(probe, dict):
                return "no readiness probe: ready once started"
            delay, period = probe.get("initialDelaySeconds", 0), probe.get("periodSeconds", 10)
            threshold = probe.get("successThreshold", 1)
            return (
                f"readiness probe succeeded {threshold} time(s) "
                f"(initialDelaySeconds {delay}, periodSeconds {period})"
            )
    return ""


def _pod_steps(pod: Obj, out: list[tuple[float | None, str]], *, until: str = "") -> None:
    """The pod-level steps: scheduling, claims, init containers (up to and including `until`)."""
    scheduled = _condition_since(pod, "PodScheduled")
    node = dig(pod, "spec", "nodeName")
    out.append((scheduled, f"kubelet: pod scheduled to node {node} by default-scheduler"))
    claims = _claims(pod)
    if claims:
        out.append((scheduled, f"kubelet: volumes ready: persistentvolumeclaim {', '.join(claims)} Bound"))
    for status in _items(dig(pod, "status", "initContainerStatuses")):
        ended = dig(status, "state", "terminated") or {}
        init = status.get("name")
        if ended.get("startedAt"):
            out.append((parse_time(ended["startedAt"]), f"kubelet: init container {init} started"))
        if ended.get("finishedAt"):
            code, reason = ended.get("exitCode", 0), ended.get("reason", "")
            line = f"kubelet: init container {init} exited with code {code} ({reason})"
            out.append((parse_time(ended["finishedAt"]), line))
        if init == until:
            break


def _own_steps(pod: Obj, container: str, out: list[tuple[float | None, str]]) -> None:
    status, _ = _status_of(pod, container)
    state = (status or {}).get("state") or {}
    run = state.get("running") or state.get("terminated") or {}
    image = (status or {}).get("image", "")
    if run.get("startedAt"):
        out.append((parse_time(run["startedAt"]), f"kubelet: container {container} started (image {image})"))
    if (status or {}).get("ready"):
        out.append(
            (
                _condition_since(pod, "Ready"),
                f"kubelet: container {container} ready: {_probe_text(pod, container)}",
            )
        )
    meta = pod.get("metadata") or {}
    deleting = parse_time(meta.get("deletionTimestamp"))
    if deleting is not None and run.get("startedAt"):
        grace = int(meta.get("deletionGracePeriodSeconds") or 0)
        line = f"kubelet: killing container {container} with a grace period of {grace} s"
        out.append((deleting - grace, line))
    ended = state.get("terminated") or {}
    if ended.get("finishedAt"):
        code, reason = ended.get("exitCode", 0), ended.get("reason", "")
        out.append(
            (
                parse_time(ended["finishedAt"]),
                f"kubelet: container {container} exited with code {code} ({reason})",
            )
        )


def log_lines(pod: Obj, container: str) -> list[Line]:
    """The log of one container of the pod, oldest first."""
    steps: list[tuple[float | None, str]] = []
    _, is_init = _status_of(pod, container)
    if is_init:
        _pod_steps(pod, steps, until=container)
        steps = [s for s in steps if "init container" not in s[1] or f" {container} " in s[1]]
    else:
        _pod_steps(pod, steps)
        _own_steps(pod, container, steps)
    lines = [Line(at, seq, text) for seq, (at, text) in enumerate(steps) if at is not None]
    return sorted(lines)


def select(lines: list[Line], *, tail: int | None, since: float | None) -> list[Line]:
    """The lines a request asks for: since a time, then the last `tail` of them."""
    if since is not None:
        lines = [line for line in lines if line.at >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines
