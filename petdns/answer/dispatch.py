"""One packet to one reply: the fast path, else the full path (one parse, the pure lookup), else outside."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

from petdns.answer.cuts import keep_cut
from petdns.answer.fastpath import answer
from petdns.answer.render import render
from petdns.answer.rotation import rotated
from petdns.answer.zone import RenderedZone
from petdns.dns.constants import (
    AXFR,
    BADVERS,
    FORMERR,
    IN,
    IXFR,
    MAX_UDP,
    MIN_UDP,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    OPCODE,
    QR,
    REFUSED,
    SERVFAIL,
)
from petdns.dns.query import MalformedQuery, Query, parse_plain, parse_query
from petdns.dns.wire import encode_name, error_reply, headers, opt_record
from petdns.plugins.chain import Plugins
from petdns.schema.lookup import lookup
from petdns.settings.values import DEFAULT_MAX_UDP


@dataclass(frozen=True, slots=True)
class Outside:
    """A query the zones do not answer: forward it, or send `local` (REFUSED, or a reverse NXDOMAIN;
    None when the forwarder is to write its own REFUSED). With `restore` (a rewritten question), the
    replies to `query` (`local` included) are to be passed through it on their way to the client."""

    query: Query
    local: bytes | None
    restore: Callable[[bytes], bytes] | None = None


@overload
def dispatch(
    zone: RenderedZone, data: bytes, *, tcp: bool = ..., forwarding: Literal[False] = ...
) -> bytes | None: ...
@overload
def dispatch(
    zone: RenderedZone, data: bytes, *, tcp: bool = ..., forwarding: bool
) -> bytes | Outside | None: ...
def dispatch(
    zone: RenderedZone, data: bytes, *, tcp: bool = False, forwarding: bool = False
) -> bytes | Outside | None:
    """The reply to one DNS message, or None to drop it (a response, or shorter than a header).

    With `forwarding`, names outside the zones (and, with `zone.fallthrough`, NXDOMAIN in the reverse
    zones) come back as `Outside`, for the forwarder (or `refused`); without, they get `refused`.
    The UDP threads run this inline: the fast path with their type counter, then `declined`.
    """
    reply = answer(zone, data, tcp=tcp)
    if reply is not None:
        return reply
    return declined(zone, data, tcp=tcp, forwarding=forwarding)


def declined(
    zone: RenderedZone, data: bytes, *, tcp: bool = False, forwarding: bool = False
) -> bytes | Outside | None:
    """What the fast path declined: a plain query for a name plainly outside the zones goes to the
    forwarder unanswered; everything else takes the full path, under the zone's lock."""
    plain = parse_plain(data)
    plugins = zone.settings.plugins
    if (
        forwarding
        and plain is not None
        and not zone.serves(plain.name)
        and (plugins is None or not plugins.declines(plain.name, plain.question[-4:]))
    ):
        return Outside(plain, None)
    with zone.lock:
        if zone.deferred and plain is not None and zone.render_waiting(plain.name):
            reply = answer(zone, data, tcp=tcp)  # a name first asked: rendered now, with what waited with it
            if reply is not None:
                return reply
        out = full(zone, data, tcp=tcp, plain=plain)
    if isinstance(out, Outside) and not forwarding:
        return out.restore(out.local) if out.restore is not None and out.local is not None else out.local
    return out


