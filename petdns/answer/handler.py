"""One request: the rendered fast path, else a full parse and the pure lookup; bad input never raises."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from petdns.answer.zone import RenderedZone
from petdns.dns.wire import (
    AXFR,
    BADVERS,
    IN,
    IXFR,
    MAX_UDP,
    QR,
    MalformedQuery,
    Query,
    error_reply,
    headers,
    opt_rr,
    parse_query,
    render,
)
from petdns.schema.lookup import FORMERR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, lookup
from petdns.schema.names import find_zone


@dataclass(frozen=True, slots=True)
class Outside:
    """A query the zones do not answer: forward it, or send `local` (REFUSED, or a reverse NXDOMAIN)."""

    query: Query
    local: bytes


def handle(zone: RenderedZone, data: bytes, *, tcp: bool = False) -> bytes | None:
    """The reply to one DNS message, or None to drop it (a response, or shorter than a header)."""
    reply = zone.answer(data, tcp=tcp)
    if reply is not None:
        return reply
    return handle_full(zone, data, tcp=tcp)


def handle_routed(zone: RenderedZone, data: bytes, *, tcp: bool = False) -> bytes | Outside | None:
    """As `handle`, but a name the zones do not answer comes back as `Outside`, for forwarding."""
    reply = zone.answer(data, tcp=tcp)
    if reply is not None:
        return reply
    return resolve_full(zone, data, tcp=tcp)


def handle_full(zone: RenderedZone, data: bytes, *, tcp: bool = False) -> bytes | None:
    """The full path: dnslib parse, every protocol rule, the pure lookup, truncation to the client size."""
    reply = resolve_full(zone, data, tcp=tcp)
    return reply.local if isinstance(reply, Outside) else reply


def resolve_full(zone: RenderedZone, data: bytes, *, tcp: bool = False) -> bytes | Outside | None:
    """The full path; names outside the zones (and, with `zone.fallthrough`, NXDOMAIN in the reverse
    zones) come back as `Outside` with the reply to send when they are not forwarded."""
    if len(data) < 12:
        return None
    qid = data[:2]
    flags = struct.unpack("!H", data[2:4])[0]
    if flags & QR:
        return None
    if (flags >> 11) & 0xF != 0:
        return error_reply(qid, flags, NOTIMP)
    try:
        query = parse_query(data)
    except MalformedQuery:
        return error_reply(qid, flags, FORMERR)
    opt = b""
    if query.edns_size:
        if query.edns_version != 0:
            out = error_reply(qid, flags, 0, query.question)
            return out[:10] + b"\x00\x01" + out[12:] + opt_rr(query.edns_size, query.do, BADVERS >> 4)
        opt = opt_rr(query.edns_size, query.do)
    if query.qtype in (AXFR, IXFR) or query.qclass != IN:
        return _with_opt(error_reply(qid, flags, REFUSED, query.question), opt)
    lower = tuple(label.lower() for label in query.labels)
    name = ".".join(label.decode("latin-1").replace(".", "\\.") for label in lower)
    response = lookup(zone.catalog, zone.settings, name, query.qtype)
    if response is None:
        return Outside(query, _with_opt(error_reply(qid, flags, REFUSED, query.question), opt))
    if not zone.synced and not response.answer:  # not known yet is not "does not exist"
        return _with_opt(error_reply(qid, flags, SERVFAIL, query.question), opt)
    limit = MAX_UDP if tcp else (query.edns_size or 512)
    rendered = render(lower, response, limit - len(opt))
    variant = (flags >> 8 & 1) | (2 if opt else 0)
    hdr = headers(rendered.flags, *rendered.counts)[variant]
    reply = qid + hdr + query.question + rendered.body + opt
    if response.rcode == NXDOMAIN and zone.fallthrough:
        head = zone.heads.get(find_zone(tuple(name.split(".")), zone.settings.served_zones) or "")
        if head is not None and head.fallthrough:  # a reverse name without a cluster IP
            return Outside(query, reply)
    return reply


def _with_opt(reply: bytes, opt: bytes) -> bytes:
    if not opt:
        return reply
    return reply[:10] + struct.pack("!H", struct.unpack("!H", reply[10:12])[0] + 1) + reply[12:] + opt
