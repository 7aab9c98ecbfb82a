"""Pure record sets: which names exist and what they hold, from the catalog (see docs/dns.md)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from petdns.dns.constants import AAAA, CNAME, NS, PTR, SOA, SRV, TXT, TYPE_NAMES, A
from petdns.schema.catalog import Catalog, SvcKey
from petdns.schema.model import Port, Service, ServiceKind
from petdns.schema.names import Parsed, dashed, reverse_name, undashed
from petdns.schema.packing import Endpoint
from petdns.settings.values import SCHEMA_VERSION, VERSION_TTL, PodsMode, Settings

SOA_TIMERS = (7200, 1800, 86400)
_POD_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")

Rdata = str | tuple[int, int, int, str] | tuple[str, ...] | tuple[str, str, int, int, int, int, int]


class RR(NamedTuple):
    """One resource record; names are absolute, lower case, without the trailing dot (a named tuple:
    a zone at scale makes hundreds of thousands of them, and a tuple is made four times faster)."""

    name: str
    rtype: int
    ttl: int
    rdata: Rdata

    def to_text(self) -> str:
        """Zone-file presentation, e.g. `web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.0.10`."""
        r = self.rdata
        if self.rtype == SRV:
            assert isinstance(r, tuple)
            text = f"{r[0]} {r[1]} {r[2]} {r[3]}."
        elif self.rtype == SOA:
            assert isinstance(r, tuple)
            text = f"{r[0]}. {r[1]}. " + " ".join(str(x) for x in r[2:])
        elif self.rtype == TXT:
            text = " ".join(f'"{s}"' for s in r)
        elif self.rtype in (PTR, CNAME, NS):
            text = f"{r}."
        else:
            text = str(r)
        return f"{self.name}. {self.ttl} IN {TYPE_NAMES.get(self.rtype, str(self.rtype))} {text}"


RRSet = tuple[tuple[RR, ...], tuple[RR, ...]]  # (answer records, additional records)


class Node(NamedTuple):
    """An existing name: its record sets by type, or the CNAME every type resolves through.

    `deferred` types are answered by the full path only: the CoreDNS extensions that are rarely asked
    and costly to keep rendered for every pet and service (SRV on a pet name, SRV on a bare headless
    name); the `_port._proto` SRV names of the specification stay rendered.
    """

    records: dict[int, RRSet]
    cname: str = ""
    deferred: frozenset[int] = frozenset()


EMPTY = Node({})
_SRV_DEFERRED = frozenset({SRV})
_UNREAD: RRSet = ((), ())  # a deferred type's records where only its presence is read (`rendered_only`)


def address_rr(name: str, ip: str, ttl: int) -> RR:
    """An A or AAAA record, by the address family."""
    return RR(name, AAAA if ":" in ip else A, ttl, ip)


def _addresses(name: str, ips: list[str], ttl: int) -> dict[int, RRSet]:
    if ips and not any(":" in ip for ip in ips):  # IPv4 only, the common case
        return {A: (tuple([RR(name, A, ttl, ip) for ip in ips]), ())}
    records: dict[int, RRSet] = {}
    for rtype in (A, AAAA):
        rrs = tuple(address_rr(name, ip, ttl) for ip in ips if (":" in ip) == (rtype == AAAA))
        if rrs:
            records[rtype] = (rrs, ())
    return records


def _srv(name: str, entries: list[tuple[str, int, str]], ttl: int) -> RRSet:
    """SRV records from (target, port, target address) entries: weight 100/N before de-duplication."""
    weight = max(1, 100 // len(entries))
    answers: dict[tuple[str, int], RR] = {}
    extra: dict[tuple[str, str], RR] = {}
    for target, port, ip in entries:
        answers.setdefault((target, port), RR(name, SRV, ttl, (0, weight, port, target)))
        extra.setdefault((target, ip), address_rr(target, ip, ttl))
    return tuple(answers.values()), tuple(extra.values())


def soa_rr(settings: Settings, zone: str, serial: int) -> RR:
    """The zone's SOA; its minimum (negative-caching time) is the TTL."""
    rdata = (f"ns.dns.{zone}", f"hostmaster.{zone}", serial, *SOA_TIMERS, settings.ttl)
    return RR(zone, SOA, settings.soa_ttl, rdata)


