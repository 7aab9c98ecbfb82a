"""Names rendered when first asked (`petdns.answer.deferral`): a large batch leaves its services and
reverse /24s waiting under markers; every query gets the reply an eagerly rendered zone gives, the
fast paths (Python and compiled) leave what waits to Python, which renders it, and changes to what
waits are answered from the catalog."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, SERVICES
from localcluster.apiserver.server import ApiServer
from petdns.answer.deferral import Deferred
from petdns.answer.dispatch import dispatch
from petdns.answer.fastpath import answer as python_answer
from petdns.answer.zone import RenderedZone
from petdns.schema.model import KubeObject, from_raw
from petdns.serve import fastloop
from petdns.serve.transport import DnsServer
from petdns.settings.values import Settings
from tests.petdns.conftest import FIXED_NOW
from tests.petdns.test_fastloop import _agree
from tests.petdns.test_metrics import _serving, scrape
from tests.petdns.test_watch import endpoint_slice, service, start_petdns, stop_petdns
from tests.support.dns_table import CASES, SETTINGS, Case, objects
from tests.support.loops import LOOPS, fast_answer
from tests.support.waiting import eventually

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench scripts import one another as top-level modules

from mutate import mutate, seed_queries  # noqa: E402


def _deferred(settings: Settings, objs: list[KubeObject] | None = None) -> RenderedZone:
    """A zone that defers every service and /24 not rendered yet, loaded with the table's cluster."""
    zone = RenderedZone(settings, clock=lambda: FIXED_NOW)
    zone.defer_from = 0
    zone.load(objects() if objs is None else objs)
    return zone


def _message(wire: bytes | None) -> dns.message.Message:
    assert wire is not None
    return dns.message.from_wire(wire)


def _same(a: dns.message.Message, b: dns.message.Message) -> None:
    assert a == b and a.flags == b.flags and a.additional == b.additional and a.authority == b.authority


@pytest.mark.parametrize("edns", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_table_case_gets_the_eager_zones_reply_first_and_then(
    case: Case, edns: bool, zones: dict[str, RenderedZone]
) -> None:
    eager, zone = zones[case.settings], _deferred(SETTINGS[case.settings])
    assert zone.deferred and len(zone.nodes) < len(eager.nodes)
    query = dns.message.make_query(case.name, case.qtype, use_edns=0 if edns else False, payload=1232)
    wire = query.to_wire()
    expected = _message(dispatch(eager, wire))
    _same(_message(dispatch(zone, wire)), expected)  # first asked: rendered, then answered
    assert zone.deferred.under(wire[12:-4].lower()) is None
    for loop in LOOPS:  # then the fast paths answer it as the eager zone's do (or both decline)
        fast, eager_fast = fast_answer(loop, zone, wire), fast_answer(loop, eager, wire)
        assert (fast is None) == (eager_fast is None), loop
        if fast is not None:
            _same(_message(fast), expected)


@pytest.mark.parametrize("key", ["default", "ptrpets", "podnames"])
def test_once_everything_waiting_is_asked_the_table_is_the_eager_one(
    key: str, zones: dict[str, RenderedZone]
) -> None:
    eager, zone = zones[key], _deferred(SETTINGS[key])
    waiting = set(zone.deferred.groups)
    assert any(w.endswith(b"\x07in-addr\x04arpa\x00") for w in waiting)  # reverse /24s wait too
    assert any(b"\x03svc\x07cluster\x05local\x00" in w for w in waiting)
    for marker in waiting:
        zone.render_waiting(marker)
    assert not zone.deferred and not zone.deferring
    assert sorted(zone.nodes) == sorted(eager.nodes)
    for wire in eager.nodes:
        mine, theirs = zone.nodes[wire], eager.nodes[wire]
        assert mine[0].name == theirs[0].name and mine[1:] == theirs[1:], wire


def test_the_fast_paths_decline_below_a_marker_and_agree_on_mutated_queries() -> None:
    zone = _deferred(SETTINGS["default"])
    if zone.mirror.table is None:
        pytest.skip("petdns._fastloop is not built (or PETDNS_PURE)")
    below = [
        ("web-0.nginx.default.svc.cluster.local", "A"),  # a pet of a waiting service
        ("nosuch.nginx.default.svc.cluster.local", "A"),  # no such name, under a waiting service
        ("_web._tcp.nginx.default.svc.cluster.local", "SRV"),
        ("nginx.default.svc.cluster.local", "A"),  # the marker itself
    ]
    for name, qtype in below:
        wire = dns.message.make_query(name, qtype).to_wire()
        assert python_answer(zone, wire) is None and zone.mirror.table.answer(wire) is None, name
    outside = dns.message.make_query("nosuch.default.svc.cluster.local", "A").to_wire()
    assert _message(zone.mirror.table.answer(outside)[0]).rcode() == dns.rcode.NXDOMAIN  # type: ignore[index]
    questions = [(c.name, c.qtype) for c in CASES if c.settings == "default"]
    seeds = seed_queries(questions, random.Random(3))
    rng = random.Random(7)
    answered = 0
    for i in range(20000):
        if i % 500 == 0:  # some groups rendered as the run goes
            zone.render_waiting(next(iter(zone.deferred.groups), b"\x00"))
        answered += _agree(zone, mutate(rng, seeds)[1])
    assert answered > 500


def _slice(ns: str, svc: str, endpoints: list[tuple[str, str]]) -> KubeObject:
    return from_raw(
        {
            "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-x", "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": "web", "port": 80, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": [ip], "hostname": host, "conditions": {"ready": True}} for host, ip in endpoints
            ],
        }
    )


