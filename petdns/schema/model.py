"""Slim DNS model of Kubernetes objects: the only reader of raw API shapes in petdns."""

from __future__ import annotations

import enum
import ipaddress
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from petdns.schema.packing import RECORD, Endpoint, pack_endpoints, ready_addresses, record, unpack_endpoints

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_NAME = re.compile(
    r"([A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?\.?\Z"
)
PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")  # as the API writes it: no leading zeros


class ModelError(ValueError):
    """A raw object does not fit the model; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ServiceKind(enum.Enum):
    """How a service is published in DNS."""

    CLUSTER_IP = "ClusterIP"
    HEADLESS = "Headless"
    EXTERNAL_NAME = "ExternalName"


class Port(NamedTuple):
    """A service or EndpointSlice port; `protocol` is lower case (tcp, udp, sctp). Named tuples (this
    and `Endpoint`): made and hashed several times faster than frozen dataclasses, at 100k endpoints."""

    name: str
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace: makes `<ns>.svc.<zone>` (and `<ns>.pod.<zone>`) exist."""

    name: str


@dataclass(frozen=True, slots=True)
class Service:
    """The DNS-relevant part of a Service."""

    namespace: str
    name: str
    kind: ServiceKind
    cluster_ips: tuple[str, ...]
    ports: tuple[Port, ...]
    external_name: str = ""


@dataclass(frozen=True, slots=True, init=False)
class EndpointSlice:
    """An EndpointSlice reduced to what DNS reads; `service` comes from its service-name label.

    Its endpoints are held packed in one string (`packed`; 100k endpoints as tuples of strings cost
    about 25 MB, packed about 3), and `endpoints` gives them back as `Endpoint` tuples.
    """

    namespace: str
    name: str
    service: str
    address_type: str
    packed: str | tuple[Endpoint, ...]  # `pack_endpoints`: the tuple itself when a field holds a separator
    ports: tuple[Port, ...]

    def __init__(  # noqa: PLR0917
        self,
        namespace: str,
        name: str,
        service: str,
        address_type: str,
        endpoints: tuple[Endpoint, ...],
        ports: tuple[Port, ...],
    ) -> None:
        self._fill(namespace, name, service, address_type, pack_endpoints(endpoints), ports)

    @classmethod
    def of_packed(  # noqa: PLR0917
        cls, namespace: str, name: str, service: str, address_type: str, packed: str, ports: tuple[Port, ...]
    ) -> EndpointSlice:
        """A slice from endpoints already packed (`pack_endpoints` of them, a string)."""
        made = cls.__new__(cls)
        made._fill(namespace, name, service, address_type, packed, ports)
        return made

    def _fill(  # noqa: PLR0917
        self,
        namespace: str,
        name: str,
        service: str,
        address_type: str,
        packed: str | tuple[Endpoint, ...],
        ports: tuple[Port, ...],
    ) -> None:
        for field, value in (
            ("namespace", namespace),
            ("name", name),
            ("service", service),
            ("address_type", address_type),
            ("packed", packed),
            ("ports", ports),
        ):
            object.__setattr__(self, field, value)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The endpoints, unpacked (new tuples at each call: read it once per use)."""
        packed = self.packed
        return packed if isinstance(packed, tuple) else unpack_endpoints(packed)

    def ready_addresses(self) -> Iterator[str]:
        """The addresses of the ready endpoints, in order (read from the packed string as it is)."""
        return ready_addresses(self.packed)


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod's addresses, for `pods verified` records."""

    namespace: str
    name: str
    ips: tuple[str, ...]
    terminating: bool


KubeObject = Namespace | Service | EndpointSlice | Pod
KINDS = ("Namespace", "Service", "EndpointSlice", "Pod")


def object_key(obj: KubeObject) -> tuple[str, str, str]:
    """(kind, namespace, name) of a model object."""
    if isinstance(obj, Namespace):
        return ("Namespace", "", obj.name)
    return (type(obj).__name__, obj.namespace, obj.name)


