"""Helpers to read dnspython messages as the table's zone-file lines."""

from __future__ import annotations

import dns.message
import dns.rdatatype
import dns.rrset

from petdns.answer.dispatch import Outside, full
from petdns.answer.zone import RenderedZone
from tests.support.dns_table import Case


def full_reply(zone: RenderedZone, wire: bytes, *, tcp: bool = False) -> bytes | None:
    """The full path's reply to a query, without forwarding (a name outside the zones: REFUSED)."""
    out = full(zone, wire, tcp=tcp)
    return out.local if isinstance(out, Outside) else out


def lines(rrsets: list[dns.rrset.RRset]) -> frozenset[str]:
    """Each record as `owner. ttl IN TYPE rdata`, owner lower-cased."""
    return frozenset(
        f"{rrset.name.to_text().lower()} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}"
        for rrset in rrsets
        for rd in rrset
    )


def expected(case: Case, serial: int) -> frozenset[str]:
    """The case's answer lines with the zone serial filled in."""
    return frozenset(line.replace("SERIAL", str(serial)) for line in case.answer)


def check(case: Case, reply: dns.message.Message, serial: int) -> None:
    """Assert a reply matches the row: rcode, answer, authority SOA on negatives, additional if given."""
    assert reply.rcode() == case.rcode, case.id
    assert lines(reply.answer) == expected(case, serial), case.id
    if case.rcode == 5:
        return
    assert reply.flags & dns.flags.AA, case.id
    if not case.answer:
        (soa,) = reply.authority
        assert soa.rdtype == dns.rdatatype.SOA, case.id
        assert soa[0].minimum == 5 and soa[0].serial == serial, case.id
    if case.additional is not None:
        assert lines(reply.additional) == case.additional, case.id
