"""EndpointSlice checks (upstream's discovery validation): address type, endpoints, addresses, ports."""

from __future__ import annotations

from kubeapi.meta import Obj
from localcluster.storage.checks.fields import (
    PROTOCOLS,
    duplicate,
    enum_causes,
    invalid,
    ip_causes,
    items,
    mapping,
    required,
    too_many,
)
from localcluster.storage.validation import dns_causes, label_causes

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 100
MAX_TOPOLOGY_LABELS = 16


def endpointslice_causes(obj: Obj) -> list[Obj]:
    """Causes against an EndpointSlice's address type, endpoints and ports; empty when valid."""
    kind = obj.get("addressType")
    causes = enum_causes("addressType", kind, ADDRESS_TYPES)
    endpoints = items(obj.get("endpoints"))
    if len(endpoints) > MAX_ENDPOINTS:
        causes.append(too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
    else:
        for i, endpoint in enumerate(endpoints):
            causes += _endpoint_causes(mapping(endpoint), f"endpoints[{i}]", kind)
    return causes + _ports_causes(items(obj.get("ports")))


def _endpoint_causes(endpoint: Obj, path: str, kind: object) -> list[Obj]:
    causes: list[Obj] = []
    addresses = items(endpoint.get("addresses"))
    if not addresses:
        causes.append(required(f"{path}.addresses", "must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        causes.append(too_many(f"{path}.addresses", len(addresses), MAX_ADDRESSES))
    for i, address in enumerate(addresses):
        where = f"{path}.addresses[{i}]"
        if kind in ("IPv4", "IPv6"):
            causes += ip_causes(where, address, 4 if kind == "IPv4" else 6)
        elif kind == "FQDN":
            causes += _fqdn_causes(where, address)
    node = endpoint.get("nodeName")
    if node is not None:
        causes += dns_causes("subdomain", str(node), f"{path}.nodeName")
    topology = mapping(endpoint.get("deprecatedTopology"))
    if len(topology) > MAX_TOPOLOGY_LABELS:
        causes.append(too_many(f"{path}.deprecatedTopology", len(topology), MAX_TOPOLOGY_LABELS))
    causes += label_causes(endpoint.get("deprecatedTopology"), f"{path}.deprecatedTopology")
    hostname = endpoint.get("hostname")
    if hostname is not None:
        causes += dns_causes("label", str(hostname), f"{path}.hostname")
    return causes


def _fqdn_causes(path: str, address: object) -> list[Obj]:
    name = address if isinstance(address, str) else ""
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    causes = dns_causes("subdomain", name, path)
    if causes:
        return causes
    if len(name.split(".")) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in name.split("."):
        found = dns_causes("label", label, path)
        if found:
            return found
    return []


def _ports_causes(ports: list[object]) -> list[Obj]:
    if len(ports) > MAX_PORTS:
        return [too_many("ports", len(ports), MAX_PORTS)]
    causes: list[Obj] = []
    names: set[str] = set()
    for i, raw in enumerate(ports):
        port, path = mapping(raw), f"ports[{i}]"
        name = str(port.get("name") or "")  # defaulted to ""
        if name:
            causes += dns_causes("label", name, f"{path}.name")
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        causes += enum_causes(f"{path}.protocol", port.get("protocol", "TCP"), PROTOCOLS)  # defaulted to TCP
    return causes


def endpointslice_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """addressType is fixed once created."""
    if new.get("addressType") != old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []
