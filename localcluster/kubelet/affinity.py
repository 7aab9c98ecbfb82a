"""Required inter-pod anti-affinity as the scheduler's InterPodAffinity filter checks it (pure).

A term (`spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[]`) keeps a pod off
every node whose `topologyKey` label value is shared with a node running a pod the term's labelSelector
matches, in the term's namespaces (`namespaces`, else the pod's own; an empty `namespaceSelector` is every
namespace, others match on `kubernetes.io/metadata.name`). Both ways, as upstream: the incoming pod's
terms against the pods placed, and the placed pods' terms against the incoming pod. A nil labelSelector
matches no pod. Preferred terms and pod affinity are not simulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubeapi.labels import Selector, from_label_selector
from kubeapi.meta import Obj

NAME_LABEL = "kubernetes.io/metadata.name"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


@dataclass(frozen=True, slots=True)
class Term:
    """One required anti-affinity term, its namespaces resolved against the pod that holds it."""

    selector: Selector | None  # None: matches no pod
    namespaces: frozenset[str] | None  # None: every namespace
    namespace_selector: Selector | None  # a non-empty namespaceSelector, matched on the namespace's name
    topology_key: str

    def covers(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether a pod in `namespace` with `labels` is one this term keeps away."""
        if self.selector is None or not self.selector.matches(labels):
            return False
        in_list = self.namespaces is not None and namespace in self.namespaces
        by_selector = self.namespace_selector is not None and self.namespace_selector.matches(
            {NAME_LABEL: namespace}
        )
        if self.namespaces is None and self.namespace_selector is None:
            return True
        return in_list or by_selector


@dataclass(frozen=True, slots=True)
class PlacedPod:
    """What anti-affinity needs of a pod bound to a node."""

    node: str
    namespace: str
    labels: Mapping[str, str]
    terms: tuple[Term, ...]


def _meta(pod: Obj) -> Obj:
    return pod.get("metadata") or {}


def labels_of(pod: Obj) -> dict[str, str]:
    """metadata.labels as strings."""
    return {str(k): str(v) for k, v in (_meta(pod).get("labels") or {}).items()}


def terms_of(pod: Obj) -> tuple[Term, ...]:
    """The pod's required anti-affinity terms."""
    anti = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    own = str(_meta(pod).get("namespace") or "default")
    out = []
    for raw in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if not isinstance(raw, dict) or not raw.get("topologyKey"):
            continue
        listed = [str(n) for n in raw.get("namespaces") or []]
        ns_raw = raw.get("namespaceSelector")
        every = (
            isinstance(ns_raw, dict) and not ns_raw.get("matchLabels") and not ns_raw.get("matchExpressions")
        )
        ns_selector = from_label_selector(ns_raw) if isinstance(ns_raw, dict) and not every else None
        if every:
            namespaces: frozenset[str] | None = None
        elif listed or ns_selector is not None:
            namespaces = frozenset(listed)
        else:
            namespaces = frozenset({own})
        selector = from_label_selector(raw["labelSelector"]) if raw.get("labelSelector") is not None else None
        out.append(Term(selector, namespaces, ns_selector, str(raw["topologyKey"])))
    return tuple(out)


def placed(pod: Obj, node: str) -> PlacedPod:
    """The view of a pod bound to `node`."""
    return PlacedPod(node, str(_meta(pod).get("namespace") or "default"), labels_of(pod), terms_of(pod))


def anti_affinity_misfit(
    pod: Obj,
    node_labels: Mapping[str, str],
    placed_pods: Sequence[PlacedPod],
    labels_of_node: Mapping[str, Mapping[str, str]],
) -> str | None:
    """Why anti-affinity keeps the pod off a node with `node_labels` (the scheduler's reason), or None."""
    namespace = str(_meta(pod).get("namespace") or "default")
    own_labels = labels_of(pod)
    own_terms = terms_of(pod)

    def same_domain(other: PlacedPod, key: str) -> bool:
        here = node_labels.get(key)
        return here is not None and (labels_of_node.get(other.node) or {}).get(key) == here

    for other in placed_pods:
        if any(
            t.covers(other.namespace, other.labels) and same_domain(other, t.topology_key) for t in own_terms
        ):
            return ANTI_AFFINITY
    for other in placed_pods:
        if any(t.covers(namespace, own_labels) and same_domain(other, t.topology_key) for t in other.terms):
            return EXISTING_ANTI_AFFINITY
    return None
