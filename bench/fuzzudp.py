"""The UDP side of bench/fuzz.py: mutated datagrams in windows from one connected socket, every reply
matched to its query by a fresh ID and judged by fuzzcheck."""

from __future__ import annotations

import random
import socket
import struct

from dnsrig import HOST
from fuzzcheck import Tally, check_reply, sample
from mutate import mutate

WINDOW = 128  # datagrams sent before reading the replies
IDLE = 0.05  # seconds without a reply that end a window


class UdpSender:
    """Sends windows of mutated datagrams and reads their replies; IDs number the queries (mod 2^16)."""

    def __init__(self, port: int, tally: Tally, notes: list[str]) -> None:
        self.tally = tally
        self.notes = notes
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.connect((HOST, port))  # only the server's datagrams come in
        self.pending: dict[int, bytes] = {}  # ID -> query expecting a reply
        self.next_id = 0

    def send(self, rng: random.Random, seeds: list[bytes], count: int) -> None:
        """`count` mutated datagrams, in windows."""
        done = 0
        while done < count:
            n = min(WINDOW, count - done)
            expect = 0
            for _ in range(n):
                family, data = mutate(rng, seeds)
                self.tally.families[family] += 1
                if len(data) >= 2:
                    qid = self.next_id
                    self.next_id = (qid + 1) & 0xFFFF
                    data = struct.pack("!H", qid) + data[2:]
                    if qid in self.pending:
                        del self.pending[qid]
                        self.tally.unanswered_queries += 1
                    if len(data) >= 12 and not data[2] & 0x80:  # a response or a runt gets no reply
                        self.pending[qid] = data
                        expect += 1
                try:
                    self.sock.send(data)
                except OSError:
                    return  # the server is gone: the probe says so
                self.tally.sent += 1
            self._receive(expect)
            done += n

    def _receive(self, expect: int, idle: float = IDLE) -> None:
        got = 0
        self.sock.settimeout(idle)
        while got < expect:
            try:
                reply = self.sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                return
            got += 1
            self._judge(reply)

    def _judge(self, reply: bytes) -> None:
        qid = struct.unpack("!H", reply[:2])[0] if len(reply) >= 2 else -1
        query = self.pending.pop(qid, None)
        if query is None:
            problem: str | None = (
                "a reply to no query in flight (a second reply, or one to a response or runt)"
            )
            self.tally.replies += 1
            query = b""
        else:
            problem = check_reply(query, reply, udp=True, tally=self.tally)
        if problem is not None:
            self.tally.malformed += 1
            if len(self.notes) < 10:
                self.notes.append(sample("UDP", query, reply, problem))

    def drain(self) -> None:
        """Read the replies still due until a second passes without one, and count the queries left
        unanswered. The server's queue is empty then: a good query sent next is not dropped behind a
        full socket buffer."""
        self._receive(len(self.pending), idle=1.0)
        self.tally.unanswered_queries += len(self.pending)
        self.pending.clear()

    def close(self) -> None:
        self.sock.close()