def from_raw(raw: Mapping[str, Any]) -> KubeObject | None:
    """Reduce one raw API object to the model; None for kinds DNS does not use.

    Raises ModelError naming the field when a used kind does not fit.
    """
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ModelError("kind", "missing or not a string")
    if kind not in KINDS:
        return None
    meta = _mapping(raw, "metadata", required=True)
    name = sys.intern(_str(meta, "name", "metadata.name", required=True))
    if kind in ("Namespace", "Service") and not _LABEL.match(name):
        raise ModelError("metadata.name", f"{name!r} is not a DNS label")
    if kind == "Namespace":
        return Namespace(name=name)
    namespace = sys.intern(_str(meta, "namespace", "metadata.namespace") or "default")
    if not _LABEL.match(namespace):
        raise ModelError("metadata.namespace", f"{namespace!r} is not a DNS label")
    if kind == "Service":
        return _service(raw, namespace, name)
    if kind == "EndpointSlice":
        return _slice(raw, meta, namespace, name)
    return _pod(raw, meta, namespace, name)


def _service(raw: Mapping[str, Any], namespace: str, name: str) -> Service:
    spec = _mapping(raw, "spec")
    stype = _str(spec, "type", "spec.type") or "ClusterIP"
    ports = tuple(_port(p, f"spec.ports[{i}]") for i, p in enumerate(_list(spec, "ports", "spec.ports")))
    if stype == "ExternalName":
        target = _str(spec, "externalName", "spec.externalName", required=True).rstrip(".").lower()
        if not _DNS_NAME.match(target):
            raise ModelError("spec.externalName", f"{target!r} is not a DNS name")
        return Service(namespace, name, ServiceKind.EXTERNAL_NAME, (), ports, external_name=target)
    ips = list(_list(spec, "clusterIPs", "spec.clusterIPs"))
    if not ips and spec.get("clusterIP") not in (None, ""):
        ips = [spec["clusterIP"]]
    if not ips or ips[0] == "None":
        return Service(namespace, name, ServiceKind.HEADLESS, (), ports)
    cluster_ips = tuple(_ip(ip, f"spec.clusterIPs[{i}]") for i, ip in enumerate(ips))
    return Service(namespace, name, ServiceKind.CLUSTER_IP, cluster_ips, ports)


def _slice(raw: Mapping[str, Any], meta: Mapping[str, Any], namespace: str, name: str) -> EndpointSlice:
    labels = _mapping(meta, "labels", path="metadata.labels")
    service = sys.intern(_str(labels, SERVICE_NAME_LABEL, f"metadata.labels[{SERVICE_NAME_LABEL}]"))
    address_type = _str(raw, "addressType", "addressType", required=True)
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        raise ModelError("addressType", f"unknown address type {address_type!r}")
    version = None if address_type == "FQDN" else 4 if address_type == "IPv4" else 6
    items = _list(raw, "endpoints", "endpoints")
    packed = _packed_plain(items) if version == 4 else None
    endpoints = []
    for i, ep in enumerate(items if packed is None else ()):
        try:
            endpoints.append(_endpoint(ep, version))
        except ModelError as err:  # field paths are made only for the message
            raise ModelError(f"endpoints[{i}]{err.field}", err.message) from None
    ports = tuple(
        _port(p, f"ports[{i}]", slice_port=True) for i, p in enumerate(_list(raw, "ports", "ports"))
    )
    if packed is not None:
        return EndpointSlice.of_packed(namespace, name, service, address_type, packed, ports)
    return EndpointSlice(namespace, name, service, address_type, tuple(endpoints), ports)


def _packed_plain(items: list[Any]) -> str | None:
    """`pack_endpoints` of a slice's endpoints when every one has the common shape (`_plain_fields`),
    made from the raw values at once; None otherwise."""
    records = []
    for ep in items:
        plain = _plain_fields(ep) if ep.__class__ is dict else None
        if plain is None:
            return None
        addresses, ready, hostname = plain
        records.append(record(ready, ",".join(addresses), hostname, ""))
    return RECORD.join(records)


def _endpoint(ep: object, version: int | None) -> Endpoint:
    """One endpoint of a slice (`version` None: FQDN, no addresses); errors name the field after
    `endpoints[i]`."""
    if ep.__class__ is dict and version == 4:
        plain = _plain_fields(ep)
        if plain is not None:  # copies of the strings, as `_ip` and `_str` make
            copied = tuple([a.encode().decode() for a in plain[0]])
            return Endpoint(copied, plain[1], plain[2].encode().decode() if plain[2] else "", "")
    if not isinstance(ep, Mapping):
        raise ModelError("", "not an object")
    addresses = _list(ep, "addresses", ".addresses")
    addrs: tuple[str, ...] = ()
    if version is not None:
        try:
            addrs = tuple(_ip(a, "", version) for a in addresses)
        except ModelError:
            addrs = tuple(_ip(a, f".addresses[{j}]", version) for j, a in enumerate(addresses))
    conditions = _mapping(ep, "conditions", path=".conditions")
    ready = conditions.get("ready")
    if ready is not None and not isinstance(ready, bool):
        raise ModelError(".conditions.ready", "not a boolean")
    hostname = _str(ep, "hostname", ".hostname")
    if hostname and not _LABEL.match(hostname):
        raise ModelError(".hostname", f"{hostname!r} is not a DNS label")
    target = _mapping(ep, "targetRef", path=".targetRef")
    pod_name = ""
    if not hostname and target.get("kind", "Pod") == "Pod":  # only names endpoints without a hostname
        pod_name = _str(target, "name", ".targetRef.name")
    return Endpoint(addrs, ready is not False, hostname, pod_name)


