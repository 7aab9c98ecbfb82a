"""Pure lookup: a lower-case question against the catalog gives a response, or None when outside."""

from __future__ import annotations

from dataclasses import dataclass

from petdns.dns.constants import AAAA, CNAME, NOERROR, NXDOMAIN, SRV, A
from petdns.schema.catalog import Catalog
from petdns.schema.names import Kind, Parsed, parse, split
from petdns.schema.records import (
    RR,
    Node,
    apex_node,
    namespace_nodes,
    pod_node,
    reverse_node,
    service_nodes,
    soa_rr,
    static_nodes,
)
from petdns.settings.values import Settings

MAX_CHASE = 8


@dataclass(frozen=True, slots=True)
class Response:
    """An authoritative answer: rcode and the three record sections."""

    rcode: int
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()


def resolve(catalog: Catalog, settings: Settings, parsed: Parsed, name: str) -> Node | None:
    """The node a parsed name denotes, or None when it does not exist."""
    kind = parsed.kind
    if kind is Kind.APEX:
        return apex_node(settings, parsed.zone, catalog.serial)
    if kind in (Kind.TREE, Kind.DNS_VERSION, Kind.NS_HOST):
        return dict(static_nodes(settings, catalog.serial)).get(name)
    if kind is Kind.NAMESPACE:
        return dict(namespace_nodes(catalog, settings, parsed.namespace)).get(name)
    if kind in (Kind.SERVICE, Kind.ENDPOINT, Kind.PORT):
        return service_nodes(catalog, settings, (parsed.namespace, parsed.service)).get(name)
    if kind is Kind.POD:
        return pod_node(catalog, settings, parsed)
    if kind is Kind.REVERSE:
        return reverse_node(catalog, settings, parsed.ip)
    return None


def lookup(catalog: Catalog, settings: Settings, name: str, qtype: int, *, depth: int = 0) -> Response | None:
    """Answer (name, type) from the catalog; None when the name is in no served zone."""
    name = name.rstrip(".").lower()
    labels = split(name)
    parsed = parse(labels, settings.served_zones)
    if parsed.kind is Kind.OUTSIDE:
        return None
    node = resolve(catalog, settings, parsed, name)
    soa = (soa_rr(settings, parsed.zone, catalog.serial),)
    if node is None:
        return Response(NXDOMAIN, authority=soa)
    if node.cname and qtype != SRV:
        return _through_cname(catalog, settings, name, node.cname, qtype=qtype, depth=depth)
    found = node.records.get(qtype)
    if found is None:
        return Response(NOERROR, authority=soa)
    return Response(NOERROR, answer=found[0], additional=found[1])


def _through_cname(
    catalog: Catalog, settings: Settings, name: str, target: str, *, qtype: int, depth: int
) -> Response:
    """ExternalName: the CNAME, followed by the target's records when the target is in a cluster zone."""
    cname = RR(name, CNAME, settings.ttl, target)
    if qtype not in (A, AAAA) or depth >= MAX_CHASE:
        return Response(NOERROR, answer=(cname,))
    chased = lookup(catalog, settings, target, qtype, depth=depth + 1)
    if chased is None or chased.rcode != NOERROR or not chased.answer:
        return Response(NOERROR, answer=(cname,))
    return Response(NOERROR, answer=(cname, *chased.answer))
