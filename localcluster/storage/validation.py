"""Checks the real API server makes on writes: names, labels, annotations, owner references, pod updates."""

from __future__ import annotations

import re
from typing import Any

from kubeapi.labels import LABEL_VALUE_MESSAGE, QUALIFIED_NAME_MESSAGE, is_label_value, is_qualified_name
from kubeapi.meta import Obj
from localcluster.storage.errors import field_forbidden, field_invalid, field_required
from localcluster.storage.meta import clone

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_NAME_RULES: dict[str, tuple[str, int, str]] = {
    "subdomain": (
        _SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        f"validation is '{_SUBDOMAIN}')",
    ),
    "label": (
        _LABEL,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
        "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
        f"validation is '{_LABEL}')",
    ),
    "dns1035": (
        _DNS1035,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
        "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
        f"regex used for validation is '{_DNS1035}')",
    ),
}
_POD_MUTABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def dns_causes(rule: str, value: str, path: str) -> list[Obj]:
    """Causes against a DNS name at path under a rule (`subdomain`, `label`, `dns1035`); empty when valid."""
    pattern, limit, text = _NAME_RULES[rule]
    causes = []
    if len(value) > limit:
        causes.append(field_invalid(path, value, f"must be no more than {limit} characters"))
    if not re.fullmatch(pattern, value):
        causes.append(field_invalid(path, value, text))
    return causes


def name_causes(rule: str, name: str) -> list[Obj]:
    """Causes against metadata.name under a rule (`subdomain`, `label`, `dns1035`, or `path`: any path
    segment, as RBAC's names such as `system:controller:x`); empty when valid."""
    if not name:
        return [field_required("metadata.name", "name or generateName is required")]
    if rule == "path":
        if name in (".", ".."):
            return [field_invalid("metadata.name", name, f"may not be '{name}'")]
        bad = [f"may not contain '{c}'" for c in "/%" if c in name]
        return [field_invalid("metadata.name", name, text) for text in bad]
    return dns_causes(rule, name, "metadata.name")


def label_causes(found: Any, path: str) -> list[Obj]:
    """Causes against a label map at path (keys qualified names, values label values), as ValidateLabels."""
    if found is None:
        return []
    if not isinstance(found, dict):
        return [field_invalid(path, found, "must be a map of strings")]
    causes: list[Obj] = []
    for key, value in found.items():
        if not is_qualified_name(key):
            causes.append(field_invalid(path, key, QUALIFIED_NAME_MESSAGE))
        if not isinstance(value, str):
            causes.append(field_invalid(path, value, "must be a string"))
        elif not is_label_value(value):
            causes.append(field_invalid(path, value, LABEL_VALUE_MESSAGE))
    return causes


def metadata_causes(obj: Obj) -> list[Obj]:
    """Causes against labels, annotations and ownerReferences (empty when valid)."""
    m = obj.get("metadata") or {}
    causes: list[Obj] = label_causes(m.get("labels"), "metadata.labels")
    annotations = m.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        causes.append(field_invalid("metadata.annotations", annotations, "must be a map of strings"))
    elif annotations is not None:
        for key, value in annotations.items():
            if not is_qualified_name(key):
                causes.append(field_invalid("metadata.annotations", key, QUALIFIED_NAME_MESSAGE))
            if not isinstance(value, str):
                causes.append(field_invalid("metadata.annotations", value, "must be a string"))
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
