"""Slim frozen views of Services, Pods and EndpointSlices for the EndpointSlice controller, and the raw
shapes of the endpoints and ports it writes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi.labels import Selector, from_label_selector
from kubeapi.meta import Obj

Labels = tuple[tuple[str, str], ...]  # sorted (key, value) pairs

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
RESERVED_LABELS = frozenset({SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL})
IPV4, IPV6 = "IPv4", "IPv6"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """A Service port; `target` is a number or a container port name."""

    name: str
    port: int
    protocol: str
    target: int | str
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """What the controller reads of a Service. `selector` None: no slices from this controller; otherwise
    made of `key=value` requirements only (a Service selector is a label map)."""

    namespace: str
    name: str
    uid: str
    labels: Labels
    selector: Selector | None
    ports: tuple[ServicePort, ...]
    address_types: tuple[str, ...]
    headless: bool
    publish_not_ready: bool = False
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """A named container port (unnamed ones cannot be targeted by name)."""

    name: str
    protocol: str
    number: int


@dataclass(frozen=True, slots=True)
class Pod:
    """What the controller reads of a Pod."""

    namespace: str
    name: str
    uid: str
    labels: Labels
    ips: tuple[str, ...]
    terminal: bool
    ready: bool
    deleting: bool
    hostname: str
    subdomain: str
    node: str
    ports: tuple[ContainerPort, ...]

    @property
    def label_map(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class EndpointPort:
    """A slice port (port None: all ports)."""

    name: str
    port: int | None
    protocol: str
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One slice endpoint with the fields the controller writes."""

    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool
    hostname: str
    node: str
    target: tuple[str, str, str]  # pod namespace, name, uid; ("", "", "") for none

    @property
    def identity(self) -> tuple[tuple[str, ...], str, str, str]:
        """What makes two endpoints the same one: sorted addresses, hostname and the target pod."""
        return (tuple(sorted(self.addresses)), self.hostname, self.target[0], self.target[1])


@dataclass(frozen=True, slots=True)
class Slice:
    """A managed EndpointSlice. `canonical` is False when the raw object holds anything the controller
    would not write itself (unknown fields, missing conditions): such a slice is rewritten."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    service: str
    labels: Labels
    annotations: Labels
    owners: tuple[str, ...]  # uids of the v1 Services that own it
    address_type: str
    ports: tuple[EndpointPort, ...]
    endpoints: tuple[Endpoint, ...]
    canonical: bool = True
    deleting: bool = False


def selector_pairs(selector: Selector) -> Labels:
    """The (key, value) pairs of a Service's selector, by key."""
    return tuple((req.key, req.values[0]) for req in selector.requirements if req.values)


def _meta(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    found = raw.get("metadata")
    return found if isinstance(found, Mapping) else {}


def _pairs(found: Any) -> Labels:
    if not isinstance(found, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in found.items()))


def _family(ip: str) -> str:
    return IPV6 if ":" in ip else IPV4


