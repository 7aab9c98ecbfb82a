"""Strategic merge patch for the built-in kinds we serve: merge keys, list strategies and `$` directives."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.errors import bad_request, unprocessable
from localcluster.storage.meta import clone

Path = tuple[str, ...]
Strategy = tuple[str, str]  # ("merge", key) | ("set", "") | ("replace", "")

REPLACE: Strategy = ("replace", "")
SET: Strategy = ("set", "")

_CONTAINER: dict[Path, Strategy] = {
    ("ports",): ("merge", "containerPort"),
    ("env",): ("merge", "name"),
    ("volumeMounts",): ("merge", "mountPath"),
    ("volumeDevices",): ("merge", "devicePath"),
    ("resizePolicy",): REPLACE,
}
_POD_SPEC: dict[Path, Strategy] = {
    ("volumes",): ("merge", "name"),
    ("imagePullSecrets",): ("merge", "name"),
    ("hostAliases",): ("merge", "ip"),
    ("resourceClaims",): ("merge", "name"),
    ("schedulingGates",): ("merge", "name"),
    ("topologySpreadConstraints",): ("merge", "topologyKey"),
    **{
        (field, *sub): strategy
        for field in ("containers", "initContainers", "ephemeralContainers")
        for sub, strategy in {(): ("merge", "name"), **_CONTAINER}.items()
    },
}
_POD_STATUS: dict[Path, Strategy] = {
    ("conditions",): ("merge", "type"),
    ("podIPs",): ("merge", "ip"),
    ("hostIPs",): ("merge", "ip"),
}
_CONDITIONS: dict[Path, Strategy] = {("status", "conditions"): ("merge", "type")}
_METADATA: dict[Path, Strategy] = {
    ("metadata", "ownerReferences"): ("merge", "uid"),
    ("metadata", "finalizers"): SET,
}


def _under(prefix: Path, table: dict[Path, Strategy]) -> dict[Path, Strategy]:
    return {prefix + path: strategy for path, strategy in table.items()}


# kind -> list path (list elements elided) -> strategy; lists not named here are replaced whole
SCHEMAS: dict[str, dict[Path, Strategy]] = {
    "Pod": {**_under(("spec",), _POD_SPEC), **_under(("status",), _POD_STATUS)},
    "Service": {("spec", "ports"): ("merge", "port"), ("status", "conditions"): ("merge", "type")},
    "PersistentVolumeClaim": dict(_CONDITIONS),
    "PersistentVolume": {},
    "Namespace": dict(_CONDITIONS),
    "Endpoints": {},
    "EndpointSlice": {},
    "Event": {},
    "ServiceAccount": {("secrets",): ("merge", "name"), ("imagePullSecrets",): ("merge", "name")},
    "ConfigMap": {},
    "Lease": {},
    "ControllerRevision": {},
    "StorageClass": {},
    "Node": {("status", "conditions"): ("merge", "type"), ("status", "addresses"): ("merge", "type")},
    "Scale": {},
}

# the set kinds: a pod template's lists merged as a Pod's; PetSet only as the built-in apps/v1alpha1 kind
_SET: dict[Path, Strategy] = {
    **_under(("spec", "template", "spec"), _POD_SPEC),
    ("spec", "template", "metadata", "ownerReferences"): ("merge", "uid"),
    ("spec", "template", "metadata", "finalizers"): SET,
    **_CONDITIONS,
}
SCHEMAS["StatefulSet"] = _SET
ALPHA_PETSET = "PetSet.apps"
SCHEMAS[ALPHA_PETSET] = _SET


def patch_kind(kind: str, group: str) -> str:
    """The name a resource's patches are looked up by: the kind, but PetSet served by the apps group
    (apps/v1alpha1, a built-in kind) apart from the petdns.dev custom resource."""
    return ALPHA_PETSET if (kind, group) == ("PetSet", "apps") else kind


def merge_patch_strategic(original: Obj, patch: Obj, schema: dict[Path, Strategy]) -> Obj:
    """original with a strategic merge patch applied (original is not modified)."""
    table = {**_METADATA, **schema}
    return _merge_map(clone(original), patch, (), table) or {}


def _merge_map(out: Obj, patch: Obj, path: Path, table: dict[Path, Strategy]) -> Obj | None:
    """Merge patch into out (owned, modified in place); None when the patch deletes the map."""
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, path, table)
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    _delete_from_primitive_lists(out, patch)
    for key, value in patch.items():
        if not key.startswith("$"):
            _merge_field(out, key, value, (*path, key), table)
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(order, list):
                out[field] = _ordered(out[field], order, table.get((*path, field), REPLACE))
    return _retain(out, patch)


def _delete_from_primitive_lists(out: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if not isinstance(value, list):
                raise bad_request("invalid patch: $deleteFromPrimitiveList must be a list")
            if isinstance(out.get(field), list):
                out[field] = [item for item in out[field] if item not in value]


def _merge_field(out: Obj, key: str, value: Any, path: Path, table: dict[Path, Strategy]) -> None:
    current = out.get(key)
    if value is None:
        out.pop(key, None)
    elif isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, path, table)
        if merged is None:
            out.pop(key, None)
        else:
            out[key] = merged
    elif isinstance(value, list):
        strategy = table.get(path, REPLACE)
        out[key] = _merge_list(current if isinstance(current, list) else [], value, path, strategy, table)
    else:
        out[key] = value


def _retain(out: Obj, patch: Obj) -> Obj:
    """Apply `$retainKeys`: keys of the map that the list does not name are cleared."""
    retain = patch.get("$retainKeys")
    if retain is None:
        return out
    if not isinstance(retain, list):
        raise bad_request("invalid patch: $retainKeys must be a list")
    if any(k not in retain for k in patch if not k.startswith("$") and patch[k] is not None):
        raise unprocessable("patch content doesn't match retainKeys list")
    return {k: v for k, v in out.items() if k in retain}


def _merge_list(
    out: list[Any], patch: list[Any], path: Path, strategy: Strategy, table: dict[Path, Strategy]
) -> list[Any]:
    kind, key = strategy
    if kind == "replace":
        return [_fresh(item, path, table) for item in patch]
    if kind == "set":
        if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
            return [item for item in patch if not isinstance(item, dict)]
        return out + [item for i, item in enumerate(patch) if item not in out and item not in patch[:i]]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _fresh(item, path, table) for item in patch if not (isinstance(item, dict) and "$patch" in item)
        ]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"invalid patch: list {'.'.join(path)} holds maps merged by {key}")
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next(
            (i for i, have in enumerate(out) if isinstance(have, dict) and have.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(_fresh(item, path, table))
        else:
            merged = _merge_map(out[index], item, path, table)
            out[index] = merged if merged is not None else out[index]
    return out


def _fresh(item: Any, path: Path, table: dict[Path, Strategy]) -> Any:
    """A patch value with no original: directives processed against nothing."""
    if isinstance(item, dict):
        return _merge_map({}, item, path, table) or {}
    return clone(item)


def _ordered(items: list[Any], order: list[Any], strategy: Strategy) -> list[Any]:
    """items sorted as `$setElementOrder` lists them; items it does not name keep their order at the end."""
    kind, key = strategy

    def ident(item: Any) -> Any:
        return item.get(key) if kind == "merge" and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    named = [item for item in items if repr(ident(item)) in rank]
    rest = [item for item in items if repr(ident(item)) not in rank]
    return sorted(named, key=lambda item: rank[repr(ident(item))]) + rest


# the companions of a stateful app: pod templates merge as a Pod's spec does; RBAC and policies have no
# merge keys (their lists are replaced whole, as upstream's schemas say)
_WORKLOAD: dict[Path, Strategy] = {
    **_under(("spec", "template", "spec"), _POD_SPEC),
    ("spec", "template", "metadata", "ownerReferences"): ("merge", "uid"),
    ("spec", "template", "metadata", "finalizers"): SET,
    **_CONDITIONS,
}
SCHEMAS.update(
    {
        "Deployment": _WORKLOAD,
        "ReplicaSet": _WORKLOAD,
        "Job": _WORKLOAD,
        "PodDisruptionBudget": dict(_CONDITIONS),
        "NetworkPolicy": {},
        "Secret": {},
        "Role": {},
        "ClusterRole": {},
        "RoleBinding": {},
        "ClusterRoleBinding": {},
        "Eviction": {},
    }
)
