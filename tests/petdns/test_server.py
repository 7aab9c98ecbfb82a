"""The DNS table and the protocol rules through the running server, over UDP and TCP, with dnspython."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from petdns.answer.zone import RenderedZone
from petdns.serve import mmsg
from petdns.serve.listen import parse_listen
from petdns.serve.transport import DnsServer
from petdns.settings.values import Settings
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, SETTINGS, Case, objects
from tests.support.dnsmsg import check

HOST = "127.0.0.1"


async def _serve(zone: RenderedZone, host: str = HOST, batch: int = 64) -> DnsServer:
    server = DnsServer(zone, [(host, 0)], udp_batch=batch)
    await server.start()
    return server


@pytest.fixture
async def servers(zones: dict[str, RenderedZone]) -> AsyncIterator[dict[str, int]]:
    started = {key: await _serve(zone) for key, zone in zones.items()}
    yield {key: server.bound[0][1] for key, server in started.items()}
    for server in started.values():
        await server.stop()


async def test_table_over_udp_and_tcp(servers: dict[str, int]) -> None:
    for case in CASES:
        port = servers[case.settings]
        query = dns.message.make_query(case.name, case.qtype, use_edns=0, payload=1232)
        udp = await dns.asyncquery.udp(query, HOST, port=port, timeout=2)
        check(case, udp, FIXED_NOW)
        tcp = await dns.asyncquery.tcp(query, HOST, port=port, timeout=2)
        check(case, tcp, FIXED_NOW)


async def test_plain_udp_loop_answers_like_the_batched_one(zones: dict[str, RenderedZone]) -> None:
    assert mmsg.available()  # Linux: the default server uses recvmmsg/sendmmsg
    server = await _serve(zones["default"], batch=1)
    try:
        for case in (c for c in CASES if c.settings == "default"):
            query = dns.message.make_query(case.name, case.qtype)
            reply = await dns.asyncquery.udp(query, HOST, port=server.bound[0][1], timeout=2)
            check(case, reply, FIXED_NOW)
    finally:
        await server.stop()
    assert server.counters.answered == sum(1 for c in CASES if c.settings == "default")


async def test_batched_udp_answers_a_burst_from_many_clients(servers: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    queries = [
        dns.message.make_query(f"web-{i % 2}.nginx.default.svc.cluster.local", "A") for i in range(200)
    ]
    for i, q in enumerate(queries):
        q.id = i + 1
    try:
        for i, q in enumerate(queries):
            socks[i % 8].sendto(q.to_wire(), (HOST, servers["default"]))
        replies = {}
        for sock in socks:
            sock.setblocking(False)
        deadline = loop.time() + 5
        while len(replies) < len(queries) and loop.time() < deadline:
            for sock in socks:
                try:
                    msg = dns.message.from_wire(sock.recv(4096))
                except BlockingIOError:
                    continue
                replies[msg.id] = msg
            await asyncio.sleep(0.001)
    finally:
        for sock in socks:
            sock.close()
    assert {q.id for q in queries} <= set(replies)
    for q in queries:
        assert replies[q.id].question == q.question and replies[q.id].answer


def _case(name: str) -> Case:
    return next(c for c in CASES if c.name == name and c.settings == "default")


async def test_many_queries_on_one_tcp_connection(servers: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, servers["default"])
    queries = [dns.message.make_query(c.name, c.qtype) for c in CASES[:20] if c.settings == "default"]
    for q in queries:
        wire = q.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    for q in queries:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        reply = dns.message.from_wire(await reader.readexactly(size))
        assert reply.id == q.id and reply.question == q.question
    writer.close()


async def _raw_udp(port: int, payload: bytes, timeout: float = 1.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await loop.sock_sendto(sock, payload, (HOST, port))
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
    except TimeoutError:
        return None
    finally:
        sock.close()


def _big_zone(pets: int) -> RenderedZone:
    from petdns.schema.model import EndpointSlice, Namespace, Port, Service, ServiceKind  # noqa: PLC0415
    from petdns.schema.packing import Endpoint  # noqa: PLC0415

    web = (Port("web", 80, "tcp"),)
    endpoints = tuple(
        Endpoint((f"10.1.{i // 250}.{i % 250 + 1}",), True, f"big-{i}", "") for i in range(pets)
    )
    zone = RenderedZone(Settings(), clock=lambda: FIXED_NOW)
    zone.load(
        [
            Namespace("default"),
            Service("default", "big", ServiceKind.HEADLESS, (), web),
            EndpointSlice("default", "big-1", "big", "IPv4", endpoints, web),
        ]
    )
    return zone


async def test_udp_truncation_then_full_answer_over_tcp() -> None:
    server = await _serve(_big_zone(60))
    port = server.bound[0][1]
    try:
        name = "big.default.svc.cluster.local"
        plain = dns.message.make_query(name, "A")
        udp = await dns.asyncquery.udp(plain, HOST, port=port, timeout=2)
        assert udp.flags & dns.flags.TC
        assert len(udp.to_wire()) <= 512
        assert 0 < len(udp.answer[0]) < 60
        tcp = await dns.asyncquery.tcp(plain, HOST, port=port, timeout=2)
        assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 60
        edns = dns.message.make_query(name, "A", use_edns=0, payload=4096)
        big = await dns.asyncquery.udp(edns, HOST, port=port, timeout=2)
        assert not big.flags & dns.flags.TC and len(big.answer[0]) == 60
        assert big.edns == 0 and big.payload == 1232  # our size, not the client's
        # SRV with glue: the additional section goes first, without TC, when only it does not fit
        srv = dns.message.make_query(f"_web._tcp.{name}", "SRV", use_edns=0, payload=1232)
        reply = await dns.asyncquery.udp(srv, HOST, port=port, timeout=2)
        assert len(reply.to_wire()) <= 1232
        assert reply.flags & dns.flags.TC or len(reply.answer[0]) == 60
    finally:
        await server.stop()


async def test_edns_our_size_do_bit_and_badvers(servers: dict[str, int]) -> None:
    port = servers["default"]
    name = _case("web-0.nginx.default.svc.cluster.local").name
    q = dns.message.make_query(name, "A", use_edns=0, payload=1400, want_dnssec=True)
    reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=2)
    assert reply.edns == 0 and reply.payload == 1232 and reply.ednsflags & dns.flags.DO  # our size
    q = dns.message.make_query(
        name, "A", use_edns=0, payload=1400, options=[dns.edns.GenericOption(10, b"x" * 8)]
    )
    reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=2)
    assert reply.rcode() == dns.rcode.NOERROR and reply.options == ()
    q = dns.message.make_query(name, "A", use_edns=1)
    reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=2)
    assert reply.rcode() == dns.rcode.BADVERS and not reply.answer


async def test_protocol_errors(servers: dict[str, int]) -> None:
    port = servers["default"]
    notify = dns.message.make_query("cluster.local", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    reply = await dns.asyncquery.udp(notify, HOST, port=port, timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == dns.opcode.NOTIFY
    for qtype in ("AXFR", "IXFR"):
        xfr = dns.message.make_query("cluster.local", qtype)
        reply = await dns.asyncquery.tcp(xfr, HOST, port=port, timeout=2)
        assert reply.rcode() == dns.rcode.REFUSED
    chaos = dns.message.make_query("version.bind", "TXT", rdclass="CH")
    assert (await dns.asyncquery.udp(chaos, HOST, port=port, timeout=2)).rcode() == dns.rcode.REFUSED
    # two questions, a truncated name, a bare header: FORMERR with the query ID
    q = dns.message.make_query("cluster.local", "SOA").to_wire()
    two = q[:5] + b"\x02" + q[6:] + q[12:]
    garbage = q[:12] + b"\x3fabc"
    for payload in (two, garbage, q[:2] + b"\x01\x00" + b"\x00" * 8):
        raw = await _raw_udp(port, payload)
        assert raw is not None and raw[:2] == payload[:2] and raw[3] & 0xF == dns.rcode.FORMERR
    # responses and runts are dropped, and the server keeps answering
    assert await _raw_udp(port, q[:2] + b"\x84\x00" + q[4:], timeout=0.3) is None
    assert await _raw_udp(port, b"\x00\x01\x02", timeout=0.3) is None
    ok = await dns.asyncquery.udp(dns.message.make_query("cluster.local", "SOA"), HOST, port=port, timeout=2)
    assert ok.rcode() == dns.rcode.NOERROR


async def test_ipv6_listen_address(zones: dict[str, RenderedZone]) -> None:
    try:
        server = await _serve(zones["default"], host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        port = server.bound[0][1]
        q = dns.message.make_query("web-1.nginx.default.svc.cluster.local", "A")
        for reply in (
            await dns.asyncquery.udp(q, "::1", port=port, timeout=2),
            await dns.asyncquery.tcp(q, "::1", port=port, timeout=2),
        ):
            assert [rd.to_text() for rd in reply.answer[0]] == ["10.244.1.11"]
    finally:
        await server.stop()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_listen("[::1]:53") == ("::1", 53)
    assert parse_listen(":53") == ("0.0.0.0", 53)
    for bad in ("127.0.0.1", "localhost:53", "1.2.3.4:99999", "[::1]"):
        with pytest.raises((ValueError, OSError)):
            parse_listen(bad)


async def test_live_changes_reach_running_server() -> None:
    zone = RenderedZone(SETTINGS["default"])
    zone.load(objects())
    server = await _serve(zone)
    port = server.bound[0][1]
    try:
        name = "web-0.nginx.default.svc.cluster.local"
        q = dns.message.make_query(name, "A")
        assert (await dns.asyncquery.udp(q, HOST, port=port, timeout=2)).rcode() == dns.rcode.NOERROR
        zone.delete("EndpointSlice", "default", "nginx-abc")
        assert (await dns.asyncquery.udp(q, HOST, port=port, timeout=2)).rcode() == dns.rcode.NXDOMAIN
    finally:
        await server.stop()
