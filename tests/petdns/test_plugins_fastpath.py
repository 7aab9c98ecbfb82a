"""The fast path with plugins configured: it answers what they leave alone, byte for byte as the full
path, and leaves them the questions they could change."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import dns.message
import pytest

from petdns.answer.dispatch import full
from petdns.answer.fastpath import answer
from petdns.answer.zone import RenderedZone
from petdns.plugins.chain import Plugins
from petdns.plugins.hosts import HostsSpec
from petdns.plugins.message import wire_of
from petdns.plugins.touched import Touched, text_suffix
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import NGINX, SETTINGS, objects

K3S = HostsSpec(entries=("172.18.0.2 k3d-node-0", f"10.244.0.10 web-0.{NGINX}"), fallthrough=(), ttl=60)
QUESTIONS = [
    (f"web-0.{NGINX}", "A"),
    (f"web-1.{NGINX}", "A"),
    (f"web-1.{NGINX}", "AAAA"),
    (f"web-1.{NGINX}", "TXT"),
    (NGINX, "A"),
    (NGINX, "SRV"),
    ("nope.default.svc.cluster.local", "A"),
    ("cluster.local", "SOA"),
    ("10.0.244.10.in-addr.arpa", "PTR"),
    ("11.1.244.10.in-addr.arpa", "PTR"),
]
CONFIGS = {
    "k3s hosts": Plugins(hosts=[K3S]),
    "hosts in a zone": Plugins(hosts=[HostsSpec(entries=("10.0.0.1 db.corp.test",), zones=("corp.test.",))]),
    "rewrite exact, suffix, type": Plugins(
        [
            f"name exact web-1.{NGINX} web-2.{NGINX}",
            "name suffix .corp.example .svc.cluster.local",
            "type TXT A",
        ]
    ),
    "rewrite regex": Plugins([r"name regex (.*)\.corp\.example {1}.svc.cluster.local"]),
    "template": Plugins(templates=[{"type": "AAAA", "zones": ["svc.cluster.local"], "rcode": "NXDOMAIN"}]),
}
# the questions each configuration leaves to the full path (the rest the fast path answers)
DECLINED = {
    "k3s hosts": {(f"web-0.{NGINX}", "A"), ("10.0.244.10.in-addr.arpa", "PTR")},
    "hosts in a zone": set(),
    "rewrite exact, suffix, type": {
        (f"web-1.{NGINX}", "A"),
        (f"web-1.{NGINX}", "AAAA"),
        (f"web-1.{NGINX}", "TXT"),
    },
    "rewrite regex": set(QUESTIONS),
    "template": {(f"web-1.{NGINX}", "AAAA")},
}


def _zone(plugins: Plugins | None) -> RenderedZone:
    zone = RenderedZone(dataclasses.replace(SETTINGS["default"], plugins=plugins), clock=lambda: FIXED_NOW)
    zone.load(objects())
    return zone


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_fast_path_answers_what_the_plugins_leave_alone(config: str) -> None:
    zone = _zone(CONFIGS[config])
    answered = 0
    for name, qtype in QUESTIONS:
        for edns in (-1, 0):
            data = dns.message.make_query(name, qtype, use_edns=edns).to_wire()
            fast = answer(zone, data)
            if (name, qtype) in DECLINED[config]:
                assert fast is None, (name, qtype)
            elif fast is None:
                assert answer(_zone(None), data) is None, (name, qtype)  # declined without plugins too
            else:
                assert fast == full(zone, data), (name, qtype)
                answered += 1
    assert answered >= len(QUESTIONS) - len(DECLINED[config]) - 2


@pytest.mark.parametrize(
    ("touched", "name", "qtype", "expected"),
    [
        (Touched(names=frozenset({wire_of("a.test.")})), "A.test.", 1, True),
        (Touched(names=frozenset({wire_of("a.test.")})), "b.a.test.", 1, False),
        (Touched(parents=frozenset({wire_of("apps.test.")})), "x.apps.test.", 1, True),
        (Touched(parents=frozenset({wire_of("apps.test.")})), "y.x.apps.test.", 1, False),
        (Touched(suffixes=((text_suffix(".corp."), None),)), "a.b.corp.", 16, True),
        (Touched(suffixes=((text_suffix(".corp."), None),)), "a.xcorp.", 16, False),
        (Touched(suffixes=((text_suffix("corp."), None),)), "a.xcorp.", 16, True),
        (Touched(suffixes=((text_suffix("b.corp."), None),)), "a.xb.corp.", 16, True),
        (Touched(suffixes=((text_suffix("b.corp."), None),)), "a.x.corp.", 16, False),
        (Touched(suffixes=((wire_of("svc."), frozenset({b"\x00\x1c"})),)), "a.svc.", 28, True),
        (Touched(suffixes=((wire_of("svc."), frozenset({b"\x00\x1c"})),)), "a.svc.", 1, False),
        (Touched(types=frozenset({b"\x00\x10"})), "anything.", 16, True),
    ],
)
def test_touched_table(touched: Touched, name: str, qtype: int, expected: bool) -> None:
    tail = struct.pack("!HH", qtype, 1)
    assert touched(wire_of(name.lower()), tail) is expected


def test_a_changed_hosts_file_reaches_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "NodeHosts"
    path.write_text("172.18.0.2 k3d-node-0\n")
    now = [100.0]
    zone = _zone(Plugins(hosts=[HostsSpec(file=str(path), fallthrough=(), reload=15)], clock=lambda: now[0]))
    data = dns.message.make_query(f"web-1.{NGINX}", "A").to_wire()
    assert answer(zone, data) is not None
    path.write_text(f"172.18.0.2 k3d-node-0\n10.9.9.9 web-1.{NGINX}\n")
    os.utime(path, ns=(1, 1))
    assert answer(zone, data) is not None  # until the file is due for a look
    now[0] = 115.0
    assert answer(zone, data) is None  # due: the full path looks, and finds the name
    reply = dns.message.from_wire(full(zone, data))  # type: ignore[arg-type]
    assert reply.answer[0][0].address == "10.9.9.9"
    assert answer(zone, data) is None
    other = dns.message.make_query(f"web-0.{NGINX}", "A").to_wire()
    assert answer(zone, other) == full(zone, other)
