"""The one table of per-kind rules the store and write preparation consult; every other kind is plain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubeapi.meta import Obj
from localcluster.storage.checks.apps import (
    deployment_causes,
    job_causes,
    job_update_causes,
    replicaset_causes,
    selector_update_causes,
)
from localcluster.storage.checks.claim import claim_causes, claim_update_causes
from localcluster.storage.checks.configmap import configmap_causes
from localcluster.storage.checks.endpointslice import endpointslice_causes, endpointslice_update_causes
from localcluster.storage.checks.pod import pod_causes
from localcluster.storage.checks.policy import (
    binding_causes,
    binding_update_causes,
    networkpolicy_causes,
    pdb_causes,
    role_causes,
    secret_causes,
    secret_update_causes,
)
from localcluster.storage.checks.service import service_causes, service_update_causes
from localcluster.storage.checks.statefulset import statefulset_causes, statefulset_update_causes
from localcluster.storage.defaults import claim_defaults, namespace_defaults, pod_defaults, service_defaults
from localcluster.storage.meta import field_path
from localcluster.storage.setdefaults import petset_defaults, statefulset_defaults
from localcluster.storage.validation import pod_update_causes
from localcluster.storage.workloaddefaults import (
    binding_defaults,
    deployment_defaults,
    job_defaults,
    pdb_defaults,
    replicaset_defaults,
    secret_defaults,
)

DEFAULT_GRACE_SECONDS = 30


def no_selector(spec: Obj) -> Obj:
    """The /scale selector of a kind without one: the empty selector."""
    del spec
    return {}


def set_selector(spec: Obj) -> Obj:
    """A set's label selector: spec.selector, or the template's labels when it is absent (as PetSet did)."""
    selector = spec.get("selector")
    if selector is not None:
        return selector if isinstance(selector, dict) else {}
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    labels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    return {"matchLabels": labels} if isinstance(labels, dict) else {}


def pod_grace(obj: Obj, requested: int | None) -> int:
    """Seconds a pod deletion waits: 0 for unscheduled or finished pods, else requested or spec's."""
    if field_path(obj, "status.phase") in ("Succeeded", "Failed") or not field_path(obj, "spec.nodeName"):
        return 0
    if requested is None:
        spec_grace = field_path(obj, "spec.terminationGracePeriodSeconds")
        requested = spec_grace if isinstance(spec_grace, int) else DEFAULT_GRACE_SECONDS
    return max(requested, 0)


def no_grace(obj: Obj, requested: int | None) -> int:
    """Deletion of every kind but Pod waits for no grace period."""
    del obj, requested
    return 0


@dataclass(frozen=True, slots=True)
class KindRules:
    """How the store treats one kind; the defaults describe a plain kind (ConfigMap, Lease, ...)."""

    defaults: Callable[[Obj], None] | None = None  # fills defaults in place on create and update
    name_rule: str = "subdomain"  # metadata.name rule: "subdomain", "label", "dns1035" or "path" (RBAC)
    generation: bool = False  # metadata.generation: 1 on create, bumped on spec changes
    cluster_ip: bool = False  # spec.clusterIP allocated on create, kept on update, indexed
    spec_causes: Callable[[Obj], list[Obj]] | None = None  # checks of the defaulted content on create, update
    update_causes: Callable[[Obj, Obj], list[Obj]] | None = None  # (old, new) checks; may normalize new
    grace: Callable[[Obj, int | None], int] = no_grace  # (object, requested) -> seconds a delete waits
    holds_objects: bool = False  # a namespace: deleting it empties it, and it goes once empty
    protected_names: tuple[str, ...] = ()  # objects that may not be deleted
    scale_selector: Callable[[Obj], Obj] = no_selector  # spec -> the LabelSelector the /scale view reports
    field_labels: tuple[str, ...] = ()  # field selector keys beyond metadata.name and metadata.namespace


PLAIN = KindRules()

_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

