"""rewrite rcode rules and the continue-only corner of giving the client its question back."""

from __future__ import annotations

import dataclasses

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.plugins.chain import Plugins
from petdns.plugins.message import RcodeRule
from petdns.plugins.rewrite import Question, RuleError, parse_rule
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import NGINX, SETTINGS, objects


def _ask(plugins: Plugins, name: str, qtype: str = "A") -> dns.message.Message:
    zone = RenderedZone(dataclasses.replace(SETTINGS["default"], plugins=plugins), clock=lambda: FIXED_NOW)
    zone.load(objects())
    wire = dispatch(zone, dns.message.make_query(name, qtype).to_wire())
    assert isinstance(wire, bytes)
    return dns.message.from_wire(wire)


@pytest.mark.parametrize(
    ("rule", "name", "codes"),
    [
        ("rcode a.test SERVFAIL NOERROR", "a.test.", (2, 0)),
        ("rcode exact a.test 2 0", "b.test.", None),
        ("continue rcode suffix .test. NXDOMAIN NOERROR", "x.a.test.", (3, 0)),
        (r"stop rcode regex (.*)\.coredns\.rocks SERVFAIL NOERROR", "a.coredns.rocks.", (2, 0)),
        ("rcode prefix www. REFUSED NXDOMAIN", "www.x.", (5, 3)),
        ("rcode substring corp SERVFAIL NXDOMAIN", "a.corp.x.", (2, 3)),
    ],
)
def test_rcode_rule_table(rule: str, name: str, codes: tuple[int, int] | None) -> None:
    q = Question(name, 1, 1)
    records = parse_rule(rule).apply(q)
    assert q.name == name  # the question stays
    found = None if records is None else [(r.old, r.new) for r in records if isinstance(r, RcodeRule)]
    assert found == (None if codes is None else [codes])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("rcode a.test BOGUS NOERROR", "invalid matching rcode"),
        ("rcode a.test SERVFAIL 99", "invalid replacement rcode"),
        ("rcode a.test SERVFAIL", "rcode rules are"),
        ("rcode fuzzy a.test 2 0", "rcode rules are"),
        ("rcode regex ([ 2 0", "invalid regex"),
    ],
)
def test_bad_rcode_rules_are_named(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=message) as err:
        parse_rule(rule)
    assert rule in str(err.value)


def test_an_rcode_rule_rewrites_a_templates_servfail() -> None:
    plugins = Plugins(
        ["rcode suffix .broken.test SERVFAIL NXDOMAIN"],
        templates=[
            {"zones": ["broken.test"], "rcode": "SERVFAIL"},
            {"zones": ["other.test"], "rcode": "SERVFAIL"},
        ],
    )
    reply = _ask(plugins, "A.Broken.test")
    assert reply.rcode() == dns.rcode.NXDOMAIN and str(reply.question[0].name) == "A.Broken.test."
    assert _ask(plugins, "a.other.test").rcode() == dns.rcode.SERVFAIL
    # a cluster name's NXDOMAIN, not SERVFAIL: the rule leaves it
    plugins = Plugins(["rcode suffix .cluster.local SERVFAIL NOERROR"])
    assert _ask(plugins, "nope.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN


def test_only_continue_rules_without_record_rules_keep_the_rewritten_question() -> None:
    name = f"web-0.{NGINX}"
    reply = _ask(Plugins(["continue type AAAA A"]), name, "AAAA")
    assert reply.question[0].rdtype == dns.rdatatype.A  # as CoreDNS: no reverter for this reply
    assert reply.answer and reply.answer[0].rdtype == dns.rdatatype.A
    for rules in (["type AAAA A"], ["continue type AAAA A", "continue ttl exact " + name + " 30"]):
        reply = _ask(Plugins(rules), name, "AAAA")
        assert reply.question[0].rdtype == dns.rdatatype.AAAA  # a stop rule, or a record rule: given back
        assert reply.answer[0].rdtype == dns.rdatatype.A
