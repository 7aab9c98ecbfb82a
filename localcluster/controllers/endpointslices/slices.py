"""The EndpointSlices one Service should have, and the fewest writes that get its existing slices there. Pure.

Endpoints are grouped by address type and by the ports their pod resolves; each group fills slices of at
most `max_endpoints`. An endpoint stays in the slice that holds it; new endpoints go into slices that are
written anyway, then into the existing slice they fit best, then into new slices. Slices left without
endpoints are deleted (or reused for a create), and a Service without endpoints keeps one empty
placeholder slice per address type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubeapi.meta import Obj
from localcluster.controllers.endpointslices.model import (
    CONTROLLER_NAME,
    HEADLESS_LABEL,
    IPV4,
    IPV6,
    MANAGED_BY_LABEL,
    RESERVED_LABELS,
    SERVICE_NAME_LABEL,
    Endpoint,
    EndpointPort,
    Labels,
    Pod,
    Service,
    Slice,
    endpoint_to_raw,
    port_to_raw,
)

MAX_ENDPOINTS = 100
Ports = tuple[EndpointPort, ...]
PortKey = tuple[tuple[str, int, str, str], ...]
Identity = tuple[tuple[str, ...], str, str, str]


@dataclass
class Draft:
    """A slice to write: `name` empty for a create, else the slice replaced (at `resource_version`)."""

    address_type: str
    ports: Ports
    endpoints: list[Endpoint] = field(default_factory=list)
    name: str = ""
    resource_version: str = ""
    annotations: Labels = ()


@dataclass
class Plan:
    """The writes that bring a Service's slices to the desired state."""

    create: list[Draft] = field(default_factory=list)
    update: list[Draft] = field(default_factory=list)
    delete: list[Slice] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing needs writing."""
        return not (self.create or self.update or self.delete)


def family_of(ip: str) -> str:
    """IPv4 or IPv6."""
    return IPV6 if ":" in ip else IPV4


def selects(service: Service, pod: Pod) -> bool:
    """Whether the Service's selector matches the pod (same namespace, every selector label equal)."""
    if service.selector is None or pod.namespace != service.namespace:
        return False
    return service.selector.matches(pod.label_map)


def publishable(pod: Pod) -> bool:
    """A pod that can be an endpoint: it has an IP and has not finished (terminating pods stay)."""
    return bool(pod.ips) and not pod.terminal


def endpoint_ports(service: Service, pod: Pod) -> Ports:
    """The Service's ports with targetPort resolved for this pod; a name no container port has is left out."""
    out = []
    for port in service.ports:
        if isinstance(port.target, int):
            number = port.target
        else:
            found = [p.number for p in pod.ports if p.name == port.target and p.protocol == port.protocol]
            if not found:
                continue
            number = found[0]
        out.append(EndpointPort(port.name, number, port.protocol, port.app_protocol))
    return tuple(out)


def pod_endpoint(service: Service, pod: Pod, address_type: str) -> Endpoint | None:
    """The endpoint a pod makes in slices of one address type (None: no address of that family)."""
    addresses = tuple(ip for ip in pod.ips if family_of(ip) == address_type)
    if not addresses:
        return None
    serving = pod.ready
    named = bool(pod.hostname) and pod.subdomain == service.name and pod.namespace == service.namespace
    return Endpoint(
        addresses=addresses,
        ready=service.publish_not_ready or (serving and not pod.deleting),
        serving=serving,
        terminating=pod.deleting,
        hostname=pod.hostname if named else "",
        node=pod.node,
        target=(pod.namespace, pod.name, pod.uid),
    )


def slice_labels(service: Service) -> Labels:
    """The Service's labels (reserved keys dropped), the headless mark, and the two controller labels."""
    labels = {k: v for k, v in service.labels if k not in RESERVED_LABELS}
    if service.headless:
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = service.name
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return tuple(sorted(labels.items()))


