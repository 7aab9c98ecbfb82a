"""Pure preparation of writes: request namespace checks, update merging rules, generation, the scale view."""

from __future__ import annotations

from typing import Any

from kubeapi.labels import selector_text
from kubeapi.meta import Obj
from localcluster.storage.defaults import apply_defaults, wants_cluster_ip
from localcluster.storage.errors import bad_request, field_forbidden, field_invalid, invalid
from localcluster.storage.meta import clone, finalizers_of, meta, spec_changed
from localcluster.storage.resources import Resource
from localcluster.storage.validation import metadata_causes, pod_update_causes

# metadata the server owns: an update cannot change these
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
# kinds whose create strategy starts metadata.generation at 1: Pod (since 1.33), EndpointSlice, and custom
# resources (PetSet); the others (ConfigMap, Secret, Service, Namespace, Event, Lease...) have none
_GENERATION_KINDS = frozenset({"Pod", "EndpointSlice", "PetSet"})


def has_generation(kind: str) -> bool:
    """Whether objects of kind carry metadata.generation (set to 1 on create, bumped on spec changes)."""
    return kind in _GENERATION_KINDS


def object_namespace(res: Resource, namespace: str | None, obj: Obj) -> str:
    """The namespace a write goes to; 400 when the body names another one than the request."""
    m = meta(obj)
    if not res.namespaced:
        m.pop("namespace", None)
        return ""
    body_ns = m.get("namespace")
    if body_ns and namespace and body_ns != namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    chosen = str(namespace or body_ns or "")
    if not chosen:
        raise bad_request("the namespace must be set for a namespaced resource")
    m["namespace"] = chosen
    return chosen


def check_body(res: Resource, obj: Any) -> Obj:
    """A private copy of a request body, with kind and apiVersion filled in; 400 for non-objects."""
    if not isinstance(obj, dict):
        raise bad_request("the request body must be a JSON object")
    body: Obj = clone(obj)
    if not isinstance(body.get("metadata", {}), dict):
        raise bad_request("metadata must be an object")
    body.setdefault("apiVersion", res.api_version)
    body.setdefault("kind", res.kind)
    if body["kind"] != res.kind:
        raise bad_request(
            f"the kind of the provided object ({body['kind']}) does not match the resource ({res.kind})"
        )
    return body


def merge_update(res: Resource, old: Obj, body: Obj, *, name: str, subresource: str) -> Obj:
    """The object an update of old with body (already namespace-checked) stores, before resourceVersion."""
    body_name = meta(body).get("name") or name
    if body_name != name:
        raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
    uid = meta(body).get("uid")
    if uid and uid != meta(old).get("uid"):
        raise invalid(res, name, [field_invalid("metadata.uid", uid, "field is immutable")])
    if subresource == "status":
        new = clone(old)
        if "status" in body:
            new["status"] = body["status"]
        else:
            new.pop("status", None)
        if "resourceVersion" in meta(body):
            meta(new)["resourceVersion"] = meta(body)["resourceVersion"]
        return new
    if subresource:
        raise bad_request(f"subresource {subresource!r} cannot be written here")
    new = body
    meta(new)["name"] = name
    for key in _SERVER_META:
        if key in meta(old):
            meta(new)[key] = meta(old)[key]
        else:
            meta(new).pop(key, None)
    if "status" in res.subresources:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    added = set(finalizers_of(new)) - set(finalizers_of(old))
    if meta(old).get("deletionTimestamp") and added:
        detail = "no new finalizers can be added if the object is being deleted"
        cause = field_forbidden("metadata.finalizers", f"{detail}, found new finalizers {sorted(added)}")
        raise invalid(res, name, [cause])
    _keep_cluster_ip(res, old, new)
    return new


def _keep_cluster_ip(res: Resource, old: Obj, new: Obj) -> None:
    if res.kind != "Service":
        return
    old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
    if not isinstance(new_spec, dict) or not wants_cluster_ip(old_spec):
        return
    for key in ("clusterIP", "clusterIPs"):
        if key in old_spec and not new_spec.get(key):
            new_spec[key] = old_spec[key]
    if new_spec.get("clusterIP") != old_spec.get("clusterIP"):
        name = str(meta(new).get("name"))
        raise invalid(
            res,
            name,
            [field_invalid("spec.clusterIPs[0]", new_spec.get("clusterIP"), "may not change once set")],
        )


def finish_update(res: Resource, old: Obj, new: Obj) -> Obj:
    """Defaults, validation and the generation rule; the resourceVersion field is left to the caller."""
    apply_defaults(new)
    causes = metadata_causes(new)
    if res.kind == "Pod":
        causes += pod_update_causes(old, new)
    if causes:
        raise invalid(res, str(meta(new).get("name")), causes)
    generation = meta(old).get("generation")
    if generation is not None:
        meta(new)["generation"] = int(generation) + 1 if spec_changed(old, new) else generation
    return new


def unchanged(old: Obj, new: Obj) -> bool:
    """Whether new differs from old only in resourceVersion (a no-op write, not committed)."""
    a, b = dict(old), dict(new)
    a["metadata"] = {k: v for k, v in meta(old).items() if k != "resourceVersion"}
    b["metadata"] = {k: v for k, v in meta(new).items() if k != "resourceVersion"}
    return a == b


def set_selector(spec: Obj) -> Obj:
    """A set's label selector: spec.selector, or the template's labels when it is absent (as PetSet did)."""
    selector = spec.get("selector")
    if selector is not None:
        return selector if isinstance(selector, dict) else {}
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    labels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    return {"matchLabels": labels} if isinstance(labels, dict) else {}


def scale_view(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of an object with spec.replicas (PetSet); status.selector in string form."""
    m = meta(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = selector_text(set_selector(spec))
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
