"""template: answers made from a regex match, CoreDNS's common patterns, errors naming the placeholder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dns.message
import dns.rcode
import dns.resolver
import pytest

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.plugins.chain import Plugins
from petdns.plugins.template import TemplateError, build_template
from petdns.settings import config_file
from petdns.settings.options import build
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import NGINX, SETTINGS, objects

TEMPLATES: list[dict[str, object]] = [
    {  # search-path junk: NXDOMAIN without asking anyone
        "class": "IN", "type": "ANY", "zones": ["cluster.local"],
        "match": [r"^(.*)\.svc\.cluster\.local\.(.+)\.cluster\.local\.$"],
        "rcode": "NXDOMAIN",
        "authority": ["{{ .Zone }} 60 IN SOA ns.dns.{{ .Zone }} hostmaster.{{ .Zone }} (1 60 60 60 60)"],
        "fallthrough": [],
    },
    {
        "class": "IN", "type": "A", "zones": ["example."],
        "match": [r"^ip-(?P<a>\d+)-(?P<b>\d+)-(?P<c>\d+)-(?P<d>\d+)[.]example[.]$"],
        "answer": ["{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ index .Match 3 }}.{{ .Group.d }}"],
    },
    {"class": "IN", "type": "AAAA", "zones": ["example."], "rcode": "NXDOMAIN"},
]  # fmt: skip


def _zone(templates: list[dict[str, object]]) -> RenderedZone:
    settings = dataclasses.replace(SETTINGS["default"], plugins=Plugins(templates=templates))
    zone = RenderedZone(settings, clock=lambda: FIXED_NOW)
    zone.load(objects())
    return zone


def _ask(zone: RenderedZone, name: str, qtype: str = "A") -> dns.message.Message:
    wire = dispatch(zone, dns.message.make_query(name, qtype).to_wire())
    assert isinstance(wire, bytes)
    return dns.message.from_wire(wire)


def test_common_patterns() -> None:
    zone = _zone(TEMPLATES)
    reply = _ask(zone, "ip-10-1-2-3.example")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert [(str(r.name), r[0].address, r.ttl) for r in reply.answer] == [
        ("ip-10-1-2-3.example.", "10.1.2.3", 60)
    ]
    assert _ask(zone, "ip-10-1-2-3.example", "AAAA").rcode() == dns.rcode.NXDOMAIN
    assert (
        _ask(zone, "other.example").rcode() == dns.rcode.SERVFAIL
    )  # zone and type fit, no regex: no fallthrough
    junk = _ask(zone, f"{NGINX}.default.svc.cluster.local")
    assert junk.rcode() == dns.rcode.NXDOMAIN and str(junk.authority[0].name) == "cluster.local."
    # the rest of the cluster zone falls through to the zone, byte for byte
    plain = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    plain.load(objects())
    for name in (f"web-0.{NGINX}", f"web-2.{NGINX}", NGINX):
        query = dns.message.make_query(name, "A").to_wire()
        assert dispatch(zone, query) == dispatch(plain, query)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"answer": ["{{ .Remote }} 60 IN A 1.2.3.4"]}, "not supported"),
        ({"answer": ['{{ .Meta "x" }} 60 IN A 1.2.3.4']}, "not supported"),
        ({"match": ["(["]}, "invalid regex"),
        ({"type": "BOGUS"}, "unknown record type"),
        ({"rcode": "NOPE"}, "unknown rcode"),
    ],
)
def test_bad_templates_are_named(spec: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        build_template(spec)


def test_an_aks_style_custom_config(tmp_path: Path) -> None:
    """AKS's coredns-custom (hosts + rewrite) through the YAML keys."""
    path = tmp_path / "petdns.yaml"
    path.write_text(
        "objects: [x.yaml]\nno_forward: true\n"
        "hosts:\n  - file: ''\n    entries: ['10.0.0.1 example1.org', 'fd00::1 example1.org']\n"
        "    fallthrough: []\n"
        "rewrite:\n  - name substring corp.example default.svc.cluster.local\n"
        "templates:\n  - {class: IN, type: A, zones: [invalid], rcode: NXDOMAIN}\n"
    )
    options = build(config_file.merge(config_file.load(str(path)), {}), connect=False)
    zone = RenderedZone(options.settings, clock=lambda: FIXED_NOW)
    zone.load(objects())
    assert _ask(zone, "example1.org").answer[0][0].address == "10.0.0.1"
    reply = _ask(zone, "nginx.corp.example")
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    assert _ask(zone, "x.invalid").rcode() == dns.rcode.NXDOMAIN
