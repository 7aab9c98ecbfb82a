"""Checks the real API server makes on every write: labels, annotations, owner references, pod updates."""

from __future__ import annotations

from typing import Any

from kubeapi.labels import LABEL_VALUE_MESSAGE, QUALIFIED_NAME_MESSAGE, is_label_value, is_qualified_name
from kubeapi.meta import Obj
from localcluster.storage.errors import field_forbidden, field_invalid
from localcluster.storage.meta import clone

_POD_MUTABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def metadata_causes(obj: Obj) -> list[Obj]:
    """Causes against labels, annotations and ownerReferences (empty when valid)."""
    m = obj.get("metadata") or {}
    causes: list[Obj] = []
    for field in ("labels", "annotations"):
        found = m.get(field)
        if found is None:
            continue
        if not isinstance(found, dict):
            causes.append(field_invalid(f"metadata.{field}", found, "must be a map of strings"))
            continue
        for key, value in found.items():
            if not is_qualified_name(key):
                causes.append(field_invalid(f"metadata.{field}", key, QUALIFIED_NAME_MESSAGE))
            if not isinstance(value, str):
                causes.append(field_invalid(f"metadata.{field}", value, "must be a string"))
            elif field == "labels" and not is_label_value(value):
                causes.append(field_invalid("metadata.labels", value, LABEL_VALUE_MESSAGE))
    for ref in m.get("ownerReferences") or []:
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(key):
                value = ref.get(key, "") if isinstance(ref, dict) else ref
                causes.append(
                    field_invalid(f"metadata.ownerReferences.{key}", value, f"{key} must not be empty")
                )
    return causes


def _comparable_pod_spec(spec: Any, *, keep_node: bool) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = clone(spec)
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"):
        out.pop(key, None)
    if not keep_node:
        out.pop("nodeName", None)
    for key in ("containers", "initContainers"):
        for container in out.get(key) or []:
            if isinstance(container, dict):
                container.pop("image", None)
    return out


def pod_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """The real server's pod spec immutability (binding a pod to a node by setting nodeName is allowed)."""
    old_spec, new_spec = old.get("spec"), new.get("spec")
    keep_node = bool(isinstance(old_spec, dict) and old_spec.get("nodeName"))
    if _comparable_pod_spec(old_spec, keep_node=keep_node) == _comparable_pod_spec(
        new_spec, keep_node=keep_node
    ):
        return []
    return [field_forbidden("spec", _POD_MUTABLE)]
