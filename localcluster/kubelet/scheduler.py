"""Placing pods on nodes (pure): claims a pod waits for, which nodes fit, the least loaded of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kubeapi.labels import from_label_selector
from kubeapi.meta import Obj
from localcluster.kubelet.affinity import (
    ANTI_AFFINITY,
    EXISTING_ANTI_AFFINITY,
    PlacedPod,
    anti_affinity_misfit,
)

UNREACHABLE = "node.kubernetes.io/unreachable"


@dataclass(frozen=True, slots=True)
class ClaimView:
    """What scheduling needs of a PersistentVolumeClaim."""

    phase: str
    deleting: bool

    @staticmethod
    def from_raw(obj: Obj) -> ClaimView:
        """The view of a raw claim."""
        status = obj.get("status") or {}
        return ClaimView(
            str(status.get("phase") or "Pending"), bool((obj.get("metadata") or {}).get("deletionTimestamp"))
        )


@dataclass(frozen=True, slots=True)
class NodeView:
    """What scheduling needs of a Node."""

    name: str
    ready: bool
    unschedulable: bool
    labels: tuple[tuple[str, str], ...]
    taints: tuple[tuple[str, str, str], ...]  # (key, value, effect)

    @staticmethod
    def from_raw(obj: Obj) -> NodeView:
        """The view of a raw node."""
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        ready = any(
            isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        taints = tuple(
            (str(t.get("key", "")), str(t.get("value", "")), str(t.get("effect", "")))
            for t in spec.get("taints") or []
            if isinstance(t, dict)
        )
        labels = tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items()))
        return NodeView(str(meta.get("name", "")), ready, bool(spec.get("unschedulable")), labels, taints)


def claim_names(pod: Obj) -> list[str]:
    """The PersistentVolumeClaims a pod mounts, in volume order."""
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = ((volume or {}).get("persistentVolumeClaim") or {}).get("claimName")
        if name:
            out.append(str(name))
    return out


def claims_problem(pod: Obj, claim: Callable[[str], ClaimView | None]) -> str | None:
    """Why the pod's claims keep it from running (the scheduler's words), or None when all are Bound."""
    unbound = False
    for name in claim_names(pod):
        found = claim(name)
        if found is None:
            return f'persistentvolumeclaim "{name}" not found'
        if found.deleting:
            return f'persistentvolumeclaim "{name}" is being deleted'
        if found.phase != "Bound":
            unbound = True
    return "pod has unbound immediate PersistentVolumeClaims" if unbound else None


NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
RESOLVABLE = (ANTI_AFFINITY, EXISTING_ANTI_AFFINITY)  # preemption is tried (and finds no victims)


def unschedulable_message(total: int, reasons: str, *, no_victims: int = 0) -> str:
    """The scheduler's FailedScheduling message for a pod no node takes; `no_victims` nodes failed for
    reasons preemption could resolve (it finds no lower-priority victims: every pod has the same)."""
    parts = []
    if no_victims:
        parts.append(f"{no_victims} {NO_VICTIMS}")
    if total - no_victims:
        parts.append(f"{total - no_victims} {NOT_HELPFUL}")
    return (
        f"0/{total} nodes are available: {reasons}. preemption: 0/{total} nodes are available: "
        f"{', '.join(sorted(parts))}."
    )


def _tolerates(pod: Obj, key: str, value: str, effect: str) -> bool:
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        if not isinstance(tol, dict):
            continue
        if tol.get("effect") and tol.get("effect") != effect:
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == key:
                return True
        elif tol.get("key") == key and str(tol.get("value", "")) == value:
            return True
    return False


def misfit(pod: Obj, node: NodeView | None) -> str | None:
    """Why a node cannot take the pod (the scheduler's per-node reason), or None when it can."""
    if node is None:
        return "node(s) were not found"
    if node.unschedulable:
        return "node(s) were unschedulable"
    for key, value, effect in node.taints:
        if effect in ("NoSchedule", "NoExecute") and not _tolerates(pod, key, value, effect):
            return f"node(s) had untolerated taint {{{key}: {value}}}"
    if not node.ready:
        return "node(s) were not ready"
    wanted = from_label_selector({"matchLabels": (pod.get("spec") or {}).get("nodeSelector")})
    if not wanted.matches(dict(node.labels)):
        return "node(s) didn't match Pod's node affinity/selector"
    return None


def choose_node(
    pod: Obj,
    nodes: Sequence[tuple[str, NodeView | None]],
    load: Mapping[str, int],
    placed_pods: Sequence[PlacedPod] = (),
) -> tuple[str | None, str]:
    """(node, "") for the fitting node with the fewest pods (ties by name), else (None, message).
    `placed_pods` are the pods bound to nodes, for anti-affinity."""
    fitting, reasons = [], Counter[str]()
    labels_of_node = {name: dict(view.labels) for name, view in nodes if view is not None}
    for name, view in nodes:
        reason = misfit(pod, view)
        if reason is None and view is not None and placed_pods:
            reason = anti_affinity_misfit(pod, labels_of_node[name], placed_pods, labels_of_node)
        if reason is None:
            fitting.append(name)
        else:
            reasons[reason] += 1
    if fitting:
        return min(fitting, key=lambda name: (load.get(name, 0), name)), ""
    if not nodes:
        return None, "no nodes available to schedule pods"
    detail = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
    no_victims = sum(count for reason, count in reasons.items() if reason in RESOLVABLE)
    return None, unschedulable_message(len(nodes), detail, no_victims=no_victims)
