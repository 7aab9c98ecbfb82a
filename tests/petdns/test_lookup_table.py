"""The DNS table through the pure lookup and through the rendered zone (fast path and full path)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
import pytest

from petdns.answer import fastpath
from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.schema.lookup import lookup
from petdns.schema.records import RR
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, Case
from tests.support.dnsmsg import check, expected, full_reply


def _text(rrs: tuple[RR, ...]) -> frozenset[str]:
    return frozenset(r.to_text() for r in rrs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pure_lookup(case: Case, zones: dict[str, RenderedZone]) -> None:
    zone = zones[case.settings]
    response = lookup(zone.catalog, zone.settings, case.name, dns.rdatatype.from_text(case.qtype))
    if case.rcode == 5:
        assert response is None
        return
    assert response is not None
    assert response.rcode == case.rcode
    assert _text(response.answer) == expected(case, FIXED_NOW)
    if not case.answer:
        (soa,) = response.authority
        assert soa.rdata[-1] == 5 and soa.rdata[2] == FIXED_NOW
    if case.additional is not None:
        assert _text(response.additional) == case.additional


@pytest.mark.parametrize("edns", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rendered_zone(case: Case, edns: bool, zones: dict[str, RenderedZone]) -> None:
    zone = zones[case.settings]
    query = dns.message.make_query(case.name, case.qtype, use_edns=0 if edns else False, payload=1232)
    wire = query.to_wire()
    fast, full = fastpath.answer(zone, wire), full_reply(zone, wire)
    assert full is not None
    reply = dns.message.from_wire(full)
    check(case, reply, FIXED_NOW)
    assert reply.id == query.id and reply.question == query.question
    assert (reply.edns >= 0) == edns
    if fast is not None:
        fast_reply = dns.message.from_wire(fast)
        assert fast_reply == reply
        assert fast_reply.flags == reply.flags and fast_reply.additional == reply.additional


@pytest.mark.parametrize("case", [c for c in CASES if c.rcode == 0 and c.answer], ids=lambda c: c.id)
def test_case_is_echoed(case: Case, zones: dict[str, RenderedZone]) -> None:
    zone = zones[case.settings]
    mixed = "".join(ch.upper() if i % 2 else ch for i, ch in enumerate(case.name))
    query = dns.message.make_query(mixed, case.qtype)
    reply = dispatch(zone, query.to_wire())
    assert reply is not None
    msg = dns.message.from_wire(reply)
    assert msg.question[0].name.to_text() == mixed + "."
    for rrset in msg.answer:
        if rrset.name.to_text().lower() == case.name + ".":
            assert rrset.name.to_text() == mixed + "."
