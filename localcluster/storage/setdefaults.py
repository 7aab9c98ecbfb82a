"""Defaults of the set kinds: apps/v1 StatefulSet (upstream's SetDefaults_StatefulSet) and PetSet written
as apps/v1alpha1 (PetSet v1.4: labels and selector from the template; the apiVersion noted on the object)."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.defaults import dict_at, template_defaults

# set on a PetSet created or replaced as apps/v1alpha1: the controller gives it PetSet v1.4's semantics
PETSET_API_VERSION_ANNOTATION = "petdns.dev/api-version"
ALPHA_PETSET = "apps/v1alpha1"


def _claim_template_defaults(spec: Obj) -> None:
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            dict_at(claim, "spec").setdefault("volumeMode", "Filesystem")
            dict_at(claim, "status").setdefault("phase", "Pending")


def statefulset_defaults(obj: Obj) -> None:
    """Defaults of an apps/v1 StatefulSet (the MaxUnavailableStatefulSet gate off, as upstream ships)."""
    spec = dict_at(obj, "spec")
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = dict_at(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    rolling: Any = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        rolling.setdefault("partition", 0)
    retention = dict_at(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    template_defaults(spec)
    _claim_template_defaults(spec)
    status = dict_at(obj, "status")
    status.setdefault("replicas", 0)
    status.setdefault("availableReplicas", 0)


def petset_defaults(obj: Obj) -> None:
    """A PetSet written as apps/v1alpha1: noted in an annotation, labels and selector defaulted from the
    template's labels (as the built-in kind's were). PetSets
    written as petdns.dev/v1 are the custom resource's: its schema defaults them."""
    if obj.get("apiVersion") != ALPHA_PETSET:
        return
    meta = dict_at(obj, "metadata")
    dict_at(meta, "annotations")[PETSET_API_VERSION_ANNOTATION] = ALPHA_PETSET
    spec = dict_at(obj, "spec")
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    labels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    if isinstance(labels, dict) and labels:
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
        if spec.get("selector") is None:
            spec["selector"] = {"matchLabels": dict(labels)}
    spec.setdefault("replicas", 1)
    if not spec.get("updateStrategy"):  # v1.4 had none: a template change reaches a pet when it is deleted
        spec["updateStrategy"] = {"type": "OnDelete"}
