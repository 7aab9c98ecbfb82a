"""The UDP worker's compiled loop (`petdns._fastloop.Loop`): batches are received, answered from the
zone's compiled table and sent without the GIL; the queries it declines come back here and go through
the Python fast path and `dispatch.declined` as in `udp.UdpWorker`, their replies sent from the same
socket. What the compiled loop answered it counts itself (replies by duration bucket and type, time
by type, replies by rcode); `Tally.settle` (a scrape) takes those counts into the worker's tally, so
the loop never waits for the GIL while it answers.

The Python loop takes over while the query log is on (it logs each reply), while access rules judge
every query (`acl`), and when the zone has no compiled table (`PETDNS_PURE=1`, the extension is not
built, or plugins that may change any question are configured).
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING

from petdns.answer.fastpath import answer
from petdns.answer.fasttable import compiled
from petdns.serve import mmsg, querylog
from petdns.serve.tally import TIME_BOUNDS
from petdns.serve.udp import UdpWorker

if TYPE_CHECKING:
    from petdns._fastloop import Loop
    from petdns.answer.zone import RenderedZone
    from petdns.serve.tally import BatchCounter
    from petdns.serve.udp import Counters

log = logging.getLogger("petdns.server")


def available() -> bool:
    """Whether the compiled loop can run here (the extension is built, batched I/O exists)."""
    return compiled is not None and mmsg.available()


def address(raw: bytes) -> mmsg.Address:
    """A raw sockaddr_in / sockaddr_in6 as a socket address."""
    port = struct.unpack_from("!H", raw, 2)[0]
    if int.from_bytes(raw[:2], sys.byteorder) == socket.AF_INET6:
        flowinfo, scope = struct.unpack_from("!I", raw, 4)[0], struct.unpack_from("=I", raw, 24)[0]
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope
    return socket.inet_ntop(socket.AF_INET, raw[4:8]), port


class CompiledUdpWorker(UdpWorker):
    """A UDP worker running the compiled loop (the Python one while batching is off)."""

    compiled: Loop | None = None  # while `serve` runs

    def run(self) -> None:
        if self.batch > 1:
            serve(self)
        else:
            super().run()

    def use(self, zone: RenderedZone) -> None:
        """Answer from `zone`'s table from the next batch on: the compiled loop holds its table while
        it waits for datagrams. None (every query declined, so the loop hands over to Python) while
        access rules judge every query or the query log is on."""
        if self.compiled is not None:
            python = self.server.acl is not None or self.server.query_log
            self.compiled.use(None if python else zone.mirror.table)


def serve(worker: CompiledUdpWorker) -> None:
    """The worker's loop while it is not stopping."""
    assert compiled is not None
    server, sock = worker.server, worker.sock
    loop = compiled.Loop(sock.fileno(), worker.batch, int(sock.family), TIME_BOUNDS)
    worker.compiled = loop
    worker.use(server.zone)  # then `DnsServer.set_zone` and `set_acl` hand the table over
    worker._peer = lambda source: address(loop.peer(source))
    batches = worker.tally.batches(worker.listener)
    fold = functools.partial(_count, loop, batches, worker.counters)
    worker.tally.folds.append(fold)  # a scrape counts what the loop answered, the loop never waits
    python: mmsg.BatchedSocket | None = None

    def compiled_again() -> bool:
        return not server.query_log and server.acl is None and server.zone.mirror.table is not None

    try:
        while not worker.stopping:
            if server.zone.mirror.table is None or server.query_log or server.acl is not None:
                python = python or mmsg.BatchedSocket(sock, worker.batch)
                worker._peer = python.peer
                worker._run_batched(python, until=compiled_again)
                worker._peer = lambda source: address(loop.peer(source))
                continue
            err, declined = loop.run()
            if err and err != errno.EINTR:
                log.error("receiving on UDP: %s", errno.errorcode.get(err, err))
            if declined:
                _answer_declined(worker, loop, declined, batches)
    finally:
        fold()


def _count(loop: Loop, batches: BatchCounter, counters: Counters) -> None:
    """What the compiled loop answered since the last count, into the tally and the counters."""
    replies, seconds, rcodes, answered, failed = loop.take()
    batches.count(replies, seconds, rcodes)
    counters.answered += answered
    counters.dropped += failed


def _answer_declined(
    worker: CompiledUdpWorker, loop: Loop, declined: list[tuple[int, bytes]], batches: BatchCounter
) -> None:
    """The Python fast path, else `dispatch.declined`, for what the compiled loop left; one sendmmsg."""
    counters, types, others, zone = worker.counters, worker._types, worker._others, worker.server.zone
    worker._start = start = time.perf_counter()
    replied = bytearray()
    judged = worker.server.acl is not None  # every query judged first: no fast path
    # the query log switched on: this batch is the one that hands the loop over to Python
    logged: list[tuple[bytes, bytes, int]] | None = [] if worker.server.query_log else None
    for source, data in declined:
        try:
            reply = None if judged else answer(zone, data, types)
        except Exception:
            reply = None
        if reply is None:
            reply = worker._declined(data, source)
            if not reply:
                continue
        loop.stage(len(replied), source, reply)
        replied.append(reply[3])
        if logged is not None:
            logged.append((data, reply, source))
    if replied:
        failed = loop.flush(len(replied))
        counters.dropped += failed
        counters.answered += len(replied) - failed
        took = time.perf_counter() - start
        batches.commit(types, bytes(replied), took, others)
        others.clear()
        for data, reply, source in logged or ():
            peer = worker._peer(source)
            querylog.emit(data, reply, "udp", peer[0], peer[1], took)
    types.clear()
