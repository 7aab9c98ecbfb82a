"""Pure preparation of writes: request bodies, namespace checks, update merging, per-kind defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.checks.claim import resize_refusal
from localcluster.storage.defaults import wants_cluster_ip
from localcluster.storage.errors import bad_request, field_forbidden, field_invalid, forbidden, invalid
from localcluster.storage.kinds import KindRules, content_causes, rules_for
from localcluster.storage.meta import clone, finalizers_of, meta, spec_changed
from localcluster.storage.resources import Resource
from localcluster.storage.schema.crds import Finder, check_custom
from localcluster.storage.validation import metadata_causes

# metadata the server owns: an update cannot change these
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


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
    if rules_for(res.kind).cluster_ip:
        _keep_cluster_ip(res, old, new)
    return new


def _keep_cluster_ip(res: Resource, old: Obj, new: Obj) -> None:
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
    rules = rules_for(res.kind)
    apply_defaults(rules, new)
    changed = rules.update_causes(old, new) if rules.update_causes is not None else []  # may normalize new
    causes = metadata_causes(new) + content_causes(rules, old, new) + changed
    if causes:
        raise invalid(res, str(meta(new).get("name")), causes)
    generation = meta(old).get("generation")
    if generation is not None:
        meta(new)["generation"] = int(generation) + 1 if spec_changed(old, new) else generation
    return new


def admit_update(res: Resource, old: Obj, new: Obj, find: Callable[[str, str, str], Obj | None]) -> None:
    """Validating admission after the checks (upstream's PersistentVolumeClaimResize): 403 when refused."""
    if res.kind == "PersistentVolumeClaim":
        why = resize_refusal(old, new, lambda name: find("storageclasses.storage.k8s.io", "", name))
        if why:
            raise forbidden(res, str(meta(new).get("name")), why)


def apply_defaults(rules: KindRules, obj: Obj) -> None:
    """Fill the defaults of obj's kind in place (idempotent)."""
    if rules.defaults is not None:
        rules.defaults(obj)


def check_content(res: Resource, rules: KindRules, new: Obj) -> None:
    """422 when a new (defaulted) object fails its kind's content checks."""
    causes = content_causes(rules, None, new)
    if causes:
        raise invalid(res, str(meta(new).get("name")), causes)


def unchanged(old: Obj, new: Obj) -> bool:
    """Whether new differs from old only in resourceVersion (a no-op write, not committed)."""
    a, b = dict(old), dict(new)
    a["metadata"] = {k: v for k, v in meta(old).items() if k != "resourceVersion"}
    b["metadata"] = {k: v for k, v in meta(new).items() if k != "resourceVersion"}
    return a == b


def check_schema(res: Resource, old: Obj | None, new: Obj, find: Finder) -> Obj:
    """A custom resource's write against its CRD (the stored one, else the packaged one): unknown fields
    pruned, defaults filled, then 422 Invalid for schema or `x-kubernetes-validations` violations.
    Other kinds pass unchanged. old is None on create (transition rules are skipped)."""
    return check_custom(res, old, new, find)
