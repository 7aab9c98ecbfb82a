"""DNS wire format: the only dnslib user. Renders responses, parses queries, builds headers and OPT."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import dnslib

from petdns.lookup import Response
from petdns.records import AAAA, CNAME, NS, PTR, RR, SOA, SRV, TXT, A

QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100
OPT, IXFR, AXFR = 41, 251, 252
IN = 1
DO = 0x8000
MAX_UDP = 65535
BADVERS = 16


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response without its ID, RD bit, question and OPT: flags, section counts and the bytes after."""

    flags: int
    counts: tuple[int, int, int]
    body: bytes


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    """Uncompressed wire form of a name."""
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def _rdata(rr: RR) -> object:
    r = rr.rdata
    if rr.rtype == A:
        return dnslib.A(r)
    if rr.rtype == AAAA:
        return dnslib.AAAA(r)
    if rr.rtype == SRV:
        assert isinstance(r, tuple)
        return dnslib.SRV(priority=r[0], weight=r[1], port=r[2], target=f"{r[3]}.")
    if rr.rtype == PTR:
        return dnslib.PTR(f"{r}.")
    if rr.rtype == CNAME:
        return dnslib.CNAME(f"{r}.")
    if rr.rtype == NS:
        return dnslib.NS(f"{r}.")
    if rr.rtype == TXT:
        assert isinstance(r, tuple)
        return dnslib.TXT([str(s).encode() for s in r])
    if rr.rtype == SOA:
        assert isinstance(r, tuple)
        return dnslib.SOA(mname=f"{r[0]}.", rname=f"{r[1]}.", times=r[2:])
    raise ValueError(f"cannot render type {rr.rtype}")


def _rr(rr: RR) -> object:
    return dnslib.RR(rname=f"{rr.name}.", rtype=rr.rtype, rclass=IN, ttl=rr.ttl, rdata=_rdata(rr))


def _pack(
    qname: tuple[bytes, ...],
    qtype: int,
    answer: tuple[RR, ...],
    authority: tuple[RR, ...],
    additional: tuple[RR, ...],
) -> bytes:
    rec = dnslib.DNSRecord(
        dnslib.DNSHeader(id=0, qr=1), q=dnslib.DNSQuestion(dnslib.DNSLabel(list(qname)), qtype)
    )
    rec.rr = [_rr(r) for r in answer]
    rec.auth = [_rr(r) for r in authority]
    rec.ar = [_rr(r) for r in additional]
    packed: bytes = rec.pack()
    return packed


def render(qname: tuple[bytes, ...], qtype: int, response: Response, limit: int = MAX_UDP) -> Rendered:
    """Render a response to a lower-case question, fitting it into `limit` bytes (without OPT).

    Names are compressed against the question, so the caller may put back the question as the client
    spelled it. Additional records are dropped first (no TC); then whole records from the end, with TC.
    """
    header_and_question = 12 + len(encode_name(qname)) + 4
    answer, authority, additional = response.answer, response.authority, response.additional
    flags = QR | AA | response.rcode
    packed = _pack(qname, qtype, answer, authority, additional)
    if len(packed) > limit and additional:
        additional = ()
        packed = _pack(qname, qtype, answer, authority, additional)
    while len(packed) > limit and (answer or authority):
        flags |= TC
        if authority:
            authority = authority[:-1]
        else:
            answer = answer[:-1]
        packed = _pack(qname, qtype, answer, authority, additional)
    return Rendered(flags, (len(answer), len(authority), len(additional)), packed[header_and_question:])


@lru_cache(maxsize=4096)
def headers(flags: int, an: int, ns: int, ar: int) -> tuple[bytes, bytes, bytes, bytes]:
    """The ten header bytes after the ID, by variant: index = RD bit | (EDNS present << 1)."""
    return tuple(  # type: ignore[return-value]
        struct.pack("!HHHHH", flags | (RD if i & 1 else 0), 1, an, ns, ar + (i >> 1)) for i in range(4)
    )


def opt_rr(size: int, do: bool, ext_rcode: int = 0) -> bytes:
    """An OPT pseudo-record: version 0, the given UDP size, DO copied, no options."""
    return b"\x00\x00\x29" + struct.pack("!HBBHH", size, ext_rcode, 0, DO if do else 0, 0)


def error_reply(query_id: bytes, flags: int, rcode: int, question: bytes = b"") -> bytes:
    """A header-only (or header + question) error reply; opcode and RD copied from the query flags."""
    out_flags = QR | (flags & 0x7900) | rcode
    return query_id + struct.pack("!HHHHH", out_flags, 1 if question else 0, 0, 0, 0) + question


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the question as spelled, EDNS parameters (size 0 = no EDNS)."""

    qid: bytes
    flags: int
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int
    edns_size: int
    edns_version: int
    do: bool

    @property
    def question(self) -> bytes:
        """The question section as the client spelled it (uncompressed)."""
        return encode_name(self.labels) + struct.pack("!HH", self.qtype, self.qclass)


class MalformedQuery(ValueError):
    """The query cannot be parsed (FORMERR)."""


def parse_query(data: bytes) -> Query:
    """Full parse with dnslib: one question, at most one OPT record."""
    try:
        rec = dnslib.DNSRecord.parse(data)
    except Exception as err:  # dnslib raises several error types on bad input
        raise MalformedQuery(str(err)) from None
    if len(rec.questions) != 1:
        raise MalformedQuery(f"{len(rec.questions)} questions")
    opts = [rr for rr in rec.ar if rr.rtype == OPT]
    if len(opts) > 1:
        raise MalformedQuery("more than one OPT record")
    q = rec.questions[0]
    size = version = 0
    do = False
    if opts:
        size = max(512, opts[0].rclass)
        version = (opts[0].ttl >> 16) & 0xFF
        do = bool(opts[0].ttl & DO)
    labels = tuple(bytes(label) for label in q.qname.label)
    if any(len(label) > 63 or not label for label in labels) or len(encode_name(labels)) > 255:
        raise MalformedQuery("bad name")
    return Query(data[:2], struct.unpack("!H", data[2:4])[0], labels, q.qtype, q.qclass, size, version, do)
