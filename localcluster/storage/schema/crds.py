"""Which schema a custom resource's writes follow: the stored CRD's, else the one the local cluster ships;
each CRD version compiled once per CRD resourceVersion; the check a write goes through."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from importlib import resources as package_files
from typing import Any

import yaml

from kubeapi.meta import Obj
from localcluster.storage.errors import ApiError, invalid
from localcluster.storage.meta import clone
from localcluster.storage.resources import Resource, find
from localcluster.storage.schema import causes as c
from localcluster.storage.schema.cel import compile_rules, evaluate
from localcluster.storage.schema.nodes import Node, compile_schema
from localcluster.storage.schema.shape import default, prune
from localcluster.storage.schema.values import validate

CRD_STORE = "customresourcedefinitions.apiextensions.k8s.io"
PACKAGED_FILES = ("petsets.petdns.dev.yaml",)
BUILTIN_GROUPS = frozenset(
    {"apps", "discovery.k8s.io", "coordination.k8s.io", "storage.k8s.io", "apiextensions.k8s.io"}
)
_MAX_COMPILED = 64

Finder = Callable[[str, str, str], Obj | None]  # (storage, namespace, name) -> the stored object
_COMPILED: OrderedDict[tuple[str, ...], Node | None] = OrderedDict()


@cache
def packaged_crds() -> tuple[Obj, ...]:
    """The CRDs shipped with the local cluster (read-only: copy before changing)."""
    folder = package_files.files("localcluster") / "crds"
    return tuple(yaml.safe_load(folder.joinpath(name).read_text()) for name in PACKAGED_FILES)


def ensure_crds(get: Callable[..., Obj], create: Callable[..., Obj]) -> None:
    """Create the packaged CRDs that are not stored yet (a store's `get` and `create`): the local cluster
    serves them as objects, so `kubectl get crd` lists them and `kubectl apply` can change them."""
    res = find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    if res is None:
        raise LookupError("customresourcedefinitions are not served")
    for crd in packaged_crds():
        name = str(crd["metadata"]["name"])
        try:
            get(res, None, name, copy=False)
        except ApiError as err:
            if err.code != 404:
                raise
            create(res, None, clone(crd))


def _packaged(name: str) -> Obj | None:
    for crd in packaged_crds():
        if crd.get("metadata", {}).get("name") == name:
            return crd
    return None


def is_custom(res: Resource) -> bool:
    """Whether a resource's storage belongs to a CRD (a group no built-in API serves)."""
    _, _, group = res.store_key.partition(".")
    return bool(group) and group not in BUILTIN_GROUPS


def schema_for(res: Resource, crd: Obj | None) -> Node | None:
    """The compiled schema of the CRD version res is served as (the storage version for another group)."""
    if crd is None:
        crd = _packaged(res.store_key)
        if crd is None:
            return None
    m = crd.get("metadata") or {}
    key = (str(m.get("name")), str(m.get("uid")), str(m.get("resourceVersion")), res.group, res.version)
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key]
    raw = _version_schema(crd, res)
    node = compile_schema(raw) if raw is not None else None
    if node is not None:
        compile_rules(node)
    _COMPILED[key] = node
    if len(_COMPILED) > _MAX_COMPILED:
        _COMPILED.popitem(last=False)
    return node


def _version_schema(crd: Obj, res: Resource) -> Obj | None:
    spec = crd.get("spec") or {}
    versions = [v for v in spec.get("versions") or () if isinstance(v, dict)]
    chosen: Any = None
    if spec.get("group") == res.group:
        chosen = next((v for v in versions if v.get("name") == res.version), None)
    if chosen is None:
        chosen = next((v for v in versions if v.get("storage")), versions[0] if versions else None)
    raw = ((chosen or {}).get("schema") or {}).get("openAPIV3Schema")
    if raw is None:
        raw = (spec.get("validation") or {}).get("openAPIV3Schema")
    return raw if isinstance(raw, dict) else None


def check_custom(res: Resource, old: Obj | None, new: Obj, find: Finder) -> Obj:
    """Prune, default and validate new (in place) against its CRD's schema and rules; 422 when invalid."""
    if not is_custom(res):
        return new
    root = schema_for(res, find(CRD_STORE, "", res.store_key))
    if root is None:
        return new
    prune(root, new)
    default(root, new)
    causes = validate(root, new, old)
    if c.is_blocking(causes):
        if root.rules_below:
            causes.append(
                {"reason": "FieldValueInvalid", "message": f'Invalid value: "null": {c.NOT_CHECKED}'}
            )
    else:
        causes += evaluate(root, new, old)
    if causes:
        raise invalid(res, str((new.get("metadata") or {}).get("name") or ""), causes)
    return new