# generation: the create strategies of Pod (since 1.33), EndpointSlice and custom resources (PetSet) start
# metadata.generation at 1; the other kinds have none
RULES: dict[str, KindRules] = {
    "Pod": KindRules(
        defaults=pod_defaults,
        generation=True,
        spec_causes=pod_causes,
        update_causes=pod_update_causes,
        grace=pod_grace,
        field_labels=_POD_FIELDS,
    ),
    "Service": KindRules(
        defaults=service_defaults,
        name_rule="dns1035",
        cluster_ip=True,
        spec_causes=service_causes,
        update_causes=service_update_causes,
    ),
    "Namespace": KindRules(
        defaults=namespace_defaults,
        name_rule="label",
        holds_objects=True,
        protected_names=("default", "kube-system", "kube-public"),
        field_labels=("status.phase",),
    ),
    "PersistentVolumeClaim": KindRules(
        defaults=claim_defaults,
        spec_causes=claim_causes,
        update_causes=claim_update_causes,
        field_labels=("spec.volumeName",),
    ),
    "EndpointSlice": KindRules(
        generation=True, spec_causes=endpointslice_causes, update_causes=endpointslice_update_causes
    ),
    "ConfigMap": KindRules(spec_causes=configmap_causes),
    "PetSet": KindRules(defaults=petset_defaults, generation=True, scale_selector=set_selector),
    # apps/v1 StatefulSet: upstream's defaults, checks and immutable fields; its name is a DNS label
    "StatefulSet": KindRules(
        defaults=statefulset_defaults,
        name_rule="label",
        generation=True,
        spec_causes=statefulset_causes,
        update_causes=statefulset_update_causes,
        scale_selector=set_selector,
    ),
    "Event": KindRules(field_labels=_EVENT_FIELDS),
    "Secret": KindRules(field_labels=("type",)),
    "Node": KindRules(field_labels=("spec.unschedulable",)),
}

# the companions of a stateful app: workloads (generation from 1, selector immutable, /scale from
# spec.selector), disruption budgets, network policies, RBAC and Secrets
_ROLE = KindRules(name_rule="path", spec_causes=role_causes)
_BINDING = KindRules(
    name_rule="path",
    defaults=binding_defaults,
    spec_causes=binding_causes,
    update_causes=binding_update_causes,
)
RULES.update(
    {
        "Deployment": KindRules(
            defaults=deployment_defaults,
            generation=True,
            spec_causes=deployment_causes,
            update_causes=selector_update_causes,
            scale_selector=set_selector,
        ),
        "ReplicaSet": KindRules(
            defaults=replicaset_defaults,
            generation=True,
            spec_causes=replicaset_causes,
            update_causes=selector_update_causes,
            scale_selector=set_selector,
        ),
        "Job": KindRules(
            defaults=job_defaults, generation=True, spec_causes=job_causes, update_causes=job_update_causes
        ),
        "PodDisruptionBudget": KindRules(defaults=pdb_defaults, generation=True, spec_causes=pdb_causes),
        "NetworkPolicy": KindRules(generation=True, spec_causes=networkpolicy_causes),
        "Role": _ROLE,
        "ClusterRole": _ROLE,
        "RoleBinding": _BINDING,
        "ClusterRoleBinding": _BINDING,
        "Secret": KindRules(
            defaults=secret_defaults,
            spec_causes=secret_causes,
            update_causes=secret_update_causes,
            field_labels=("type",),
        ),
    }
)


def content_causes(rules: KindRules, old: Obj | None, new: Obj) -> list[Obj]:
    """The kind's checks of new's content (all but metadata and status); an update that leaves the content
    as it was (a status or metadata write) is not checked again."""
    if rules.spec_causes is None:
        return []
    if old is not None and _content(old) == _content(new):
        return []
    return rules.spec_causes(new)


def _content(obj: Obj) -> Obj:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def rules_for(kind: str) -> KindRules:
    """The rules of a kind (PLAIN for kinds without any)."""
    return RULES.get(kind, PLAIN)


def rules_of(obj: Obj) -> KindRules:
    """The rules of an object's kind."""
    return RULES.get(str(obj.get("kind") or ""), PLAIN)
