"""TCP abuse: UDP latency of petdns and Knot while slow readers and slowloris connections hold TCP.

For each server: start it pinned to the server CPU on 127.0.0.1 with the bench cluster, measure UDP
latency with dnsperf at a fixed offered load (idle), then open the attack and measure again with the
same load while it holds:

- slow readers: sockets with a 2 KiB receive buffer that send pipelined SRV queries (30,000 each by
  default) and never read a reply;
- slowloris: connections that send a length prefix and then one byte every few seconds, never a
  whole query, and reconnect whenever the server closes them.

The report gives idle and attacked p50/p99 per server, the attacked/idle p99 ratio (target: within
2x), the server's connection closes seen by the attacker and its memory, and petdns's figures as
ratios to the peer's. Only loopback is used; every process is bounded by `timeout`.

    .venv/bin/python bench/tcp_abuse.py [--slow-readers 100] [--slowloris 1000] [--qps 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cluster
import procs
from loadgen import Run, dnsperf
from servers import SERVERS, missing

HERE = Path(__file__).resolve().parent
LOCALHOST = "127.0.0.1"


@dataclass
class Attack:
    """What the attacker saw: connections opened, closed by the server, queries written."""

    opened: int = 0
    refused: int = 0
    closed_by_server: int = 0
    queries_written: int = 0
    bytes_written: int = 0
    held_at_end: int = 0


@dataclass
class Result:
    server: str
    idle: dict[str, float | None] = field(default_factory=dict)
    attacked: dict[str, float | None] = field(default_factory=dict)
    attack: Attack = field(default_factory=Attack)
    rss_mb: float = 0.0

    @property
    def p99_ratio(self) -> float | None:
        a, b = self.attacked.get("p99_ms"), self.idle.get("p99_ms")
        return a / b if a is not None and b else None


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
        self._pending: dict[socket.socket, bytes] = {}
        self._kind: dict[socket.socket, str] = {}
        self._next_trickle: dict[socket.socket, float] = {}
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
        self._pending[sock] = (
            self._payload if kind == "reader" else b"\x00\x40"
        )  # a 64-byte query, never whole
        self._next_trickle[sock] = time.monotonic()
        self._sel.register(sock, selectors.EVENT_WRITE if kind == "reader" else selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        self._kind.pop(sock, None)
        self._pending.pop(sock, None)
        self._next_trickle.pop(sock, None)
        sock.close()

    def _count(self, kind: str) -> int:
        return sum(1 for k in self._kind.values() if k == kind)

    def _run(self) -> None:
        """Reconnect what the server closed, write the readers' queries while they are accepted,
        trickle the slowloris bytes, and notice closes; never spin (the load generator shares the CPU)."""
        if self.cpu is not None:  # off the server's CPU, and below the load generator sharing this one
            os.sched_setaffinity(0, {self.cpu})
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        next_check = 0.0
        budget, refilled = float(self.readers + self.loris), time.monotonic()  # the first ones at once
        while not self._stop.is_set():
            now = time.monotonic()
            budget, refilled = min(budget + (now - refilled) * self.reconnects, float(self.reconnects)), now
            for kind, want in (("reader", self.readers), ("loris", self.loris)):
                while budget >= 1 and self._count(kind) < want:
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
            for sock, kind in list(self._kind.items()):
                if kind == "loris" and now >= self._next_trickle[sock]:
                    self._trickle(sock, now)
            if now >= next_check:
                next_check = now + 1.0
                for sock, kind in list(self._kind.items()):
                    if kind == "reader" and not self._pending.get(sock) and _peer_closed(sock):
                        self.stats.closed_by_server += 1
                        self._drop(sock)

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

    def _send(self, sock: socket.socket, data: bytes) -> int | None:
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
        self._next_trickle[sock] = now + self.trickle_s
        pending = self._pending.get(sock) or b"\x00"
        sent = self._send(sock, pending[:1])
        if sent:
            self._pending[sock] = pending[sent:]

    def _write_reader(self, sock: socket.socket) -> None:
        pending = self._pending.get(sock, b"")
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


TCP_ESTABLISHED = 1


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the server closed (FIN or RST) a connection whose replies we never read."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != TCP_ESTABLISHED
    except OSError:
        return True


def _figures(run: Run) -> dict[str, float | None]:
    return {"qps": run.qps, "lost_pct": run.lost_pct, "p50_ms": run.p50_ms, "p99_ms": run.p99_ms}


def measure(name: str, args: argparse.Namespace, cluster_dir: Path, work: Path) -> Result:
    port = procs.free_port()
    cmd = SERVERS[name](port, cluster_dir, work)
    if name == "petdns":
        cmd += ["--no-forward", "--no-metrics"]
    srv = procs.start(
        name,
        cmd,
        cpu=str(args.server_cpu),
        limit_s=args.seconds * 4 + 300,
        log=work / f"{name}.log",
        cwd=work,
    )
    result = Result(name)
    try:
        probe = cluster.probe_name(args.spec)
        if not srv.wait_ready(port, probe, 120):
            raise RuntimeError(f"{name}: {srv.not_ready_reason(120)}\n{srv.log_tail()}")
        data = cluster_dir / "queries.txt"
        kw = {"loadgen_cpu": args.loadgen_cpu, "server_cpu": args.server_cpu, "server_pids": srv.pids}
        dnsperf(port, data, 2, max_qps=args.qps, **kw)  # warm-up
        result.idle = _figures(dnsperf(port, data, args.seconds, max_qps=args.qps, verbose=True, **kw))
        attacker = Attacker(
            port,
            probe_srv(args.spec),
            readers=args.slow_readers,
            loris=args.slowloris,
            queries=args.queries,
            trickle_s=args.trickle,
            reconnects=args.reconnects,
            cpu=args.loadgen_cpu,
        )
        attacker.start()
        time.sleep(args.settle)  # let the connections open and the slow readers fill their buffers
        result.attacked = _figures(dnsperf(port, data, args.seconds, max_qps=args.qps, verbose=True, **kw))
        result.rss_mb = procs.rss_kb(srv.pids()) / 1024
        result.attack = attacker.stop()
        if not srv.alive():
            raise RuntimeError(f"{name} died under the attack\n{srv.log_tail()}")
    finally:
        srv.stop()
        procs.wait_port_free(port)
    return result


def probe_srv(spec: cluster.Spec) -> str:
    """The SRV name of the headless service the probe pet belongs to (its biggest answers)."""
    return f"_{cluster.PORT_NAME}._tcp.{cluster.probe_name(spec).split('.', 1)[1]}"


def render(results: list[Result], args: argparse.Namespace) -> str:
    head = (
        f"UDP at {args.qps} q/s for {args.seconds} s, idle vs "
        f"{args.slow_readers} slow readers + {args.slowloris} slowloris"
    )
    lines = [
        head,
        f"{'server':8} {'idle p50':>9} {'idle p99':>9} {'att. p50':>9} {'att. p99':>9} {'p99 x':>6} "
        f"{'lost %':>7} {'opened':>7} {'closed':>7} {'held':>6} {'RSS MB':>7}",
    ]
    for r in results:

        def ms(v: float | None) -> str:
            return f"{v:.3f}" if v is not None else "-"

        ratio = f"{r.p99_ratio:.2f}" if r.p99_ratio is not None else "-"
        lines.append(
            f"{r.server:8} {ms(r.idle.get('p50_ms')):>9} {ms(r.idle.get('p99_ms')):>9} "
            f"{ms(r.attacked.get('p50_ms')):>9} {ms(r.attacked.get('p99_ms')):>9} {ratio:>6} "
            f"{r.attacked.get('lost_pct') or 0:>7.2f} {r.attack.opened:>7} {r.attack.closed_by_server:>7} "
            f"{r.attack.held_at_end:>6} {r.rss_mb:>7.1f}"
        )
    ours = next((r for r in results if r.server == "petdns"), None)
    for peer in (r for r in results if r.server != "petdns"):
        if ours and ours.attacked.get("p99_ms") and peer.attacked.get("p99_ms"):
            ratio = ours.attacked["p99_ms"] / peer.attacked["p99_ms"]
            peer_p99 = peer.attacked["p99_ms"]
            lines.append(f"petdns/{peer.server} attacked p99: {ratio:.2f}x ({peer.server} {peer_p99:.3f} ms)")
    if ours and ours.p99_ratio is not None:
        verdict = "ok" if ours.p99_ratio <= 2.0 else "OVER"
        lines.append(f"target: petdns attacked p99 within 2x idle: {ours.p99_ratio:.2f}x {verdict}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--servers", default="petdns,knot")
    ap.add_argument("--slow-readers", type=int, default=100)
    ap.add_argument("--slowloris", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=30000, help="pipelined SRV queries per slow reader")
    ap.add_argument("--trickle", type=float, default=3.0, help="seconds between slowloris bytes")
    ap.add_argument("--reconnects", type=int, default=200, help="new connections per second, at most")
    ap.add_argument("--qps", type=int, default=5000, help="offered UDP load while measuring")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--loadgen-cpu", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "tcp_abuse.json")
    args = ap.parse_args(argv)
    args.spec = cluster.Spec(services=args.services, endpoints=args.endpoints, queries=20000, storm=1000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cluster_dir = HERE / "out" / "cluster-abuse"
    cluster.ensure(args.spec, cluster_dir)
    results = []
    with tempfile.TemporaryDirectory(prefix="petdns-abuse-") as tmp:
        for name in args.servers.split(","):
            why = missing(name)
            if why:
                print(f"{name}: skipped: {why}", file=sys.stderr)
                continue
            print(f"{name}: measuring", file=sys.stderr, flush=True)
            results.append(measure(name, args, cluster_dir, Path(tmp)))
    text = render(results, args)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps([asdict(r) | {"p99_ratio": r.p99_ratio} for r in results], indent=1) + "\n"
    )
    ours = next((r for r in results if r.server == "petdns"), None)
    return 0 if ours and ours.p99_ratio is not None and ours.p99_ratio <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
