"""PersistentVolumeClaim checks (upstream's ValidatePersistentVolumeClaim and its update rule)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable

from kubeapi import quantity
from kubeapi.meta import Obj
from localcluster.storage.checks.fields import (
    forbidden,
    invalid,
    items,
    mapping,
    not_supported,
    quantity_value,
    required,
)
from localcluster.storage.meta import clone

_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RESIZE_FORBIDDEN = (
    "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must"
    " support resize"
)
IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound"
    " claims"
)


def claim_causes(obj: Obj) -> list[Obj]:
    """Causes against a claim's spec: access modes, the storage request; empty when valid."""
    spec = mapping(obj.get("spec"))
    causes: list[Obj] = []
    modes = items(spec.get("accessModes"))
    if not modes:
        causes.append(required("spec.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(not_supported("spec.accessModes", mode, ACCESS_MODES))
    requests = mapping(mapping(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        causes.append(required("spec.resources[storage]"))
    elif quantity_value("PersistentVolumeClaim", requests["storage"]) <= 0:
        causes.append(
            invalid("spec.resources[storage]", str(requests["storage"]), "must be greater than zero")
        )
    return causes


def claim_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """A claim's spec is fixed once created, but for binding it (spec.volumeName, once) and, when bound,
    growing resources.requests.storage."""
    old_spec, new_spec = clone(mapping(old.get("spec"))), clone(mapping(new.get("spec")))
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        new_spec.pop("volumeName", None)
    beta_class = mapping(mapping(old.get("metadata")).get("annotations")).get(_BETA_CLASS)
    if old_spec.get("storageClassName") is None and beta_class in (None, new_spec.get("storageClassName")):
        old_spec.pop("storageClassName", None)  # a class may be set once on a claim without one
        new_spec.pop("storageClassName", None)
    old_size = mapping(mapping(old_spec.get("resources")).get("requests")).get("storage")
    new_size = mapping(mapping(new_spec.get("resources")).get("requests")).get("storage")
    bound = mapping(new.get("status")).get("phase") == "Bound"
    if bound and isinstance(mapping(new_spec.get("resources")).get("requests"), dict):
        new_spec["resources"]["requests"]["storage"] = old_size
        if old_size is None:
            new_spec["resources"]["requests"].pop("storage")
    causes = []
    if old_spec != new_spec:
        causes.append(forbidden("spec", f"{IMMUTABLE}\n{_diff(old_spec, new_spec)}"))
    kind = "PersistentVolumeClaim"
    shrunk = old_size is not None and new_size is not None
    if shrunk and quantity_value(kind, new_size) < quantity_value(kind, old_size):
        causes.append(
            forbidden("spec.resources.requests.storage", "field can not be less than previous value")
        )
    return causes


def _diff(old: Obj, new: Obj) -> str:
    a = json.dumps(old, indent=1, sort_keys=True).splitlines()
    b = json.dumps(new, indent=1, sort_keys=True).splitlines()
    return "\n".join(
        line for line in difflib.unified_diff(a, b, lineterm="", n=1) if not line.startswith(("---", "+++"))
    )


def claim_class(obj: Obj) -> str:
    """The claim's StorageClass: the beta annotation, else spec.storageClassName ('' when none)."""
    beta = mapping(mapping(obj.get("metadata")).get("annotations")).get(_BETA_CLASS)
    found = beta if beta is not None else mapping(obj.get("spec")).get("storageClassName")
    return str(found or "")


def resize_refusal(old: Obj, new: Obj, find_class: Callable[[str], Obj | None]) -> str:
    """Upstream's PersistentVolumeClaimResize admission: why a claim's storage request may not grow ('' when
    it may, or does not grow): only bound claims whose unchanged class allows volume expansion."""
    sizes = [
        quantity.parse(
            mapping(mapping(mapping(o.get("spec")).get("resources")).get("requests")).get("storage")
        )
        for o in (old, new)
    ]
    if sizes[0] is None or sizes[1] is None or sizes[1] <= sizes[0]:
        return ""
    if mapping(old.get("status")).get("phase") != "Bound":
        return "Only bound persistent volume claims can be expanded"
    name = claim_class(new)
    if not name or name != claim_class(old):
        return RESIZE_FORBIDDEN
    found = find_class(name)
    return "" if found is not None and found.get("allowVolumeExpansion") is True else RESIZE_FORBIDDEN
