"""The UDP transport: one blocking worker thread per socket, the fast path inline, forwarding handed to
the event loop, queries counted into the thread's own `tally.Tally` once per batch."""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from petdns.answer.dispatch import Outside, declined
from petdns.answer.fastpath import answer
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import Forwarder
from petdns.forward.relay import ClientQuery
from petdns.serve import mmsg, querylog
from petdns.serve.acl import ALLOW, QueryAcl
from petdns.serve.tally import ACL, FOLD_AT, FORWARD, KUBERNETES, TIME_BOUNDS, Listener, Tally, type_code

log = logging.getLogger("petdns.server")


@dataclass
class Counters:
    """Packets seen by the transports: answered, dropped (no reply) and internal errors; TCP
    connections closed by a limit, by reason (`petdns.serve.tcp`)."""

    answered: int = 0
    dropped: int = 0
    errors: int = 0
    tcp_closed: dict[str, int] = field(default_factory=dict)


class Serving(Protocol):
    """What a worker reads from its server per batch: a reload may replace the zone and forwarder."""

    zone: RenderedZone
    forwarder: Forwarder | None
    acl: QueryAcl | None
    query_log: bool
    udp_batch: int
    counters: Counters
    loop_tally: Tally


def _restored(deliver: Callable[[bytes], None], restore: Callable[[bytes], bytes], reply: bytes) -> None:
    deliver(restore(reply))


def _identity(peer: Any) -> mmsg.Address:
    return peer  # type: ignore[no-any-return]


def _decline(
    zone: RenderedZone, data: bytes, seen: bytearray | None = None, *, tcp: bool = False
) -> bytes | None:
    """The fast path while access rules are in force: every query goes where its source is known."""
    return None


class UdpWorker(threading.Thread):
    """One UDP socket's thread. Per batch it reads the server's current zone and forwarder (a reload
    may replace them), counts what it answered into its own `tally`, and logs the queries while the
    query log is on."""

    def __init__(
        self, sock: socket.socket, server: Serving, loop: asyncio.AbstractEventLoop, listener: Listener
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

    def use(self, zone: RenderedZone) -> None:
        """The server answers from `zone` now: nothing to do here, the zone is read per batch."""

    def run(self) -> None:
        if self.batch > 1 and mmsg.available():
            batched = mmsg.BatchedSocket(self.sock, self.batch)
            self._peer = batched.peer
            self._run_batched(batched)
        else:
            self._run_plain()

    def _declined(self, data: bytes, source: Any = None) -> bytes | None:
        """`dispatch.declined` (and the error accounting) for what the fast path declined: a reply, None
        when dropped, or b"" when a forwarded query was handed to the event loop, which replies itself."""
        acl = self.server.acl
        if acl is not None:
            go_on, judged = self._judge(acl, data, source)
            if not go_on:
                return judged
        try:
            forwarder = self.server.forwarder
            reply: bytes | None
            out = declined(self.server.zone, data, forwarding=forwarder is not None)
            if isinstance(out, Outside):
                assert forwarder is not None
                q = ClientQuery.of(out.query, self.server.zone.max_udp)
                reply = self._forward(forwarder, q, data, source, out.local, out.restore)
            else:
                reply = out
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

    def _judge(self, acl: QueryAcl, data: bytes, source: Any) -> tuple[bool, bytes | None]:
        """The access rules on one query: (True, None) to go on, else (False, its reply; None: dropped)."""
        action, reply = acl.judge(data, self._peer(source)[0], self.server.zone.max_udp)
        if action == ALLOW:
            return True, None
        if reply is None:
            self.counters.dropped += 1
            return False, None
        self._types.append(type_code(data))
        self._others.append((ACL, reply[3] & 0x0F))
        return False, reply

    def _forward(  # noqa: PLR0917
        self,
        forwarder: Forwarder,
        q: ClientQuery,
        data: bytes,
        source: Any,
        local: bytes | None,
        restore: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        peer = self._peer(source)
        reply, plugin = forwarder.screen(q, peer[0], local)
        if reply is not None:
            if plugin != KUBERNETES:
                self._others.append((plugin, reply[3] & 0x0F))
            return reply if restore is None else restore(reply)
        deliver = functools.partial(self._send, peer, data, self._start)
        if restore is not None:  # a rewritten question: the client gets its own back
            deliver = functools.partial(_restored, deliver, restore)
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

    def _run_batched(self, batched: mmsg.BatchedSocket, until: Callable[[], bool] = bool) -> None:
        """The hot loop: one recvmmsg and one sendmmsg per batch; per query the fast path, which also
        appends the query's type code; per batch `BatchCounter.commit`, inlined. Returns when stopping,
        or after a batch when `until()` is true."""
        server, counters, batches, fast = (
            self.server,
            self.counters,
            self.tally.batches(self.listener),
            answer,
        )
        full, clock, others, types = self._declined, time.perf_counter, self._others, self._types
        lock, by_bucket, seconds, flags, views = (
            batches.lock,
            batches.types,
            batches.seconds,
            batches.flags,
            batched.flag_views,
        )
        bucket_of, bounds = bisect.bisect_left, TIME_BOUNDS
        while not self.stopping and not until():
            try:
                packets = batched.receive()
            except OSError:
                log.exception("receiving on UDP")
                continue
            self._start = start = clock()
            zone = server.zone
            fast = answer if server.acl is None else _decline
            slot = 0
            for i, data in enumerate(packets):
                try:
                    reply = fast(zone, data, types)
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
        if self.server.acl is not None:
            return self._declined(data, addr)
        try:
            reply = answer(self.server.zone, data, self._types)
        except Exception:
            reply = None
        return self._declined(data, addr) if reply is None else reply

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
