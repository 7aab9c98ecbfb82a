"""Continuous DNS load on the separate server: a bounded-rate UDP loop over the current pets' A names and
each headless service's A and SRV, in a thread of its own. Every query must be answered (lost: no reply
within LOST_AFTER seconds); while the API server is down, the names that had data must keep it."""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import threading
import time

import dns.message
import dns.rcode
from soak_report import Record

LOST_AFTER = 2.0

Key = tuple[str, str]  # (name, type)


class Load(threading.Thread):
    def __init__(self, port: int, qps: float, record: Record) -> None:
        super().__init__(name="soak-dns-load", daemon=True)
        self.port = port
        self.qps = qps
        self.record = record
        self.stopping = threading.Event()
        self.names: list[Key] = []  # replaced as a whole by the scenario
        self.must_answer: frozenset[Key] = frozenset()  # during API downtime: these keep their data
        self.sent = 0
        self.answered = 0
        self.lost = 0
        self.latencies: list[float] = []
        self.rcodes: collections.Counter[str] = collections.Counter()
        self.emptied = 0
        self._wire: dict[Key, bytes] = {}

    def _query(self, key: Key, qid: int) -> bytes:
        wire = self._wire.get(key)
        if wire is None:
            wire = self._wire[key] = dns.message.make_query(key[0], key[1]).to_wire()
        return qid.to_bytes(2, "big") + wire[2:]

    def run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(("127.0.0.1", self.port))
        sock.setblocking(False)
        outstanding: dict[int, tuple[float, Key, bool]] = {}
        interval = 1.0 / self.qps
        next_send = time.monotonic()
        qid = 0
        turn = 0
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                names = self.names
                while names and now >= next_send:
                    key = names[turn % len(names)]
                    turn += 1
                    qid = (qid + 1) & 0xFFFF
                    if qid in outstanding:  # 65,536 in flight: count the old one as lost
                        self._lose(outstanding.pop(qid)[1])
                    with contextlib.suppress(OSError):  # counted as lost when no reply comes
                        sock.send(self._query(key, qid))
                    outstanding[qid] = (now, key, key in self.must_answer)
                    self.sent += 1
                    next_send += interval
                if now - next_send > 1.0:
                    next_send = now  # fell behind (machine busy): do not burst
                wait = max(0.0, min(next_send - time.monotonic(), 0.01))
                readable, _, _ = select.select([sock], [], [], wait)
                if readable:
                    self._receive(sock, outstanding)
                expiry = time.monotonic() - LOST_AFTER
                for old in [q for q, (t, _, _) in outstanding.items() if t < expiry]:
                    self._lose(outstanding.pop(old)[1])
        finally:
            sock.close()

    def _receive(self, sock: socket.socket, outstanding: dict[int, tuple[float, Key, bool]]) -> None:
        while True:
            try:
                reply = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable: the server is gone; the query stays outstanding
                return
            if len(reply) < 12:
                continue
            entry = outstanding.pop(int.from_bytes(reply[:2], "big"), None)
            if entry is None:
                continue
            sent_at, key, must = entry
            self.answered += 1
            self.latencies.append(time.monotonic() - sent_at)
            rcode = reply[3] & 0x0F
            ancount = int.from_bytes(reply[6:8], "big")
            self.rcodes[dns.rcode.to_text(dns.rcode.Rcode(rcode))] += 1
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                self.record.violation("dns_bad_rcode", f"{key[0]} {key[1]}: {dns.rcode.to_text(rcode)}")
            elif must and (rcode != dns.rcode.NOERROR or ancount == 0):
                self.emptied += 1
                self.record.violation(
                    "dns_emptied_during_api_downtime", f"{key[0]} {key[1]}: rcode {rcode}, {ancount} answers"
                )

    def _lose(self, key: Key) -> None:
        self.lost += 1
        self.record.violation("dns_lost", f"no reply to {key[0]} {key[1]} within {LOST_AFTER} s")
