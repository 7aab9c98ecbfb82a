"""The TCP attacker of bench/tcp_abuse.py: slow readers and slowloris connections held against one port
from one thread, and what the server's side of those connections shows (`server_side`).

- slow readers: sockets with a 2 KiB receive buffer that send pipelined SRV queries as fast as the
  kernel takes them and never read a reply, so the server's replies fill their window;
- slowloris: connections that send a length prefix announcing a 64-byte query and then one byte every
  few seconds, never a whole query, and reconnect whenever the server closes them.

The thread reports its own CPU time (`Attack.cpu_pct`), and, when it stops, how many replies the
readers hold unread: proof that their windows are full.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import itertools
import os
import selectors
import socket
import struct
import subprocess
import termios
import threading
import time
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"
_LORIS = b"\x00\x40"  # the length of a 64-byte query, never followed by the whole of it
TCP_ESTABLISHED = 1


@dataclass
class Attack:
    """What the attacker saw: connections opened, closed by the server, bytes handed to its kernel."""

    opened: int = 0
    refused: int = 0
    closed_by_server: int = 0
    queries_written: int = 0  # taken by the attacker's own kernel (most never reach the server)
    bytes_written: int = 0
    loris_bytes: int = 0  # bytes trickled by the slowloris connections
    held_at_end: int = 0
    readers_full: int = 0  # readers holding at least 1 KiB of replies unread when stopped
    unread_kib: float = 0.0  # replies held unread by all readers when stopped
    cpu_pct: float = 0.0  # the attacker thread's CPU time / its wall time (100 = one core)
    wall_s: float = 0.0


@dataclass
class ServerSide:
    """The server's end of the established connections on its port (from `ss`)."""

    established: int = 0
    send_queued: int = 0  # replies waiting in the kernel for a peer that does not read
    recv_partial: int = 0  # bytes received but not read by the server (a partial query waits)
    extra: dict[str, int] = field(default_factory=dict)


def server_side(port: int) -> ServerSide:
    """Count the connections whose local port is `port` by what their queues hold."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    ).stdout
    side = ServerSide()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        side.established += 1
        side.recv_partial += int(parts[0]) > 0
        side.send_queued += int(parts[1]) > 0
    return side


def srv_query(name: str, qid: int) -> bytes:
    """A length-prefixed SRV query for `name`."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    body = (
        struct.pack("!HHHHHH", qid & 0xFFFF, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 33, 1)
    )
    return struct.pack("!H", len(body)) + body


