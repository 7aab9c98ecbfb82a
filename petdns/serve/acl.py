"""Query access control as CoreDNS's `acl` plugin (pure): rules on name, type and client network.

`acl [ZONES...] { allow|block|filter|drop [type TYPES...] [net NETS...] }`: each rule applies to names
in its zones (none: every name), of its types (none or `*`: every type), from its networks (none or
`*`: every client). The first matching rule decides: `allow` answers as usual, `block` is REFUSED,
`filter` an empty NOERROR, `drop` no reply. No rule matching allows. Every query is judged before
any lookup, cluster names and forwarded ones alike.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import dnslib

from petdns.dns.constants import NOERROR, OPCODE, QR, REFUSED
from petdns.dns.query import MalformedQuery, Query, parse_plain, parse_query
from petdns.dns.wire import error_reply, opt_record
from petdns.forward.acl import Acl

ALLOW: Final = "allow"
BLOCK: Final = "block"
FILTER: Final = "filter"
DROP: Final = "drop"
ACTIONS: Final = (ALLOW, BLOCK, FILTER, DROP)
ANY_CLIENT: Final = ("0.0.0.0/0", "::/0")


def _wire(zone: str) -> bytes:
    name = zone.strip().lower().rstrip(".")
    if not name:
        return b"\x00"
    labels = name.split(".")
    if any(not label or len(label) > 63 for label in labels):
        raise ValueError(f"{zone!r} is not a zone name")
    return b"".join(bytes((len(label),)) + label.encode() for label in labels) + b"\x00"


def type_code(text: str) -> int:
    """A type mnemonic (`A`, `AAAA`, `HINFO`, ...) or `TYPEnnn`."""
    upper = text.strip().upper()
    if upper.startswith("TYPE") and upper[4:].isdigit() and int(upper[4:]) < 65536:
        return int(upper[4:])
    code = dnslib.QTYPE.reverse.get(upper)
    if code is None:
        raise ValueError(f"{text!r} is not a record type")
    return int(code)


@dataclass(frozen=True, slots=True)
class AclRule:
    """One rule: its action, zones (none: all), record types and client networks (none or `*`: all)."""

    action: str
    zones: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    nets: tuple[str, ...] = ()


class _Compiled:
    __slots__ = ("action", "nets", "types", "zones")

    def __init__(self, rule: AclRule) -> None:
        if rule.action not in ACTIONS:
            raise ValueError(f"acl action {rule.action!r} is not one of {', '.join(ACTIONS)}")
        self.action = rule.action
        self.zones = frozenset(_wire(z) for z in rule.zones)
        types = [t for t in rule.types if t.strip() != "*"]
        self.types = None if not types or len(types) < len(rule.types) else frozenset(map(type_code, types))
        nets = [n for n in rule.nets if n.strip() != "*"]
        self.nets = None if not nets or len(nets) < len(rule.nets) else Acl(nets)

    def matches(self, name: bytes, qtype: int, host: str) -> bool:
        if self.types is not None and qtype not in self.types:
            return False
        if self.zones and not _in(name, self.zones):
            return False
        return self.nets is None or self.nets.allows(host)


def _in(name: bytes, zones: frozenset[bytes]) -> bool:
    i = 0
    while i < len(name):
        if name[i:] in zones:
            return True
        if name[i] == 0:
            break
        i += name[i] + 1
    return False


class QueryAcl:
    """The rules in order; `judge` a query. Counters by action are plain attributes (`counts`)."""

    def __init__(self, rules: Sequence[AclRule]) -> None:
        self.rules = tuple(rules)
        self._compiled = tuple(_Compiled(r) for r in self.rules)
        self.counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)

    def action(self, name: bytes, qtype: int, host: str) -> str:
        """The action for a lower-case wire name and type asked by `host`."""
        for rule in self._compiled:
            if rule.matches(name, qtype, host):
                return rule.action
        return ALLOW

    def judge(self, data: bytes, host: str, max_udp: int) -> tuple[str, bytes | None]:
        """The action for one message and, for `block` and `filter`, the reply; messages that are not
        well-formed queries are allowed (the usual path answers them: FORMERR, NOTIMP, nothing)."""
        query = _parse(data)
        if query is None:
            return ALLOW, None
        action = self.action(query.name, query.qtype, host)
        self.counts[action] += 1
        if action in (ALLOW, DROP):
            return action, None
        reply = error_reply(query.qid, query.flags, REFUSED if action == BLOCK else NOERROR, query.question)
        if query.edns_size:
            reply = reply[:10] + b"\x00\x01" + reply[12:] + opt_record(max_udp, query.do)
        return action, reply

    def __repr__(self) -> str:
        return f"QueryAcl({len(self.rules)} rules)"


def _parse(data: bytes) -> Query | None:
    if len(data) < 12 or struct.unpack_from("!H", data, 2)[0] & (QR | OPCODE):
        return None
    plain = parse_plain(data)
    if plain is not None:
        return plain
    try:
        return parse_query(data)
    except MalformedQuery:
        return None
