"""Soak: `petdns local` for N minutes under continuous DNS load while a seeded scenario injects events,
with an observer checking the invariants after every event; prints a report, exits 1 on any violation.

Run: .venv/bin/python bench/soak.py --minutes 10 [--seed 1] [--qps 300] [--out bench/out/soak.json]

- `petdns local --state DIR -f FILE --no-forward` (API server, kubelet, PetSet controller, DNS) on
  fixed ports of 127.0.0.1, killed with SIGKILL and restarted on the same state by the scenario;
- a separate `petdns serve --kubeconfig ... --no-forward`, its API connection through a TCP fault proxy
  (bench/soak_proxy.py) that the scenario resets, stalls and refuses; the DNS load goes to it, so DNS
  keeps being measured while the API server is down;
- events (bench/soak_scenario.py), the observer (bench/soak_observer.py: settle, DNS equals API,
  convergence time), watches checking identity and claims at every moment (bench/soak_watch.py).
Everything listens on and talks to 127.0.0.1 only; every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from soak_api import Api, ReplicaLog
from soak_load import LOST_AFTER, Load
from soak_observer import Observer
from soak_procs import LocalCluster, SeparateServer, proxied_kubeconfig
from soak_proxy import FaultProxy
from soak_report import Record, dns_figures, text
from soak_scenario import SETS, Scenario, load_names, manifest
from soak_watch import ClaimWatch, PodWatch


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="start no event after this (default 10)")
    parser.add_argument("--events", type=int, default=0, help="stop after N events too (0: no limit)")
    parser.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    parser.add_argument("--qps", type=float, default=300.0, help="DNS load, queries per second (default 300)")
    parser.add_argument(
        "--fault-seconds", type=float, default=6.0, help="longest watch stall or refusal (default 6)"
    )
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--work", type=Path, help="keep state and logs here (default: a temporary directory)")
    return parser.parse_args(argv)


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s: {what}")


def _run(args: argparse.Namespace, rng: random.Random, scenario: Scenario) -> int:
    """Events until --minutes (or --events) are up; how many."""
    end = time.monotonic() + args.minutes * 60
    events = 0
    while time.monotonic() < end and (not args.events or events < args.events):
        scenario.step()
        events += 1
        time.sleep(rng.uniform(0, 1))
    scenario.finish()
    return events


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    record = Record()
    rng = random.Random(args.seed)
    (work / "soak.yaml").write_text(manifest())
    cluster = LocalCluster(work, work / "soak.yaml")
    replicas = ReplicaLog()
    for name, _, _, count in SETS:
        replicas.asked(name, count)
    proxy = FaultProxy(cluster.api_port)
    proxy.start()
    threads: list[Any] = []
    server: SeparateServer | None = None
    try:
        record.note(f"petdns local: API {cluster.api_port}, DNS {cluster.dns_port}; work {work}")
        cluster.start()
        server = SeparateServer(work, proxied_kubeconfig(work / "proxied.kubeconfig", proxy.port))
        server.wait_ready()
        api = Api(cluster.kubeconfig)
        observer = Observer(api, server.port, record)
        load = Load(server.port, args.qps, record)
        pods = PodWatch(api, record)
        claims = ClaimWatch(api, record, lambda: observer.last.sets if observer.last else {}, replicas)
        threads += [pods, claims, load]
        outcome = observer.settle("initial", record.started, deadline=60)
        if not outcome.converged or outcome.snapshot is None:
            raise RuntimeError("the initial cluster never settled")
        record.note(f"initial cluster settled in {outcome.seconds:.1f} s; load at {args.qps:g} qps")
        load.names = load_names(outcome.snapshot)
        for t in threads:
            t.start()
        _wait(lambda: pods.synced.is_set() and claims.synced.is_set(), 20, "the watches' first lists")
        scenario = Scenario(
            work=work,
            rng=rng,
            record=record,
            cluster=cluster,
            proxy=proxy,
            api=api,
            load=load,
            observer=observer,
            replicas=replicas,
            fault_max=args.fault_seconds,
        )
        try:
            events = _run(args, rng, scenario)
        finally:
            scenario.finish()
        observer.settle("final", time.monotonic())
        time.sleep(LOST_AFTER + 0.5)  # the last queries' replies (or their loss)
        for t in threads:
            t.stopping.set()
            t.join(5)
        extra = {
            "seed": args.seed,
            "qps": args.qps,
            "fault_seconds": args.fault_seconds,
            "event_count": events,
            "local_starts": cluster.starts,
            "api_downtime_s": [round(d, 2) for d in scenario.downtime],
            "proxy": {"accepted": proxy.accepted, "reset": proxy.resets},
            "observer_checks": observer.checks,
            "pod_watch": {"events": pods.events, "relists": pods.relists, "uids": len(pods.uids_seen)},
            "claim_watch": {"events": claims.events, "relists": claims.relists, "deleted": claims.deleted},
        }
        figures = dns_figures(load.sent, load.answered, load.lost, load.latencies, dict(load.rcodes))
        return record.report(figures, extra)
    finally:
        for t in threads:
            t.stopping.set()
        if server is not None and server.proc.alive:
            server.proc.stop()
        cluster.stop()
        proxy.stop()


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through soak()'s cleanup: every child stopped by its PID


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        report = soak(args, args.work.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="petdns-soak-") as tmp:
            report = soak(args, Path(tmp))
    print(text(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if sum(report["violations"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
