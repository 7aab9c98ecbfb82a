"""TCP abuse: UDP latency of petdns and Knot while slow readers and slowloris connections hold TCP.

Every server runs at once, each pinned to the server CPU on 127.0.0.1 with the bench cluster. In each
round, every server in turn (the order rotates) has its UDP latency measured by dnsperf at a fixed
offered load, first idle, then while the attack (`abuse_attack`) holds its TCP port:

- slow readers: 2 KiB receive buffers, pipelined SRV queries sent as fast as taken, replies never read;
- slowloris: a length prefix, then one byte every few seconds, never a whole query; reconnecting.

Placement: the server on --server-cpu; dnsperf and the attacker thread on --loadgen-cpu, the attacker
at nice 19 so that it never delays dnsperf (--attacker-cpu puts it elsewhere, e.g. on the server's CPU
to measure a CPU-starving attacker). On a shared machine, other processes' load delays the servers and
dnsperf by milliseconds (the "noise" column shows how much CPU it took): judge on a quiet machine.
Under `chrt -f 10` the servers and dnsperf inherit a real-time priority (the attacker thread drops back
to an ordinary one; --nice N starts the servers as ordinary processes), but a real-time server's threads
do not preempt one another on its CPU: petdns's UDP thread then waits for every burst of the event
loop's TCP work to end, which measures the scheduler rather than the server. Rounds interleave the
servers and the idle/attacked phases, so a drift in the machine's other load falls on both; the
figures are medians over the rounds.

The report gives per server the median idle and attacked p50/p99, the ratio of the medians (target:
petdns within 2x), each round's p99 pair, the server's CPU by thread while attacked (main thread,
others), the CPU that other processes took on the two CPUs (noise), the attacker's own CPU, and what
the attack really held: connections established at the server, how many with replies the server could
not send (slow readers' windows full) or a partial query (slowloris), and the replies held unread.

    .venv/bin/python bench/tcp_abuse.py [--rounds 3] [--seconds 6] [--qps 5000] [--slow-readers 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cluster
import procs
from abuse_attack import Attack, Attacker, ServerSide, server_side
from loadgen import dnsperf
from servers import SERVERS, missing

HERE = Path(__file__).resolve().parent


@dataclass
class Phase:
    """One dnsperf run: latency, and the CPU of the server's threads and of everything else."""

    p50_ms: float | None = None
    p99_ms: float | None = None
    qps: float = 0.0
    lost_pct: float = 0.0
    main_thread_pct: float = 0.0  # the server's main threads (petdns: the event loop)
    other_threads_pct: float = 0.0  # its other threads (petdns: the UDP loop)
    other_load_pct: float = 0.0  # other processes on the server's or the load generator's CPU


@dataclass
class Round:
    idle: Phase
    attacked: Phase
    attack: Attack
    side: ServerSide


@dataclass
class Result:
    server: str
    rounds: list[Round] = field(default_factory=list)
    rss_mb: float = 0.0

    def median(self, phase: str, key: str) -> float | None:
        values = [getattr(getattr(r, phase), key) for r in self.rounds]
        found = [v for v in values if v is not None]
        return statistics.median(found) if found else None

    @property
    def p99_ratio(self) -> float | None:
        a, b = self.median("attacked", "p99_ms"), self.median("idle", "p99_ms")
        return a / b if a is not None and b else None


@dataclass
class Running:
    name: str
    port: int
    srv: procs.Server


def thread_ticks(pids: list[int]) -> tuple[int, int]:
    """CPU ticks of the main threads of `pids` and of all their other threads."""
    main = other = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])
            if int(tid) == pid:
                main += ticks
            else:
                other += ticks
    return main, other


