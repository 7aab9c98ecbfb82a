"""Message rewriting for forwarding (pure): client and upstream queries, upstream replies, relayed answers.

An upstream reply is kept as the bytes after its question (its OPT record removed) plus the offsets of
its records and TTL fields. Relaying puts the client's ID and question (same length as the one sent
upstream, so compression pointers stay valid) around those bytes, lowers the TTLs by the answer's age,
and truncates to the client's UDP size, capped at ours. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from petdns.dns.constants import AD, CD, IN, MAX_UDP, MIN_UDP, NOERROR, NS, NXDOMAIN, OPT, QR, RA, RD, SOA, TC
from petdns.dns.query import QD1, QD1_AR1, Query, parse_plain
from petdns.dns.wire import opt_record

STALE_TTL: Final = 30  # TTL of a stale answer (RFC 8767)
MAX_TTL: Final = 0x7FFFFFFF


class BadReply(ValueError):
    """An upstream message that is not a well-formed reply to the query sent."""


_KEY_FLAGS: Final = tuple(bytes((i,)) for i in range(4))


class ClientQuery:
    """A client's query as forwarding needs it.

    `question` is spelled as the client sent it; `name` is its lower-case wire name; `key` identifies
    the answer in the cache (name, type, class, DO and CD); `edns` is the client's UDP size, 0 without
    EDNS; `limit` the size of its UDP replies: the client's size capped at `max_udp` (ours), 512
    without EDNS; `opt` the OPT record its replies carry, advertising `max_udp`.
    """

    __slots__ = ("do", "edns", "flags", "key", "limit", "name", "opt", "qid", "question")

    def __init__(  # noqa: PLR0917
        self, qid: bytes, flags: int, question: bytes, edns: int, do: bool, max_udp: int = MAX_UDP
    ) -> None:
        self.qid = qid
        self.flags = flags
        self.question = question
        self.edns = edns
        self.do = do
        self.name = name = question[:-4].lower()
        self.key = name + question[-4:] + _KEY_FLAGS[(2 if do else 0) | (1 if flags & CD else 0)]
        self.limit = min(edns, max_udp) if edns else MIN_UDP
        self.opt = opt_record(max_udp, do) if edns else b""

    @staticmethod
    def of(query: Query, max_udp: int = MAX_UDP) -> ClientQuery:
        """From a parsed query; its UDP replies at most `max_udp` bytes."""
        return ClientQuery(query.qid, query.flags, query.question, query.edns_size, query.do, max_udp)

    def __repr__(self) -> str:
        return f"ClientQuery({self.qid.hex()}, {self.question!r}, edns={self.edns}, do={self.do})"


def parse_client(data: bytes, max_udp: int = MAX_UDP) -> ClientQuery | None:
    """The plain query shapes (`dns.query.parse_plain`); None for anything else, which the full path
    then judges."""
    query = parse_plain(data)
    return None if query is None else ClientQuery.of(query, max_udp)


def upstream_query(q: ClientQuery, qid: bytes) -> bytes:
    """The query sent upstream: a fresh ID, RD and AD set, CD copied, the lower-case question, and the
    client's EDNS size (capped at ours) and DO bit (no OPT when the client sent none)."""
    flags = struct.pack("!H", RD | AD | (q.flags & CD))
    if q.edns:
        return qid + flags + QD1_AR1 + q.name + q.question[-4:] + opt_record(q.limit, q.do)
    return qid + flags + QD1 + q.name + q.question[-4:]


def probe_query(qid: bytes) -> bytes:
    """A health probe: `. IN NS`, recursion not desired (any answer means the upstream is alive)."""
    return qid + b"\x00\x00" + QD1 + b"\x00" + struct.pack("!HH", NS, IN)


def _question_end(query: bytes) -> int:
    return len(query) - 11 if query[10:12] == b"\x00\x01" else len(query)


def answers(data: bytes, query: bytes) -> bool:
    """Whether `data` is a response to `query`: same ID, QR set, the same question (any case); or an
    error without a question, as some servers send for queries they cannot parse."""
    if len(data) < 12 or data[:2] != query[:2] or not data[2] & 0x80:
        return False
    if data[4:6] == b"\x00\x00":
        return data[3] & 0xF != NOERROR
    qe = _question_end(query)
    return data[4:6] == b"\x00\x01" and data[12:qe].lower() == query[12:qe]


def truncated(data: bytes) -> bool:
    """Whether a reply has TC set."""
    return len(data) > 2 and bool(data[2] & 0x02)