def _plain_fields(ep: dict[str, Any]) -> tuple[list[str], bool, str] | None:
    """An IPv4 endpoint of the common shape (plain JSON values, a hostname, no pod name kept): its
    addresses, whether ready and its hostname, read without the general helpers (100k endpoints: a
    second of a start-up); None for anything else, which `_endpoint` reads (and whose errors it
    names)."""
    addresses = ep.get("addresses")
    conditions = ep.get("conditions")
    hostname = ep.get("hostname")
    target = ep.get("targetRef")
    if addresses.__class__ is not list or conditions.__class__ is not dict or hostname is None:
        return None
    if hostname.__class__ is not str or (hostname and not _LABEL.match(hostname)):
        return None
    if target is not None and (target.__class__ is not dict or not hostname):  # named after its pod
        return None
    for address in addresses:
        if address.__class__ is not str or not _IPV4.match(address):
            return None
    ready = conditions.get("ready")
    if ready is not None and ready.__class__ is not bool:
        return None
    return addresses, ready is not False, hostname


def _pod(raw: Mapping[str, Any], meta: Mapping[str, Any], namespace: str, name: str) -> Pod:
    status = _mapping(raw, "status")
    ips = [p.get("ip") if isinstance(p, Mapping) else p for p in _list(status, "podIPs", "status.podIPs")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    pod_ips = tuple(_ip(ip, f"status.podIPs[{i}].ip") for i, ip in enumerate(ips))
    return Pod(namespace, name, pod_ips, terminating=bool(meta.get("deletionTimestamp")))


def _port(raw: object, path: str, *, slice_port: bool = False) -> Port:
    if not isinstance(raw, Mapping):
        raise ModelError(path, "not an object")
    name = sys.intern(_str(raw, "name", f"{path}.name"))
    if name and (len(name) > 63 or not _PORT_NAME.match(name)):
        raise ModelError(f"{path}.name", f"{name!r} is not a valid port name")
    number = raw.get("port")
    if slice_port and number is None:
        number = 0
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 65535:
        raise ModelError(f"{path}.port", f"{number!r} is not a port number")
    protocol = _str(raw, "protocol", f"{path}.protocol") or "TCP"
    if protocol.lower() not in PROTOCOLS:
        raise ModelError(f"{path}.protocol", f"unknown protocol {protocol!r}")
    port = Port(name, number, sys.intern(protocol.lower()))
    if len(_PORTS) < _PORTS_KEPT:  # a cluster's slices repeat a few ports: one object each
        return _PORTS.setdefault(port, port)
    return _PORTS.get(port, port)


_PORTS: dict[Port, Port] = {}
_PORTS_KEPT: Final = 4096


def _ip(value: object, path: str, version: int | None = None) -> str:
    """The canonical text of an address (a new string); IPv4 dotted quads are checked without ipaddress."""
    if not isinstance(value, str):
        raise ModelError(path, f"{value!r} is not an IP address")
    if version != 6 and _IPV4.match(value):
        return value.encode().decode()  # a copy: the model keeps nothing of the raw document
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ModelError(path, f"{value!r} is not an IP address") from None
    if version is not None and ip.version != version:
        raise ModelError(path, f"{value!r} is not an IPv{version} address")
    return str(ip)


def _mapping(
    raw: Mapping[str, Any], key: str, *, required: bool = False, path: str = ""
) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ModelError(path or key, "missing")
        return {}
    if not isinstance(value, Mapping):
        raise ModelError(path or key, "not an object")
    return value


def _list(raw: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelError(path, "not a list")
    return value


def _str(raw: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    """A string field, copied so that the model never keeps the raw document's memory alive."""
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise ModelError(path, "missing")
        return ""
    if not isinstance(value, str):
        raise ModelError(path, f"{value!r} is not a string")
    return value.encode().decode()
