"""Server-side printing: objects to `meta.k8s.io/v1` Tables with the columns `kubectl get` shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeapi.labels import selector_text
from kubeapi.meta import Obj, parse_time
from localcluster.apiserver.companioncolumns import columns as companion_columns
from localcluster.apiserver.setcolumns import set_containers, set_images, set_ready
from localcluster.storage.meta import field_path
from localcluster.storage.resources import Resource

Cell = Callable[[Obj, float], Any]
Column = tuple[str, str, int, Cell]  # (name, type, priority, cell)

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def human_duration(seconds: float) -> str:
    """An age the way kubectl shows it: 45s, 3m20s, 5h, 12d, 2y30d."""
    sec = int(seconds)
    if sec < -1:
        return "<invalid>"
    if sec < 120:
        return f"{max(sec, 0)}s"
    minutes, hours, days = sec // 60, sec // 3600, sec // 86400
    if minutes < 10:
        return _pair(minutes, "m", sec % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def _age_of(text: Any, now: float) -> str:
    stamp = parse_time(text)
    return "<unknown>" if stamp is None else human_duration(now - stamp)


def _get(obj: Obj, path: str) -> Any:
    """The value at a dotted path (`.spec.replicas` or `spec.replicas`), None when absent."""
    return field_path(obj, path.strip("."))


def _name(obj: Obj, _now: float) -> Any:
    return obj.get("metadata", {}).get("name", "")


def _age(obj: Obj, now: float) -> Any:
    return _age_of(obj.get("metadata", {}).get("creationTimestamp"), now)


def _none(value: Any) -> Any:
    return "<none>" if value in (None, "", []) else value


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)


def _pod_ready(obj: Obj, _now: float) -> Any:
    containers = _get(obj, "spec.containers") or []
    statuses = _get(obj, "status.containerStatuses") or []
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    return f"{ready}/{len(containers)}"


def _pod_status(obj: Obj, _now: float) -> Any:
    if _get(obj, "metadata.deletionTimestamp"):
        return "Terminating"
    for status in _get(obj, "status.containerStatuses") or []:
        waiting = _get(status, "state.waiting.reason")
        if waiting:
            return waiting
    return _get(obj, "status.reason") or _get(obj, "status.phase") or "Pending"


def _storage_status(obj: Obj, _now: float) -> Any:  # claims and volumes: Terminating while deleted
    return (
        "Terminating" if _get(obj, "metadata.deletionTimestamp") else _get(obj, "status.phase") or "Pending"
    )


def _pod_restarts(obj: Obj, _now: float) -> Any:
    statuses = _get(obj, "status.containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses if isinstance(s, dict))


def _service_ports(obj: Obj, _now: float) -> Any:
    parts = []
    for port in _get(obj, "spec.ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        parts.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service_external(obj: Obj, _now: float) -> Any:
    ips = _get(obj, "spec.externalIPs") or []
    ingress = [i.get("ip") or i.get("hostname") for i in _get(obj, "status.loadBalancer.ingress") or []]
    shown = [str(x) for x in [*ingress, *ips] if x]
    if shown:
        return ",".join(shown)
    return "<pending>" if _get(obj, "spec.type") == "LoadBalancer" else "<none>"


def _selector(obj: Obj, _now: float) -> Any:
    return selector_text({"matchLabels": _get(obj, "spec.selector")}) or "<none>"


def _access_modes(obj: Obj, _now: float) -> Any:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    modes = _get(obj, "spec.accessModes") or []
    return ",".join(short.get(m, m) for m in modes)


def _claim_access_modes(obj: Obj, now: float) -> Any:
    return _access_modes({"spec": obj.get("status") or {}}, now)


def _volume_claim(obj: Obj, _now: float) -> Any:
    return "/".join(filter(None, [_get(obj, "spec.claimRef.namespace"), _get(obj, "spec.claimRef.name")]))


def _config_data(obj: Obj, _now: float) -> Any:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def _slice_endpoints(obj: Obj, _now: float) -> Any:
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    shown = ",".join(addresses[:3])
    return f"{shown} + {len(addresses) - 3} more..." if len(addresses) > 3 else _none(shown)


def _slice_ports(obj: Obj, _now: float) -> Any:
    return ",".join(str(p.get("port", "")) for p in obj.get("ports") or []) or "<unset>"


def _node_status(obj: Obj, _now: float) -> Any:
    conditions = [c for c in _get(obj, "status.conditions") or [] if isinstance(c, dict)]
    ready = [c.get("status") for c in conditions if c.get("type") == "Ready"]
    shown = [("Ready" if ready[0] == "True" else "NotReady") if ready else "Unknown"]
    return ",".join(shown + (["SchedulingDisabled"] if _get(obj, "spec.unschedulable") else []))


def _node_roles(obj: Obj, _now: float) -> Any:
    labels = _get(obj, "metadata.labels") or {}
    roles = {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
    roles |= {v for k, v in labels.items() if k == "kubernetes.io/role" and v}
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(obj: Obj, _now: float) -> Any:
        found = [a.get("address") for a in _get(obj, "status.addresses") or [] if a.get("type") == kind]
        return found[0] if found else "<none>"

    return cell


def _path(path: str, *, default: Any = None) -> Cell:
    return lambda obj, _now: _get(obj, path) if _get(obj, path) is not None else default


def _string(path: str) -> Cell:
    return lambda obj, _now: _none(_get(obj, path))


def _event_seen(first: bool) -> Cell:
    def cell(obj: Obj, now: float) -> Any:
        keys = (
            ("firstTimestamp", "eventTime")
            if first
            else ("lastTimestamp", "series.lastObservedTime", "eventTime")
        )
        for key in (*keys, "metadata.creationTimestamp"):
            if _get(obj, key):
                return _age_of(_get(obj, key), now)
        return "<unknown>"

    return cell


def _event_object(obj: Obj, _now: float) -> Any:
    return f"{str(_get(obj, 'involvedObject.kind') or '').lower()}/{_get(obj, 'involvedObject.name') or ''}"


def _event_source(obj: Obj, _now: float) -> Any:
    component = _get(obj, "source.component") or _get(obj, "reportingComponent") or ""
    host = _get(obj, "source.host") or ""
    return ", ".join(filter(None, [component, host])) or "<none>"


def _event_count(obj: Obj, _now: float) -> Any:
    return str(_get(obj, "series.count") or _get(obj, "count") or 1)


BUILTIN_COLUMNS: dict[str, tuple[Column, ...]] = {
    # as kube-apiserver prints core/v1 Events: the name last, shown with -o wide only
    "events": (
        ("Last Seen", "string", 0, _event_seen(first=False)),
        ("Type", "string", 0, _path("type", default="")),
        ("Reason", "string", 0, _path("reason", default="")),
        ("Object", "string", 0, _event_object),
        ("Subobject", "string", 1, _path("involvedObject.fieldPath", default="")),
        ("Source", "string", 1, _event_source),
        ("Message", "string", 0, _path("message", default="")),
        ("First Seen", "string", 1, _event_seen(first=True)),
        ("Count", "string", 1, _event_count),
        ("Name", "string", 1, _name),
    ),
    "pods": (
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _pod_restarts),
        AGE,
        ("IP", "string", 1, _string("status.podIP")),
        ("Node", "string", 1, _string("spec.nodeName")),
    ),
    "services": (
        NAME,
        ("Type", "string", 0, _path("spec.type", default="ClusterIP")),
        ("Cluster-IP", "string", 0, _string("spec.clusterIP")),
        ("External-IP", "string", 0, _service_external),
        ("Port(s)", "string", 0, _service_ports),
        AGE,
        ("Selector", "string", 1, _selector),
    ),
    "persistentvolumeclaims": (
        NAME,
        ("Status", "string", 0, _storage_status),
        ("Volume", "string", 0, _path("spec.volumeName", default="")),
        ("Capacity", "string", 0, _path("status.capacity.storage", default="")),
        ("Access Modes", "string", 0, _claim_access_modes),
        ("StorageClass", "string", 0, _string("spec.storageClassName")),
        AGE,
    ),
    "persistentvolumes": (
        NAME,
        ("Capacity", "string", 0, _path("spec.capacity.storage", default="")),
        ("Access Modes", "string", 0, _access_modes),
        ("Reclaim Policy", "string", 0, _path("spec.persistentVolumeReclaimPolicy", default="Retain")),
        ("Status", "string", 0, _storage_status),
        ("Claim", "string", 0, _volume_claim),
        ("StorageClass", "string", 0, _path("spec.storageClassName", default="")),
        AGE,
    ),
    "nodes": (
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, _path("status.nodeInfo.kubeletVersion", default="")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, _path("status.nodeInfo.osImage", default="")),
        ("Kernel-Version", "string", 1, _path("status.nodeInfo.kernelVersion", default="")),
        ("Container-Runtime", "string", 1, _path("status.nodeInfo.containerRuntimeVersion", default="")),
    ),
    "namespaces": (NAME, ("Status", "string", 0, _path("status.phase", default="Active")), AGE),
    "configmaps": (NAME, ("Data", "integer", 0, _config_data), AGE),
    "endpointslices.discovery.k8s.io": (
        NAME,
        ("AddressType", "string", 0, _path("addressType", default="")),
        ("Ports", "string", 0, _slice_ports),
        ("Endpoints", "string", 0, _slice_endpoints),
        AGE,
    ),
    "statefulsets.apps": (
        NAME,
        ("Ready", "string", 0, set_ready),
        AGE,
        ("Containers", "string", 1, set_containers),
        ("Images", "string", 1, set_images),
    ),
    "leases.coordination.k8s.io": (
        NAME,
        ("Holder", "string", 0, _path("spec.holderIdentity", default="")),
        AGE,
    ),
}
BUILTIN_COLUMNS.update(companion_columns(NAME, AGE, human_duration))


def _printer_cell(kind: str, path: str) -> Cell:
    def cell(obj: Obj, now: float) -> Any:
        value = _get(obj, path)
        if kind == "date":
            return None if value is None else _age_of(value, now)
        return value

    return cell


def columns_for(res: Resource) -> tuple[Column, ...]:
    """The table columns of a resource: its printer columns, a built-in set, or Name and Age."""
    if res.printer_columns:
        extra = tuple((name, kind, 0, _printer_cell(kind, path)) for name, kind, path in res.printer_columns)
        return (NAME, *extra)
    return BUILTIN_COLUMNS.get(res.store_key, (NAME, AGE))


def column_definitions(res: Resource) -> list[Obj]:
    """The `columnDefinitions` of a resource's tables."""
    out = []
    for name, kind, priority, _cell in columns_for(res):
        definition: Obj = {"name": name, "type": kind, "format": "name" if name == "Name" else ""}
        definition.update(description=f"{name} of the {res.kind}", priority=priority)
        out.append(definition)
    return out


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    meta = obj.get("metadata", {})
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION, "metadata": meta}


def table(
    res: Resource,
    objects: Iterable[Obj],
    *,
    now: float,
    include: str = "Metadata",
    list_meta: Obj | None = None,
    headers: bool = True,
) -> Obj:
    """A Table of objects (one row each); `headers=False` leaves out the column definitions (watch events)."""
    columns = columns_for(res)
    rows = []
    for obj in objects:
        row: Obj = {"cells": [cell(obj, now) for _n, _k, _p, cell in columns]}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": list_meta or {},
        "columnDefinitions": column_definitions(res) if headers else [],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    """True when the Accept header asks for a Table first (`application/json;as=Table;v=v1;g=meta.k8s.io`)."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if (
            params.get("as") == "Table"
            and params.get("g") == "meta.k8s.io"
            and params.get("v") in ("v1", "v1beta1")
        ):
            return True
        if media.split(";")[0].strip() in ("application/json", "*/*"):
            return False
    return False
