"""Fuzz petdns with mutated DNS queries over UDP and TCP on 127.0.0.1; stop by itself and report.

Two runs, each of half the packets: `petdns serve --no-forward --objects FILE` (generated objects: a
100-endpoint headless service, SRV, names near 255 bytes, an ExternalName, 300 one-pet services that
wait to be rendered until first asked), then the same objects
with forwarding to a local knotd. Mutated queries (bench/mutate.py: bit flips, truncation, label-length
lies, compression-pointer loops and forward pointers, huge counts, several OPT records, odd EDNS,
odd types and classes, odd name bytes, header flags, 0-byte and 64 KiB packets, junk) go out over
UDP in windows and over TCP pipelined on a pool of connections, some ending in a length prefix that
lies. Targets, all zero:

- crash: the server process died;
- hang: after every 10,000 packets (and at the end) a good query over UDP and TCP must get the right
  answer within `--deadline` seconds;
- malformed: a reply dnspython cannot parse, whose ID or question does not match the query (when
  dnspython parses the query), without QR, or over UDP larger than the client's size capped at 1232;
  and every "internal error" the server logs.

    .venv/bin/python bench/fuzz.py [--udp 1000000] [--tcp 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dnsrig import BIG, HOST, LONG, UPSTREAM_ZONE, ZONE, Proc, start_knot, start_petdns, write_objects
from fuzzcheck import Probe, Tally
from fuzztcp import tcp_round
from fuzzudp import UdpSender
from mutate import seed_queries

CHECK_EVERY = 10_000
FUZZ_PETS = 100  # endpoints of the big service: answers truncated over UDP, 10 KiB SRV over TCP
FUZZ_CROWD = 300  # one-pet services: the start leaves them (and their /24s) to be rendered when asked
CLUSTER_NAMES = [
    (BIG, "A"),
    (BIG, "AAAA"),
    (f"big-1.{BIG}", "A"),
    (f"_http._tcp.{BIG}", "SRV"),
    (f"_https._tcp.big-2.{BIG}", "SRV"),
    (f"web.default.svc.{ZONE}", "A"),
    (f"web-0.web.default.svc.{ZONE}", "AAAA"),
    (f"api.default.svc.{ZONE}", "A"),
    (f"_http._tcp.api.default.svc.{ZONE}", "SRV"),
    (f"{LONG[:61]}03.{LONG[:60]}.default.svc.{ZONE}", "A"),
    (f"ext.default.svc.{ZONE}", "A"),
    ("2.0.1.10.in-addr.arpa", "PTR"),
    (f"c7-0.c7.default.svc.{ZONE}", "A"),  # names waiting to be rendered, until first asked
    (f"_http._tcp.c8.default.svc.{ZONE}", "SRV"),
    ("9.0.4.10.in-addr.arpa", "PTR"),
    ("10.0.96.10.in-addr.arpa", "PTR"),
    (f"dns-version.{ZONE}", "TXT"),
    (ZONE, "SOA"),
    (ZONE, "NS"),
    (f"default.svc.{ZONE}", "A"),
    (f"nope.default.svc.{ZONE}", "A"),
    (f"1-2-3-4.default.pod.{ZONE}", "A"),
    (BIG, "ANY"),
]
FORWARD_NAMES = [
    (f"www.{UPSTREAM_ZONE}", "A"),
    (f"www.{UPSTREAM_ZONE}", "AAAA"),
    (f"big.{UPSTREAM_ZONE}", "A"),
    (f"txt.{UPSTREAM_ZONE}", "TXT"),
    (f"_sip._udp.srv.{UPSTREAM_ZONE}", "SRV"),
    (f"nope.{UPSTREAM_ZONE}", "A"),
    ("example.org", "A"),
]


@dataclass
class Run:
    """One server run's counts."""

    name: str
    udp: Tally = field(default_factory=Tally)
    tcp: Tally = field(default_factory=Tally)
    hangs: int = 0
    crashed: bool = False
    internal_errors: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _probe_all(run: Run, proc: Proc, probes: list[Probe], port: int, deadline: float) -> bool:
    """The good queries over UDP and TCP; False once the server is gone."""
    if not proc.alive():
        run.crashed = True
        return False
    for probe in probes:
        for tcp in (False, True):
            problem = probe.ask(port, deadline, tcp=tcp)
            if problem is not None:
                run.hangs += 1
                if len(run.notes) < 10:
                    run.notes.append(f"hang: {problem}")
    if not proc.alive():
        run.crashed = True
        return False
    return True


