"""The DNS server: UDP (worker threads, `udp`) and TCP (asyncio) on each listen address, one port each.

Queries are counted into `tally.Tally` objects: one per UDP thread (once per batch) and one for the
event loop (TCP, forwarded UDP answers); `petdns.serve.metrics` reads them when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field

from petdns.answer.dispatch import Outside, dispatch, refused
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import Forwarder
from petdns.forward.relay import ClientQuery
from petdns.serve.acl import ALLOW, QueryAcl
from petdns.serve.fastloop import CompiledUdpWorker, available
from petdns.serve.listen import bind_pair, listener, udp_socket
from petdns.serve.tally import ACL, FORWARD, KUBERNETES, NO_PLUGIN, Listener, Tally
from petdns.serve.tcp import TcpLimits, accept
from petdns.serve.udp import Counters, UdpWorker

log = logging.getLogger("petdns.server")


@dataclass
class DnsServer:
    """UDP and TCP on each listen address; the UDP path runs in threads, TCP on the event loop.

    With a `forwarder`, names outside the zones (and names of the reverse zones that do not exist) are
    forwarded: UDP threads answer cache hits themselves and hand the rest to the event loop, which
    replies from the same socket when the upstream has answered.

    With `acl`, every query is judged by the access rules first (the UDP threads then skip the fast
    path, which does not know the client).

    `zone`, `forwarder` (`set_forwarder`), `acl` and `query_log` may be replaced while serving. Stopping
    gracefully is `stop_accepting`, `drain`, `close`; `stop` does the three at once.
    """

    zone: RenderedZone
    listen: list[tuple[str, int]]
    udp_batch: int = 64
    workers: int = field(default=1, kw_only=True)  # UDP threads (SO_REUSEPORT sockets) per address
    counters: Counters = field(default_factory=Counters)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _workers: list[UdpWorker] = field(default_factory=list)
    _listeners: list[tuple[socket.socket, asyncio.Task[None]]] = field(default_factory=list)  # TCP
    forwarder: Forwarder | None = field(default=None, kw_only=True)
    acl: QueryAcl | None = field(default=None, kw_only=True)  # access rules judging every query first
    query_log: bool = field(default=False, kw_only=True)
    loop_tally: Tally = field(default_factory=Tally, kw_only=True)  # TCP and forwarded UDP answers
    tcp: TcpLimits = field(default_factory=TcpLimits, kw_only=True)  # deadlines and bounds of TCP
    tcp_connections: dict[asyncio.Task[None], bool] = field(default_factory=dict, init=False)  # -> busy
    tcp_slot_freed: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _retired: list[Forwarder] = field(default_factory=list, init=False)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _draining: bool = field(default=False, init=False)

    @property
    def draining(self) -> bool:
        """Whether the server has stopped taking queries."""
        return self._draining

    @property
    def tallies(self) -> list[Tally]:
        """Every thread's query counters."""
        return [w.tally for w in self._workers] + [self.loop_tally]

    @property
    def listeners(self) -> list[Listener]:
        """The (server label, proto, family) of each bound socket."""
        out = []
        for host, port in self.bound:
            out += [listener(host, port, "udp"), listener(host, port, "tcp")]
        return out

    async def start(self) -> None:
        """Bind every address (UDP and TCP on the same port) and start serving."""
        loop = asyncio.get_running_loop()
        if self.forwarder is not None and self.forwarder.routes:
            self.zone.fallthrough = True
        for host, port in self.listen:
            udp, tcp = bind_pair(host, port, reuse_port=self.workers > 1)
            bound = udp.getsockname()[1]
            self.bound.append((host, bound))
            socks = [udp] + [udp_socket(host, bound, reuse_port=True) for _ in range(self.workers - 1)]
            worker_type = CompiledUdpWorker if available() else UdpWorker
            for sock in socks:
                worker = worker_type(sock, self, loop, listener(host, bound, "udp"))
                worker.start()
                self._workers.append(worker)
            accepting = loop.create_task(accept(self, listener(host, bound, "tcp"), tcp))
            self._listeners.append((tcp, accepting))

    def set_zone(self, zone: RenderedZone) -> None:
        """Answer from another zone from the next query on."""
        zone.fallthrough = self.forwarder is not None and bool(self.forwarder.routes)
        self.zone = zone

    def __setattr__(self, name: str, value: object) -> None:
        """A new zone, new access rules or the query log reach the UDP workers from their next batch on
        (the compiled loop holds its table while it waits for datagrams)."""
        super().__setattr__(name, value)
        if name in ("zone", "acl", "query_log") and "_workers" in self.__dict__:
            for worker in self._workers:
                worker.use(self.zone)

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
        for tcp, accepting in self._listeners:
            accepting.cancel()
            tcp.close()
        for task, busy in list(self.tcp_connections.items()):
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
        while self.tcp_connections:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(list(self.tcp_connections), timeout=left)
        return done

    async def close(self) -> None:
        """Stop everything still running and close the sockets."""
        if not self._draining:
            await self.stop_accepting()
        for task in list(self.tcp_connections):
            task.cancel()
        await asyncio.gather(*self.tcp_connections, return_exceptions=True)
        for forwarder in (self.forwarder, *self._retired):
            if forwarder is not None:
                await forwarder.stop()
        for task in list(self._retiring):
            task.cancel()
        for worker in self._workers:
            worker.sock.close()
        await asyncio.gather(*(accepting for _, accepting in self._listeners), return_exceptions=True)

    async def stop(self) -> None:
        """Stop at once: queries still waiting on an upstream get SERVFAIL."""
        await self.stop_accepting()
        await self.close()

    async def answer_tcp(self, data: bytes, peer: str) -> tuple[bytes | None, str]:
        """The reply to a TCP query (None: no reply) and the plugin that gave it."""
        if self.acl is not None:
            action, judged = self.acl.judge(data, peer, self.zone.max_udp)
            if action != ALLOW:
                self.counters.dropped += judged is None
                self.counters.answered += judged is not None
                return judged, ACL
        try:
            plugin = KUBERNETES
            reply = dispatch(self.zone, data, tcp=True, forwarding=True)
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
        local = outside.local if outside.local is not None else refused(outside.query, self.zone.max_udp)
        if self.forwarder is None:
            return (local if outside.restore is None else outside.restore(local)), NO_PLUGIN
        q = ClientQuery.of(outside.query, self.zone.max_udp)
        reply, plugin = self.forwarder.screen(q, peer, local, tcp=True)
        if reply is None:
            reply, plugin = await self.forwarder.resolve(q, tcp=True), FORWARD
        return (reply if outside.restore is None else outside.restore(reply)), plugin