def service_from_raw(raw: Mapping[str, Any]) -> Service:
    """A Service; ExternalName services and empty selectors count as having no selector."""
    meta, spec = _meta(raw), raw.get("spec") or {}
    selector = from_label_selector({"matchLabels": spec.get("selector")}) if spec.get("selector") else None
    if spec.get("type") == "ExternalName" or (selector is not None and selector.empty):
        selector = None
    cluster_ip = str(spec.get("clusterIP") or "")
    headless = cluster_ip in ("", "None")
    families = tuple(dict.fromkeys(IPV6 if f == "IPv6" else IPV4 for f in spec.get("ipFamilies") or () if f))
    if not families:
        families = (_family(cluster_ip),) if not headless else (IPV4,)
    ports = []
    for port in spec.get("ports") or ():
        number = int(port.get("port") or 0)
        target = port.get("targetPort")
        ports.append(
            ServicePort(
                name=str(port.get("name") or ""),
                port=number,
                protocol=str(port.get("protocol") or "TCP"),
                target=target if isinstance(target, (int, str)) and target not in (0, "") else number,
                app_protocol=port.get("appProtocol"),
            )
        )
    return Service(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        labels=_pairs(meta.get("labels")),
        selector=selector,
        ports=tuple(ports),
        address_types=families,
        headless=headless,
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def pod_from_raw(raw: Mapping[str, Any]) -> Pod:
    """A Pod: its IPs (status.podIPs, else status.podIP), readiness, identity and named container ports."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or () if isinstance(p, Mapping) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    ready = any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    ports = tuple(
        ContainerPort(str(p["name"]), str(p.get("protocol") or "TCP"), int(p.get("containerPort") or 0))
        for container in spec.get("containers") or ()
        for p in container.get("ports") or ()
        if isinstance(p, Mapping) and p.get("name")
    )
    return Pod(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        labels=_pairs(meta.get("labels")),
        ips=tuple(str(ip) for ip in ips),
        terminal=status.get("phase") in ("Failed", "Succeeded"),
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
        hostname=str(spec.get("hostname") or ""),
        subdomain=str(spec.get("subdomain") or ""),
        node=str(spec.get("nodeName") or ""),
        ports=ports,
    )


def endpoint_to_raw(endpoint: Endpoint) -> Obj:
    """The raw shape of an endpoint, as the controller writes it."""
    raw: Obj = {
        "addresses": list(endpoint.addresses),
        "conditions": {
            "ready": endpoint.ready,
            "serving": endpoint.serving,
            "terminating": endpoint.terminating,
        },
    }
    if endpoint.hostname:
        raw["hostname"] = endpoint.hostname
    namespace, name, uid = endpoint.target
    if name:
        raw["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": name, "uid": uid}
    if endpoint.node:
        raw["nodeName"] = endpoint.node
    return raw


def port_to_raw(port: EndpointPort) -> Obj:
    """The raw shape of a slice port."""
    raw: Obj = {"name": port.name, "protocol": port.protocol}
    if port.port is not None:
        raw["port"] = port.port
    if port.app_protocol is not None:
        raw["appProtocol"] = port.app_protocol
    return raw


def _endpoint_from_raw(raw: Mapping[str, Any]) -> Endpoint:
    conditions = raw.get("conditions") or {}
    target = raw.get("targetRef") or {}
    return Endpoint(
        addresses=tuple(str(a) for a in raw.get("addresses") or ()),
        ready=conditions.get("ready") is not False,
        serving=conditions.get("serving") is not False,
        terminating=conditions.get("terminating") is True,
        hostname=str(raw.get("hostname") or ""),
        node=str(raw.get("nodeName") or ""),
        target=(
            str(target.get("namespace") or ""),
            str(target.get("name") or ""),
            str(target.get("uid") or ""),
        )
        if target.get("kind", "Pod") == "Pod"
        else ("", "", ""),
    )


def _port_from_raw(raw: Mapping[str, Any]) -> EndpointPort:
    number = raw.get("port")
    return EndpointPort(
        name=str(raw.get("name") or ""),
        port=int(number) if isinstance(number, int) else None,
        protocol=str(raw.get("protocol") or "TCP"),
        app_protocol=raw.get("appProtocol"),
    )


def slice_from_raw(raw: Mapping[str, Any]) -> Slice | None:
    """A slice managed by this controller (None for any other slice)."""
    meta = _meta(raw)
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return None
    raw_endpoints = raw.get("endpoints") or []
    raw_ports = raw.get("ports") or []
    endpoints = tuple(_endpoint_from_raw(e) for e in raw_endpoints if isinstance(e, Mapping))
    ports = tuple(_port_from_raw(p) for p in raw_ports if isinstance(p, Mapping))
    canonical = [endpoint_to_raw(e) for e in endpoints] == raw_endpoints and [
        port_to_raw(p) for p in ports
    ] == raw_ports
    owners = tuple(
        str(ref.get("uid"))
        for ref in meta.get("ownerReferences") or ()
        if isinstance(ref, Mapping) and ref.get("kind") == "Service" and ref.get("apiVersion") == "v1"
    )
    return Slice(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 0),
        resource_version=str(meta.get("resourceVersion") or ""),
        service=str(labels[SERVICE_NAME_LABEL]),
        labels=_pairs(labels),
        annotations=_pairs(meta.get("annotations")),
        owners=owners,
        address_type=str(raw.get("addressType") or ""),
        ports=ports,
        endpoints=endpoints,
        canonical=canonical,
        deleting=bool(meta.get("deletionTimestamp")),
    )