def _service(ns: str, name: str) -> KubeObject:
    return from_raw(
        {
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80}]},
        }
    )


def _a(zone: RenderedZone, name: str) -> tuple[int, set[str]]:
    reply = _message(dispatch(zone, dns.message.make_query(name, "A").to_wire()))
    return reply.rcode(), {r.to_text() for rrset in reply.answer for r in rrset}


def _ptr(zone: RenderedZone, wire: bytes, reply: bytes | None = None) -> set[str]:
    msg = _message(dispatch(zone, wire) if reply is None else reply)
    return {r.to_text() for rrset in msg.answer for r in rrset}


def test_what_waits_follows_changes_and_a_stale_reverse_rendering_is_dropped() -> None:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.defer_from = 3
    zone.load([_service("ns", "db"), _slice("ns", "db", [("db-0", "10.1.2.3")])])  # small: rendered at once
    ptr = dns.message.make_query("3.2.1.10.in-addr.arpa", "PTR").to_wire()
    assert not zone.deferred
    assert _ptr(zone, ptr, python_answer(zone, ptr)) == {"db-0.db.ns.svc.cluster.local."}
    zone.update([_service("ns", f"s{i}") for i in range(3)], [])  # 3 services: they wait
    s1 = b"\x02s1\x02ns\x03svc\x07cluster\x05local\x00"
    assert zone.deferred.under(s1) is not None and zone.deferring
    assert zone.deferred.under(b"\x02db\x02ns\x03svc\x07cluster\x05local\x00") is None
    zone.defer_from = 2
    zone.update([_slice("ns", "db", [("dbx-0", "10.1.2.3"), ("db-1", "10.1.2.4")])], [])  # their /24 waits
    assert python_answer(zone, ptr) is None  # not the old rendering (db-0): left to be rendered
    assert _ptr(zone, ptr) == {"dbx-0.db.ns.svc.cluster.local."}
    assert _ptr(zone, ptr, python_answer(zone, ptr)) == {"dbx-0.db.ns.svc.cluster.local."}  # rendered
    zone.update([_slice("ns", "s1", [("p-0", "10.9.9.9")])], [])  # a waiting service changes: still waits
    assert zone.deferred.under(s1) is not None
    assert _a(zone, "p-0.s1.ns.svc.cluster.local") == (dns.rcode.NOERROR, {"10.9.9.9"})
    assert zone.deferred.under(s1) is None  # asked: rendered
    zone.delete("Service", "ns", "s2")  # deleted while waiting: NXDOMAIN, and its marker goes
    assert _a(zone, "s2.ns.svc.cluster.local")[0] == dns.rcode.NXDOMAIN
    assert b"\x02s2\x02ns\x03svc\x07cluster\x05local\x00" not in zone.nodes
    zone.render_waiting(b"\x02s0\x02ns\x03svc\x07cluster\x05local\x00")
    assert not zone.deferring


def test_an_address_added_to_a_waiting_24_waits_with_it() -> None:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.defer_from = 2
    pets = [("db-0", "10.1.2.3"), ("db-1", "10.1.2.4")]
    zone.load([_service("ns", "db"), _slice("ns", "db", pets)])  # one service: rendered; two addresses wait
    group = b"\x012\x011\x0210\x07in-addr\x04arpa\x00"
    assert set(zone.deferred.groups.get(group, ())) == {"10.1.2.3", "10.1.2.4"}
    zone.update([_slice("ns", "db", [*pets, ("db-2", "10.1.2.5")])], [])  # one address more: a small batch
    assert "10.1.2.5" in zone.deferred.groups[group] and b"\x015" + group not in zone.nodes
    five = dns.message.make_query("5.2.1.10.in-addr.arpa", "PTR").to_wire()
    assert python_answer(zone, five) is None
    assert _ptr(zone, five) == {"db-2.db.ns.svc.cluster.local."}
    assert group not in zone.deferred.groups and b"\x015" + group in zone.nodes


