"""The autoscaling/v1 Scale subresource: the view of an object with spec.replicas, and a Scale write."""

from __future__ import annotations

from typing import Any

from kubeapi.labels import selector_text
from kubeapi.meta import Obj
from localcluster.storage.errors import bad_request, field_invalid, invalid
from localcluster.storage.kinds import rules_of
from localcluster.storage.meta import clone, meta
from localcluster.storage.resources import Resource


def scale_view(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of an object with spec.replicas; status.selector per its kind, as text."""
    m = meta(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = selector_text(rules_of(obj).scale_selector(spec))
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in keep if k in m},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector},
    }


def apply_scale(res: Resource, old: Obj, scale: Any, *, name: str) -> Obj:
    """old with spec.replicas taken from a Scale body (its resourceVersion kept as a precondition)."""
    if not isinstance(scale, dict):
        raise bad_request("the request body must be a Scale object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(
            res, name, [field_invalid("spec.replicas", replicas, "must be greater than or equal to 0")]
        )
    new = clone(old)
    new.setdefault("spec", {})["replicas"] = replicas
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        meta(new)["resourceVersion"] = rv
    return new
