"""Reading the raw workload objects the controllers decide on: counts, owners, pod readiness. Pure."""

from __future__ import annotations

import math
import re
from typing import Any

from kubeapi.meta import Obj, section


def meta(obj: Obj) -> Obj:
    """metadata ({} when absent)."""
    return section(obj, "metadata")


def spec(obj: Obj) -> Obj:
    """spec ({} when absent)."""
    return section(obj, "spec")


def status(obj: Obj) -> Obj:
    """status ({} when absent)."""
    return section(obj, "status")


def count(mapping: Obj, key: str, default: int = 0) -> int:
    """An integer field, default when absent or not an integer."""
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def replicas(obj: Obj) -> int:
    """spec.replicas (1 when absent, as defaulted)."""
    return count(spec(obj), "replicas", 1)


def uid(obj: Obj) -> str:
    """metadata.uid."""
    return str(meta(obj).get("uid") or "")


def name(obj: Obj) -> str:
    """metadata.name."""
    return str(meta(obj).get("name") or "")


def controller_uid(obj: Obj) -> str:
    """The uid of the object's controller owner ("" when none)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def owner_reference(owner: Obj, kind: str) -> Obj:
    """A controller owner reference to owner (apps/v1 kind)."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def terminating(obj: Obj) -> bool:
    """metadata.deletionTimestamp is set."""
    return bool(meta(obj).get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    conditions = status(pod).get("conditions") or []
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def pod_active(pod: Obj) -> bool:
    """Not terminating and not finished: a pod that counts as one of its owner's replicas."""
    return not terminating(pod) and status(pod).get("phase") not in ("Succeeded", "Failed")


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString (`3` or `25%`) against a total, percentages rounded up or down."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+%", value):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return 0


def condition(kind: str, state: bool, reason: str, message: str, now: str) -> Obj:
    """A status condition (probe and transition times both now; callers keep older transition times)."""
    return {
        "type": kind,
        "status": "True" if state else "False",
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def merge_conditions(old: list[Any], new: list[Obj]) -> list[Obj]:
    """new conditions, keeping each one's lastTransitionTime (and lastUpdateTime) while it is unchanged."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    out = []
    for fresh in new:
        cond = dict(fresh)
        prior = before.get(cond["type"])
        if prior is not None and prior.get("status") == cond["status"]:
            cond["lastTransitionTime"] = prior.get("lastTransitionTime", cond["lastTransitionTime"])
            if prior.get("reason") == cond["reason"] and prior.get("message") == cond["message"]:
                cond["lastUpdateTime"] = prior.get("lastUpdateTime", cond["lastUpdateTime"])
        out.append(cond)
    return out