def fuzz_run(  # noqa: PLR0917
    run: Run,
    proc: Proc,
    port: int,
    seeds: list[bytes],
    probes: list[Probe],
    args: argparse.Namespace,
    n_udp: int,
    n_tcp: int,
) -> None:
    rng = random.Random(f"{args.seed}-{run.name}")
    started = time.monotonic()
    sender = UdpSender(port, run.udp, run.notes)
    try:
        sent = 0
        while sent < n_udp:
            chunk = min(CHECK_EVERY, n_udp - sent)
            sender.send(rng, seeds, chunk)
            sender.drain()
            sent += chunk
            if not _probe_all(run, proc, probes, port, args.deadline):
                return
    finally:
        sender.close()
    sent = 0
    while sent < n_tcp:
        chunk = min(CHECK_EVERY, n_tcp - sent)
        asyncio.run(tcp_round(port, rng, seeds, chunk, args.connections, run.tcp, run.notes))
        sent += chunk
        if not _probe_all(run, proc, probes, port, args.deadline):
            return
    run.seconds = time.monotonic() - started


def _internal_errors(log: Path) -> int:
    text = log.read_text(errors="replace")
    return text.count("internal error") + text.count("Traceback")


def _report(runs: list[Run], args: argparse.Namespace, elapsed: float) -> bool:
    print(f"petdns fuzz: seed {args.seed}, {args.udp} UDP packets, {args.tcp} TCP queries, {elapsed:.0f} s")
    for run in runs:
        u, t = run.udp, run.tcp
        rate = (u.replies + t.replies) / run.seconds if run.seconds else 0.0
        print(f"\n[{run.name}] {run.seconds:.1f} s, {rate:,.0f} replies/s")
        print(f"  UDP: {u.sent:,} sent, {u.replies:,} replies ({u.unanswered_queries:,} well-formed queries "
              f"unanswered), {u.parsed_queries:,} matched to the query as dnspython reads it")  # fmt: skip
        print(f"  TCP: {t.sent:,} sent on {t.connections:,} connections ({t.lies:,} ending in a length lie), "
              f"{t.replies:,} replies")  # fmt: skip
        print("  rcodes:", ", ".join(f"{k} {v:,}" for k, v in sorted((u.rcodes + t.rcodes).items())))
        print("  families:", ", ".join(f"{k} {v:,}" for k, v in sorted((u.families + t.families).items())))
        print(f"  crash {int(run.crashed)}, hangs {run.hangs}, malformed {u.malformed + t.malformed}, "
              f"internal errors logged {run.internal_errors}")  # fmt: skip
        for note in run.notes:
            print(f"    {note}")
    crash = sum(r.crashed for r in runs)
    hang = sum(r.hangs for r in runs)
    bad = sum(r.udp.malformed + r.tcp.malformed + r.internal_errors for r in runs)
    ok = crash == hang == bad == 0
    print(f"\ntargets: crash {crash}/0, hang {hang}/0, malformed {bad}/0 -> {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--udp", type=int, default=1_000_000, help="mutated UDP packets, over both runs")
    parser.add_argument("--tcp", type=int, default=100_000, help="mutated TCP queries, over both runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16, help="TCP connections at once")
    parser.add_argument("--deadline", type=float, default=2.0, help="seconds for a good query's answer")
    parser.add_argument("--no-forward-run", action="store_true", help="skip the run forwarding to knotd")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="petdns-fuzz-") as tmp:
        work = Path(tmp)
        objects = write_objects(work, FUZZ_PETS, FUZZ_CROWD)
        plans = [("cluster, --no-forward", CLUSTER_NAMES, ["--no-forward"])]
        knot = None
        if not args.no_forward_run:
            knot, knot_port = start_knot(work)
            upstream = ["--upstream", f"{HOST}:{knot_port}", "--upstream-timeout", "0.5"]
            plans.append(("forwarding to knotd", CLUSTER_NAMES + FORWARD_NAMES, upstream))
        try:
            for i, (name, names, extra) in enumerate(plans):
                share = len(plans) - i
                n_udp = (args.udp - sum(r.udp.sent for r in runs)) // share
                n_tcp = (args.tcp - sum(r.tcp.sent for r in runs)) // share
                proc, port = start_petdns(objects, work, *extra)
                run = Run(name)
                runs.append(run)
                probes = [Probe(f"big-1.{BIG}", "A", "10.1.0.2")]
                if knot is not None and "--no-forward" not in extra:
                    probes.append(Probe(f"www.{UPSTREAM_ZONE}", "A", "192.0.2.53"))
                try:
                    fuzz_run(run, proc, port, seed_queries(names, rng), probes, args, n_udp, n_tcp)
                    if run.seconds == 0.0:
                        run.seconds = time.monotonic() - started
                finally:
                    run.crashed = run.crashed or not proc.alive()
                    proc.stop()
                    run.internal_errors = _internal_errors(proc.log)
        finally:
            if knot is not None:
                knot.stop()
    return 0 if _report(runs, args, time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