def apex_node(settings: Settings, zone: str, serial: int) -> Node:
    """SOA and NS at a zone apex; the NS target is ns.dns.<first cluster zone> with its addresses as glue."""
    host = f"ns.dns.{settings.zones[0]}"
    glue = tuple(address_rr(host, ip, settings.ttl) for ip in settings.ns_addresses)
    ns = RR(zone, NS, settings.ttl, host)
    return Node({SOA: ((soa_rr(settings, zone, serial),), ()), NS: ((ns,), glue)})


def static_nodes(settings: Settings, serial: int) -> Iterator[tuple[str, Node]]:
    """Names that exist whatever the objects: apexes, the svc and pod trees, dns-version, ns.dns."""
    for zone in settings.served_zones:
        yield zone, apex_node(settings, zone, serial)
    for zone in settings.zones:
        yield f"svc.{zone}", EMPTY
        yield f"pod.{zone}", EMPTY
        version = RR(f"dns-version.{zone}", TXT, VERSION_TTL, (SCHEMA_VERSION,))
        yield f"dns-version.{zone}", Node({TXT: ((version,), ())})
        host = f"ns.dns.{zone}"
        yield host, Node(_addresses(host, list(settings.ns_addresses), settings.ttl))


def namespace_nodes(catalog: Catalog, settings: Settings, namespace: str) -> Iterator[tuple[str, Node]]:
    """`<ns>.svc.<zone>` (and `<ns>.pod.<zone>` unless pods are disabled) while the namespace exists."""
    if not catalog.namespace_exists(namespace):
        return
    for zone in settings.zones:
        yield f"{namespace}.svc.{zone}", EMPTY
        if settings.pods is not PodsMode.DISABLED:
            yield f"{namespace}.pod.{zone}", EMPTY


def endpoint_label(ep: Endpoint, ip: str, settings: Settings) -> str:
    """An endpoint's name: its hostname, else its pod name (endpoint_pod_names), else the dashed IP."""
    if ep.hostname:
        return ep.hostname
    if settings.endpoint_pod_names and _POD_LABEL.match(ep.pod_name):
        return ep.pod_name
    return dashed(ip)


class _Ready(NamedTuple):
    label: str
    ip: str
    ports: tuple[Port, ...]
    pet: bool = False  # named by its hostname (a pet)


def _ready(catalog: Catalog, settings: Settings, key: SvcKey) -> list[_Ready]:
    seen: set[tuple[str, str, tuple[Port, ...]]] = set()
    out = []
    for sl in catalog.slices_of(key):
        ports = sl.ports
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            hostname = ep.hostname
            for ip in ep.addresses:
                label = hostname or endpoint_label(ep, ip, settings)
                item = (label, ip, ports)
                if item not in seen:
                    seen.add(item)
                    out.append(_Ready(label, ip, ports, bool(hostname)))
    return out


def service_nodes(
    catalog: Catalog,
    settings: Settings,
    key: SvcKey,
    *,
    rendered_only: bool = False,
    plain: list[PlainName] | None = None,
) -> dict[str, Node]:
    """Every name a service makes exist, in every cluster zone, with its records. `rendered_only`: the
    deferred types' record sets are left empty (the rendered zone reads only that they exist). With
    `plain` (and `rendered_only`), the names of endpoints with one address, the most of a zone, are
    added to that list instead of made into nodes."""
    svc = catalog.services.get(key)
    nodes: dict[str, Node] = {}
    if svc is None:
        return nodes
    for zone in settings.zones:
        base = f"{svc.name}.{svc.namespace}.svc.{zone}"
        if svc.kind is ServiceKind.EXTERNAL_NAME:
            if not _is_ip(svc.external_name):
                nodes[base] = Node({}, cname=svc.external_name)
            continue
        ready = _ready(catalog, settings, key)
        if svc.kind is ServiceKind.HEADLESS:
            if ready:
                nodes.update(_headless(base, ready, settings.ttl, not rendered_only, plain))
        else:
            nodes.update(_cluster_ip(base, svc, settings.ttl))
            nodes.update(_endpoints(base, ready, settings.ttl, not rendered_only, plain))
    return nodes