def full(
    zone: RenderedZone, data: bytes, *, tcp: bool = False, plain: Query | None = None
) -> bytes | Outside | None:
    """The full path: every protocol rule, the pure lookup, truncation over UDP to the client's size
    capped at `zone.max_udp` (512 without EDNS); OPT records advertise `zone.max_udp`. Names
    outside the zones (and reverse NXDOMAIN with `zone.fallthrough`) come back as `Outside` with the
    reply to send when they are not forwarded. `plain`: the query's `parse_plain`, when known."""
    if len(data) < 12:
        return None
    qid = data[:2]
    flags = struct.unpack("!H", data[2:4])[0]
    if flags & QR:
        return None
    if flags & OPCODE:
        return error_reply(qid, flags, NOTIMP)
    try:
        query = parse_query(data, plain)
    except MalformedQuery:
        return error_reply(qid, flags, FORMERR)
    opt = b""
    if query.edns_size:
        if query.edns_version != 0:
            out = error_reply(qid, flags, 0, query.question)
            return out[:10] + b"\x00\x01" + out[12:] + opt_record(zone.max_udp, query.do, BADVERS >> 4)
        opt = opt_record(zone.max_udp, query.do)
    if zone.settings.plugins is not None:
        return _plugged(zone, zone.settings.plugins, query, opt, tcp=tcp)
    if query.qtype in (AXFR, IXFR) or query.qclass != IN:
        return refused(query, zone.max_udp)
    return _lookup(zone, query, opt, tcp=tcp)


def _plugged(zone: RenderedZone, plugins: Plugins, query: Query, opt: bytes, *, tcp: bool) -> bytes | Outside:
    """rewrite, template and hosts first (`petdns.plugins`), then the zones (or the forwarder) for the
    query they leave, its reply given back the client's question."""
    step = plugins.step(query, opt=opt, max_udp=zone.max_udp, tcp=tcp)
    if isinstance(step, bytes):
        return step
    asked, back = step.query, step.restore
    if asked.qtype in (AXFR, IXFR) or asked.qclass != IN:
        out: bytes | Outside = refused(asked, zone.max_udp)
    else:
        out = _lookup(zone, asked, opt, tcp=tcp)
    if back is None:
        return out
    return Outside(out.query, out.local, back) if isinstance(out, Outside) else back(out)


def _lookup(zone: RenderedZone, query: Query, opt: bytes, *, tcp: bool) -> bytes | Outside:
    """The pure lookup's answer to a well-formed IN query, rendered to fit the UDP limit."""
    qid, flags = query.qid, query.flags
    lower = tuple(label.lower() for label in query.labels)
    name = ".".join(label.decode("latin-1").replace(".", "\\.") for label in lower)
    wire = encode_name(lower)
    node = None if tcp else zone.nodes.get(wire)  # the rendering the answer below is made from
    response = lookup(zone.catalog, zone.settings, name, query.qtype)
    if response is None:
        return Outside(query, refused(query, zone.max_udp))
    if zone.settings.loadbalance:
        response = rotated(response, next(zone.turns))
    if not zone.synced and not response.answer:  # not known yet is not "does not exist"
        return _with_opt(error_reply(qid, flags, SERVFAIL, query.question), opt)
    limit = MAX_UDP if tcp else min(query.edns_size, zone.max_udp) if query.edns_size else MIN_UDP
    rendered = render(lower, response, limit - len(opt))
    variant = (flags >> 8 & 1) | (2 if opt else 0)
    variants = headers(rendered.flags, *rendered.counts)
    hdr = variants[variant]
    if node is not None and response.rcode == NOERROR:  # a big answer the fast path can serve next time
        type_class = struct.pack("!HH", query.qtype, IN)
        keep_cut(zone, wire, node, type_class, limit - len(opt), (variants, rendered.body))
    reply = qid + hdr + query.question + rendered.body + opt
    if response.rcode == NXDOMAIN and zone.falls_through(name):  # e.g. a reverse name without a cluster IP
        return Outside(query, reply)
    return reply


def refused(query: Query, max_udp: int = DEFAULT_MAX_UDP) -> bytes:
    """The zones' REFUSED to a query of EDNS version 0 (or none): its ID, opcode, RD and question; with
    an OPT advertising `max_udp` (and the query's DO bit) when the query had one."""
    reply = error_reply(query.qid, query.flags, REFUSED, query.question)
    return _with_opt(reply, opt_record(max_udp, query.do) if query.edns_size else b"")


def _with_opt(reply: bytes, opt: bytes) -> bytes:
    if not opt:
        return reply
    return reply[:10] + struct.pack("!H", struct.unpack("!H", reply[10:12])[0] + 1) + reply[12:] + opt
