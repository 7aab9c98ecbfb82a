"""The TCP connections of the DNS server: length-prefixed queries answered in order (pipelining), with
the limits that keep a client from pinning a connection (`TcpLimits`).

A connection is closed when no complete query arrives within the idle deadline, or when a reply cannot be
handed to the kernel within the write deadline. When more than `max_queued` replies wait unsent in its
buffer, no further query of it is read until they have all left, so a client that sends and never reads
holds a bounded buffer until the write deadline closes it, while one that reads at its own pace keeps
pipelining; what such a client pushes in is bounded too (the socket buffer and `READ_AHEAD`). While
`max_connections` are open, no connection is accepted: new ones wait in the listen backlog until one
closes (as NSD does at its `tcp-count`), rather than being accepted and closed, which a client would
answer by connecting again at once. Connections closed by a limit are counted by reason in
`Counters.tcp_closed`.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from petdns.serve import querylog
from petdns.serve.tally import Listener, Tally, type_code
from petdns.serve.udp import Counters

# Reasons a connection was closed by a limit (the label of petdns_tcp_connections_closed_total).
IDLE = "idle"
WRITE = "write"

YIELD_EVERY = 8  # pipelined queries answered in a row before the other connections and UDP get a turn
# what a connection reads ahead of the query it answers (the stream reader stops reading at twice this):
# a client that sends and never reads makes the server take in no more than that beyond its socket buffer
READ_AHEAD = 4 << 10


@dataclass(frozen=True, slots=True)
class TcpLimits:
    """Deadlines (seconds) and bounds of the TCP connections; CoreDNS's TCP server closes idle
    connections after 10 s and gives a reply 5 s to be written."""

    idle_timeout: float = 10.0  # for each complete query, from the previous reply on
    write_timeout: float = 5.0  # for a reply to leave the buffer (and for the last ones on closing)
    max_connections: int = 1000  # open at once; the next ones wait in the listen backlog
    max_queued: int = 16  # replies written but not handed to the kernel yet, before reading stops


class TcpServing(Protocol):
    """What a connection reads from its server."""

    tcp: TcpLimits
    counters: Counters
    loop_tally: Tally
    query_log: bool
    tcp_connections: dict[asyncio.Task[None], bool]  # task -> answering a query
    tcp_slot_freed: asyncio.Event  # set when a connection closes

    @property
    def draining(self) -> bool: ...

    def answer_tcp(self, data: bytes, peer: str) -> Awaitable[tuple[bytes | None, str]]: ...


class _Unsent:
    """The replies written to a transport that its buffer still holds (whole or in part)."""

    def __init__(self, buffered: Callable[[], int]) -> None:
        self._buffered = buffered
        self._written = 0
        self._ends: deque[int] = deque()

    def add(self, size: int) -> int:
        """Count a reply of `size` bytes just written; how many replies are still unsent."""
        self._written += size
        self._ends.append(self._written)
        sent = self._written - self._buffered()
        while self._ends and self._ends[0] <= sent:
            self._ends.popleft()
        return len(self._ends)


class _IdleDeadline:
    """The idle deadline of one connection: one timer per idle period, not one per query. When the
    deadline passes with no complete query, the transport is closed (what it has buffered is flushed,
    nothing more is read), and the reader's end of file ends the connection's loop."""

    def __init__(self, transport: asyncio.BaseTransport, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._seconds = seconds
        self.deadline = self._loop.time() + seconds
        self.expired = False
        self._handle = self._loop.call_at(self.deadline, self._check)

    def touch(self) -> None:
        """A reply went out: the next query has the whole period again."""
        self.deadline = self._loop.time() + self._seconds

    def pause(self) -> None:
        """A complete query arrived: no deadline while it is answered (until `touch`)."""
        self.deadline = math.inf

    def _check(self) -> None:
        now = self._loop.time()
        if now < self.deadline:  # pushed back or paused since: look again at the new deadline
            self._handle = self._loop.call_at(min(self.deadline, now + self._seconds), self._check)
            return
        self.expired = True
        self._transport.close()

    def cancel(self) -> None:
        self._handle.cancel()


def give_way() -> None:
    """Let a runnable UDP thread have this CPU now. The event loop shares CPUs with the UDP threads;
    a thread woken by a datagram would otherwise wait for the rest of the loop's time slice (several
    milliseconds) whenever TCP clients keep the loop busy. Called after each TCP reply, accept and
    close: one cheap system call when nothing waits."""
    os.sched_yield()


def _count(counters: Counters, reason: str) -> None:
    counters.tcp_closed[reason] = counters.tcp_closed.get(reason, 0) + 1


async def accept(server: TcpServing, listener: Listener, sock: socket.socket) -> None:
    """Accept connections on a listening socket while fewer than `max_connections` are open, each
    answered by a task of its own (`serve_connection`), registered at once, until cancelled."""
    loop = asyncio.get_running_loop()
    connections = server.tcp_connections
    while True:
        while len(connections) >= server.tcp.max_connections:
            server.tcp_slot_freed.clear()
            await server.tcp_slot_freed.wait()
        conn, _ = await loop.sock_accept(sock)
        give_way()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = loop.create_task(serve_connection(server, listener, reader, writer))
            connections[task] = False

        protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(READ_AHEAD), connected)
        try:
            await loop.connect_accepted_socket(lambda: protocol, conn)  # noqa: B023 (used at once)
        except OSError:
            conn.close()


async def serve_connection(
    server: TcpServing, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer one connection's queries in order until it closes, a limit is hit, or the server drains
    (the task is in `server.tcp_connections` from its start to its end)."""
    limits = server.tcp
    task = asyncio.current_task()
    assert task is not None
    server.tcp_connections[task] = False
    peername = writer.get_extra_info("peername")
    peer = str(peername[0]) if isinstance(peername, tuple) else ""
    port = int(peername[1]) if isinstance(peername, tuple) else 0
    unsent = _Unsent(writer.transport.get_write_buffer_size)
    reason = None
    answered = 0
    idle = _IdleDeadline(writer.transport, limits.idle_timeout)
    try:
        while not server.draining:
            try:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                server.tcp_connections[task] = True
                data = await reader.readexactly(size)
            except asyncio.IncompleteReadError:
                reason = IDLE if idle.expired else None
                break
            idle.pause()
            start = time.perf_counter()
            reply, plugin = await server.answer_tcp(data, peer)
            if reply is None:
                break
            reason = await _send(writer, reply, unsent, limits)
            if reason is not None:
                break
            took = time.perf_counter() - start
            server.loop_tally.record(
                listener, type_code(data), reply[3] & 0x0F, plugin, took, len(data), len(reply)
            )
            if server.query_log:
                querylog.emit(data, reply, "tcp", peer, port, took)
            server.tcp_connections[task] = False
            idle.touch()
            answered += 1
            give_way()
            if answered % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # queries already buffered are read without waiting: let others run
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        idle.cancel()
        server.tcp_connections.pop(task, None)
        server.tcp_slot_freed.set()
        give_way()
        if reason is not None:
            _count(server.counters, reason)
        await _close(writer, None if reason == WRITE else limits.write_timeout)