def _cluster_ip(base: str, svc: Service, ttl: int) -> dict[str, Node]:
    records = _addresses(base, list(svc.cluster_ips), ttl)
    entries = [(base, p.port, ip) for ip in svc.cluster_ips for p in svc.ports]
    if entries:
        records[SRV] = _srv(base, entries, ttl)
    nodes = {base: Node(records)}
    for port in svc.ports:
        if port.name:
            name = f"_{port.name}._{port.protocol}.{base}"
            nodes[name] = Node({SRV: _srv(name, [(base, port.port, ip) for ip in svc.cluster_ips], ttl)})
    return nodes


def _headless(
    base: str, ready: list[_Ready], ttl: int, full: bool, plain: list[PlainName] | None
) -> dict[str, Node]:
    """`full`: the deferred types' records too (else `_UNREAD` in their place)."""
    records = _addresses(base, list(dict.fromkeys(r.ip for r in ready)), ttl)
    if any(r.ports for r in ready):
        entries = [(f"{r.label}.{base}", p.port, r.ip) for r in ready for p in r.ports] if full else []
        records[SRV] = _srv(base, entries, ttl) if full else _UNREAD
    nodes = {base: Node(records, deferred=_SRV_DEFERRED)}  # SRV on the bare name: every pet x port
    named: dict[str, list[tuple[str, int, str]]] = {}
    srv_names: dict[Port, str] = {}
    for r in ready:
        target = ""
        for p in r.ports:
            if p.name:
                srv_name = srv_names.get(p)
                if srv_name is None:
                    srv_name = srv_names[p] = f"_{p.name}._{p.protocol}.{base}"
                target = target or f"{r.label}.{base}"
                named.setdefault(srv_name, []).append((target, p.port, r.ip))
    for name, srv_entries in named.items():
        nodes[name] = Node({SRV: _srv(name, srv_entries, ttl)})
    nodes.update(_endpoints(base, ready, ttl, full, plain))
    return nodes


def _endpoints(
    base: str, ready: list[_Ready], ttl: int, full: bool, plain: list[PlainName] | None = None
) -> dict[str, Node]:
    if len({r.label for r in ready}) == len(ready):  # one address per name: the common case, direct
        if plain is not None and not full:
            plain += [PlainName(r.label, base, r.ip, bool(r.ports)) for r in ready]
            return {}
        return dict(_one_address(base, r, ttl, full=full) for r in ready)
    by_label: dict[str, list[_Ready]] = {}
    for r in ready:
        by_label.setdefault(r.label, []).append(r)
    nodes = {}
    for label, items in by_label.items():
        name = f"{label}.{base}"
        ips = [items[0].ip] if len(items) == 1 else list(dict.fromkeys(r.ip for r in items))
        records = _addresses(name, ips, ttl)
        if not full:
            if any(r.ports for r in items):
                records[SRV] = _UNREAD
        elif entries := [(name, p.port, r.ip) for r in items for p in r.ports]:
            records[SRV] = _srv(name, entries, ttl)
        nodes[name] = Node(records, "", _SRV_DEFERRED)
    return nodes


class PlainName(NamedTuple):
    """An endpoint's name with one address: `label.base`, its A or AAAA record to `ip`, and whether
    it has SRV records (deferred to the full path), as `_one_address` makes its node."""

    label: str
    base: str
    ip: str
    srv: bool


def _one_address(base: str, r: _Ready, ttl: int, *, full: bool) -> tuple[str, Node]:
    """The name of an endpoint whose label no other endpoint of the service has (as `_endpoints`)."""
    name = f"{r.label}.{base}"
    ip = r.ip
    rtype = AAAA if ":" in ip else A
    records: dict[int, RRSet] = {rtype: ((RR(name, rtype, ttl, ip),), ())}
    if r.ports:
        records[SRV] = _srv(name, [(name, p.port, ip) for p in r.ports], ttl) if full else _UNREAD
    return name, Node(records, "", _SRV_DEFERRED)


