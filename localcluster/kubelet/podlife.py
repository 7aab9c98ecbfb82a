"""A scheduled pod's next step on its node (pure): start, become Ready, fail, stop, finish its deletion.

A started pod turns Ready as its containers' readiness probes say: a container without one is ready once
started; one with a probe is ready after `initialDelaySeconds` plus `successThreshold - 1` more periods of
`periodSeconds` (defaults 0, 1 and 10, as upstream; every simulated probe succeeds). The pod is Ready when
its last container is. A kubelet-wide `ready_after` replaces that for every pod; annotations override
both per pod (seconds, decimals allowed):

- `localcluster.petdns.dev/ready-after`: from start to Ready; `never` keeps the pod not Ready.
- `localcluster.petdns.dev/stop-after`: how long the containers take to stop once the pod is deleted
  (never longer than the deletion's grace period).
- `localcluster.petdns.dev/fail-after`: from start until the containers exit with an error: the pod goes
  Failed whatever its restartPolicy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubeapi.meta import Obj
from localcluster.kubelet import podstatus

PREFIX = "localcluster.petdns.dev/"
READY_AFTER = PREFIX + "ready-after"
STOP_AFTER = PREFIX + "stop-after"
FAIL_AFTER = PREFIX + "fail-after"
SLACK = 0.001  # timers may fire this early and still count as due


@dataclass(frozen=True, slots=True)
class Timing:
    """A pod's timing in seconds; ready_after None: never Ready, fail_after None: never fails."""

    ready_after: float | None
    stop_after: float
    fail_after: float | None = None


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _probe_number(probe: Obj, key: str, default: int, least: int) -> float:
    value = probe.get(key)
    return (
        float(max(value, least)) if isinstance(value, int) and not isinstance(value, bool) else float(default)
    )


def container_ready_after(container: Obj) -> float:
    """Seconds from start until the container's readiness probe has succeeded `successThreshold` times."""
    probe = container.get("readinessProbe")
    if not isinstance(probe, dict):
        return 0.0
    delay = _probe_number(probe, "initialDelaySeconds", 0, 0)
    period = _probe_number(probe, "periodSeconds", 10, 1)
    threshold = _probe_number(probe, "successThreshold", 1, 1)
    return delay + (threshold - 1) * period


def probes_ready_after(pod: Obj) -> float:
    """Seconds from start until every container is ready by its readiness probe (0 without probes)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return max((container_ready_after(c) for c in containers if isinstance(c, dict)), default=0.0)


def timing_of(pod: Obj, *, ready_after: float | None, stop_after: float) -> tuple[Timing, list[str]]:
    """The pod's timing (defaults overridden by its annotations) and what was wrong with the annotations."""
    notes = (pod.get("metadata") or {}).get("annotations") or {}
    problems: list[str] = []

    def read(key: str, default: float | None, *, never: bool = False) -> float | None:
        raw = notes.get(key)
        if raw is None:
            return default
        text = str(raw).strip()
        if never and text.lower() == "never":
            return None
        value = _seconds(text)
        if value is None:
            hint = ' or "never"' if never else ""
            problems.append(f'{key}: "{raw}" is not a number of seconds{hint}; using the default')
            return default
        return value

    stop = read(STOP_AFTER, stop_after)
    default_ready = probes_ready_after(pod) if ready_after is None else ready_after
    timing = Timing(
        ready_after=read(READY_AFTER, default_ready, never=True),
        stop_after=stop if stop is not None else stop_after,
        fail_after=read(FAIL_AFTER, None),
    )
    return timing, problems


def phase(pod: Obj) -> str:
    """status.phase (Pending when absent)."""
    return str((pod.get("status") or {}).get("phase") or "Pending")


def terminal(pod: Obj) -> bool:
    """Whether the pod has finished: Succeeded or Failed."""
    return phase(pod) in ("Succeeded", "Failed")


def terminating(pod: Obj) -> bool:
    """Whether the pod is being deleted (it has a deletionTimestamp)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def grace_of(pod: Obj) -> float:
    """metadata.deletionGracePeriodSeconds of a terminating pod (0 when absent)."""
    value = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    return float(value) if isinstance(value, int | float) else 0.0


def may_start(pod: Obj) -> bool:
    """Whether containers may be started for the pod (it is neither finished nor being deleted)."""
    return not terminal(pod) and not terminating(pod)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the kubelet knows of a scheduled pod beyond the object itself."""

    node: str
    host_ips: tuple[str, ...]
    pod_ips: tuple[str, ...] = ()
    running_for: float | None = None  # seconds since the containers started; None: not started
    stopping_for: float | None = None  # seconds since the deletion was first seen
    node_lost: bool = False
    ready_override: bool | None = None
    failure: tuple[str, str] | None = None  # (reason, message) the pod is to fail with


@dataclass(frozen=True, slots=True)
class Step:
    """What to do now: write `status` (when it differs), finish the deletion, look again in `wake_in` s."""

    status: Obj | None = None
    finish: bool = False
    wake_in: float | None = None


def next_step(pod: Obj, facts: Facts, timing: Timing, now: float) -> Step:
    """The next step for a pod on the kubelet's node; `now` is the wall clock for timestamps."""
    if terminal(pod):
        return Step(finish=terminating(pod) and not facts.node_lost)
    if facts.node_lost:  # nobody answers for the node: only the control plane writes
        if terminating(pod):
            return Step(status=podstatus.node_lost(pod, facts.node, now))
        return Step(status=podstatus.mark_not_ready(pod, now)) if podstatus.is_ready(pod) else Step()
    if facts.failure is not None:
        reason, message = facts.failure
        status = podstatus.failed(pod, facts.host_ips, facts.pod_ips, reason=reason, message=message, now=now)
        return Step(status=status, finish=terminating(pod))
    ran = facts.running_for
    if terminating(pod):
        if ran is None:
            return Step(finish=True)
        left = min(timing.stop_after, grace_of(pod)) - (facts.stopping_for or 0.0)
        if left <= SLACK:
            return Step(finish=True)
        status = podstatus.running(pod, facts.host_ips, facts.pod_ips, ready=False, now=now)
        return Step(status=status, wake_in=left)
    if ran is None:
        return Step(status=podstatus.waiting(pod, facts.host_ips, now))
    wakes = []
    if timing.fail_after is not None:
        if ran + SLACK >= timing.fail_after:
            status = podstatus.failed(pod, facts.host_ips, facts.pod_ips, reason="Error", message="", now=now)
            return Step(status=status)
        wakes.append(timing.fail_after - ran)
    if facts.ready_override is not None:
        ready = facts.ready_override
    elif timing.ready_after is None:
        ready = False
    else:
        ready = ran + SLACK >= timing.ready_after
        if not ready:
            wakes.append(timing.ready_after - ran)
    status = podstatus.running(pod, facts.host_ips, facts.pod_ips, ready=ready, now=now)
    return Step(status=status, wake_in=min(wakes) if wakes else None)
