"""rewrite: questions rewritten before the zones and the forwarder, answers given back the client's name."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, parse_upstream
from petdns.plugins.chain import Plugins
from petdns.plugins.rewrite import Question, RuleError, parse_rule
from petdns.serve.transport import DnsServer
from petdns.settings import config_file
from petdns.settings.options import OptionError, build
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import NGINX, SETTINGS, objects
from tests.support.resolver import ScriptedResolver

RULES = [
    "continue type AAAA A",
    "name exact web.example.com. web-0." + NGINX,
    r"name regex (.*)\.corp\.example {1}.default.svc.cluster.local answer auto",
    "stop name suffix .schmoogle.test .example.test answer auto",
]


def zone_with(plugins: Plugins) -> RenderedZone:
    zone = RenderedZone(dataclasses.replace(SETTINGS["default"], plugins=plugins), clock=lambda: FIXED_NOW)
    zone.load(objects())
    return zone


@pytest.mark.parametrize(
    ("rule", "name", "qtype", "expected"),
    [
        ("name exact a.test b.test", "a.test.", 1, "b.test."),
        ("name exact a.test b.test", "x.a.test.", 1, None),
        ("name prefix www. web.", "www.x.test.", 1, "web.x.test."),
        ("name suffix .corp .svc.cluster.local", "a.b.corp.", 1, "a.b.svc.cluster.local."),
        ("name substring corp svc", "a.corp.test.", 1, "a.svc.test."),
        (r"name regex ^(\w+)-(\d)\.x\. {2}.{1}.y", "web-1.x.", 1, "1.web.y."),
        ("type ANY HINFO", "a.", 255, "a."),
    ],
)
def test_rule_table(rule: str, name: str, qtype: int, expected: str | None) -> None:
    q = Question(name, qtype, 1)
    records = parse_rule(rule).apply(q)
    assert (None if records is None else q.name) == expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("edns0 local set 0xffee abc", "edns0 rules are not supported"),
        ("cname exact a. b.", "cname rules are not supported"),
        ("name regex ([ x", "invalid regex"),
        ("name regex (a) {2}", "more groups"),
        ("type A BOGUS", "unknown record type"),
        ("name exact a b answer bogus x y", "answer bogus"),
        ("frobnicate a b", "invalid rule type"),
    ],
)
def test_bad_rules_are_named(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=message) as err:
        parse_rule(rule)
    assert rule in str(err.value)


def test_config_errors_name_the_key() -> None:
    values = config_file.merge({"rewrite": ["edns0 local set 1 2"], "objects": ["x"], "no_forward": True}, {})
    with pytest.raises(OptionError) as err:
        build(values, connect=False)
    assert err.value.key == "rewrite" and "edns0" in err.value.message


def _ask(zone: RenderedZone, name: str, qtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(name, qtype)
    wire = dispatch(zone, query.to_wire())
    assert isinstance(wire, bytes)
    return dns.message.from_wire(wire)


def test_cluster_names_through_a_rewrite_answer_with_the_clients_name() -> None:
    zone = zone_with(Plugins(RULES))
    reply = _ask(zone, "web.example.com")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [str(r.name) for r in reply.answer] == ["web.example.com."]
    assert str(reply.question[0].name) == "web.example.com."
    assert {r.address for r in reply.answer[0]} == {"10.244.0.10"}
    # the continue rule first (AAAA asked as A), then regex + answer auto
    reply = _ask(zone, "nginx.corp.example", "AAAA")
    assert reply.question[0].rdtype == dns.rdatatype.AAAA
    assert {str(r.name) for r in reply.answer} == {"nginx.corp.example."}


def test_names_the_rules_do_not_touch_answer_as_without_plugins() -> None:
    plain = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    plain.load(objects())
    zone = zone_with(Plugins(RULES[1:]))
    for name, qtype in [
        (f"web-0.{NGINX}", "A"),
        (f"web-2.{NGINX}", "A"),
        (f"web-0.{NGINX}", "TXT"),
        ("x.cluster.local", "A"),
    ]:
        query = dns.message.make_query(name, qtype).to_wire()
        assert dispatch(zone, query) == dispatch(plain, query)


@contextlib.asynccontextmanager
async def serving(zone: RenderedZone, upstream: ScriptedResolver) -> AsyncIterator[int]:
    routes = Routes((parse_upstream(upstream.address),), {})
    server = DnsServer(zone, [("127.0.0.1", 0)], forwarder=Forwarder(ForwardConfig(routes, timeout=1.0)))
    await server.start()
    try:
        yield server.bound[0][1]
    finally:
        await server.stop()


@pytest.mark.parametrize("tcp", [False, True])
async def test_a_forwarded_name_is_rewritten_and_given_back(tcp: bool) -> None:
    upstream = await ScriptedResolver().start()
    upstream.add("www.example.test. 300 IN A 192.0.2.7", "alias.example.test. 300 IN CNAME www.example.test.")
    try:
        async with serving(zone_with(Plugins(RULES)), upstream) as port:
            send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
            for _ in range(2):  # the second from the cache
                query = dns.message.make_query("WWW.schmoogle.test", "A")
                reply = await send(query, "127.0.0.1", port=port, timeout=5)
                assert reply.id == query.id and reply.rcode() == dns.rcode.NOERROR
                assert str(reply.question[0].name) == "WWW.schmoogle.test."
                assert [(str(r.name), r[0].address) for r in reply.answer] == [
                    ("www.schmoogle.test.", "192.0.2.7")
                ]
    finally:
        await upstream.stop()
