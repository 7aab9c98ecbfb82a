"""A PodDisruptionBudget's status from the pods it selects and their controllers' scale, as upstream's
disruption controller computes it. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeapi.labels import from_label_selector
from kubeapi.meta import Obj, section

Owner = tuple[str, str, str]  # (apiVersion, kind, name) of a pod's controller


@dataclass(frozen=True, slots=True)
class Scales:
    """The controllers' desired replicas (expected pods), or why they could not be found."""

    expected: int = 0
    failure: str = ""


def selects(pdb: Obj, pod: Obj) -> bool:
    """The budget's selector matches the pod (same namespace; an empty or missing selector matches none)."""
    if section(pdb, "metadata").get("namespace") != section(pod, "metadata").get("namespace"):
        return False
    raw = section(pdb, "spec").get("selector")
    found = from_label_selector(raw)
    return raw is not None and not found.empty and found.matches(section(pod, "metadata").get("labels") or {})


def needs_scale(pdb: Obj) -> bool:
    """maxUnavailable, or minAvailable as a percent: the expected count comes from the controllers."""
    spec = section(pdb, "spec")
    return spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)


def controller_of(pod: Obj) -> Owner | None:
    """The pod's controller reference."""
    for ref in section(pod, "metadata").get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return (str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name", "")))
    return None


def owners(pods: Iterable[Obj]) -> tuple[set[Owner], str]:
    """The distinct controllers of the pods, or the failure naming a pod without one."""
    found: set[Owner] = set()
    for pod in pods:
        owner = controller_of(pod)
        if owner is None:
            return set(), f'found no controllers for pod "{section(pod, "metadata").get("name", "")}"'
        found.add(owner)
    return found, ""


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions or []
    )


def _percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+%", value):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return 0


def budget_status(pdb: Obj, pods: list[Obj], scales: Scales, now: str) -> Obj:
    """The status of a budget over the pods it selects: counts, observedGeneration, DisruptionAllowed."""
    spec = section(pdb, "spec")
    healthy = sum(1 for pod in pods if not section(pod, "metadata").get("deletionTimestamp") and _ready(pod))
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    if high is not None:
        expected = scales.expected
        desired = max(expected - _percent(high, expected, round_up=True), 0)
    elif isinstance(low, str):
        expected = scales.expected
        desired = _percent(low, expected, round_up=True)
    else:
        expected = len(pods)
        desired = low if isinstance(low, int) else 0
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    generation = section(pdb, "metadata").get("generation")
    observed = generation if isinstance(generation, int) else 0
    found = pdb.get("status")
    old: Obj = found if isinstance(found, dict) else {}
    if scales.failure and needs_scale(pdb):
        healthy, desired, expected, allowed = 0, 0, 0, 0
        state, reason, message = False, "SyncFailed", scales.failure
    elif allowed > 0:
        state, reason, message = True, "SufficientPods", ""
    else:
        state, reason, message = False, "InsufficientPods", ""
    out: Obj = {
        "observedGeneration": observed,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [_condition(old, (state, reason, message), observed, now)],
    }
    disrupted = _still_disrupted(old.get("disruptedPods"), pods)
    if disrupted:
        out["disruptedPods"] = disrupted
    return out


def _condition(old: Obj, verdict: tuple[bool, str, str], observed: int, now: str) -> Obj:
    state, reason, message = verdict
    text = "True" if state else "False"
    since = now
    for cond in old.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "DisruptionAllowed" and cond.get("status") == text:
            since = str(cond.get("lastTransitionTime") or now)
    return {
        "type": "DisruptionAllowed",
        "status": text,
        "observedGeneration": observed,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


def _still_disrupted(found: Any, pods: list[Obj]) -> Obj:
    """Evicted pods stay listed until they are gone or terminating (upstream also times them out)."""
    if not isinstance(found, dict):
        return {}
    live = {
        str(section(pod, "metadata").get("name"))
        for pod in pods
        if not section(pod, "metadata").get("deletionTimestamp")
    }
    return {name: when for name, when in found.items() if name in live}