async def _send(writer: asyncio.StreamWriter, reply: bytes, unsent: _Unsent, limits: TcpLimits) -> str | None:
    """Write one reply, waiting while the buffer is full (or holds too many replies); the reason to
    close the connection when they cannot leave in time."""
    frame = struct.pack("!H", len(reply)) + reply
    writer.write(frame)
    transport = writer.transport
    queued = unsent.add(len(frame))
    if (
        queued <= limits.max_queued
        and transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]
    ):
        return None  # nothing to wait for (drain would return at once): no deadline to arm
    try:
        async with asyncio.timeout(limits.write_timeout):
            if queued > limits.max_queued:
                await _drain_all(writer)
            else:
                await writer.drain()
    except TimeoutError:
        return WRITE
    return None


async def _drain_all(writer: asyncio.StreamWriter) -> None:
    """Wait until every buffered reply has been handed to the kernel."""
    transport = writer.transport
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)  # pauses writing now, resumes once empty
    try:
        await writer.drain()
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)


async def _close(writer: asyncio.StreamWriter, flush: float | None) -> None:
    """Close after flushing what is buffered for up to `flush` seconds; None aborts at once."""
    if flush is None:
        writer.transport.abort()
    else:
        writer.close()
    try:
        async with asyncio.timeout(flush if flush is not None else 1.0):
            await writer.wait_closed()
    except (TimeoutError, asyncio.CancelledError):
        writer.transport.abort()
    except ConnectionError:
        pass