def _skip_name(data: bytes, i: int) -> int:
    end, hops = len(data), 0
    while i < end:
        n = data[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        if n & 0xC0:
            raise BadReply("unknown label type")
        i += n + 1
        hops += 1
        if hops > 127:
            break
    raise BadReply("name runs past the end")


@dataclass(frozen=True, slots=True)
class Reply:
    """An upstream answer ready to be relayed to any client that asked the same question.

    `body` is what follows the question, without OPT; `ends` are the end offsets of its records in
    answer, authority, additional order; `ttls` are (offset of a TTL field in `body`, TTL).
    """

    flags: int
    counts: tuple[int, int, int]
    body: bytes
    ends: tuple[int, ...]
    ttls: tuple[tuple[int, int], ...]
    min_ttl: int | None  # the smallest TTL of any record
    negative_ttl: int | None  # min(SOA TTL, SOA MINIMUM) of an authority SOA (RFC 2308)
    # the body with its TTLs written for the last age asked: (age, or -1 - ttl for a fixed TTL; body)
    _memo: list[tuple[int, bytes] | None] = field(default_factory=lambda: [None], compare=False, repr=False)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def negative(self) -> bool:
        """NXDOMAIN, or NOERROR without answers (NODATA)."""
        return self.rcode == NXDOMAIN or (self.rcode == NOERROR and self.counts[0] == 0)

    def cache_ttl(self) -> int | None:
        """How long the records say this answer may be kept: the smallest TTL of a positive answer,
        the SOA's negative TTL of a negative one; None when it must not be cached (errors, TC, a
        negative answer without an SOA)."""
        if self.rcode not in (NOERROR, NXDOMAIN) or self.flags & TC:
            return None
        return self.negative_ttl if self.negative else self.min_ttl

    def clamped(self, floor: int, cap: int) -> Reply:
        """The same reply with every TTL brought into floor..cap."""
        ttls = tuple((pos, min(max(ttl, floor), cap)) for pos, ttl in self.ttls)
        return Reply(self.flags, self.counts, self.body, self.ends, ttls, self.min_ttl, self.negative_ttl)

    def render(self, q: ClientQuery, *, age: int = 0, tcp: bool = False, ttl: int | None = None) -> bytes:
        """The reply for client query `q`: its ID, question, RD and CD; TTLs lowered by `age` seconds
        (or all set to `ttl`); over UDP cut to `q.limit` (additional records first, then
        whole records with TC). AA is cleared, RA set, AD kept only for clients that asked for it."""
        opt = q.opt
        body = self._body(age, ttl)
        an, ns, ar = self.counts
        flags = QR | RA | (q.flags & (RD | CD)) | self.rcode
        if self.flags & AD and (q.do or q.flags & AD):
            flags |= AD
        if not tcp:
            room = q.limit - 12 - len(q.question) - len(opt)
            if len(body) > room:
                ends = self.ends
                main = an + ns
                if main == 0 or ends[main - 1] <= room:
                    body = body[: ends[main - 1] if main else 0]
                    ar = 0
                else:
                    keep = 0
                    while keep < main and ends[keep] <= room:
                        keep += 1
                    body = body[: ends[keep - 1] if keep else 0]
                    an, ns, ar = min(keep, an), max(0, keep - an), 0
                    flags |= TC
        header = struct.pack("!HHHHH", flags, 1, an, ns, ar + (1 if opt else 0))
        return q.qid + header + q.question + body + opt

    def _body(self, age: int, ttl: int | None) -> bytes:
        """The body with its TTLs lowered by `age` (or set to `ttl`); the last one is kept, as the
        same second's hits all need the same bytes."""
        stamp = age if ttl is None else -1 - ttl
        memo = self._memo[0]
        if memo is not None and memo[0] == stamp:
            return memo[1]
        body = bytearray(self.body)
        pack = struct.pack_into
        for pos, value in self.ttls:
            pack("!I", body, pos, ttl if ttl is not None else value - age if value > age else 0)
        out = bytes(body)
        self._memo[0] = (stamp, out)  # one assignment: safe between threads
        return out


def parse_reply(data: bytes, query: bytes) -> Reply:
    """Parse an upstream reply to `query` (checked with `answers` first). Records after an OPT record
    are dropped with it. Raises BadReply on a malformed message."""
    if len(data) < 12:
        raise BadReply("shorter than a header")
    flags, qd, an, ns, ar = struct.unpack_from("!HHHHH", data, 2)
    if qd == 0:
        if flags & 0xF == NOERROR:
            raise BadReply("no question")
        return Reply(flags & ~TC, (0, 0, 0), b"", (), (), None, None)
    qe = _question_end(query)
    if qd != 1 or data[12:qe].lower() != query[12:qe]:
        raise BadReply("not the question asked")
    i, end = qe, len(data)
    kept = [0, 0, 0]
    ends: list[int] = []
    ttls: list[tuple[int, int]] = []
    min_ttl: int | None = None
    negative_ttl: int | None = None
    cut = None
    for n in range(an + ns + ar):
        start = i
        i = _skip_name(data, i)
        if i + 10 > end:
            raise BadReply("record runs past the end")
        rtype, _, ttl, rdlength = struct.unpack_from("!HHIH", data, i)
        rdata_end = i + 10 + rdlength
        if rdata_end > end:
            raise BadReply("record data runs past the end")
        section = 0 if n < an else 1 if n < an + ns else 2
        if rtype == OPT:
            if section != 2:
                raise BadReply("OPT outside the additional section")
            cut = start
            break
        ttl = 0 if ttl > MAX_TTL else ttl  # RFC 2181 8: a TTL with the top bit set is zero
        ttls.append((i + 4 - qe, ttl))
        ends.append(rdata_end - qe)
        kept[section] += 1
        min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
        if rtype == SOA and section == 1 and rdlength >= 22:
            minimum = struct.unpack_from("!I", data, rdata_end - 4)[0]
            soa_ttl = min(ttl, 0 if minimum > MAX_TTL else minimum)
            negative_ttl = soa_ttl if negative_ttl is None else min(negative_ttl, soa_ttl)
        i = rdata_end
    body = data[qe : cut if cut is not None else i]
    return Reply(flags, (kept[0], kept[1], kept[2]), body, tuple(ends), tuple(ttls), min_ttl, negative_ttl)


def error(q: ClientQuery, rcode: int, *, recursion: bool = True) -> bytes:
    """A reply without records: the client's ID, question, RD and CD, its OPT echoed; RA with `recursion`."""
    opt = q.opt
    flags = QR | (RA if recursion else 0) | (q.flags & (RD | CD)) | rcode
    return q.qid + struct.pack("!HHHHH", flags, 1, 0, 0, 1 if opt else 0) + q.question + opt
