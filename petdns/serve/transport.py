"""DNS transports: a blocking UDP worker thread per socket and an asyncio TCP server, sharing one port.

Queries are counted into `tally.Tally` objects: one per UDP thread (once per batch) and one for the
event loop (TCP, forwarded UDP answers); `petdns.metrics` reads them when scraped.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from petdns.answer.handler import Outside, handle_full, handle_routed, resolve_full
from petdns.answer.zone import RenderedZone
from petdns.dns.wire import Query
from petdns.forward.forwarder import Forwarder
from petdns.forward.relay import ClientQuery, parse_client
from petdns.serve import mmsg, querylog
from petdns.serve.tally import (
    FOLD_AT,
    FORWARD,
    KUBERNETES,
    NO_PLUGIN,
    TIME_BOUNDS,
    Listener,
    Tally,
    server_label,
    type_code,
)

log = logging.getLogger("petdns.server")
TCP_IDLE_SECONDS = 10.0
UDP_BUFFER_BYTES = 4 << 20


@dataclass
class Counters:
    """Packets seen by the transports: answered, dropped (no reply) and internal errors."""

    answered: int = 0
    dropped: int = 0
    errors: int = 0


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:5353`, `[::1]:5353` or `:53` (all IPv4 addresses) into (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {text!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP, flags=socket.AI_NUMERICHOST)
    return host, int(port)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _identity(peer: Any) -> mmsg.Address:
    return peer  # type: ignore[no-any-return]


def _client_query(query: Query) -> ClientQuery:
    """A query the full path parsed, as forwarding needs it."""
    return ClientQuery.from_parts(
        query.qid, query.flags, query.labels, query.qtype, query.qclass, query.edns_size, query.do
    )


def _listener(host: str, port: int, proto: str) -> Listener:
    return server_label(host, port), proto, "2" if _family(host) == socket.AF_INET6 else "1"


class _UdpWorker(threading.Thread):
    """One UDP socket's thread. Per batch it reads the server's current zone and forwarder (a reload
    may replace them), counts what it answered into its own `tally`, and logs the queries while the
    query log is on."""

    def __init__(
        self, sock: socket.socket, server: DnsServer, loop: asyncio.AbstractEventLoop, listener: Listener
    ) -> None:
        super().__init__(name=f"udp-{sock.getsockname()[1]}", daemon=True)
        self.sock = sock
        self.server = server
        self.counters = server.counters
        self.batch = server.udp_batch
        self.loop = loop
        self.listener = listener
        self.tally = Tally()
        self.stopping = False
        self._peer: Callable[[Any], mmsg.Address] = _identity  # a datagram's source -> its address
        self._types = bytearray()  # type codes of the current batch's replies
        self._others: list[tuple[str, int]] = []  # (plugin, rcode) of its replies the zones did not write
        self._start = 0.0  # when the current batch was received

    def run(self) -> None:
        if self.batch > 1 and mmsg.available():
            batched = mmsg.BatchedSocket(self.sock, self.batch)
            self._peer = batched.peer
            self._run_batched(batched)
        else:
            self._run_plain()

    def _full(self, data: bytes, source: Any = None) -> bytes | None:
        """The full path (and the error accounting) for what the fast path declined: a reply, None when
        dropped, or b"" when a forwarded query was handed to the event loop, which replies itself."""
        try:
            forwarder = self.server.forwarder
            if forwarder is None:
                zone = self.server.zone
                with zone.lock:
                    reply = handle_full(zone, data)
            else:
                reply = self._routed(forwarder, data, source)
        except Exception:
            self.counters.errors += 1
            if self.counters.errors < 10 or self.counters.errors % 10000 == 0:
                log.exception("internal error on a UDP query (%d so far)", self.counters.errors)
            return None
        if reply is None:
            self.counters.dropped += 1
        elif reply:
            self._types.append(type_code(data))
        return reply

    def _routed(self, forwarder: Forwarder, data: bytes, source: Any) -> bytes | None:
        zone = self.server.zone
        q = parse_client(data)
        if q is not None and not zone.serves(q.name):  # plainly outside: no need for the full parse
            return self._forward(forwarder, q, data, source, None)
        with zone.lock:
            out = resolve_full(zone, data)
        if not isinstance(out, Outside):
            return out
        return self._forward(forwarder, _client_query(out.query), data, source, out.local)

    def _forward(
        self, forwarder: Forwarder, q: ClientQuery, data: bytes, source: Any, local: bytes | None
    ) -> bytes:
        peer = self._peer(source)
        reply, plugin = forwarder.screen(q, peer[0], local)
        if reply is not None:
            if plugin != KUBERNETES:
                self._others.append((plugin, reply[3] & 0x0F))
            return reply
        deliver = functools.partial(self._send, peer, data, self._start)
        self.loop.call_soon_threadsafe(forwarder.submit, q, deliver)
        return b""

    def _send(self, peer: mmsg.Address, data: bytes, start: float, reply: bytes) -> None:
        """On the event loop: a forwarded answer, from the socket the query came in on."""
        try:
            self.sock.sendto(reply, socket.MSG_DONTWAIT, peer)  # never block the event loop
        except OSError:
            self.counters.dropped += 1
            return
        self.counters.answered += 1
        took = time.perf_counter() - start
        self.server.loop_tally.record(self.listener, type_code(data), reply[3] & 0x0F, FORWARD, took, -1, -1)
        if self.server.query_log:
            querylog.emit(data, reply, "udp", peer[0], peer[1], took)

    def _run_batched(self, batched: mmsg.BatchedSocket) -> None:
        """The hot loop: one recvmmsg and one sendmmsg per batch; per query the fast path, which also
        appends the query's type code; per batch `BatchCounter.commit`, inlined."""
        server, counters, batches = self.server, self.counters, self.tally.batches(self.listener)
        full, clock, others, types = self._full, time.perf_counter, self._others, self._types
        lock, by_bucket, seconds, flags, views = (
            batches.lock,
            batches.types,
            batches.seconds,
            batches.flags,
            batched.flag_views,
        )
        bucket_of, bounds = bisect.bisect_left, TIME_BOUNDS
        while not self.stopping:
            try:
                packets = batched.receive()
            except OSError:
                log.exception("receiving on UDP")
                continue
            self._start = start = clock()
            fast = server.zone.answer
            slot = 0
            for i, data in enumerate(packets):
                try:
                    reply = fast(data, types)
                except Exception:
                    reply = None
                if reply is None:
                    reply = full(data, i)
                    if not reply:
                        continue
                batched.stage(slot, i, reply)
                slot += 1
            if slot:
                failed = batched.flush(slot)
                counters.dropped += failed
                counters.answered += slot - failed
                took = clock() - start
                bucket = bucket_of(bounds, took)
                with lock:
                    by_bucket[bucket] += types
                    seconds[bucket] += took * len(types)
                    flags += views[slot].tobytes()
                    if others:
                        batches.others += others
                        others.clear()
                if len(flags) >= FOLD_AT:
                    batches.fold()
                if server.query_log:
                    self._log_batch(batched, packets, slot, took)
            types.clear()

    def _log_batch(self, batched: mmsg.BatchedSocket, packets: list[bytes], count: int, took: float) -> None:
        for slot in range(count):
            source, reply = batched.staged(slot)
            peer = batched.peer(source)
            querylog.emit(packets[source], reply, "udp", peer[0], peer[1], took)

    def _reply(self, data: bytes, addr: mmsg.Address) -> bytes | None:
        try:
            reply = self.server.zone.answer(data, self._types)
        except Exception:
            reply = None
        return self._full(data, addr) if reply is None else reply

    def _run_plain(self) -> None:
        """One datagram per system call: the fallback where recvmmsg is not available."""
        recv, send, counters, clock = self.sock.recvfrom, self.sock.sendto, self.counters, time.perf_counter
        batches = self.tally.batches(self.listener)
        while not self.stopping:
            try:
                data, addr = recv(mmsg.RECV_SIZE)
            except OSError:
                continue
            if self.stopping:
                break
            self._start = start = clock()
            self._types.clear()
            reply = self._reply(data, addr)
            if not reply:
                continue
            try:
                send(reply, addr)
            except OSError:
                counters.dropped += 1
            else:
                counters.answered += 1
            took = clock() - start
            batches.commit(self._types, reply[3:4], took, self._others)
            self._others.clear()
            if self.server.query_log:
                querylog.emit(data, reply, "udp", addr[0], addr[1], took)


