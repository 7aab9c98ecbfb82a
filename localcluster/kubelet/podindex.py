"""The indexes over the kubelet's pod cache: by node, load per node, by claim, waiting for a node,
anti-affine. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from kubeapi.meta import Obj
from kubeapi.store import Indexer
from localcluster.kubelet.podlife import terminal, terminating
from localcluster.kubelet.scheduler import claim_names

BY_NODE = "node"  # every pod by spec.nodeName
PLACED = "placed"  # the pods that count against a node: bound to it and not finished
BY_CLAIM = "claim"  # "namespace/claim" for each claim mounted by a pod that has not finished
UNSCHEDULED = "unscheduled"  # value "": the pods waiting for a node (not finished, not being deleted)
ANTI_AFFINE = "anti-affine"  # node name: the placed pods with required anti-affinity terms


def uid_of(obj: Obj) -> str:
    """metadata.uid ("" when absent)."""
    return str((obj.get("metadata") or {}).get("uid") or "")


def node_of(pod: Obj) -> str:
    """spec.nodeName ("" when not bound)."""
    return str((pod.get("spec") or {}).get("nodeName") or "")


def claim_value(namespace: str, name: str) -> str:
    """The BY_CLAIM index value of a claim."""
    return f"{namespace}/{name}"


def _by_node(pod: Obj) -> list[str]:
    node = node_of(pod)
    return [node] if node else []


def _placed(pod: Obj) -> list[str]:
    node = node_of(pod)
    return [node] if node and not terminal(pod) else []


def _by_claim(pod: Obj) -> list[str]:
    if terminal(pod):
        return []
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    return [claim_value(namespace, name) for name in claim_names(pod)]


def _unscheduled(pod: Obj) -> list[str]:
    return [""] if not node_of(pod) and not terminal(pod) and not terminating(pod) else []


def _anti_affine(pod: Obj) -> list[str]:
    anti = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    return _placed(pod) if anti.get("requiredDuringSchedulingIgnoredDuringExecution") else []


POD_INDEXERS: Mapping[str, Indexer[Obj]] = {
    BY_NODE: _by_node,
    PLACED: _placed,
    BY_CLAIM: _by_claim,
    UNSCHEDULED: _unscheduled,
    ANTI_AFFINE: _anti_affine,
}
