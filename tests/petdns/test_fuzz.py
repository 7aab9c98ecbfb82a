"""Property tests: no input crashes the dispatcher, and the fast path agrees with the full path."""

from __future__ import annotations

import asyncio
import random

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.dns.query import MalformedQuery, parse_dnslib, parse_plain, parse_query
from petdns.serve.transport import DnsServer
from tests.support.dns_table import CASES
from tests.support.dnsmsg import full_reply
from tests.support.loops import LOOPS, fast_answer

NAMES = sorted({c.name for c in CASES})
TYPES = ["A", "AAAA", "SRV", "PTR", "TXT", "SOA", "NS", "CNAME", "ANY", "MX", "HTTPS", "AXFR"]
SEEDS = [
    dns.message.make_query(n, t, use_edns=e).to_wire()
    for n in NAMES[:12]
    for t in ("A", "SRV")
    for e in (False, 0)
]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_reply(query: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    assert len(reply) >= 12 and reply[:2] == query[:2] and reply[2] & 0x80
    dns.message.from_wire(reply)  # every reply parses


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes, zones: dict[str, RenderedZone]) -> None:
    for zone in zones.values():
        for tcp in (False, True):
            _check_reply(data, dispatch(zone, data, tcp=tcp))


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 300),
)
def test_mutated_queries_never_crash(
    seed: bytes, edits: list[tuple[int, int]], cut: int, zones: dict[str, RenderedZone]
) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    packet = bytes(data[: max(cut, 12)])
    for zone in zones.values():
        _check_reply(packet, dispatch(zone, packet))


@pytest.mark.parametrize("loop", LOOPS)
@FUZZ
@given(
    name=st.sampled_from(NAMES),
    qtype=st.sampled_from(TYPES),
    flips=st.integers(0, 2**31),
    edns=st.sampled_from([False, 0]),
    rd=st.booleans(),
    zone_key=st.sampled_from(["default", "insecure"]),
)
def test_fast_path_agrees_with_full_path(  # noqa: PLR0917
    name: str,
    qtype: str,
    flips: int,
    edns: bool | int,
    rd: bool,
    zone_key: str,
    loop: str,
    zones: dict[str, RenderedZone],
) -> None:
    spelled = "".join(c.upper() if flips >> (i % 31) & 1 else c for i, c in enumerate(name))
    query = dns.message.make_query(spelled, qtype, use_edns=edns)
    if not rd:
        query.flags = 0
    wire = query.to_wire()
    zone = zones[zone_key]
    fast, full = fast_answer(loop, zone, wire), full_reply(zone, wire)
    assert full is not None
    _check_reply(wire, full)
    if fast is not None:
        assert dns.message.from_wire(fast) == dns.message.from_wire(full)
        assert fast[:4] == full[:4]


async def test_server_survives_garbage_then_answers(zones: dict[str, RenderedZone]) -> None:
    server = DnsServer(zones["default"], [("127.0.0.1", 0)])
    await server.start()
    port = server.bound[0][1]
    try:
        loop = asyncio.get_running_loop()
        rng = random.Random(7)
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("127.0.0.1", port)
        )
        for _ in range(2000):
            seed = bytearray(rng.choice(SEEDS))
            for _ in range(rng.randint(0, 4)):
                seed[rng.randrange(len(seed))] = rng.randrange(256)
            transport.sendto(bytes(seed[: rng.randint(0, len(seed))]) if rng.random() < 0.3 else bytes(seed))
        transport.close()
        import dns.asyncquery  # noqa: PLC0415
        import dns.exception  # noqa: PLC0415

        q = dns.message.make_query("web-0.nginx.default.svc.cluster.local", "A")
        for _ in range(10):  # the garbage may still fill the socket buffer: retry as a resolver would
            try:
                reply = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=1)
                break
            except dns.exception.Timeout:
                continue
        assert reply.answer and server.counters.errors == 0
    finally:
        await server.stop()


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 300),
)
def test_the_plain_parse_agrees_with_dnslib(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    packet = bytes(data[: max(cut, 12)])
    plain = parse_plain(packet)
    if plain is None or len(packet) != 12 + len(plain.question) + (11 if plain.edns_size else 0):
        return  # not plain, or EDNS options: parse_query leaves those to dnslib
    try:
        parsed = parse_dnslib(packet)
    except MalformedQuery:
        with pytest.raises(MalformedQuery):
            parse_query(packet)
        return
    assert parse_query(packet).question == parsed.question
    assert (plain.qid, plain.flags, plain.question, plain.labels) == (
        parsed.qid,
        parsed.flags,
        parsed.question,
        parsed.labels,
    )
    assert (plain.edns_size, plain.edns_version, plain.do) == (
        parsed.edns_size,
        parsed.edns_version,
        parsed.do,
    )
