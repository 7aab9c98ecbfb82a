"""How a server's UDP answering scales from one worker on one CPU to two workers on two, measured without
a load generator competing for the CPUs.

dnsperf needs a CPU of its own to offer more than one server core can answer, so on a 2-CPU machine
"two workers vs one" under dnsperf measures the load generator (`bench/run.py` notes it). Here the
server is stopped (SIGSTOP), its sockets' receive queues are filled with the bench's queries from 64
client sockets (so that SO_REUSEPORT spreads them over the workers' sockets), and it is let go
(SIGCONT) while this process sleeps: the rate is the replies over the time from the release to the
last reply's kernel receive timestamp (SO_TIMESTAMPNS). Both worker counts of a server are up at
once and their cycles alternate (the other one stopped meanwhile), so that the machine's drift
moves both alike. Medians over the cycles, per server and worker count, and each server's
2-worker/1-worker ratio, NSD (`server-count`) beside petdns.

    .venv/bin/python bench/scaling.py [--cycles 20] [--servers petdns,nsd] [--json OUT]

Everything runs on 127.0.0.1; petdns with forwarding off. The fill is what the servers' receive
buffers hold (petdns asks for 4 MiB, NSD sets its own), at most `--fill` queries per worker; the
replies a cycle are printed beside each rate.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster  # bench/ is not a package
import procs
import servers

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the module lacks the name
CLIENTS = 64
RCVBUF = 4 << 20
CPUS = {1: "0", 2: "0,1"}


def _packets(queries: Path, limit: int) -> list[bytes]:
    lines = (line.split() for line in queries.read_text().splitlines()[:limit])
    return [
        procs.query_packet(i, name, procs.QTYPES[qtype], flags=0x0100)
        for i, (name, qtype) in enumerate(lines)
    ]


def _clients() -> list[socket.socket]:
    out = []
    for _ in range(CLIENTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setblocking(False)
        out.append(s)
    return out


def _drain(clients: list[socket.socket]) -> tuple[int, int]:
    """(replies read, the latest kernel receive time in ns) of every client socket."""
    count, last = 0, 0
    for s in clients:
        while True:
            try:
                _, ancillary, _, _ = s.recvmsg(4096, 64)
            except BlockingIOError:
                break
            count += 1
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16])
                    last = max(last, sec * 1_000_000_000 + nsec)
    return count, last


def cycle(
    pids: list[int], port: int, clients: list[socket.socket], packets: list[bytes]
) -> tuple[float, int]:
    """One stop-fill-release: (replies per second while the server drained its queues, replies)."""
    _drain(clients)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for i, packet in enumerate(packets):
            clients[i % CLIENTS].sendto(packet, (procs.LOCALHOST, port))
        released = time.time_ns()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    time.sleep(0.6)
    count, last = _drain(clients)
    return (count / ((last - released) / 1e9) if count and last > released else 0.0), count


def _command(name: str, port: int, cluster_dir: Path, work: Path, workers: int) -> list[str]:
    if name == "nsd":
        return servers.nsd_command(port, cluster_dir, work, workers)
    return servers.petdns_command(port, cluster_dir, work, workers)


def _summary(got: list[tuple[float, int]]) -> dict[str, float]:
    rates = [rate for rate, _ in got]
    return {
        "qps": round(statistics.median(rates)),
        "min": round(min(rates)),
        "max": round(max(rates)),
        "replies": round(statistics.median(count for _, count in got)),
    }


def measure(name: str, cluster_dir: Path, fill: int, cycles: int) -> dict[int, dict[str, float]]:
    """One server started twice, with one worker (CPU 0) and with two (CPUs 0 and 1), both up: their
    cycles alternate (the one not measured is stopped), so that a machine whose speed drifts moves
    both alike; per worker count the median rate, its spread and the replies a cycle."""
    probe = cluster.probe_name(cluster.read_spec(cluster_dir))
    with tempfile.TemporaryDirectory(prefix="petdns-scaling-") as tmp:
        started: dict[int, tuple[procs.Server, int]] = {}
        clients = _clients()
        try:
            for workers in (1, 2):
                port, work = procs.free_port(), Path(tmp) / f"{workers}w"
                work.mkdir()
                cmd = _command(name, port, cluster_dir, work, workers)
                srv = procs.start(
                    name, cmd, cpu=CPUS[workers], limit_s=900, log=work / "server.log", cwd=work
                )
                started[workers] = (srv, port)
                if not srv.wait_ready(port, probe, 120):
                    raise RuntimeError(f"{name}: {srv.not_ready_reason(120)}: {srv.log_tail()}")
            queries = _packets(cluster_dir / "queries.txt", 2 * fill)
            got: dict[int, list[tuple[float, int]]] = {1: [], 2: []}
            for i in range(cycles + 2):  # 2 warm-ups each
                for workers, (srv, port) in started.items():
                    idle = [pid for w, (other, _) in started.items() if w != workers for pid in other.pids()]
                    for pid in idle:
                        os.kill(pid, signal.SIGSTOP)
                    try:
                        result = cycle(srv.pids(), port, clients, queries[: fill * workers])
                    finally:
                        for pid in idle:
                            os.kill(pid, signal.SIGCONT)
                    if i >= 2:
                        got[workers].append(result)
        finally:
            for s in clients:
                s.close()
            for srv, _ in started.values():
                srv.stop()
    return {workers: _summary(rates) for workers, rates in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cluster", type=Path, default=Path(__file__).parent / "out" / "cluster-1000-10000")
    ap.add_argument("--servers", default="petdns,nsd")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--fill", type=int, default=12_000, help="queries per worker and cycle")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not cluster.params_path(args.cluster).exists():  # `bench/run.py` writes it, or this the same way
        cluster.ensure(cluster.Spec(), args.cluster)
    results: dict[str, dict[str, float]] = {}
    for name in args.servers.split(","):
        why = servers.missing(name)
        if why:
            print(f"{name}: skipped: {why}")
            continue
        for workers, got in measure(name, args.cluster, args.fill, args.cycles).items():
            results[f"{name}-{workers}w"] = got
            spread = f"min {got['min']:,}, max {got['max']:,}; {got['replies']:,} replies a cycle"
            print(
                f"{name} {workers} worker(s) on CPU {CPUS[workers]}: {got['qps']:,} qps ({spread})",
                flush=True,
            )
        one, two = results[f"{name}-1w"]["qps"], results[f"{name}-2w"]["qps"]
        results[name] = {"two_vs_one": round(two / one, 2) if one else 0.0}
        print(f"{name}: two workers vs one: {results[name]['two_vs_one']}x", flush=True)
    if "petdns" in results and "nsd" in results:
        print(f"petdns 2w vs nsd 2w: {results['petdns-2w']['qps'] / results['nsd-2w']['qps']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
