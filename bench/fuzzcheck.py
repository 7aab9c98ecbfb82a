"""The judgements of bench/fuzz.py: is a reply well formed and does it answer the query; does a good
query still get its right answer in time (the hang probe)."""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.rcode

MAX_UDP = 1232  # petdns's default --max-udp-size
_ERRORS_WITHOUT_QUESTION = {dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.REFUSED, dns.rcode.SERVFAIL}


@dataclass
class Tally:
    """Counts of one transport of one run."""

    sent: int = 0
    replies: int = 0
    parsed_queries: int = 0  # queries dnspython can parse (their replies are matched against them)
    unanswered_queries: int = 0  # UDP: well-formed-looking queries whose reply did not come in the window
    malformed: int = 0
    connections: int = 0
    lies: int = 0
    rcodes: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)


def _limit(query: dns.message.Message) -> int:
    """The largest UDP reply a query may get: 512 without EDNS, else its size capped at ours."""
    if query.edns < 0:
        return 512
    return max(512, min(query.payload, MAX_UDP))


_Parsed = dns.message.Message | str  # a message, or why dnspython cannot read it
_parsed: dict[bytes, _Parsed] = {}


def parse(wire: bytes) -> _Parsed:
    """dnspython's reading of a message; the ID aside, the same bytes are read once (most replies
    repeat: header-only errors, the same truncated answer)."""
    key = wire[2:]
    found = _parsed.get(key)
    if found is None:
        try:
            found = dns.message.from_wire(wire)
        except Exception as err:  # dnspython raises many error types
            found = f"{type(err).__name__}: {err}"
        if len(_parsed) > 100_000:
            _parsed.clear()
        _parsed[key] = found
    return found


def check_reply(query: bytes, reply: bytes, *, udp: bool, tally: Tally) -> str | None:
    """What is wrong with `reply` as the answer to `query`, or None; counts it in `tally`."""
    tally.replies += 1
    parsed = parse(reply)
    if isinstance(parsed, str):
        return f"reply does not parse ({parsed})"
    tally.rcodes[dns.rcode.to_text(parsed.rcode())] += 1
    if not reply[2] & 0x80:
        return "reply without QR"
    if not parsed.question and parsed.rcode() in _ERRORS_WITHOUT_QUESTION and reply[:2] == query[:2]:
        return None  # a header-only error with the query's ID is right for any query: no need to read it
    asked = parse(query) if len(query) >= 12 else "short"
    if isinstance(asked, str):  # not a message dnspython reads: only the reply is judged
        return (
            f"UDP reply of {len(reply)} bytes, over the limit {MAX_UDP}"
            if udp and len(reply) > MAX_UDP
            else None
        )
    if udp and len(reply) > _limit(asked):
        return f"UDP reply of {len(reply)} bytes, over the limit {_limit(asked)}"
    if asked.flags & 0x8000:
        return None
    tally.parsed_queries += 1
    if reply[:2] != query[:2]:
        return f"reply ID {reply[:2].hex()} for query ID {query[:2].hex()}"
    if not parsed.question:
        if parsed.rcode() in _ERRORS_WITHOUT_QUESTION:
            return None
        return f"{dns.rcode.to_text(parsed.rcode())} without a question"
    mine = [(q.name.labels, q.rdtype, q.rdclass) for q in asked.question]
    theirs = [(q.name.labels, q.rdtype, q.rdclass) for q in parsed.question]
    if mine != theirs:
        return f"question {parsed.question} for query question {asked.question}"
    return None


def sample(kind: str, query: bytes, reply: bytes, problem: str) -> str:
    return f"{kind}: {problem}; query {query[:80].hex()}; reply {reply[:80].hex()}"


@dataclass(frozen=True)
class Probe:
    """A good query and the one address its answer must hold."""

    name: str
    qtype: str
    address: str

    def ask(self, port: int, deadline: float, *, tcp: bool) -> str | None:
        """None when the right answer came in time, else what went wrong."""
        query = dns.message.make_query(self.name, self.qtype, use_edns=0, payload=1232)
        wire = query.to_wire()
        started = time.monotonic()
        try:
            reply = _tcp(port, wire, deadline) if tcp else _udp(port, wire, deadline)
            answer = dns.message.from_wire(reply)
        except (OSError, dns.exception.DNSException, TimeoutError) as err:
            return f"{self.name} {self.qtype} over {'TCP' if tcp else 'UDP'}: {type(err).__name__} {err}"
        got = sorted(rd.to_text() for rrset in answer.answer for rd in rrset)
        if answer.id != query.id or self.address not in got:
            return f"{self.name} over {'TCP' if tcp else 'UDP'}: wrong answer {answer.rcode()} {got}"
        if time.monotonic() - started > deadline:
            return f"{self.name}: answered after {time.monotonic() - started:.2f} s"
        return None


def _udp(port: int, wire: bytes, deadline: float) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(deadline)
        sock.sendto(wire, ("127.0.0.1", port))
        end = time.monotonic() + deadline
        while True:
            sock.settimeout(max(0.001, end - time.monotonic()))
            reply = sock.recv(65535)
            if reply[:2] == wire[:2]:
                return reply


def _tcp(port: int, wire: bytes, deadline: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", _exactly(sock, 2))[0]
        return _exactly(sock, size)


def _exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionResetError("closed")
        out += chunk
    return out
