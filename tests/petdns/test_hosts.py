"""hosts: /etc/hosts entries (file and inline) for A, AAAA and PTR, fallthrough, the file read again."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.plugins.chain import Plugins
from petdns.plugins.hosts import PASS, SERVFAIL, Hosts, HostsSpec
from petdns.settings import config_file
from petdns.settings.options import OptionError, build
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import NGINX, SETTINGS, objects

LINES = ("10.0.0.1 db.corp.test db", "fd00::1 db.corp.test", "10.0.0.2 *.apps.corp.test  # wildcard")


@pytest.mark.parametrize(
    ("spec", "name", "qtype", "expected"),
    [
        (HostsSpec(entries=LINES), "db.corp.test.", 1, ["10.0.0.1"]),
        (HostsSpec(entries=LINES), "db.", 1, ["10.0.0.1"]),
        (HostsSpec(entries=LINES), "db.corp.test.", 28, ["fd00::1"]),
        (HostsSpec(entries=LINES), "db.corp.test.", 16, []),  # NODATA
        (HostsSpec(entries=LINES), "x.apps.corp.test.", 1, ["10.0.0.2"]),
        (HostsSpec(entries=LINES), "y.x.apps.corp.test.", 1, SERVFAIL),
        (HostsSpec(entries=LINES), "1.0.0.10.in-addr.arpa.", 12, ["db.corp.test.", "db."]),
        (HostsSpec(entries=LINES, no_reverse=True), "1.0.0.10.in-addr.arpa.", 12, PASS),
        (HostsSpec(entries=LINES), "9.0.0.10.in-addr.arpa.", 12, PASS),
        (HostsSpec(entries=LINES, fallthrough=()), "other.test.", 1, PASS),
        (HostsSpec(entries=LINES, fallthrough=("x.test.",)), "other.test.", 1, SERVFAIL),
        (HostsSpec(entries=LINES, zones=("corp.test.",)), "other.test.", 1, PASS),
        (HostsSpec(entries=LINES, zones=("corp.test.",)), "db.", 1, PASS),  # db. left out: not in the zones
    ],
)
def test_hosts_table(spec: HostsSpec, name: str, qtype: int, expected: object) -> None:
    found = Hosts(spec).resolve(name, qtype)
    if isinstance(found, list):
        found = [str(rr.rdata) for rr in found]
    assert found == expected


def test_a_bad_inline_address_is_named() -> None:
    values = config_file.merge(
        {"hosts": [{"entries": ["10.0.0.300 x"]}], "objects": ["x"], "no_forward": True}, {}
    )
    with pytest.raises(OptionError) as err:
        build(values, connect=False)
    assert err.value.key == "hosts" and "10.0.0.300" in err.value.message


def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.1.0.1 one.test\n")
    now = [0.0]
    plugins = Plugins(
        hosts=[HostsSpec(file=str(path), entries=("10.9.0.9 one.test",), reload=5)], clock=lambda: now[0]
    )
    hosts = plugins.hosts[0]
    assert hosts.addresses("one.test.", 4) == ["10.1.0.1", "10.9.0.9"]  # the file's first
    path.write_text("10.1.0.2 one.test two.test\n")
    os.utime(path, ns=(1, 1))
    now[0] = 1.0
    plugins.refresh()
    assert hosts.addresses("two.test.", 4) == []  # not yet: every 5 s
    now[0] = 6.0
    plugins.refresh()
    assert hosts.addresses("two.test.", 4) == ["10.1.0.2"]


def test_served_through_dispatch_before_the_cluster_zone() -> None:
    spec = HostsSpec(entries=("10.0.0.1 db.corp.test", f"10.0.0.7 web-0.{NGINX}"), fallthrough=())
    zone = RenderedZone(
        dataclasses.replace(SETTINGS["default"], plugins=Plugins(hosts=[spec])), clock=lambda: FIXED_NOW
    )
    zone.load(objects())
    plain = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    plain.load(objects())

    def ask(z: RenderedZone, name: str, qtype: str = "A") -> dns.message.Message:
        wire = dispatch(z, dns.message.make_query(name, qtype).to_wire())
        assert isinstance(wire, bytes)
        return dns.message.from_wire(wire)

    reply = ask(zone, "DB.corp.test")
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "10.0.0.1"
    assert reply.answer[0].ttl == 3600 and str(reply.question[0].name) == "DB.corp.test."
    assert ask(zone, f"web-0.{NGINX}").answer[0][0].address == "10.0.0.7"  # hosts comes first
    assert ask(zone, "1.0.0.10.in-addr.arpa", "PTR").answer[0][0].target.to_text() == "db.corp.test."
    # names the entries do not have fall through: the zone's own answers, byte for byte
    for name in (f"web-1.{NGINX}", f"web-2.{NGINX}", "11.1.244.10.in-addr.arpa"):
        query = dns.message.make_query(name, "A").to_wire()
        assert dispatch(zone, query) == dispatch(plain, query)
