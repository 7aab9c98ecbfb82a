"""DNS transports: a blocking UDP worker thread per socket and an asyncio TCP server, sharing one port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from petdns import mmsg
from petdns.forward import Forwarder
from petdns.handler import Outside, handle_full, handle_routed, resolve_full
from petdns.relay import ClientQuery, parse_client
from petdns.wire import Query
from petdns.zone import RenderedZone

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


class _UdpWorker(threading.Thread):
    def __init__(  # noqa: PLR0917
        self,
        sock: socket.socket,
        zone: RenderedZone,
        counters: Counters,
        batch: int,
        forwarder: Forwarder | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(name=f"udp-{sock.getsockname()[1]}", daemon=True)
        self.sock = sock
        self.zone = zone
        self.counters = counters
        self.batch = batch
        self.forwarder = forwarder
        self.loop = loop
        self.stopping = False
        self._peer: Callable[[Any], mmsg.Address] = _identity  # a datagram's source -> its address

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
            if self.forwarder is None:
                with self.zone.lock:
                    reply = handle_full(self.zone, data)
            else:
                reply = self._routed(self.forwarder, data, source)
        except Exception:
            self.counters.errors += 1
            if self.counters.errors < 10 or self.counters.errors % 10000 == 0:
                log.exception("internal error on a UDP query (%d so far)", self.counters.errors)
            return None
        if reply is None:
            self.counters.dropped += 1
        return reply

    def _routed(self, forwarder: Forwarder, data: bytes, source: Any) -> bytes | None:
        q = parse_client(data)
        if q is not None and not self.zone.serves(q.name):  # plainly outside: no need for the full parse
            return self._forward(forwarder, q, source, None)
        with self.zone.lock:
            out = resolve_full(self.zone, data)
        if not isinstance(out, Outside):
            return out
        return self._forward(forwarder, _client_query(out.query), source, out.local)

    def _forward(self, forwarder: Forwarder, q: ClientQuery, source: Any, local: bytes | None) -> bytes:
        peer = self._peer(source)
        reply = forwarder.admit(q, peer[0], local)
        if reply is not None:
            return reply
        assert self.loop is not None
        self.loop.call_soon_threadsafe(forwarder.submit, q, functools.partial(self._send, peer))
        return b""

    def _send(self, peer: mmsg.Address, reply: bytes) -> None:
        """On the event loop: a forwarded answer, from the socket the query came in on."""
        try:
            self.sock.sendto(reply, socket.MSG_DONTWAIT, peer)  # never block the event loop
        except OSError:
            self.counters.dropped += 1
        else:
            self.counters.answered += 1

    def _run_batched(self, batched: mmsg.BatchedSocket) -> None:
        """The hot loop: `_reply` inlined, one recvmmsg and one sendmmsg per batch."""
        fast, full, counters = self.zone.answer, self._full, self.counters
        while not self.stopping:
            try:
                packets = batched.receive()
            except OSError:
                log.exception("receiving on UDP")
                continue
            slot = 0
            for i, data in enumerate(packets):
                try:
                    reply = fast(data)
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

    def _reply(self, data: bytes, addr: mmsg.Address) -> bytes | None:
        try:
            reply = self.zone.answer(data)
        except Exception:
            reply = None
        return self._full(data, addr) if reply is None else reply

    def _run_plain(self) -> None:
        """One datagram per system call: the fallback where recvmmsg is not available."""
        recv, send, counters = self.sock.recvfrom, self.sock.sendto, self.counters
        while not self.stopping:
            try:
                data, addr = recv(mmsg.RECV_SIZE)
            except OSError:
                continue
            reply = self._reply(data, addr)
            if not reply:
                continue
            try:
                send(reply, addr)
            except OSError:
                counters.dropped += 1
            else:
                counters.answered += 1


@dataclass
class DnsServer:
    """UDP and TCP on each listen address; the UDP path runs in threads, TCP on the event loop.

    With a `forwarder`, names outside the zones (and names of the reverse zones that do not exist) are
    forwarded: UDP threads answer cache hits themselves and hand the rest to the event loop, which
    replies from the same socket when the upstream has answered.
    """

    zone: RenderedZone
    listen: list[tuple[str, int]]
    udp_batch: int = 64
    counters: Counters = field(default_factory=Counters)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _workers: list[_UdpWorker] = field(default_factory=list)
    _tcp: list[asyncio.Server] = field(default_factory=list)
    forwarder: Forwarder | None = field(default=None, kw_only=True)

    async def start(self) -> None:
        """Bind every address (UDP and TCP on the same port) and start serving."""
        loop = asyncio.get_running_loop()
        if self.forwarder is not None and self.forwarder.routes:
            self.zone.fallthrough = True
        for host, port in self.listen:
            udp, tcp = _bind_pair(host, port)
            self.bound.append((host, udp.getsockname()[1]))
            worker = _UdpWorker(udp, self.zone, self.counters, self.udp_batch, self.forwarder, loop)
            worker.start()
            self._workers.append(worker)
            self._tcp.append(await asyncio.start_server(self._tcp_client, sock=tcp))

    async def stop(self) -> None:
        """Stop accepting and wake the UDP threads."""
        for server in self._tcp:
            server.close()
        for worker in self._workers:
            worker.stopping = True
            with contextlib.suppress(OSError):
                worker.sock.shutdown(socket.SHUT_RDWR)
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 2.0)
            worker.sock.close()
        if self.forwarder is not None:
            await self.forwarder.stop()
        for server in self._tcp:
            await server.wait_closed()

    async def _answer_tcp(self, data: bytes, peer: str) -> bytes | None:
        try:
            reply = handle_routed(self.zone, data, tcp=True)
            if isinstance(reply, Outside):
                reply = await self._forward_tcp(reply, peer)
        except Exception:
            self.counters.errors += 1
            log.exception("internal error on a TCP query")
            return None
        if reply is None:
            self.counters.dropped += 1
        else:
            self.counters.answered += 1
        return reply

    async def _forward_tcp(self, outside: Outside, peer: str) -> bytes:
        if self.forwarder is None:
            return outside.local
        q = _client_query(outside.query)
        reply = self.forwarder.admit(q, peer, outside.local, tcp=True)
        return reply if reply is not None else await self.forwarder.resolve(q, tcp=True)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else ""
        try:
            while True:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS))[0]
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
                reply = await self._answer_tcp(data, peer)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
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