def phase(server: Running, args: argparse.Namespace, data: Path) -> Phase:
    kw = {"loadgen_cpu": args.loadgen_cpu, "server_cpu": args.server_cpu, "server_pids": server.srv.pids}
    pids = server.srv.pids()
    before, t0 = thread_ticks(pids), time.monotonic()
    run = dnsperf(server.port, data, args.seconds, max_qps=args.qps, verbose=True, **kw)
    after, wall = thread_ticks(pids), time.monotonic() - t0
    return Phase(
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        qps=run.qps,
        lost_pct=run.lost_pct,
        main_thread_pct=(after[0] - before[0]) / procs.CLK_TCK / wall * 100,
        other_threads_pct=(after[1] - before[1]) / procs.CLK_TCK / wall * 100,
        other_load_pct=run.other_load_pct,
    )


def start(name: str, args: argparse.Namespace, cluster_dir: Path, work: Path) -> Running:
    port = procs.free_port()
    cmd = SERVERS[name](port, cluster_dir, work)
    if name == "petdns":
        cmd += ["--no-forward", "--no-metrics"]
    if args.nice is not None:  # an ordinary process (not real-time when the bench runs under `chrt`)
        cmd = ["chrt", "-o", "0", "nice", "-n", str(args.nice), *cmd]
    limit = args.rounds * len(args.servers.split(",")) * (2 * args.seconds + args.settle + args.rest + 30)
    srv = procs.start(
        name, cmd, cpu=str(args.server_cpu), limit_s=limit + 300, log=work / f"{name}.log", cwd=work
    )
    if not srv.wait_ready(port, cluster.probe_name(args.spec), 120):
        reason = srv.not_ready_reason(120)
        srv.stop()
        raise RuntimeError(f"{name}: {reason}\n{srv.log_tail()}")
    return Running(name, port, srv)


def attack_round(server: Running, args: argparse.Namespace, data: Path) -> Round:
    idle = phase(server, args, data)
    attacker = Attacker(
        server.port,
        probe_srv(args.spec),
        readers=args.slow_readers,
        loris=args.slowloris,
        queries=args.queries,
        trickle_s=args.trickle,
        reconnects=args.reconnects,
        cpu=args.loadgen_cpu if args.attacker_cpu is None else args.attacker_cpu,
    )
    attacker.start()
    try:
        time.sleep(args.settle)  # the connections open and the slow readers fill their windows
        attacked = phase(server, args, data)
        side = server_side(server.port)
    finally:
        attack = attacker.stop()
    if not server.srv.alive():
        raise RuntimeError(f"{server.name} died under the attack\n{server.srv.log_tail()}")
    time.sleep(args.rest)  # the server notices the closes before the next idle phase
    return Round(idle, attacked, attack, side)


def measure(args: argparse.Namespace, names: list[str], cluster_dir: Path, work: Path) -> list[Result]:
    data = cluster_dir / "queries.txt"
    running: list[Running] = []
    try:
        for name in names:
            running.append(start(name, args, cluster_dir, work / name))
        for server in running:  # warm-up
            kw = {
                "loadgen_cpu": args.loadgen_cpu,
                "server_cpu": args.server_cpu,
                "server_pids": server.srv.pids,
            }
            dnsperf(server.port, data, 2, max_qps=args.qps, **kw)
        results = {s.name: Result(s.name) for s in running}
        for r in range(args.rounds):
            for server in running[r % len(running) :] + running[: r % len(running)]:
                print(f"round {r + 1}/{args.rounds}: {server.name}", file=sys.stderr, flush=True)
                results[server.name].rounds.append(attack_round(server, args, data))
        for server in running:
            results[server.name].rss_mb = procs.rss_kb(server.srv.pids()) / 1024
        return [results[s.name] for s in running]
    finally:
        for server in running:
            server.srv.stop()
            procs.wait_port_free(server.port)


def probe_srv(spec: cluster.Spec) -> str:
    """The SRV name of the headless service the probe pet belongs to (its biggest answers)."""
    return f"_{cluster.PORT_NAME}._tcp.{cluster.probe_name(spec).split('.', 1)[1]}"