def owner_reference(service: Service) -> Obj:
    """The controller reference from a slice to its Service."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "name": service.name,
        "uid": service.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def port_key(ports: Iterable[EndpointPort]) -> PortKey:
    """The port set a slice serves, independent of order."""
    return tuple(sorted((p.name, p.port or 0, p.protocol, p.app_protocol or "") for p in ports))


def desired_endpoints(
    service: Service, pods: Iterable[Pod], address_type: str
) -> dict[PortKey, tuple[Ports, dict[Identity, Endpoint]]]:
    """The endpoints of one address type, grouped by resolved ports, in pod name order."""
    groups: dict[PortKey, tuple[Ports, dict[Identity, Endpoint]]] = {}
    for pod in sorted(pods, key=lambda p: p.name):
        if not publishable(pod) or not selects(service, pod):
            continue
        endpoint = pod_endpoint(service, pod, address_type)
        if endpoint is None:
            continue
        ports = endpoint_ports(service, pod)
        group = groups.setdefault(port_key(ports), (ports, {}))
        group[1].setdefault(endpoint.identity, endpoint)
    return groups


def plan(
    service: Service, pods: Iterable[Pod], existing: Sequence[Slice], *, max_endpoints: int = MAX_ENDPOINTS
) -> Plan:
    """The creates, updates and deletes that take `existing` (the slices managed for this Service's name)
    to the desired slices; slices being deleted are ignored."""
    live = sorted((s for s in existing if not s.deleting), key=lambda s: s.name)
    result = Plan()
    if service.selector is None:
        result.delete = live
        return result
    pods = list(pods)
    for address_type in service.address_types:
        mine = [s for s in live if s.address_type == address_type]
        wanted = desired_endpoints(service, pods, address_type)
        found = _plan_address_type(service, address_type, mine, wanted, max_endpoints=max_endpoints)
        result.create += found.create
        result.update += found.update
        result.delete += found.delete
    result.delete += [s for s in live if s.address_type not in service.address_types]
    if service.deleting:  # a Service on its way out gets no new slices
        result.create = []
    return result


def _plan_address_type(
    service: Service,
    address_type: str,
    existing: list[Slice],
    wanted: dict[PortKey, tuple[Ports, dict[Identity, Endpoint]]],
    *,
    max_endpoints: int,
) -> Plan:
    labels = slice_labels(service)
    out = Plan()
    creates: list[Draft] = []
    deletes = [s for s in existing if service.uid not in s.owners]
    by_key = _owned_by_ports(service, existing)
    for key, slices in by_key.items():
        if key not in wanted:
            deletes += slices
    for key, (ports, endpoints) in wanted.items():
        group = _plan_ports(
            by_key.get(key, []), Draft(address_type, ports), dict(endpoints), labels, max_endpoints
        )
        creates += group.create
        out.update += group.update
        deletes += group.delete
    if len(deletes) == len(existing) and not creates:
        placeholder = next((s for s in deletes if _is_placeholder(service, labels, s)), None)
        if placeholder is not None:
            deletes.remove(placeholder)
        else:
            creates.append(Draft(address_type, ()))
    _reuse(service, creates, deletes, out)
    return out


def _owned_by_ports(service: Service, existing: list[Slice]) -> dict[PortKey, list[Slice]]:
    """The Service's own slices by the port set they serve."""
    by_key: dict[PortKey, list[Slice]] = {}
    for found in existing:
        if service.uid in found.owners:
            by_key.setdefault(port_key(found.ports), []).append(found)
    return by_key


def _reuse(service: Service, creates: list[Draft], deletes: list[Slice], out: Plan) -> None:
    """Into `out`: a create reuses a slice of the Service's that would be deleted; the rest as they are."""
    for old in sorted(deletes, key=lambda s: s.name):
        if creates and service.uid in old.owners:
            draft = creates.pop()
            draft.name, draft.resource_version, draft.annotations = (
                old.name,
                old.resource_version,
                old.annotations,
            )
            out.update.append(draft)
        else:
            out.delete.append(old)
    out.create = creates


def _is_placeholder(service: Service, labels: Labels, found: Slice) -> bool:
    return (
        not found.endpoints
        and not found.ports
        and found.canonical
        and found.labels == labels
        and service.uid in found.owners
    )


def _plan_ports(
    existing: list[Slice], shape: Draft, wanted: dict[Identity, Endpoint], labels: Labels, max_endpoints: int
) -> Plan:
    """One port group (`shape`: its address type and ports): keep endpoints where they are, place new ones."""
    out = Plan()
    untouched: list[Slice] = []
    for found in existing:
        kept = []
        changed = False
        for endpoint in found.endpoints:
            want = wanted.pop(endpoint.identity, None)
            if want is not None:
                kept.append(want)
                changed = changed or want != endpoint
        if changed or len(kept) != len(found.endpoints):
            if kept:
                out.update.append(_rewrite(found, shape.ports, kept))
            else:
                out.delete.append(found)
        elif found.labels != labels or not found.canonical:
            out.update.append(_rewrite(found, shape.ports, kept))
        else:
            untouched.append(found)
    _place(list(wanted.values()), untouched, shape, out, max_endpoints)
    return out


def _place(
    remaining: list[Endpoint], untouched: list[Slice], shape: Draft, out: Plan, max_endpoints: int
) -> None:
    """New endpoints: into the slices rewritten anyway (fullest first), then the best fitting untouched
    slice, then new slices."""
    at = 0
    for draft in sorted(out.update, key=lambda d: -len(d.endpoints)):
        room = max(max_endpoints - len(draft.endpoints), 0)
        draft.endpoints += remaining[at : at + room]
        at += room
    while at < len(remaining):
        left = len(remaining) - at
        target = _best_fit(untouched, left, max_endpoints) if left < max_endpoints else None
        if target is None:
            draft = Draft(shape.address_type, shape.ports)
            out.create.append(draft)
        else:
            untouched.remove(target)
            draft = _rewrite(target, shape.ports, list(target.endpoints))
            out.update.append(draft)
        room = max_endpoints - len(draft.endpoints)
        draft.endpoints += remaining[at : at + room]
        at += room


def _rewrite(found: Slice, ports: Ports, endpoints: list[Endpoint]) -> Draft:
    return Draft(found.address_type, ports, endpoints, found.name, found.resource_version, found.annotations)


def _best_fit(slices: list[Slice], count: int, max_endpoints: int) -> Slice | None:
    """The untouched slice `count` more endpoints fill most closely without overflowing."""
    best, best_gap = None, max_endpoints
    for found in slices:
        gap = max_endpoints - count - len(found.endpoints)
        if 0 <= gap < best_gap:
            best, best_gap = found, gap
    return best


def manifest(service: Service, draft: Draft) -> Obj:
    """The EndpointSlice object for a draft: a create (generateName) or a replacement (name and version)."""
    meta: Obj = {
        "namespace": service.namespace,
        "labels": dict(slice_labels(service)),
        "ownerReferences": [owner_reference(service)],
    }
    if draft.name:
        meta["name"] = draft.name
        if draft.resource_version:
            meta["resourceVersion"] = draft.resource_version
    else:
        meta["generateName"] = f"{service.name}-"
    if draft.annotations:
        meta["annotations"] = dict(draft.annotations)
    body: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": draft.address_type,
        "endpoints": [endpoint_to_raw(e) for e in draft.endpoints],
    }
    if draft.ports:
        body["ports"] = [port_to_raw(p) for p in draft.ports]
    return body
