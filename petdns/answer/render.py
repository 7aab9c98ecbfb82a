"""Lookup responses to wire bytes (own encoder): names compressed against the question, truncation."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from petdns.dns.constants import AA, AAAA, CNAME, IN, MAX_UDP, NOERROR, NS, PTR, QR, SOA, SRV, TC, TXT, A
from petdns.dns.wire import encode_name, split_labels, wire_name
from petdns.schema.lookup import Response
from petdns.schema.records import RR


class Rendered(NamedTuple):
    """A response without its ID, RD bit, question and OPT: flags, section counts and the bytes after."""

    flags: int
    counts: tuple[int, int, int]
    body: bytes


_labels = lru_cache(maxsize=1024)(split_labels)


def _text(qname: tuple[bytes, ...]) -> str | None:
    """The dotted text whose labels are `qname` (None when no model name can be: a dot in a label)."""
    text = b".".join(qname).decode("utf-8", "surrogateescape")
    return text if text.count(".") + 1 == len(qname) else None


class _Writer:
    """Encodes records after a question, compressing names against it and against earlier records."""

    def __init__(self, qname: tuple[bytes, ...]) -> None:
        self.out = bytearray()
        self.qname = qname
        self.qtext = _text(qname)
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
        out = self.out
        if compress and name == self.qtext:  # the owner of most records: a pointer to the question
            out += b"\xc0\x0c"
            return
        labels = _labels(name)
        if compress and labels == self.qname:
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
    return _simple_answer(qname, _text(qname), response.answer)


def _simple_answer(qname: tuple[bytes, ...], qtext: str | None, answer: tuple[RR, ...]) -> bytes | None:
    """`_simple_body` of an answer section alone; `qtext`: the question as text (`_text`)."""
    if len(answer) == 1 and answer[0].rtype == PTR:
        rr = answer[0]
        target = split_labels(str(rr.rdata))
        if target[-1] == qname[-1]:  # a shared suffix would be compressed
            return None
        if rr.name != qtext and _labels(rr.name) != qname:
            return None
        wire = encode_name(target)
        return ptr_body(rr.ttl, wire)
    parts = []
    for rr in answer:
        if rr.rtype == A:
            packed = socket.inet_aton(str(rr.rdata))
        elif rr.rtype == AAAA:
            packed = socket.inet_pton(socket.AF_INET6, str(rr.rdata))
        else:
            return None
        if rr.name != qtext and _labels(rr.name) != qname:
            return None
        parts.append(_owner_header(rr.rtype, rr.ttl, len(packed)) + packed)
    return b"".join(parts)


def _srv_answer(
    qname: tuple[bytes, ...],
    qtext: str | None,
    answer: tuple[RR, ...],
    additional: tuple[RR, ...],
    wire_of: Callable[[str], bytes] = wire_name,
) -> bytes | None:
    """The body of SRV answers owned by the question with their targets' addresses as additional
    records, byte-identical to the writer's: each target written whole (RFC 2782), each address owner a
    pointer to where its name first is (the question, or a target). None for anything else, or when
    some target lies beyond the reach of a pointer, or the body would not fit."""
    base = 12 + len(qname) + sum(map(len, qname)) + 1 + 4
    if qtext is None:
        return None
    parts = qtext.split(".")  # where each suffix of the question is, as the writer starts its names
    at = {".".join(parts[i:]): 12 + i + sum(map(len, qname[:i])) for i in range(len(qname))}
    out = bytearray()
    for rr in answer:
        if rr.rtype != SRV or rr.name != qtext:
            return None
        priority, weight, port, target = rr.rdata  # type: ignore[misc,str-unpack]
        wire = wire_of(str(target))
        position = base + len(out) + 18
        if position >= 0x3FFF:
            return None
        at.setdefault(str(target), position)
        out += _owner_header(SRV, rr.ttl, 6 + len(wire)) + struct.pack("!HHH", priority, weight, port) + wire
    for rr in additional:
        family = socket.AF_INET if rr.rtype == A else socket.AF_INET6 if rr.rtype == AAAA else None
        pointer = 0xC00C if rr.name == qtext else at.get(rr.name)
        if family is None or pointer is None:
            return None
        packed = socket.inet_pton(family, str(rr.rdata))
        out += struct.pack("!HHHIH", 0xC000 | pointer, rr.rtype, IN, rr.ttl, len(packed)) + packed
    return bytes(out) if len(out) <= MAX_UDP - base else None


def address_body(rtype: int, ttl: int, ip: str) -> bytes:
    """The body of one A or AAAA record owned by the question."""
    packed = socket.inet_pton(socket.AF_INET6 if rtype == AAAA else socket.AF_INET, ip)
    return _owner_header(rtype, ttl, len(packed)) + packed


def ptr_body(ttl: int, target: bytes) -> bytes:
    """The body of one PTR owned by the question, to a target (wire form) sharing no suffix with it."""
    return _owner_header(PTR, ttl, len(target)) + target


def quick_body(qtext: str, qwire: int, answer: tuple[RR, ...], additional: tuple[RR, ...]) -> bytes | None:
    """The body of `render_records` for the sets most names hold, without building labels: IPv4
    addresses or one PTR, owned by the question (`qtext`, whose wire form is `qwire` bytes long), with
    nothing additional. Byte-identical to `_simple_answer`'s; None for anything else."""
    if additional or not answer:
        return None
    first = answer[0]
    if len(answer) == 1 and first[0] == qtext:  # (name, type, ttl, rdata), read by position: faster
        rtype, target = first[1], first[3]
        if rtype == A:
            body = _owner_header(A, first[2], 4) + socket.inet_aton(target)  # type: ignore[arg-type]
            return body if 16 + qwire + len(body) <= MAX_UDP else None
        if rtype != PTR or target.__class__ is not str:
            return None
        if target.rpartition(".")[2] == qtext.rpartition(".")[2]:  # a shared suffix would be compressed
            return None
        wire = wire_name(target)
        body = ptr_body(first[2], wire)
        return body if 16 + qwire + len(body) <= MAX_UDP else None
    parts = []
    for rr in answer:
        if rr[1] != A or rr[0] != qtext:
            return None
        parts.append(_owner_header(A, rr[2], 4) + socket.inet_aton(rr[3]))  # type: ignore[arg-type]
    body = b"".join(parts)
    return body if 16 + qwire + len(body) <= MAX_UDP else None


def render_records(
    qname: tuple[bytes, ...],
    qtext: str,
    answer: tuple[RR, ...],
    additional: tuple[RR, ...],
    wire_of: Callable[[str], bytes] = wire_name,
) -> Rendered:
    """`render(qname, Response(NOERROR, answer, additional=additional))` of a name's record set (`qtext`:
    the name as text); the common sets (addresses, one PTR, SRV with its targets' addresses) without
    building the response. `wire_of`: `wire_name`, or a faster one of the caller's."""
    if not additional and answer:
        simple = _simple_answer(qname, qtext, answer)
        if simple is not None and 17 + len(qname) + sum(map(len, qname)) + len(simple) <= MAX_UDP:
            return Rendered(QR | AA | NOERROR, (len(answer), 0, 0), simple)
    elif answer and answer[0].rtype == SRV:
        body = _srv_answer(qname, _text(qname), answer, additional, wire_of)
        if body is not None:
            return Rendered(QR | AA | NOERROR, (len(answer), 0, len(additional)), body)
    return render(qname, Response(NOERROR, answer=answer, additional=additional))


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
