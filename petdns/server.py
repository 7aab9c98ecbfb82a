"""DNS transports: a blocking UDP worker thread per socket and an asyncio TCP server, sharing one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from dataclasses import dataclass, field

from petdns import mmsg
from petdns.handler import handle, handle_full
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


class _UdpWorker(threading.Thread):
    def __init__(self, sock: socket.socket, zone: RenderedZone, counters: Counters, batch: int) -> None:
        super().__init__(name=f"udp-{sock.getsockname()[1]}", daemon=True)
        self.sock = sock
        self.zone = zone
        self.counters = counters
        self.batch = batch
        self.stopping = False

    def run(self) -> None:
        if self.batch > 1 and mmsg.available():
            self._run_batched(mmsg.BatchedSocket(self.sock, self.batch))
        else:
            self._run_plain()

    def _full(self, data: bytes) -> bytes | None:
        """The full path (and the error accounting) for what the fast path declined."""
        try:
            with self.zone.lock:
                reply = handle_full(self.zone, data)
        except Exception:
            self.counters.errors += 1
            if self.counters.errors < 10 or self.counters.errors % 10000 == 0:
                log.exception("internal error on a UDP query (%d so far)", self.counters.errors)
            return None
        if reply is None:
            self.counters.dropped += 1
        return reply

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
                    reply = full(data)
                    if reply is None:
                        continue
                batched.stage(slot, i, reply)
                slot += 1
            if slot:
                failed = batched.flush(slot)
                counters.dropped += failed
                counters.answered += slot - failed

    def _reply(self, data: bytes) -> bytes | None:
        try:
            reply = self.zone.answer(data)
        except Exception:
            reply = None
        return self._full(data) if reply is None else reply

    def _run_plain(self) -> None:
        """One datagram per system call: the fallback where recvmmsg is not available."""
        recv, send, counters = self.sock.recvfrom, self.sock.sendto, self.counters
        while not self.stopping:
            try:
                data, addr = recv(mmsg.RECV_SIZE)
            except OSError:
                continue
            reply = self._reply(data)
            if reply is None:
                continue
            try:
                send(reply, addr)
            except OSError:
                counters.dropped += 1
            else:
                counters.answered += 1


@dataclass
class DnsServer:
    """UDP and TCP on each listen address; the UDP path runs in threads, TCP on the event loop."""

    zone: RenderedZone
    listen: list[tuple[str, int]]
    udp_batch: int = 64
    counters: Counters = field(default_factory=Counters)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _workers: list[_UdpWorker] = field(default_factory=list)
    _tcp: list[asyncio.Server] = field(default_factory=list)

    async def start(self) -> None:
        """Bind every address (UDP and TCP on the same port) and start serving."""
        for host, port in self.listen:
            udp, tcp = _bind_pair(host, port)
            self.bound.append((host, udp.getsockname()[1]))
            worker = _UdpWorker(udp, self.zone, self.counters, self.udp_batch)
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
        for server in self._tcp:
            await server.wait_closed()

    def _answer_tcp(self, data: bytes) -> bytes | None:
        try:
            reply = handle(self.zone, data, tcp=True)
        except Exception:
            self.counters.errors += 1
            log.exception("internal error on a TCP query")
            return None
        if reply is None:
            self.counters.dropped += 1
        else:
            self.counters.answered += 1
        return reply

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS))[0]
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
                reply = self._answer_tcp(data)
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