class Attacker:
    """One thread holding slow readers and slowloris connections against a port until stopped."""

    def __init__(
        self,
        port: int,
        name: str,
        *,
        readers: int,
        loris: int,
        queries: int,
        trickle_s: float,
        reconnects: int,
        cpu: int | None = None,
    ) -> None:
        self.port, self.readers, self.loris, self.trickle_s = port, readers, loris, trickle_s
        self.reconnects = reconnects  # new connections per second, at most (after the first ones)
        self.cpu = cpu
        self.stats = Attack()
        # what each connection has still to write: views of the payload (a slice would copy the rest
        # of it, ~2 MB, at every write: CPU of the attacker's, on the load generator's CPU)
        self._pending: dict[socket.socket, memoryview] = {}
        self._kind: dict[socket.socket, str] = {}
        self._held = {"reader": 0, "loris": 0}
        # slowloris connections by when their next byte is due (a scan of every connection at each
        # wake-up cost the attacker more CPU than the attack, on the load generator's CPU)
        self._trickles: list[tuple[float, int, socket.socket]] = []
        self._seq = itertools.count()
        self._payload = b"".join(srv_query(name, i) for i in range(queries))
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Attack:
        self._stop.set()
        self._thread.join(timeout=30)
        self.stats.held_at_end = len(self._kind)
        unread = [_unread(s) for s, kind in self._kind.items() if kind == "reader"]
        self.stats.readers_full = sum(1 for n in unread if n >= 1024)
        self.stats.unread_kib = sum(unread) / 1024
        for sock in list(self._kind):
            self._drop(sock)
        self._sel.close()
        return self.stats

    def _open(self, kind: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "reader":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.setblocking(False)
        try:
            sock.connect((LOCALHOST, self.port))
        except BlockingIOError:
            pass
        except OSError:
            self.stats.refused += 1
            sock.close()
            return
        self.stats.opened += 1
        self._kind[sock] = kind
        self._held[kind] += 1
        self._pending[sock] = memoryview(self._payload if kind == "reader" else _LORIS)
        if kind == "loris":
            heapq.heappush(self._trickles, (time.monotonic(), next(self._seq), sock))
        self._sel.register(sock, selectors.EVENT_WRITE if kind == "reader" else selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        kind = self._kind.pop(sock, None)
        if kind is not None:
            self._held[kind] -= 1
        self._pending.pop(sock, None)
        sock.close()

    def _run(self) -> None:
        """Reconnect what the server closed, write the readers' queries while they are accepted,
        trickle the slowloris bytes, and notice closes; never spin (the load generator shares the CPU)."""
        # an ordinary thread at nice 19 even when the bench runs under `chrt`: below the load generator
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        if self.cpu is not None:  # off the server's CPU
            os.sched_setaffinity(0, {self.cpu})
        began, cpu_began = time.monotonic(), time.thread_time()
        next_check = 0.0
        budget, refilled = float(self.readers + self.loris), time.monotonic()  # the first ones at once
        while not self._stop.is_set():
            now = time.monotonic()
            budget, refilled = min(budget + (now - refilled) * self.reconnects, float(self.reconnects)), now
            for kind, want in (("reader", self.readers), ("loris", self.loris)):
                while budget >= 1 and self._held[kind] < want:
                    budget -= 1
                    self._open(kind)
            for key, events in self._sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                kind = self._kind.get(sock)
                if kind == "loris" and events & selectors.EVENT_READ:
                    self._read_loris(sock)
                elif kind == "reader" and events & selectors.EVENT_WRITE:
                    self._write_reader(sock)
            now = time.monotonic()
            while self._trickles and self._trickles[0][0] <= now:
                sock = heapq.heappop(self._trickles)[2]
                if self._kind.get(sock) == "loris":  # not closed since
                    self._trickle(sock, now)
            if now >= next_check:
                next_check = now + 1.0
                for sock, kind in list(self._kind.items()):
                    if kind == "reader" and not self._pending.get(sock) and _peer_closed(sock):
                        self.stats.closed_by_server += 1
                        self._drop(sock)
        self.stats.wall_s = time.monotonic() - began
        self.stats.cpu_pct = (time.thread_time() - cpu_began) / max(self.stats.wall_s, 1e-9) * 100

    def _read_loris(self, sock: socket.socket) -> None:
        try:
            if sock.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.stats.closed_by_server += 1
        self._drop(sock)

    def _send(self, sock: socket.socket, data: memoryview) -> int | None:
        """Bytes the kernel took (0 when it took none now); None when the server closed the connection."""
        try:
            sent = sock.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            self.stats.closed_by_server += 1
            self._drop(sock)
            return None
        self.stats.bytes_written += sent
        return sent

    def _trickle(self, sock: socket.socket, now: float) -> None:
        heapq.heappush(self._trickles, (now + self.trickle_s, next(self._seq), sock))
        pending = self._pending.get(sock) or memoryview(b"\x00")
        sent = self._send(sock, pending[:1])
        if sent:
            self.stats.loris_bytes += sent
            self._pending[sock] = pending[sent:]

    def _write_reader(self, sock: socket.socket) -> None:
        pending = self._pending.get(sock, memoryview(b""))
        sent = self._send(sock, pending[:65536])
        if not sent:
            return
        before = len(self._payload) - len(pending)
        self.stats.queries_written += _whole_queries(self._payload, before, before + sent)
        self._pending[sock] = pending[sent:]
        if not self._pending[sock]:
            self._sel.unregister(sock)  # everything written: it now only sits there, never reading


def _whole_queries(payload: bytes, start: int, end: int) -> int:
    """Queries of the same size in payload completed between byte offsets start and end."""
    size = struct.unpack("!H", payload[:2])[0] + 2
    return end // size - start // size


def _unread(sock: socket.socket) -> int:
    """Bytes of replies waiting in a socket's receive queue."""
    try:
        got = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", got)[0])


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the server closed (FIN or RST) a connection whose replies we never read."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != TCP_ESTABLISHED
    except OSError:
        return True