def reverse_nodes(
    catalog: Catalog, settings: Settings, ips: Iterable[str]
) -> Iterator[tuple[str, Node | None]]:
    """PTRs per IP: its service if it is a ClusterIP, else every ready endpoint name of every service;
    with `ptr_hostname_only`, only its pet names (hostnames under headless services) when it has any.

    Yields (reverse name, node or None), from `reverse_targets`.
    """
    ttl = settings.ttl
    for owner, targets in reverse_targets(catalog, settings, ips):
        yield owner, (ptr_node(owner, targets, ttl) if targets else None)


def ptr_node(owner: str, targets: list[str], ttl: int) -> Node:
    """The PTR node of a reverse name with (de-duplicated) targets."""
    return Node({PTR: (tuple([RR(owner, PTR, ttl, t) for t in targets]), ())})


def reverse_targets(
    catalog: Catalog, settings: Settings, ips: Iterable[str]
) -> Iterator[tuple[str, list[str]]]:
    """(reverse name, its PTR targets, de-duplicated, none when the name does not exist) per IP, as
    `reverse_nodes`. IPs are taken grouped by service, so each service's endpoints are read once and
    forgotten after.
    """
    zone = settings.zones[0]
    hostname_only = settings.ptr_hostname_only
    # a service's endpoint names by IP, and whether it is headless (the last few services read)
    known: dict[SvcKey, tuple[dict[str, list[tuple[str, bool]]], bool]] = {}
    services = catalog.services
    groups: dict[tuple[SvcKey, ...], list[str]] = {}
    for ip in ips:  # grouped by their services (a dict, not a sort: the order within is the caller's)
        refs = catalog.services_of_ip(ip)
        group = groups.get(refs)
        if group is None:
            groups[refs] = [ip]
        else:
            group.append(ip)
    for refs, ip in ((refs, ip) for refs, group in groups.items() for ip in group):
        targets = [f"{k[1]}.{k[0]}.svc.{zone}" for k in refs if ip in services[k].cluster_ips]
        if not targets:
            pets: list[str] = []
            for key in refs:
                names = known.get(key)
                if names is None:
                    if len(known) > 16:
                        known.clear()
                    base = f"{key[1]}.{key[0]}.svc.{zone}"
                    by_ip: dict[str, list[tuple[str, bool]]] = {}
                    for r in _ready(catalog, settings, key):
                        by_ip.setdefault(r.ip, []).append((f"{r.label}.{base}", r.pet))
                    names = known[key] = (by_ip, services[key].kind is ServiceKind.HEADLESS)
                named = names[0].get(ip, ())
                targets += [name for name, _ in named]
                if hostname_only and names[1]:
                    pets += [name for name, pet in named if pet]
            if pets:
                targets = pets
        yield reverse_name(ip), (list(dict.fromkeys(targets)) if len(targets) > 1 else targets)


def reverse_node(catalog: Catalog, settings: Settings, ip: str) -> Node | None:
    """The PTR node of one IP, or None."""
    return next(reverse_nodes(catalog, settings, (ip,)))[1]


def pod_node(catalog: Catalog, settings: Settings, parsed: Parsed) -> Node | None:
    """`<dashed-ip>.<ns>.pod.<zone>` in insecure mode (any IP) or verified mode (a live pod's IP)."""
    if settings.pods is PodsMode.DISABLED or not catalog.namespace_exists(parsed.namespace):
        return None
    ip = undashed(parsed.endpoint)
    if ip is None:
        return None
    if settings.pods is PodsMode.VERIFIED and not any(
        ns == parsed.namespace for ns, _ in catalog.pods_by_ip.get(ip, ())
    ):
        return None
    name = f"{parsed.endpoint}.{parsed.namespace}.pod.{parsed.zone}"
    return Node(_addresses(name, [ip], settings.ttl))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
