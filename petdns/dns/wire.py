"""DNS wire format: renders responses (own encoder), parses queries (dnslib), builds headers and OPT."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from functools import lru_cache

import dnslib

from petdns.schema.lookup import Response
from petdns.schema.records import AAAA, CNAME, NS, PTR, RR, SOA, SRV, TXT, A

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


def split_labels(name: str) -> tuple[bytes, ...]:
    """The labels of a dotted (lower-case, absolute, dot-less) name as bytes."""
    return tuple(label.encode() for label in name.split("."))


def wire_name(name: str) -> bytes:
    """Uncompressed wire form of a dotted name."""
    return encode_name(split_labels(name))


_labels = lru_cache(maxsize=1024)(split_labels)


class _Writer:
    """Encodes records after a question, compressing names against it and against earlier records."""

    def __init__(self, qname: tuple[bytes, ...]) -> None:
        self.out = bytearray()
        self.qname = qname
        self.base = 12 + sum(len(label) + 1 for label in qname) + 1 + 4  # where the body starts
        self._names: dict[tuple[bytes, ...], int] | None = None  # suffix -> offset, built when first needed

    @property
    def names(self) -> dict[tuple[bytes, ...], int]:
        if self._names is None:
            self._names = {}
            offset = 12
            for i, label in enumerate(self.qname):
                self._names.setdefault(self.qname[i:], offset)
                offset += len(label) + 1
        return self._names

    def name(self, name: str, *, compress: bool = True) -> None:
        labels = _labels(name)
        out = self.out
        if compress and labels == self.qname:  # the owner of most records: a pointer to the question
            out += b"\xc0\x0c"
            return
        names = self.names
        if not compress:  # written whole; later records (the target's glue) may point at it
            position = self.base + len(out)
            if position < 0x3FFF:
                names.setdefault(labels, position)
            out += encode_name(labels)
            return
        for i, label in enumerate(labels):
            suffix = labels[i:]
            pointer = names.get(suffix)
            if pointer is not None:
                out += struct.pack("!H", 0xC000 | pointer)
                return
            position = self.base + len(out)
            if position < 0x3FFF:
                names.setdefault(suffix, position)
            out.append(len(label))
            out += label
        out.append(0)

    def record(self, rr: RR) -> None:
        self.name(rr.name)
        self.out += struct.pack("!HHIH", rr.rtype, IN, rr.ttl, 0)
        start = len(self.out)
        self._rdata(rr)
        struct.pack_into("!H", self.out, start - 2, len(self.out) - start)

    def _rdata(self, rr: RR) -> None:
        r = rr.rdata
        if rr.rtype == A:
            self.out += socket.inet_pton(socket.AF_INET, str(r))
        elif rr.rtype == AAAA:
            self.out += socket.inet_pton(socket.AF_INET6, str(r))
        elif rr.rtype == SRV:
            self.out += struct.pack("!HHH", r[0], r[1], r[2])
            self.name(str(r[3]), compress=False)  # RFC 2782: no compression of the target
        elif rr.rtype in (PTR, CNAME, NS):
            self.name(str(r))
        elif rr.rtype == TXT:
            for text in r:
                data = str(text).encode()
                self.out.append(len(data))
                self.out += data
        elif rr.rtype == SOA:
            self.name(str(r[0]))
            self.name(str(r[1]))
            self.out += struct.pack("!IIIII", *r[2:])
        else:
            raise ValueError(f"cannot render type {rr.rtype}")


@lru_cache(maxsize=256)
def _owner_header(rtype: int, ttl: int, rdlength: int) -> bytes:
    return struct.pack("!HHHIH", 0xC00C, rtype, IN, ttl, rdlength)


def _simple_body(qname: tuple[bytes, ...], response: Response) -> bytes | None:
    """The body of the most common answers (addresses, one PTR) without the general writer.

    Byte-identical to what the writer produces: every owner is the question (a pointer to it), an
    address has no names to compress and a PTR target shares no suffix with the reverse name.
    None for anything else.
    """
    if response.authority or response.additional or not response.answer:
        return None
    if len(response.answer) == 1 and response.answer[0].rtype == PTR:
        rr = response.answer[0]
        target = _labels(str(rr.rdata))
        if _labels(rr.name) != qname or target[-1] == qname[-1]:  # a shared suffix would be compressed
            return None
        wire = encode_name(target)
        return _owner_header(PTR, rr.ttl, len(wire)) + wire
    parts = []
    for rr in response.answer:
        if rr.rtype == A:
            packed = socket.inet_aton(str(rr.rdata))
        elif rr.rtype == AAAA:
            packed = socket.inet_pton(socket.AF_INET6, str(rr.rdata))
        else:
            return None
        if _labels(rr.name) != qname:
            return None
        parts.append(_owner_header(rr.rtype, rr.ttl, len(packed)) + packed)
    return b"".join(parts)


def render(qname: tuple[bytes, ...], response: Response, limit: int = MAX_UDP) -> Rendered:
    """Render a response to a lower-case question, fitting it into `limit` bytes (without OPT).

    Names are compressed against the question, so the caller may put back the question as the client
    spelled it. Additional records are dropped first (no TC); then whole records from the end, with TC.
    """
    simple = _simple_body(qname, response)
    if simple is not None and 12 + sum(len(x) + 1 for x in qname) + 5 + len(simple) <= limit:
        return Rendered(QR | AA | response.rcode, (len(response.answer), 0, 0), simple)
    writer = _Writer(qname)
    ends = []
    for rr in (*response.answer, *response.authority):
        writer.record(rr)
        ends.append(len(writer.out))
    main = len(writer.out)
    for rr in response.additional:
        writer.record(rr)
    room = limit - writer.base
    n_answer, n_authority = len(response.answer), len(response.authority)
    if len(writer.out) <= room:
        return Rendered(
            QR | AA | response.rcode, (n_answer, n_authority, len(response.additional)), bytes(writer.out)
        )
    if main <= room:
        return Rendered(QR | AA | response.rcode, (n_answer, n_authority, 0), bytes(writer.out[:main]))
    keep = sum(1 for end in ends if end <= room)
    body = bytes(writer.out[: ends[keep - 1]]) if keep else b""
    counts = (min(keep, n_answer), max(0, keep - n_answer), 0)
    return Rendered(QR | AA | TC | response.rcode, counts, body)


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
