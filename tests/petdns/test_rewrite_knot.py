"""rewrite of forwarded names against a real Knot DNS on loopback: the client gets Knot's records
under its own name, over UDP and TCP; `rcode` rules turn Knot's NXDOMAIN for a name into NOERROR."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator

import dns.asyncquery
import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, parse_upstream
from petdns.plugins.chain import Plugins
from petdns.serve.transport import DnsServer
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import SETTINGS, objects
from tests.support.knot import running

HOST = "127.0.0.1"
ZONE = """$ORIGIN example.org.
$TTL 300
@      SOA   ns.example.org. host.example.org. 1 7200 1800 86400 60
@      NS    ns
ns     A     127.0.0.1
www    A     192.0.2.80
www    AAAA  2001:db8::80
alias  CNAME www
"""
RULES = [
    "name exact www.corp.example. www.example.org. answer auto",
    "name suffix .corp.example. .example.org. answer auto",
    "rcode exact gone.example.org. NXDOMAIN NOERROR",
]


def _answered(port: int) -> bool:
    try:
        reply = dns.query.udp(dns.message.make_query("www.example.org", "A"), HOST, port=port, timeout=0.2)
    except (OSError, dns.exception.Timeout):
        return False
    return reply.rcode() == dns.rcode.NOERROR


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running(tmp_path_factory.mktemp("knot"), {"example.org": ZONE}, _answered) as (_, port):
        yield port


@contextlib.asynccontextmanager
async def petdns(knot_port: int) -> AsyncIterator[int]:
    settings = dataclasses.replace(SETTINGS["default"], plugins=Plugins(RULES))
    zone = RenderedZone(settings, clock=lambda: FIXED_NOW)
    zone.load(objects())
    routes = Routes((parse_upstream(f"{HOST}:{knot_port}"),), {})
    server = DnsServer(zone, [(HOST, 0)], forwarder=Forwarder(ForwardConfig(routes, timeout=2.0)))
    await server.start()
    try:
        yield server.bound[0][1]
    finally:
        await server.stop()


def _records(reply: dns.message.Message) -> set[tuple[str, str, str]]:
    return {
        (str(rrset.name), dns.rdatatype.to_text(rrset.rdtype), r.to_text())
        for rrset in reply.answer
        for r in rrset
    }


@pytest.mark.parametrize("tcp", [False, True])
async def test_knots_records_under_the_clients_name(knot: int, tcp: bool) -> None:
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    async with petdns(knot) as port:
        for name, qtype, expected in [
            ("www.corp.example.", "A", {("www.corp.example.", "A", "192.0.2.80")}),
            ("WWW.Corp.Example.", "AAAA", {("www.corp.example.", "AAAA", "2001:db8::80")}),
            (
                "alias.corp.example.",
                "A",
                {
                    ("alias.corp.example.", "CNAME", "www.corp.example."),
                    ("www.corp.example.", "A", "192.0.2.80"),
                },
            ),
        ]:
            for _ in range(2):  # the second from the forwarder's cache
                query = dns.message.make_query(name, qtype, use_edns=0)
                reply = await send(query, HOST, port=port, timeout=5)
                assert reply.id == query.id and reply.rcode() == dns.rcode.NOERROR, reply
                assert (
                    str(reply.question[0].name) == name
                    and reply.question[0].rdtype == query.question[0].rdtype
                )
                assert {(o.lower(), t, v.lower()) for o, t, v in _records(reply)} == expected
        # a name Knot does not have: its NXDOMAIN under the client's question (the SOA's owner, the
        # zone apex, is not under the suffix: it stays Knot's, as in CoreDNS)
        reply = await send(dns.message.make_query("nope.corp.example.", "A"), HOST, port=port, timeout=5)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert str(reply.question[0].name) == "nope.corp.example."
        assert [str(rrset.name) for rrset in reply.authority] == ["example.org."]


@pytest.mark.parametrize("tcp", [False, True])
async def test_an_rcode_rule_turns_knots_nxdomain_into_noerror(knot: int, tcp: bool) -> None:
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    async with petdns(knot) as port:
        gone = await send(dns.message.make_query("gone.example.org.", "A"), HOST, port=port, timeout=5)
        assert gone.rcode() == dns.rcode.NOERROR and not gone.answer
        assert str(gone.question[0].name) == "gone.example.org."
        other = await send(dns.message.make_query("other.example.org.", "A"), HOST, port=port, timeout=5)
        assert other.rcode() == dns.rcode.NXDOMAIN
