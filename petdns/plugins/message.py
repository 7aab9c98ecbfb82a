"""Names and messages for the plugins: FQDN text of a question, replies built from records, replies
given back their client's question and rewritten records (dnslib does the record encoding)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Final

import dnslib

from petdns.dns.constants import AA, OPT, QR, RD, TC
from petdns.dns.query import Query

CLASSES: Final = {"IN": 1, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}
CLASS_NAMES: Final = {v: k for k, v in CLASSES.items()}
RecordRule = Callable[[dnslib.RR], None]  # rewrites one record of a reply in place


class RcodeRule:
    """`rewrite rcode`: a reply's rcode `old` becomes `new`. A record rule that leaves records alone:
    `restore` applies it to the header, once per record (as CoreDNS), once when there are none."""

    __slots__ = ("new", "old")

    def __init__(self, old: int, new: int) -> None:
        self.old, self.new = old, new

    def __call__(self, rr: dnslib.RR) -> None:
        return None


def type_code(text: str) -> int:
    """A record type's code from its name (`A`, `AAAA`, `ANY`, `TYPE65`); ValueError otherwise."""
    upper = text.upper()
    if upper == "ANY":
        return 255
    code = dnslib.QTYPE.reverse.get(upper)
    if code is None and upper.startswith("TYPE") and upper[4:].isdigit():
        code = int(upper[4:])
    if code is None or not 0 < code < 65536:
        raise ValueError(f"unknown record type {text!r}")
    return int(code)


def type_name(code: int) -> str:
    return "ANY" if code == 255 else str(dnslib.QTYPE.get(code, f"TYPE{code}"))


def class_code(text: str) -> int:
    code = CLASSES.get(text.upper())
    if code is None:
        raise ValueError(f"unknown class {text!r}: expected one of {', '.join(CLASSES)}")
    return code


def rcode_code(text: str) -> int:
    """An rcode from its name (`NXDOMAIN`) or number; ValueError otherwise."""
    if text.isdigit() and int(text) < 16:
        return int(text)
    code = dnslib.RCODE.reverse.get(text.upper())
    if code is None:
        raise ValueError(f"unknown rcode {text!r}")
    return int(code)


def fqdn(text: str) -> str:
    """`plugin.Name.Normalize`: lower case, with the trailing dot."""
    text = text.lower()
    return text if text.endswith(".") else text + "."


def name_of(query: Query) -> str:
    """The question's name as lower-case FQDN text (`www.example.org.`, `.` for the root)."""
    labels = [label.decode("latin-1").lower() for label in query.labels]
    return ".".join(labels) + "." if labels else "."


def wire_of(name: str) -> bytes:
    """The wire form of FQDN text; ValueError when it is not a domain name."""
    if name == ".":
        return b"\x00"
    if not name.endswith(".") or ".." in name:
        raise ValueError(f"{name!r} is not a domain name")
    out = b""
    for label in name[:-1].split("."):
        raw = label.encode("latin-1", errors="replace")
        if not 0 < len(raw) < 64:
            raise ValueError(f"{name!r} has a label of {len(raw)} bytes")
        out += bytes((len(raw),)) + raw
    if len(out) > 254:
        raise ValueError(f"{name!r} is longer than 255 bytes")
    return out + b"\x00"


def in_zones(zones: Sequence[str], name: str) -> str | None:
    """`plugin.Zones.Matches`: the longest of `zones` that `name` is in (or is), None when none."""
    best = None
    for zone in zones:
        if (zone in (".", name) or name.endswith("." + zone)) and (best is None or len(zone) > len(best)):
            best = zone
    return best


def requery(query: Query, name: str, qtype: int, qclass: int) -> Query:
    """`query` asking another question (name as FQDN text); ValueError for a name that is not one."""
    question = wire_of(name) + struct.pack("!HH", qtype, qclass)
    return Query(query.qid, query.flags, question, query.edns_size, query.edns_version, query.do)


def limit_of(query: Query, max_udp: int, *, tcp: bool) -> int:
    """The largest reply the client takes: 65535 over TCP, its EDNS size capped at ours, else 512."""
    if tcp:
        return 65535
    return min(query.edns_size, max_udp) if query.edns_size else 512


def reply(
    query: Query,
    rcode: int,
    answer: Sequence[dnslib.RR] = (),
    authority: Sequence[dnslib.RR] = (),
    additional: Sequence[dnslib.RR] = (),
    *,
    opt: bytes = b"",
    limit: int = 512,
) -> bytes:
    """An authoritative reply to `query` with its question as spelled and our `opt`; over `limit`
    bytes, TC set and no records."""
    flags = QR | AA | (query.flags & RD) | rcode
    body = b""
    if answer or authority or additional:
        msg = dnslib.DNSRecord(dnslib.DNSHeader(), q=_question(query))
        msg.rr, msg.auth, msg.ar = list(answer), list(authority), list(additional)
        packed = msg.pack()
        body = packed[12 + len(query.question) :]
    counts = (len(answer), len(authority), len(additional) + (1 if opt else 0))
    out = query.qid + struct.pack("!HHHHH", flags, 1, *counts) + query.question + body + opt
    if len(out) > limit:
        counts = (0, 0, 1 if opt else 0)
        out = query.qid + struct.pack("!HHHHH", flags | TC, 1, *counts) + query.question + opt
    return out


def _question(query: Query) -> dnslib.DNSQuestion:
    return dnslib.DNSQuestion(dnslib.DNSLabel(list(query.labels)), query.qtype, query.qclass)


def restore(data: bytes, original: Query, rules: Sequence[RecordRule], limit: int) -> bytes:
    """A reply to a rewritten question given back the client's question, its records rewritten by
    `rules` (applied in reverse order, authority, answer, additional, OPT left alone; `RcodeRule`s to
    the header, once for each record, OPT included, as CoreDNS); over `limit` bytes, TC set and no
    records. A reply that does not parse comes back as it was."""
    try:
        msg = dnslib.DNSRecord.parse(data)
    except (dnslib.DNSError, ValueError, IndexError, struct.error):
        return data
    msg.questions = [_question(original)]
    for rr in (*msg.auth, *msg.rr, *msg.ar):
        if rr.rtype == OPT:
            continue
        for rule in reversed(rules):
            rule(rr)
    rcodes = [rule for rule in reversed(rules) if isinstance(rule, RcodeRule)]
    for _ in range(max(1, len(msg.auth) + len(msg.rr) + len(msg.ar)) if rcodes else 0):
        for rcode in rcodes:
            if msg.header.rcode == rcode.old:
                msg.header.rcode = rcode.new
    out = bytes(msg.pack())
    out = out[:12] + original.question + out[12 + len(original.question) :]
    if len(out) <= limit:
        return out
    opts = [rr for rr in msg.ar if rr.rtype == OPT]
    msg.rr, msg.auth, msg.ar = [], [], opts
    msg.header.tc = 1
    out = bytes(msg.pack())
    return out[:12] + original.question + out[12 + len(original.question) :]
