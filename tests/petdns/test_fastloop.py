"""The compiled fast path and loop (`petdns._fastloop`): the same reply as the Python fast path for any
query (or both decline), a table that follows every change of the zone, and a server whose UDP
threads answer from it, hand the rest to Python and count both."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petdns.answer import fastpath
from petdns.answer.fasttable import compiled
from petdns.answer.zone import RenderedZone
from petdns.schema.model import EndpointSlice, object_key
from petdns.serve import fastloop
from petdns.serve.tally import merged_durations
from petdns.serve.transport import DnsServer
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, SETTINGS, objects

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench scripts import one another as top-level modules

from mutate import mutate, seed_queries  # noqa: E402

pytestmark = pytest.mark.skipif(compiled is None, reason="petdns._fastloop is not built (or PETDNS_PURE)")

QUESTIONS = [*sorted({(c.name, c.qtype) for c in CASES}), ("nothing.default.svc.cluster.local", "A")]
SEEDS = seed_queries(QUESTIONS, random.Random(5))


def _agree(zone: RenderedZone, data: bytes) -> bool:
    """Both fast paths give the same reply and count the same type, or both decline; True if answered."""
    seen = bytearray()
    python = fastpath.answer(zone, data, seen)
    assert zone.mirror.table is not None
    out = zone.mirror.table.answer(data)
    assert (out and out[0]) == python, data.hex()
    if out is not None:
        assert bytes([out[1]]) == seen
    return out is not None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    edits=st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), max_size=4),
    zone_key=st.sampled_from(sorted(SETTINGS)),
)
def test_mutated_queries_get_the_python_fast_paths_reply(
    seed: int, edits: list[tuple[int, int]], zone_key: str, zones: dict[str, RenderedZone]
) -> None:
    _, data = mutate(random.Random(seed), SEEDS)
    mutable = bytearray(data)
    for pos, value in edits:
        if pos < len(mutable):
            mutable[pos] = value
    zone = zones[zone_key]
    _agree(zone, data)
    _agree(zone, bytes(mutable))


def test_many_mutated_queries_agree_and_many_are_answered(zones: dict[str, RenderedZone]) -> None:
    rng = random.Random(11)
    answered = sum(_agree(zones["default"], mutate(rng, SEEDS)[1]) for _ in range(20000))
    answered += sum(_agree(zones["default"], seed) for seed in SEEDS)
    assert answered > 1000


def _sweep(zone: RenderedZone) -> None:
    assert zone.mirror.table is not None and len(zone.mirror.table) == len(zone.nodes)
    names = {n for n, _ in QUESTIONS} | {f"{n}.x" for n, _ in QUESTIONS}
    for name in names:
        for qtype, edns in (("A", False), ("SRV", 0), ("PTR", False), ("AAAA", 0)):
            _agree(zone, dns.message.make_query(name, qtype, use_edns=edns).to_wire())


def test_the_table_follows_every_change_of_the_zone() -> None:
    clock = [float(FIXED_NOW)]
    zone = RenderedZone(SETTINGS["default"], clock=lambda: clock[0])
    loaded = objects()
    zone.load(loaded[: len(loaded) // 2])
    _sweep(zone)
    for obj in loaded[len(loaded) // 2 :]:
        clock[0] += 1  # a new serial: new SOA pieces
        zone.apply(obj)
    _sweep(zone)
    zone.synced = False
    _sweep(zone)
    zone.synced = True
    zone.fallthrough = True
    _sweep(zone)
    for obj in loaded[::2]:
        zone.delete(*object_key(obj))
    _sweep(zone)
    assert compiled is not None
    assert compiled.retired() == 0  # nothing reads: everything replaced is freed


def test_a_change_costs_one_entry_at_100k_names() -> None:
    assert compiled is not None
    table = compiled.Table(1232, None)
    node = (None, b"\x00\x01\x00\x01", (b"\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00",) * 4, b"\xc0\x0c" * 8)
    took = []
    for i in range(100_000):
        start = time.perf_counter()
        table.put(b"\x05web-%d\x00" % i, node)
        took.append(time.perf_counter() - start)
    for i in range(0, 100_000, 7):
        start = time.perf_counter()
        table.put(b"\x05web-%d\x00" % i, node)  # a watch event: the name re-rendered
        took.append(time.perf_counter() - start)
    took.sort()
    assert len(table) == 100_000
    assert took[int(len(took) * 0.99)] < 0.002  # p99 far below 10 ms, growth included (a few µs unloaded)


async def _server(zone: RenderedZone, **kw: object) -> DnsServer:
    server = DnsServer(zone, [("127.0.0.1", 0)], **kw)  # type: ignore[arg-type]
    await server.start()
    return server


async def test_the_server_answers_from_the_compiled_loop_and_hands_the_rest_to_python(
    zones: dict[str, RenderedZone], monkeypatch: pytest.MonkeyPatch
) -> None:
    python_answers = []

    def spy(zone: RenderedZone, data: bytes, seen: bytearray | None = None) -> bytes | None:
        python_answers.append(data)
        return fastpath.answer(zone, data, seen)

    monkeypatch.setattr(fastloop, "answer", spy)
    server = await _server(zones["default"])
    port = server.bound[0][1]
    try:
        for name, qtype in (("web-0.nginx.default.svc.cluster.local", "A"), ("nope.cluster.local", "SRV")):
            query = dns.message.make_query(name, qtype, use_edns=0)
            reply = await asyncio.to_thread(dns.query.udp, query, "127.0.0.1", port=port, timeout=2)
            assert reply.id == query.id and (reply.answer or reply.rcode() == dns.rcode.NXDOMAIN)
        assert python_answers == []  # both answered without Python
        formerr = (
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01" + b"\x03web\x00\x00\x01\x00\x01" + b"junk"
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2)
        with sock:
            sock.sendto(formerr, ("127.0.0.1", port))
            reply_bytes, _ = await asyncio.to_thread(sock.recvfrom, 4096)
        assert reply_bytes[:2] == b"\x12\x34" and reply_bytes[3] & 0xF == dns.rcode.FORMERR
        assert python_answers == [formerr]  # declined: the Python fast path, then the full path
        durations = merged_durations(server.tallies)
        counted = {code: h.count for (listener, code), h in durations.items() if listener[1] == "udp"}
        assert counted == {1: 2, 33: 1}  # the FORMERR's question is an A question
    finally:
        await server.stop()


async def test_a_scrape_counts_what_the_loop_answered_and_the_query_log_sees_every_query(
    zones: dict[str, RenderedZone], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="petdns.query")
    server = await _server(zones["default"])
    port = server.bound[0][1]

    async def ask(name: str) -> dns.message.Message:
        query = dns.message.make_query(name, "A")
        return await asyncio.to_thread(dns.query.udp, query, "127.0.0.1", port=port, timeout=2)

    try:
        assert (await ask("web-0.nginx.default.svc.cluster.local")).answer
        assert (await ask("web-9.nginx.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
        # the loop is still waiting for datagrams: the scrape takes its counts
        durations = merged_durations(server.tallies)
        assert sum(h.count for (listener, code), h in durations.items() if listener[1] == "udp") == 2
        rcodes = [0] * 16
        for tally in server.tallies:
            for (_, plugin), row in tally.responses.items():
                if plugin == "kubernetes":
                    rcodes = [a + b for a, b in zip(rcodes, row, strict=True)]
        assert (rcodes[dns.rcode.NOERROR], rcodes[dns.rcode.NXDOMAIN]) == (1, 1)
        assert server.counters.answered == 2
        assert not [r for r in caplog.records if r.name == "petdns.query"]
        server.query_log = True  # as a reload turning `log` on
        for i in range(3):
            assert (await ask(f"web-{i % 2}.nginx.default.svc.cluster.local")).answer
        for _ in range(200):  # a query's line is written after its reply is sent
            lines = [r.getMessage() for r in caplog.records if r.name == "petdns.query"]
            if len(lines) >= 3:
                break
            await asyncio.sleep(0.01)
        assert len(lines) == 3 and all("nginx.default.svc.cluster.local." in line for line in lines)
        server.query_log = False
        assert (await ask("web-1.nginx.default.svc.cluster.local")).answer
        assert len([r for r in caplog.records if r.name == "petdns.query"]) == 3
    finally:
        await server.stop()
    assert server.counters.answered == 6


async def test_replies_stay_whole_while_the_zone_changes(zones: dict[str, RenderedZone]) -> None:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.load(objects())
    server = await _server(zone)
    port = server.bound[0][1]
    slices = [o for o in objects() if isinstance(o, EndpointSlice)]
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            for obj in slices:
                zone.delete("EndpointSlice", obj.namespace, obj.name)
                zone.apply(obj)

    writer = threading.Thread(target=churn)
    writer.start()
    replies = 0
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2)
        with sock:  # blocking calls: the event loop has nothing else to do
            queries = [dns.message.make_query(n, t).to_wire() for n, t in QUESTIONS]
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                for q in queries[:16]:
                    sock.sendto(q, ("127.0.0.1", port))
                for _ in queries[:16]:
                    data, _ = sock.recvfrom(65536)
                    dns.message.from_wire(data)  # whole and parseable
                    replies += 1
    finally:
        stop.set()
        writer.join()
        await server.stop()
    assert replies >= 16


def test_petdns_pure_turns_the_compiled_loop_off() -> None:
    code = "from petdns.answer.fasttable import compiled; from petdns.serve import fastloop; "
    code += "print(compiled is None, fastloop.available())"
    env = {**os.environ, "PETDNS_PURE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["True", "False"]


def test_bodies_that_turn_per_query_and_plugins_are_left_to_python(zones: dict[str, RenderedZone]) -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from petdns.answer.fasttable import Mirror  # noqa: PLC0415
    from petdns.answer.zone import DYNAMIC  # noqa: PLC0415

    zone = zones["default"]
    wire = b"\x05web-0\x05nginx\x07default\x03svc\x07cluster\x05local\x00"
    node = zone.nodes[wire]
    turning = tuple(object() if i % 3 == 0 and i else item for i, item in enumerate(node))
    mirror = Mirror(zone, DYNAMIC)
    mirror.heads(zone)
    mirror.put(wire, turning)  # a body that is not bytes: that type is the Python fast path's
    assert mirror.table is not None
    query = dns.message.make_query("web-0.nginx.default.svc.cluster.local", "A").to_wire()
    assert mirror.table.answer(query) is None
    mirror.put(wire, node)
    assert mirror.table.answer(query) == zone.mirror.table.answer(query) is not None  # type: ignore[union-attr]
    with_plugins = SimpleNamespace(
        heads=zone.heads, max_udp=1232, synced=True, settings=SimpleNamespace(plugins=1)
    )
    assert Mirror(with_plugins, DYNAMIC).table is None  # type: ignore[arg-type]
