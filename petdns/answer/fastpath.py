"""The per-query fast path: a plain query answered from the rendered zone by a dict lookup and a splice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from petdns.answer.heads import DYNAMIC
from petdns.answer.rotation import RotatedCut
from petdns.answer.zone import Rendered, RenderedZone
from petdns.dns.constants import AA, MIN_UDP, NOERROR, NXDOMAIN, QR
from petdns.dns.query import IN_CLASS, QD1, QD1_AR1, edns
from petdns.dns.wire import headers, opt_record

if TYPE_CHECKING:
    from petdns._fastloop import Table

NODATA_HEADERS: Final = headers(QR | AA | NOERROR, 0, 1, 0)
NXDOMAIN_HEADERS: Final = headers(QR | AA | NXDOMAIN, 0, 1, 0)
_ZONE_TRANSFERS: Final = (b"\x00\xfb", b"\x00\xfc")


def answer(
    zone: RenderedZone, data: bytes, seen: bytearray | None = None, *, tcp: bool = False
) -> bytes | None:
    """Answer a plain query from rendered data, or None when the full path must handle it.

    With `seen`, an answered query's type code (`tally.type_code`) is appended to it: the UDP
    threads count queries that way at the cost of one append. Over UDP a reply larger than the
    client's size (512 without EDNS) capped at `zone.max_udp` is replaced by its truncated rendering
    (`zone.truncated`, or the compiled table's when it holds the names, for the common limits, kept
    once the full path has rendered it), else left to
    the full path, which truncates it. The question's end is found with one `find`: a name that is
    not well formed misses the dict and is then checked by `zone.zone_of`. Questions the plugins
    could change (`Plugins.declines`) are left to the full path.
    """
    if data[4:12] == QD1:
        qe = data.find(0, 12) + 5
        if qe != len(data) or qe < 17:
            return None
        opt, variant, limit = b"", data[2] & 1, MIN_UDP
    elif data[4:12] == QD1_AR1:
        qe = data.find(0, 12) + 5
        found = zone.opts.get(data[qe:])
        if found is None:
            found = _edns(zone, data[qe:])
            if found is None or qe < 17:
                return None
        opt, limit = found
        variant = (data[2] & 1) | 2
    else:
        return None
    if data[2] & 0xF8:
        return None
    name = data[12 : qe - 4].lower()
    tail = data[qe - 4 : qe]
    plugins = zone.settings.plugins  # rewrite, template, hosts: the full path asks them first
    if plugins is not None and (  # as `plugins.declines`, inline
        name in plugins.names
        or (plugins.others is not None and plugins.others(name, tail))
        or plugins.clock() >= plugins.due
    ):
        return None
    node = zone.nodes.get(name)
    reply = None
    if node is not None:
        for i in range(1, len(node), 3):
            if node[i] == tail:
                if node[i + 1] is None:  # deferred to the full path
                    return None
                body = node[i + 2]
                if body.__class__ is not bytes:  # a `Rotation` (loadbalance): its next order
                    body = body.next()
                reply = data[:2] + node[i + 1][variant] + data[12:qe] + body
                break
    if reply is None:
        reply = _negative(zone, data, name, node, qe, variant)
    if reply is None:
        return None
    if not tcp and len(reply) > limit:  # too big for UDP: the truncated rendering for this limit, if any
        kept = zone.truncated.get(name)
        cut = None if kept is None else kept.get((tail, limit))
        if cut is None:
            return _table_cut(zone, data, seen)
        cut_body = cut[1]
        if isinstance(cut_body, RotatedCut):
            cut_body = cut_body.next()
        reply = data[:2] + cut[0][variant] + data[12:qe] + cut_body
    if seen is not None:
        seen.append(0 if data[qe - 4] else data[qe - 3])
    return reply + opt


def _table_cut(zone: RenderedZone, data: bytes, seen: bytearray | None) -> bytes | None:
    """The reply with the truncated rendering the compiled table keeps, when it holds the zone's names
    (it keeps the cuts then, as lengths of the bodies; `keep_cut`); None without one."""
    table = zone.mirror.table
    if table is None or zone.nodes is not table:
        return None
    return compiled_answer(table, data, seen)


def compiled_answer(table: Table, data: bytes, seen: bytearray | None = None) -> bytes | None:
    """The compiled table's reply to a UDP query, None when it declines; with `seen`, the answered
    query's type code is appended to it."""
    out = table.answer(data)
    if out is None:
        return None
    if seen is not None:
        seen.append(out[1])
    return out[0]


def _negative(  # noqa: PLR0917
    zone: RenderedZone, data: bytes, name: bytes, node: Rendered | None, qe: int, variant: int
) -> bytes | None:
    """NXDOMAIN or NODATA with the zone SOA, assembled around pointers into the question."""
    if data[qe - 2 : qe] != IN_CLASS or data[qe - 4 : qe - 2] in _ZONE_TRANSFERS or not zone.synced:
        return None
    if node is None:
        found = zone.zone_of(name)
        if found is None:
            return None
        head, p = found
        if head.fallthrough or (head.dynamic_pods and name.endswith(head.pod_wire)):
            return None
        if zone.deferred and zone.deferred.under(name) is not None:  # waits to be rendered
            return None
        hdrs = NXDOMAIN_HEADERS
    else:
        head = node[0]
        if head is DYNAMIC:
            return None
        p = len(name) - len(head.wire)
        hdrs = NODATA_HEADERS
    return data[:2] + hdrs[variant] + data[12:qe] + head.negative(12 + p)


def _edns(zone: RenderedZone, record: bytes) -> tuple[bytes, int] | None:
    """(reply OPT, size limit of the rest over UDP) for a query's OPT record, kept in `zone.opts`:
    the client's size capped at `zone.max_udp`, which the reply's OPT advertises. None when the full
    path must see it."""
    found = edns(record)
    if found is None or not _options_fill(record):
        return None
    size, do = found
    opt = opt_record(zone.max_udp, do)
    value = (opt, min(size, zone.max_udp) - len(opt))
    if len(record) == 11 and len(zone.opts) < 1024:
        zone.opts[record] = value
    return value


def _options_fill(record: bytes) -> bool:
    """Whether an OPT record's options, each a code, a length and that many bytes, stay inside its
    data (less than an option header left at the end is ignored): as dnslib judges them on the full
    path, where a length that runs past the end is FORMERR."""
    i, end = 11, len(record)
    while i + 4 <= end:
        i += 4 + (record[i + 2] << 8 | record[i + 3])
    return i <= end
