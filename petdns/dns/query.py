"""The one query parse: header, question and OPT record of a client's query, plain shapes first.

A plain query (QUERY opcode, one IN question, at most one version-0 OPT record and nothing else) is
read here directly; anything else goes through dnslib, which also judges what is malformed (FORMERR).
The fast path reads the same wire shapes (`QD1`, `QD1_AR1`, `edns`) without building a `Query`.
"""

from __future__ import annotations

import struct
from typing import Final

import dnslib

from petdns.dns.constants import AXFR, DO, IN, IXFR, MIN_UDP, OPT
from petdns.dns.wire import encode_name

QD1: Final = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # the counts of a query: one question
QD1_AR1: Final = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # one question and one additional record (OPT)
OPT_HEAD: Final = b"\x00\x00\x29"  # an OPT record: the root name and type 41
IN_CLASS: Final = struct.pack("!H", IN)


class MalformedQuery(ValueError):
    """The query cannot be parsed (FORMERR)."""


class Query:
    """A parsed query: the question as spelled (name, type, class), EDNS parameters (size 0 = no EDNS)."""

    __slots__ = ("do", "edns_size", "edns_version", "flags", "qclass", "qid", "qtype", "question")

    def __init__(  # noqa: PLR0917
        self, qid: bytes, flags: int, question: bytes, edns_size: int, edns_version: int, do: bool
    ) -> None:
        self.qid = qid
        self.flags = flags
        self.question = question  # uncompressed, as the client spelled it, type and class included
        self.qtype, self.qclass = struct.unpack_from("!HH", question, len(question) - 4)
        self.edns_size = edns_size
        self.edns_version = edns_version
        self.do = do

    @property
    def name(self) -> bytes:
        """The lower-case wire name of the question."""
        return self.question[:-4].lower()

    @property
    def labels(self) -> tuple[bytes, ...]:
        """The question's labels as spelled."""
        out, i, q = [], 0, self.question
        while q[i]:
            out.append(q[i + 1 : i + 1 + q[i]])
            i += q[i] + 1
        return tuple(out)

    def __repr__(self) -> str:
        return f"Query({self.qid.hex()}, {self.question!r}, edns={self.edns_size}, do={self.do})"


def edns(record: bytes) -> tuple[int, bool] | None:
    """(UDP size, DO) of a query's trailing OPT record: version 0, its options (if any) exactly filling
    it; None for anything else."""
    if len(record) < 11 or record[:3] != OPT_HEAD or record[6] != 0:
        return None
    if 11 + (record[9] << 8 | record[10]) != len(record):
        return None
    return max(MIN_UDP, record[3] << 8 | record[4]), bool(record[7] & 0x80)


def question_end(data: bytes) -> int:
    """Where the question of a one-question message ends (after type and class); -1 when its name is
    compressed, too long, or runs past the end."""
    i = 12
    try:
        n = data[12]
        while n:
            if n > 63:
                return -1
            i += n + 1
            n = data[i]
    except IndexError:
        return -1
    return -1 if i - 12 >= 255 or i + 5 > len(data) else i + 5


def parse_plain(data: bytes) -> Query | None:
    """The common query shapes: QUERY opcode, one IN question of a type other than AXFR, IXFR and OPT,
    at most one OPT (version 0) and nothing else. None for anything else."""
    if len(data) < 17 or data[2] & 0xF8:  # QR or an opcode other than QUERY
        return None
    counts = data[4:12]
    if counts not in (QD1, QD1_AR1):
        return None
    qe = question_end(data)
    if qe < 0 or data[qe - 2 : qe] != IN_CLASS:
        return None
    qtype = data[qe - 4] << 8 | data[qe - 3]
    if qtype in (AXFR, IXFR, OPT):
        return None
    flags = data[2] << 8 | data[3]
    if counts == QD1:
        return Query(data[:2], flags, data[12:qe], 0, 0, False) if qe == len(data) else None
    found = edns(data[qe:])
    return None if found is None else Query(data[:2], flags, data[12:qe], found[0], 0, found[1])


def parse_query(data: bytes, plain: Query | None = None) -> Query:
    """Any query: the plain shapes directly (`plain`, when the caller has parsed it already), the rest
    with dnslib. A plain query with EDNS options goes through dnslib too, which rejects malformed ones.
    Raises MalformedQuery as dnslib would."""
    if plain is None:
        plain = parse_plain(data)
    if plain is not None and (not plain.edns_size or len(data) == 12 + len(plain.question) + 11):
        try:  # dnslib's rule: every label is UTF-8 (length bytes are ASCII, so the whole name can be decoded)
            plain.question[:-4].decode()
        except UnicodeDecodeError:
            raise MalformedQuery("a label is not UTF-8") from None
        return plain
    return parse_dnslib(data)


def parse_dnslib(data: bytes) -> Query:
    """A query parsed by dnslib: one question, at most one OPT record, a well-formed name."""
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
        size = max(MIN_UDP, opts[0].rclass)
        version = (opts[0].ttl >> 16) & 0xFF
        do = bool(opts[0].ttl & DO)
    labels = tuple(bytes(label) for label in q.qname.label)
    if any(len(label) > 63 or not label for label in labels) or len(encode_name(labels)) > 255:
        raise MalformedQuery("bad name")
    question = encode_name(labels) + struct.pack("!HH", q.qtype, q.qclass)
    return Query(data[:2], struct.unpack("!H", data[2:4])[0], question, size, version, do)
