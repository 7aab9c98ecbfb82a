"""StatefulSet checks (upstream's ValidateStatefulSetSpec and ValidateStatefulSetUpdate), for the fields the
PetSet controller reads: policies, counts, the selector against the template, serviceName, claim templates."""

from __future__ import annotations

from typing import Any

from kubeapi.labels import from_label_selector, label_selector_errors
from kubeapi.meta import Obj
from localcluster.storage.checks.fields import forbidden, invalid, items, mapping, not_supported, required
from localcluster.storage.meta import clone
from localcluster.storage.validation import dns_causes, label_causes

ORDERED_READY, PARALLEL = "OrderedReady", "Parallel"
ROLLING_UPDATE, ON_DELETE = "RollingUpdate", "OnDelete"
NONNEGATIVE = "must be greater than or equal to 0"
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _nonnegative(field: str, value: Any) -> list[Obj]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, NONNEGATIVE)]
    return []


def _policy_causes(spec: Obj) -> list[Obj]:
    causes: list[Obj] = []
    policy = spec.get("podManagementPolicy")
    if not policy:
        causes.append(required("spec.podManagementPolicy"))
    elif policy not in (ORDERED_READY, PARALLEL):
        causes.append(
            invalid("spec.podManagementPolicy", policy, f"must be '{ORDERED_READY}' or '{PARALLEL}'")
        )
    strategy = mapping(spec.get("updateStrategy"))
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if not kind:
        causes.append(required("spec.updateStrategy"))
    elif kind == ON_DELETE and rolling is not None:
        detail = f"only allowed for updateStrategy '{ROLLING_UPDATE}'"
        causes.append(invalid("spec.updateStrategy.rollingUpdate", rolling, detail))
    elif kind == ROLLING_UPDATE:
        path = "spec.updateStrategy.rollingUpdate.partition"
        causes += _nonnegative(path, mapping(rolling).get("partition"))
    elif kind != ON_DELETE:
        detail = f"must be '{ROLLING_UPDATE}' or '{ON_DELETE}'"
        causes.append(invalid("spec.updateStrategy", strategy, detail))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            value = retention.get(key)
            if value not in ("Retain", "Delete"):
                path = f"spec.persistentVolumeClaimRetentionPolicy.{key}"
                causes.append(not_supported(path, value or "", ("Retain", "Delete")))
    return causes


def _selector_causes(spec: Obj) -> list[Obj]:
    selector, template = spec.get("selector"), mapping(spec.get("template"))
    tmeta = mapping(template.get("metadata"))
    labels = tmeta.get("labels")
    causes: list[Obj] = []
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        raw = mapping(selector)
        for path, why in label_selector_errors(raw):
            causes.append(invalid(f"spec.selector.{path}", raw, why))
        if not raw.get("matchLabels") and not raw.get("matchExpressions"):
            causes.append(invalid("spec.selector", raw, "empty selector is invalid for statefulset"))
    if selector is not None and not causes:
        chosen = from_label_selector(selector)
        wanted = {str(k): str(v) for k, v in mapping(labels).items()}
        if not chosen.empty and not chosen.matches(wanted):
            causes.append(invalid("spec.template.metadata.labels", mapping(labels), SELECTOR_MISMATCH))
    causes += label_causes(labels, "spec.template.labels")
    pod_spec = mapping(template.get("spec"))
    restart = pod_spec.get("restartPolicy")
    if restart != "Always":
        causes.append(not_supported("spec.template.spec.restartPolicy", restart or "", ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        detail = "activeDeadlineSeconds in StatefulSet is not Supported"
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds", detail))
    return causes


def _claim_template_causes(spec: Obj) -> list[Obj]:
    causes: list[Obj] = []
    seen: set[str] = set()
    for index, claim in enumerate(items(spec.get("volumeClaimTemplates"))):
        path = f"spec.volumeClaimTemplates[{index}].metadata.name"
        name = mapping(mapping(claim).get("metadata")).get("name")
        if not name:
            causes.append(required(path, "name is required for a claim template"))
        elif not isinstance(name, str):
            causes.append(invalid(path, name, "must be a string"))
        else:
            causes += dns_causes("label", name, path)
            if name in seen:
                causes.append({"reason": "FieldValueDuplicate", "message": f'Duplicate value: "{name}"'})
                causes[-1]["field"] = path
            seen.add(name)
    return causes


def statefulset_causes(obj: Obj) -> list[Obj]:
    """Causes against a (defaulted) StatefulSet's spec; empty when valid."""
    spec = mapping(obj.get("spec"))
    causes = _policy_causes(spec)
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        causes += _nonnegative(f"spec.{key}", spec.get(key))
    causes += _nonnegative("spec.ordinals.start", mapping(spec.get("ordinals")).get("start"))
    service = spec.get("serviceName")
    if isinstance(service, str) and service:
        causes += dns_causes("label", service, "spec.serviceName")
    causes += _selector_causes(spec)
    return causes + _claim_template_causes(spec)


def statefulset_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """Only the mutable fields of the spec may change (selector, serviceName, claim templates and
    podManagementPolicy are fixed at creation)."""
    old_spec, new_spec = clone(mapping(old.get("spec"))), clone(mapping(new.get("spec")))
    for key in _MUTABLE:
        old_spec.pop(key, None)
        new_spec.pop(key, None)
    if old_spec != new_spec:
        return [forbidden("spec", UPDATE_FORBIDDEN)]
    return []
