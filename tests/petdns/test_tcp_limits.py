"""TCP connection limits through the running server: the write deadline and the bound on unsent replies
(a client that sends and never reads), the idle deadline, the cap on connections, pipelining kept."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from petdns.answer.zone import RenderedZone
from petdns.serve.tcp import TcpLimits
from petdns.serve.transport import DnsServer

HOST = "127.0.0.1"
SRV = "_web._tcp.nginx.default.svc.cluster.local."
A = "nginx.default.svc.cluster.local."
Start = Callable[..., Awaitable[DnsServer]]  # TcpLimits fields -> a started server


def _frame(name: str, qtype: str, qid: int = 0) -> bytes:
    query = dns.message.make_query(name, qtype)
    query.id = qid
    wire = query.to_wire()
    return struct.pack("!H", len(wire)) + wire


@pytest.fixture
async def serve(zones: dict[str, RenderedZone]) -> AsyncIterator[Start]:
    started: list[DnsServer] = []

    async def start(**limits: float) -> DnsServer:
        server = DnsServer(zones["default"], [(HOST, 0)], tcp=TcpLimits(**limits))  # type: ignore[arg-type]
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def _wait(condition: Callable[[], object], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def _hog(port: int, queries: int) -> socket.socket:
    """A client with a small receive buffer that sends `queries` SRV queries and never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await loop.sock_connect(sock, (HOST, port))
    frame = _frame(SRV, "SRV")
    try:
        for start in range(0, queries, 500):
            await loop.sock_sendall(sock, frame * min(500, queries - start))
    except OSError:
        pass  # the server closed the connection
    return sock


async def test_a_client_that_never_reads_is_closed_and_others_are_served(serve: Start) -> None:
    server: DnsServer = await serve(write_timeout=0.5, idle_timeout=30.0)
    port = server.bound[0][1]
    hog = asyncio.create_task(_hog(port, 30_000))
    try:
        assert await _wait(lambda: server.tcp_connections, 2.0)
        # meanwhile UDP and another TCP client are answered
        query = dns.message.make_query(A, "A")
        assert (await dns.asyncquery.udp(query, HOST, port=port, timeout=2)).rcode() == dns.rcode.NOERROR
        assert (await dns.asyncquery.tcp(query, HOST, port=port, timeout=2)).rcode() == dns.rcode.NOERROR
        sock = await asyncio.wait_for(hog, 5.0)  # the server stops reading it, then resets it
    finally:
        hog.cancel()
    try:
        assert await _wait(lambda: not server.tcp_connections, 3.0)
        assert set(server.counters.tcp_closed) == {"write"}
        assert sum(server.counters.tcp_closed.values()) == 1
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError):  # reset by the server: it is gone, not just stalled
            for _ in range(100):
                await asyncio.wait_for(loop.sock_sendall(sock, _frame(A, "A")), 1.0)
                await asyncio.sleep(0.01)
    finally:
        sock.close()


async def test_a_client_that_never_reads_gets_little_work_done(serve: Start) -> None:
    # what one such client costs the server before the write deadline: the queries taken in (the
    # socket buffer and the read-ahead) and the replies made (the bounded queue, the kernel's
    # unsent bytes and the client's own small window), whatever it keeps sending
    server: DnsServer = await serve(write_timeout=30.0, idle_timeout=30.0)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await loop.sock_connect(sock, (HOST, server.bound[0][1]))
    frame = _frame(SRV, "SRV")
    payload, sent = frame * 20_000, 0
    try:
        while sent < len(payload):  # as much as this socket's own kernel takes
            try:
                sent += sock.send(payload[sent : sent + 65536])
            except BlockingIOError:
                break
        settled = -1
        while settled != server.counters.answered:  # until the server stops answering it
            settled = server.counters.answered
            await asyncio.sleep(0.3)
        taken = sent - struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0]
        assert 0 < taken <= 48 << 10, f"the server took in {taken} bytes of queries"
        assert 8 <= server.counters.answered <= 80, server.counters.answered
        assert server.tcp_connections  # held until the write deadline
    finally:
        sock.close()


async def test_a_reply_that_cannot_be_written_in_time_closes_the_connection(serve: Start) -> None:
    # replies queued without bound: only the write deadline applies
    server: DnsServer = await serve(write_timeout=0.3, max_queued=10**9)
    sock = await asyncio.wait_for(_hog(server.bound[0][1], 30_000), 5.0)
    try:
        assert await _wait(lambda: not server.tcp_connections, 3.0)
        assert server.counters.tcp_closed == {"write": 1}
    finally:
        sock.close()


async def test_an_idle_connection_is_closed(serve: Start) -> None:
    server: DnsServer = await serve(idle_timeout=0.3)
    reader, writer = await asyncio.open_connection(HOST, server.bound[0][1])
    try:
        writer.write(_frame(A, "A", 7))
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2.0))[0]
        assert dns.message.from_wire(await reader.readexactly(size)).id == 7
        writer.write(b"\x00")  # half a length: not a complete query
        assert await asyncio.wait_for(reader.read(), 2.0) == b""  # closed by the server
        assert server.counters.tcp_closed == {"idle": 1}
    finally:
        writer.close()