@dataclass
class DnsServer:
    """UDP and TCP on each listen address; the UDP path runs in threads, TCP on the event loop.

    With a `forwarder`, names outside the zones (and names of the reverse zones that do not exist) are
    forwarded: UDP threads answer cache hits themselves and hand the rest to the event loop, which
    replies from the same socket when the upstream has answered.

    `zone`, `forwarder` (`set_forwarder`) and `query_log` may be replaced while serving. Stopping
    gracefully is `stop_accepting`, `drain`, `close`; `stop` does the three at once.
    """

    zone: RenderedZone
    listen: list[tuple[str, int]]
    udp_batch: int = 64
    counters: Counters = field(default_factory=Counters)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _workers: list[_UdpWorker] = field(default_factory=list)
    _tcp: list[asyncio.Server] = field(default_factory=list)
    forwarder: Forwarder | None = field(default=None, kw_only=True)
    query_log: bool = field(default=False, kw_only=True)
    loop_tally: Tally = field(default_factory=Tally, kw_only=True)  # TCP and forwarded UDP answers
    _connections: dict[asyncio.Task[None], bool] = field(default_factory=dict, init=False)  # task -> busy
    _retired: list[Forwarder] = field(default_factory=list, init=False)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _draining: bool = field(default=False, init=False)

    @property
    def tallies(self) -> list[Tally]:
        """Every thread's query counters."""
        return [w.tally for w in self._workers] + [self.loop_tally]

    @property
    def listeners(self) -> list[Listener]:
        """The (server label, proto, family) of each bound socket."""
        out = []
        for host, port in self.bound:
            out += [_listener(host, port, "udp"), _listener(host, port, "tcp")]
        return out

    async def start(self) -> None:
        """Bind every address (UDP and TCP on the same port) and start serving."""
        loop = asyncio.get_running_loop()
        if self.forwarder is not None and self.forwarder.routes:
            self.zone.fallthrough = True
        for host, port in self.listen:
            udp, tcp = _bind_pair(host, port)
            bound = udp.getsockname()[1]
            self.bound.append((host, bound))
            worker = _UdpWorker(udp, self, loop, _listener(host, bound, "udp"))
            worker.start()
            self._workers.append(worker)
            client = functools.partial(self._tcp_client, _listener(host, bound, "tcp"))
            self._tcp.append(await asyncio.start_server(client, sock=tcp))

    def set_zone(self, zone: RenderedZone) -> None:
        """Answer from another zone from the next query on."""
        zone.fallthrough = self.forwarder is not None and bool(self.forwarder.routes)
        self.zone = zone

    def set_forwarder(self, forwarder: Forwarder | None) -> None:
        """Forward with another forwarder (or none) from the next query on; the one it replaces finishes
        its fetches in flight (bounded by its timeouts), then stops."""
        old, self.forwarder = self.forwarder, forwarder
        self.zone.fallthrough = forwarder is not None and bool(forwarder.routes)
        if old is not None:
            self._retired.append(old)
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, old: Forwarder) -> None:
        await old.drain(old.config.timeout * (len(old.routes.upstreams) + 1))
        await old.stop()
        with contextlib.suppress(ValueError):
            self._retired.remove(old)

    async def stop_accepting(self) -> None:
        """Take no new queries: close the TCP listeners and idle connections, stop the UDP threads (their
        sockets stay open for forwarded answers still to come)."""
        self._draining = True
        for server in self._tcp:
            server.close()
        for task, busy in list(self._connections.items()):
            if not busy:
                task.cancel()
        for worker in self._workers:
            worker.stopping = True
            with contextlib.suppress(OSError):  # wakes the thread; replies can still be sent
                worker.sock.shutdown(socket.SHUT_RD)
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 2.0)

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the queries in flight: forwarded ones and TCP connections
        answering one; True when nothing was left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        forwarders = [f for f in (self.forwarder, *self._retired) if f is not None]
        done = all([await f.drain(max(0.0, deadline - loop.time())) for f in forwarders])
        while self._connections:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._connections), timeout=left)
        return done

    async def close(self) -> None:
        """Stop everything still running and close the sockets."""
        if not self._draining:
            await self.stop_accepting()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for forwarder in (self.forwarder, *self._retired):
            if forwarder is not None:
                await forwarder.stop()
        for task in list(self._retiring):
            task.cancel()
        for worker in self._workers:
            worker.sock.close()
        for server in self._tcp:
            await server.wait_closed()

    async def stop(self) -> None:
        """Stop at once: queries still waiting on an upstream get SERVFAIL."""
        await self.stop_accepting()
        await self.close()

    async def _answer_tcp(self, data: bytes, peer: str) -> tuple[bytes | None, str]:
        try:
            plugin = KUBERNETES
            reply = handle_routed(self.zone, data, tcp=True)
            if isinstance(reply, Outside):
                reply, plugin = await self._forward_tcp(reply, peer)
        except Exception:
            self.counters.errors += 1
            log.exception("internal error on a TCP query")
            return None, NO_PLUGIN
        if reply is None:
            self.counters.dropped += 1
        else:
            self.counters.answered += 1
        return reply, plugin

    async def _forward_tcp(self, outside: Outside, peer: str) -> tuple[bytes, str]:
        if self.forwarder is None:
            return outside.local, NO_PLUGIN
        q = _client_query(outside.query)
        reply, plugin = self.forwarder.screen(q, peer, outside.local, tcp=True)
        return (reply, plugin) if reply is not None else (await self.forwarder.resolve(q, tcp=True), FORWARD)

    async def _tcp_client(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = False
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else ""
        port = int(peername[1]) if isinstance(peername, tuple) else 0
        try:
            while not self._draining:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS))[0]
                self._connections[task] = True
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
                start = time.perf_counter()
                reply, plugin = await self._answer_tcp(data, peer)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
                took = time.perf_counter() - start
                self.loop_tally.record(
                    listener, type_code(data), reply[3] & 0x0F, plugin, took, len(data), len(reply)
                )
                if self.query_log:
                    querylog.emit(data, reply, "tcp", peer, port, took)
                self._connections[task] = False
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _bind_pair(host: str, port: int, attempts: int = 20) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same address and port (port 0: any free port for both)."""
    family = _family(host)
    for _ in range(attempts):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # room for bursts; the kernel caps it at net.core.rmem_max
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER_BYTES)
        if family == socket.AF_INET6:
            udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        udp.bind((host, port))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(128)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no free port pair on {host}")
