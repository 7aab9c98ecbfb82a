"""Answer spot-check: send a sample of the benchmark queries and compare with the zone files.

A reply matches when its rcode and the set of answer rdata for the question's name and type equal
what the zone files imply (NXDOMAIN for a missing name, NOERROR with no data for an empty
non-terminal or a missing type). This is how the benchmark knows that petdns and the peers are
measured answering the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
from cluster import ZONE
from procs import LOCALHOST
from servers import REVERSE_ZONE

Answer = tuple[int, frozenset[str]]
TIME_LIMIT_S = 60.0  # the whole check stops after this long
MAX_SILENT = 10  # or after this many queries without an answer


@dataclass
class Zones:
    zones: list[dns.zone.Zone]
    empty_non_terminals: set[dns.name.Name]

    def expected(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer | None:
        """(rcode, rdata texts) the zone files give, or None for a name outside them."""
        for zone in self.zones:
            if zone.origin is None or not name.is_subdomain(zone.origin):
                continue
            node = zone.get_node(name)
            if node is None:
                exists = name in self.empty_non_terminals
                return (dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN), frozenset()
            rds = node.get_rdataset(dns.rdataclass.IN, rdtype)
            return dns.rcode.NOERROR, frozenset(r.to_text().lower() for r in rds) if rds else frozenset()
        return None


def load_zones(cluster_dir: Path) -> Zones:
    zones = [
        dns.zone.from_file(str(cluster_dir / f"{origin}.zone"), origin=origin, relativize=False)
        for origin in (ZONE, REVERSE_ZONE)
    ]
    ents: set[dns.name.Name] = set()
    for zone in zones:
        for owner in zone.nodes:
            parent = owner
            while parent != zone.origin and len(parent) > 1:
                parent = parent.parent()
                if parent in zone.nodes or parent in ents:
                    break
                ents.add(parent)
    return Zones(zones, ents)


@dataclass
class CheckResult:
    checked: int = 0
    mismatches: int = 0
    unanswered: int = 0
    stopped_early: bool = False
    examples: list[str] = field(default_factory=list)


def ask(port: int, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    reply = dns.query.udp(query, LOCALHOST, port=port, timeout=2)
    if reply.flags & dns.flags.TC:
        reply = dns.query.tcp(query, LOCALHOST, port=port, timeout=2)
    got = frozenset(
        rd.to_text().lower()
        for rrset in reply.answer
        if rrset.name == name and rrset.rdtype == rdtype
        for rd in rrset
    )
    return reply.rcode(), got


def describe(answer: Answer) -> str:
    rcode, rdata = answer
    shown = ", ".join(sorted(rdata)[:3]) + (" ..." if len(rdata) > 3 else "")
    return f"{dns.rcode.to_text(dns.rcode.Rcode(rcode))} [{len(rdata)}: {shown}]"


def check(port: int, zones: Zones, queries: Path, count: int, max_examples: int = 5) -> CheckResult:
    """Send the first ``count`` queries of ``queries`` to 127.0.0.1:port and compare each reply."""
    result = CheckResult()
    with queries.open() as f:
        lines = [line.split() for _, line in zip(range(count), f, strict=False)]
    deadline = time.monotonic() + TIME_LIMIT_S
    for qname, qtype in lines:
        if time.monotonic() > deadline or result.unanswered >= MAX_SILENT:
            result.stopped_early = True
            break
        name, rdtype = dns.name.from_text(qname), dns.rdatatype.from_text(qtype)
        want = zones.expected(name, rdtype)
        if want is None:
            continue
        result.checked += 1
        try:
            got = ask(port, name, rdtype)
        except (dns.exception.DNSException, OSError) as e:
            result.unanswered += 1
            problem = f"no answer ({type(e).__name__})"
        else:
            if got == want:
                continue
            problem = f"got {describe(got)}, want {describe(want)}"
        result.mismatches += 1
        if len(result.examples) < max_examples:
            result.examples.append(f"{qname} {qtype}: {problem}")
    return result