async def test_connections_beyond_the_cap_wait_until_one_closes(serve: Start) -> None:
    server: DnsServer = await serve(max_connections=3)
    port = server.bound[0][1]
    opened = [await asyncio.open_connection(HOST, port) for _ in range(3)]
    try:
        for i, (reader, writer) in enumerate(opened):  # each one is being served
            writer.write(_frame(A, "A", i))
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2.0))[0]
            assert dns.message.from_wire(await reader.readexactly(size)).id == i
        # the next one waits in the listen backlog: not accepted, so neither answered nor closed
        reader, writer = await asyncio.open_connection(HOST, port)
        opened.append((reader, writer))
        writer.write(_frame(A, "A", 9))
        with pytest.raises(TimeoutError):
            data = await asyncio.wait_for(reader.readexactly(2), 0.5)
            pytest.fail(f"the connection beyond the cap was answered: {data!r}")
        assert len(server.tcp_connections) == 3
        # a slot freed is a slot taken: the waiting query is answered
        opened.pop(0)[1].close()
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2.0))[0]
        assert dns.message.from_wire(await reader.readexactly(size)).id == 9
        assert len(server.tcp_connections) == 3
        assert server.counters.tcp_closed == {}
        # UDP is answered all along
        query = dns.message.make_query(A, "A")
        assert (await dns.asyncquery.udp(query, HOST, port=port, timeout=2)).rcode() == dns.rcode.NOERROR
    finally:
        for _, w in opened:
            w.close()


async def test_pipelined_queries_within_the_bounds_are_all_answered(serve: Start) -> None:
    server: DnsServer = await serve(write_timeout=0.5, max_queued=8)
    reader, writer = await asyncio.open_connection(HOST, server.bound[0][1])
    try:
        count = 2000

        async def send() -> None:
            for i in range(0, count, 100):
                writer.write(b"".join(_frame(SRV, "SRV", qid) for qid in range(i, i + 100)))
                await writer.drain()

        sending = asyncio.create_task(send())
        for qid in range(count):
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2.0))[0]
            reply = dns.message.from_wire(await reader.readexactly(size))
            assert reply.id == qid and reply.rcode() == dns.rcode.NOERROR and len(reply.answer) == 1
        await sending
        assert server.counters.tcp_closed == {}
    finally:
        writer.close()


def test_limits_from_flags_and_config_keys() -> None:
    from petdns.cli import _flag_values, _parser  # noqa: PLC0415
    from petdns.settings import config_file  # noqa: PLC0415
    from petdns.settings.options import OptionError, build  # noqa: PLC0415

    assert build(config_file.defaults(), connect=False).tcp == TcpLimits(10.0, 5.0, 1000)
    args = _parser().parse_args(
        ["serve", "--tcp-idle-timeout", "1m", "--tcp-write-timeout", "2", "--max-tcp-connections", "5"]
    )
    values = config_file.merge(config_file.parse("tcp_write_timeout: 9s\n", "f"), _flag_values(args))
    assert build(values, connect=False).tcp == TcpLimits(60.0, 2.0, 5)
    for key, bad in (("tcp_idle_timeout", 0.0), ("tcp_write_timeout", 7200.0), ("max_tcp_connections", 0)):
        with pytest.raises(OptionError) as err:
            build({**config_file.defaults(), key: bad}, connect=False)
        assert err.value.key == key


async def test_the_running_server_takes_the_limits_it_was_given() -> None:
    from petdns.app import serving  # noqa: PLC0415
    from petdns.serve.lifecycle import Lifecycle  # noqa: PLC0415
    from petdns.settings import config_file  # noqa: PLC0415
    from petdns.settings.options import build  # noqa: PLC0415
    from petdns.settings.values import Settings  # noqa: PLC0415

    values = {
        **config_file.defaults(),
        "listen": ["127.0.0.1:0"],
        "objects": [],
        "metrics_listen": [],
        "max_tcp_connections": 2,
        "tcp_idle_timeout": 0.5,
    }
    options = build(values, connect=False)
    async with serving(options, RenderedZone(Settings()), lifecycle=Lifecycle()) as runtime:
        assert runtime.server.tcp == TcpLimits(0.5, 5.0, 2)
        host, port = runtime.server.bound[0]
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the idle deadline given
        writer.close()


async def test_the_event_loop_gives_way_after_each_reply_accept_and_close(
    serve: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the UDP threads share CPUs with the event loop: TCP work lets a waiting one run at each step
    from petdns.serve import tcp  # noqa: PLC0415

    calls: list[int] = []
    monkeypatch.setattr(tcp.os, "sched_yield", lambda: calls.append(1))
    server: DnsServer = await serve()
    reader, writer = await asyncio.open_connection(HOST, server.bound[0][1])
    writer.write(b"".join(_frame(A, "A", qid) for qid in range(20)))
    for _ in range(20):
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 2.0))[0]
        await reader.readexactly(size)
    assert len(calls) >= 21  # the accept and each reply
    writer.close()
    assert await _wait(lambda: not server.tcp_connections, 2.0)
    assert len(calls) >= 22  # and the close