def _ms(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "-"


def render(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"UDP at {args.qps} q/s, {args.rounds} rounds x {args.seconds} s per phase, medians; idle vs "
        f"{args.slow_readers} slow readers + {args.slowloris} slowloris; server CPU {args.server_cpu}, "
        f"dnsperf CPU {args.loadgen_cpu}, attacker CPU "
        f"{args.loadgen_cpu if args.attacker_cpu is None else args.attacker_cpu} (nice 19), "
        f"servers {'as the bench' if args.nice is None else f'at nice {args.nice}'}, "
        f"bench {'ordinary' if os.sched_getscheduler(0) == os.SCHED_OTHER else 'real-time'}",
        f"{'server':8} {'idle p50':>9} {'idle p99':>9} {'att. p50':>9} {'att. p99':>9} {'p99 x':>6} "
        f"{'lost %':>7} {'main %':>7} {'other %':>7} {'noise %':>7} {'RSS MB':>7}",
    ]
    for r in results:
        ratio = f"{r.p99_ratio:.2f}" if r.p99_ratio is not None else "-"
        lines.append(
            f"{r.server:8} {_ms(r.median('idle', 'p50_ms')):>9} {_ms(r.median('idle', 'p99_ms')):>9} "
            f"{_ms(r.median('attacked', 'p50_ms')):>9} {_ms(r.median('attacked', 'p99_ms')):>9} {ratio:>6} "
            f"{r.median('attacked', 'lost_pct') or 0:>7.2f} "
            f"{r.median('attacked', 'main_thread_pct') or 0:>7.1f} "
            f"{r.median('attacked', 'other_threads_pct') or 0:>7.1f} "
            f"{r.median('attacked', 'other_load_pct') or 0:>7.1f} {r.rss_mb:>7.1f}"
        )
    lines.append("per round (idle p99 -> attacked p99 ms; attack: opened/closed by server, attacker CPU %;")
    lines.append(
        "  at the server: established, with unsent replies, with a partial query; readers full, unread KiB)"
    )
    for r in results:
        for i, rd in enumerate(r.rounds, 1):
            a, s = rd.attack, rd.side
            lines.append(
                f"  {r.server:8} {i}: {_ms(rd.idle.p99_ms)} -> {_ms(rd.attacked.p99_ms)}; "
                f"{a.opened}/{a.closed_by_server}, {a.cpu_pct:.1f}%; "
                f"{s.established}, {s.send_queued}, {s.recv_partial}; {a.readers_full}, {a.unread_kib:.0f}"
            )
    ours = next((r for r in results if r.server == "petdns"), None)
    for peer in (r for r in results if r.server != "petdns"):
        ours_p99, peer_p99 = ours and ours.median("attacked", "p99_ms"), peer.median("attacked", "p99_ms")
        if ours_p99 and peer_p99:
            lines.append(
                f"petdns/{peer.server} attacked p99: {ours_p99 / peer_p99:.2f}x "
                f"({peer.server} {peer_p99:.3f} ms)"
            )
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
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6, help="per phase (idle, attacked)")
    ap.add_argument("--settle", type=float, default=4.0, help="attack held before measuring")
    ap.add_argument("--rest", type=float, default=2.0, help="after the attack, before the next phase")
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--loadgen-cpu", type=int, default=1)
    ap.add_argument("--attacker-cpu", type=int, default=None, help="default: the load generator's CPU")
    ap.add_argument(
        "--nice",
        type=int,
        default=None,
        help="start the servers as ordinary processes at this niceness (default: as the bench runs)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "out" / "tcp_abuse.json")
    args = ap.parse_args(argv)
    args.spec = cluster.Spec(services=args.services, endpoints=args.endpoints, queries=20000, storm=1000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cluster_dir = HERE / "out" / "cluster-abuse"
    cluster.ensure(args.spec, cluster_dir)
    names = []
    for name in args.servers.split(","):
        why = missing(name)
        if why:
            print(f"{name}: skipped: {why}", file=sys.stderr)
        else:
            names.append(name)
    with tempfile.TemporaryDirectory(prefix="petdns-abuse-") as tmp:
        for name in names:
            (Path(tmp) / name).mkdir()
        results = measure(args, names, cluster_dir, Path(tmp))
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
