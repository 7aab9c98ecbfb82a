"""The ReplicaSet controller's decisions: how many pods to create, which to delete, the status. Pure."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kubeapi.meta import Obj, parse_time
from localcluster.controllers.deployments.objects import (
    count,
    meta,
    name,
    owner_reference,
    pod_active,
    pod_ready,
    replicas,
    spec,
    status,
)

# upstream's burst: at most this many pods created (or deleted) per sync
BURST = 500
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True, slots=True)
class PodPlan:
    """What one sync of a ReplicaSet does: pods to create, pods to delete (by name), the status to write."""

    create: int = 0
    delete: tuple[str, ...] = ()
    status: Obj | None = field(default=None)


def available(pod: Obj, min_ready: int, now: float) -> bool:
    """Ready for at least minReadySeconds."""
    if not pod_ready(pod):
        return False
    if min_ready <= 0:
        return True
    for cond in status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            since = parse_time(cond.get("lastTransitionTime"))
            return since is not None and since + min_ready <= now
    return False


def _deletion_order(pod: Obj) -> tuple[int, int, int, float]:
    """Upstream's preference when scaling down: unscheduled, then pending, then not ready, newest first."""
    scheduled = 1 if spec(pod).get("nodeName") else 0
    phase = _PHASE_RANK.get(str(status(pod).get("phase") or ""), 0)
    created = parse_time(meta(pod).get("creationTimestamp")) or 0.0
    return (scheduled, phase, 1 if pod_ready(pod) else 0, -created)


def replicaset_status(rs: Obj, pods: list[Obj], now: float) -> Obj:
    """The status a ReplicaSet's owned pods give it (zero counts left out, as upstream's omitempty)."""
    active = [pod for pod in pods if pod_active(pod)]
    min_ready = count(spec(rs), "minReadySeconds")
    out: Obj = {"replicas": len(active)}
    counted = {
        "fullyLabeledReplicas": len(active),
        "readyReplicas": sum(1 for pod in active if pod_ready(pod)),
        "availableReplicas": sum(1 for pod in active if available(pod, min_ready, now)),
    }
    out.update({key: value for key, value in counted.items() if value})
    generation = meta(rs).get("generation")
    if isinstance(generation, int):
        out["observedGeneration"] = generation
    return out


def plan_pods(rs: Obj, pods: list[Obj], now: float) -> PodPlan:
    """Pods to create or delete so the ReplicaSet owns spec.replicas active ones; its status if changed."""
    active = [pod for pod in pods if pod_active(pod)]
    want = replicas(rs)
    create, delete = 0, tuple[str, ...]()
    if len(active) < want:
        create = min(want - len(active), BURST)
    elif len(active) > want:
        doomed = sorted(active, key=_deletion_order)[: min(len(active) - want, BURST)]
        delete = tuple(name(pod) for pod in doomed)
    new_status = replicaset_status(rs, pods, now)
    changed = new_status != {k: v for k, v in status(rs).items() if k != "conditions"}
    return PodPlan(create, delete, new_status if changed else None)


def pod_manifest(rs: Obj) -> Obj:
    """A pod of the ReplicaSet: its template, generateName `<rs>-`, a controller owner reference."""
    template = spec(rs).get("template")
    template = template if isinstance(template, dict) else {}
    tmeta = copy.deepcopy(meta(template))
    pod_meta: Obj = {
        "generateName": f"{name(rs)}-",
        "namespace": meta(rs).get("namespace", ""),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_reference(rs, "ReplicaSet")],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    pod_spec = copy.deepcopy(template.get("spec"))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}
