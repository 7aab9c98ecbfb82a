"""The DNS table through the pure lookup and through the rendered zone (fast path and full path)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
import pytest

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.schema.lookup import lookup
from petdns.schema.records import RR
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, Case
from tests.support.dnsmsg import check, expected, full_reply
from tests.support.loops import LOOPS, fast_answer


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


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("edns", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rendered_zone(case: Case, edns: bool, loop: str, zones: dict[str, RenderedZone]) -> None:
    zone = zones[case.settings]
    query = dns.message.make_query(case.name, case.qtype, use_edns=0 if edns else False, payload=1232)
    wire = query.to_wire()
    fast, full = fast_answer(loop, zone, wire), full_reply(zone, wire)
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


# The rows the fast path answers (71 of 89): the comparisons above only cover these, so a fast path
# that stops taking some of them must fail here rather than silently fall back to the full path.
FAST_ROWS = frozenset(
    {
        "default:A:web-0.nginx.default.svc.cluster.local",
        "default:A:web-1.nginx.default.svc.cluster.local",
        "default:A:web-2.nginx.default.svc.cluster.local",
        "default:AAAA:web-0.nginx.default.svc.cluster.local",
        "default:SOA:web-0.nginx.default.svc.cluster.local",
        "default:TXT:web-0.nginx.default.svc.cluster.local",
        "default:A:web-9.nginx.default.svc.cluster.local",
        "default:A:nginx.default.svc.cluster.local",
        "default:AAAA:nginx.default.svc.cluster.local",
        "default:CNAME:nginx.default.svc.cluster.local",
        "default:SRV:_web._tcp.nginx.default.svc.cluster.local",
        "default:SRV:web.tcp.nginx.default.svc.cluster.local",
        "default:A:_web._tcp.nginx.default.svc.cluster.local",
        "default:SRV:_web._udp.nginx.default.svc.cluster.local",
        "default:SRV:_http._tcp.nginx.default.svc.cluster.local",
        "default:SRV:_tcp.nginx.default.svc.cluster.local",
        "default:SRV:_web._tcp.web-0.nginx.default.svc.cluster.local",
        "default:A:a.b.c.nginx.default.svc.cluster.local",
        "default:A:peer-0.peers.apps.svc.cluster.local",
        "default:AAAA:peer-0.peers.apps.svc.cluster.local",
        "default:AAAA:peer-1.peers.apps.svc.cluster.local",
        "default:AAAA:peers.apps.svc.cluster.local",
        "default:SRV:_gossip._tcp.peers.apps.svc.cluster.local",
        "default:A:10-244-4-30.nohost.default.svc.cluster.local",
        "default:A:nohost-abc.nohost.default.svc.cluster.local",
        "podnames:A:nohost-abc.nohost.default.svc.cluster.local",
        "podnames:A:10-244-4-30.nohost.default.svc.cluster.local",
        "default:SRV:_http._tcp.nohost.default.svc.cluster.local",
        "default:A:lonely.default.svc.cluster.local",
        "default:A:lonely-0.lonely.default.svc.cluster.local",
        "default:A:noports.default.svc.cluster.local",
        "default:SRV:noports.default.svc.cluster.local",
        "default:A:np-0.noports.default.svc.cluster.local",
        "default:A:api.default.svc.cluster.local",
        "default:AAAA:api.default.svc.cluster.local",
        "default:TXT:api.default.svc.cluster.local",
        "default:SRV:_http._tcp.api.default.svc.cluster.local",
        "default:SRV:_dns._udp.api.default.svc.cluster.local",
        "default:SRV:_dns._tcp.api.default.svc.cluster.local",
        "default:SRV:api.default.svc.cluster.local",
        "default:A:x.api.default.svc.cluster.local",
        "default:A:be-0.backend.default.svc.cluster.local",
        "default:A:backend.default.svc.cluster.local",
        "default:A:www.ext.default.svc.cluster.local",
        "default:SRV:_http._tcp.ext.default.svc.cluster.local",
        "default:A:ipext.default.svc.cluster.local",
        "default:PTR:10.0.244.10.in-addr.arpa",
        "default:PTR:10.0.96.10.in-addr.arpa",
        "default:PTR:0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa",
        "default:PTR:70.8.244.10.in-addr.arpa",
        "ptrpets:PTR:70.8.244.10.in-addr.arpa",
        "ptrpets:PTR:10.0.96.10.in-addr.arpa",
        "ptrpets:PTR:10.0.244.10.in-addr.arpa",
        "default:PTR:12.2.244.10.in-addr.arpa",
        "default:PTR:1.1.1.1.in-addr.arpa",
        "default:A:10.0.244.10.in-addr.arpa",
        "default:SOA:in-addr.arpa",
        "default:A:default.svc.cluster.local",
        "default:A:quiet.svc.cluster.local",
        "default:A:missing.svc.cluster.local",
        "default:A:svc.cluster.local",
        "default:A:pod.cluster.local",
        "default:SOA:cluster.local",
        "default:NS:cluster.local",
        "default:A:cluster.local",
        "default:TXT:cluster.local",
        "default:A:ns.dns.cluster.local",
        "default:TXT:dns-version.cluster.local",
        "default:A:dns-version.cluster.local",
        "default:A:foo.cluster.local",
        "default:A:nginx.default.cluster.local",
        "default:A:10-244-0-10.default.pod.cluster.local",
        "default:A:default.pod.cluster.local",
        "insecure:A:default.pod.cluster.local",
    }
)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("edns", [False, True])
def test_fast_path_takes_the_pinned_rows(edns: bool, loop: str, zones: dict[str, RenderedZone]) -> None:
    taken = set()
    for case in CASES:
        zone = zones[case.settings]
        wire = dns.message.make_query(
            case.name, case.qtype, use_edns=0 if edns else False, payload=1232
        ).to_wire()
        fast = fast_answer(loop, zone, wire)
        if fast is not None:
            taken.add(case.id)
            assert fast == full_reply(zone, wire), case.id
    assert taken == FAST_ROWS
    assert len(FAST_ROWS) == 74 and len(CASES) == 92