async def test_the_server_answers_a_waiting_name_and_then_from_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = [_service("ns", f"web{i}") for i in range(300)]
    slices = [_slice("ns", f"web{i}", [(f"web{i}-0", f"10.3.{i // 200}.{i % 200 + 1}")]) for i in range(300)]
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.load([*services, *slices])  # 300 services in one batch: deferred at the default threshold
    assert len(zone.deferred.services) == 300
    python_answers: list[bytes] = []

    def spy(zone: RenderedZone, data: bytes, seen: bytearray | None = None) -> bytes | None:
        python_answers.append(data)
        return python_answer(zone, data, seen)

    monkeypatch.setattr(fastloop, "answer", spy)
    rig, runner = await _serving(DnsServer(zone, [("127.0.0.1", 0)]))
    server, port = rig.server, rig.port
    try:
        assert (await scrape(rig.metrics_port)).value("petdns_zone_waiting") == 302  # 2 /24s
        replies = []
        for name, qtype in (("web7-0.web7.ns.svc.cluster.local", "A"), ("1.1.3.10.in-addr.arpa", "PTR")):
            for _ in range(2):
                query = dns.message.make_query(name, qtype)
                reply = await asyncio.to_thread(dns.query.udp, query, "127.0.0.1", port=port, timeout=2)
                replies.append({r.to_text() for rrset in reply.answer for r in rrset})
        assert replies == [{"10.3.0.8"}] * 2 + [{"web200-0.web200.ns.svc.cluster.local."}] * 2
        if zone.mirror.table is not None:
            assert len(python_answers) == 2  # the compiled loop declined only each name's first query
        assert zone.deferred.under(b"\x04web7\x02ns\x03svc\x07cluster\x05local\x00") is None
        got = await scrape(rig.metrics_port)
        assert got.value("petdns_zone_waiting") == 300
        assert got.value("petdns_zone_names") == len(zone.nodes) - 300
    finally:
        await runner.cleanup()
        await server.stop()


async def test_a_watched_cluster_waits_after_the_list_and_follows_events(
    api: ApiServer, writer: Client
) -> None:
    for i in range(300):
        await writer.create(SERVICES, "default", service(f"s{i}"))
        pets = {f"p{i}": (f"10.7.{i // 250}.{i % 250 + 1}", True)}
        await writer.create(ENDPOINT_SLICES, "default", endpoint_slice(f"s{i}-1", f"s{i}", pets))
    p = await start_petdns(api.url)
    try:

        async def synced() -> bool:
            return p.zone.synced and len(p.zone.deferred.services) == 300

        await eventually(synced)  # the lists came in batches of 300: every service waits
        assert await p.answers("p5.s5.default.svc.cluster.local") == {"10.7.0.6"}
        assert await p.answers("6.0.7.10.in-addr.arpa", "PTR") == {"p5.s5.default.svc.cluster.local."}
        pets = {"p9": ("10.7.0.99", True), "q9": ("10.7.0.200", True)}
        await writer.patch(ENDPOINT_SLICES, "default", "s9-1", endpoint_slice("s9-1", "s9", pets))

        async def followed() -> bool:  # a waiting service's change, answered from the catalog
            return await p.answers("s9.default.svc.cluster.local") == {"10.7.0.99", "10.7.0.200"}

        await eventually(followed)
        assert await p.answers("q9.s9.default.svc.cluster.local") == {"10.7.0.200"}
        await writer.delete(SERVICES, "default", "s7")
        await p.until_gone("p7.s7.default.svc.cluster.local")
        assert (await p.ask("p5.s5.default.svc.cluster.local")).answer  # rendered: still there
    finally:
        await stop_petdns(p)


def test_only_addresses_with_a_canonical_last_byte_wait_with_their_24() -> None:
    deferred = Deferred()
    marker = b"\x012\x011\x0210\x07in-addr\x04arpa\x00"
    now, new, stale = deferred.split_reverse(
        ["10.1.2.3", "10.1.2.300", "10.1.2.03"], True, lambda group: marker
    )
    assert sorted(now) == ["10.1.2.03", "10.1.2.300"] and new == [marker] and stale == [b"\x013" + marker]
    waiting = deferred.groups[marker]
    assert list(waiting) == ["10.1.2.3"]
    assert "10.1.2.3" in waiting and "10.1.2.03" not in waiting and "10.1.2.300" not in waiting
