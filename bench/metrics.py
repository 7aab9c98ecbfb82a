"""Metrics benchmark: petdns's throughput while /metrics is scraped every 100 ms, against no scraping.

petdns serves the synthetic cluster (bench/cluster.py) pinned to the server CPU with `--metrics-listen`
on 127.0.0.1; dnsperf, pinned to the load-generator CPU, runs closed loops over the query mix, by turns
without and with a scraper (a thread of this process, on the load-generator CPU, GET /metrics every
`--interval` seconds). Reported: QPS, server CPU and QPS per core of both kinds of
run (median of `--rounds`), the ratio, the scrape latency (p50, p99, max), the size of a scrape, and a
check that the `coredns_dns_requests_total` delta of a run equals the queries dnsperf completed.

Results: a table on stdout and bench/out/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cluster
import procs
from loadgen import Run, dnsperf
from prometheus_client.parser import text_string_to_metric_families
from report import OTHER_LOAD_MAX
from servers import petdns_command

HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s runs on 200 services / 2,000 pets")
    ap.add_argument("--seconds", type=int, help="length of each run (default 10, quick 3)")
    ap.add_argument("--rounds", type=int, default=3, help="pairs of runs (without, with scraping)")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between scrapes")
    ap.add_argument("--services", type=int, help="services (default 1000, quick 200)")
    ap.add_argument("--endpoints", type=int, help="pets (default 10000, quick 2000)")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--loadgen-cpu", type=int, default=1)
    ap.add_argument("--retries", type=int, default=2, help="repeats of a run disturbed by other load")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    a = ap.parse_args(argv)
    a.seconds = a.seconds or (3 if a.quick else 10)
    a.services = a.services or (200 if a.quick else 1000)
    a.endpoints = a.endpoints or (2000 if a.quick else 10_000)
    return a


def requests_total(text: str) -> float:
    """The sum of coredns_dns_requests_total in an exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "coredns_dns_requests"
        for sample in family.samples
        if sample.name == "coredns_dns_requests_total"
    )


def fetch(url: str) -> tuple[str, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return text, time.perf_counter() - started


@dataclass
class Scraper:
    """GET /metrics every `interval` seconds on a thread until stopped; latencies in seconds."""

    url: str
    interval: float
    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, cpu: int) -> None:
        def loop() -> None:
            os.sched_setaffinity(0, {cpu})  # this thread only: the load-generator CPU
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    text, took = fetch(self.url)  # not parsed here: that would take the load generator's CPU
                    self.latencies.append(took)
                    self.sizes.append(len(text))
                except OSError:
                    self.errors += 1
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

        self._thread = threading.Thread(target=loop, name="scraper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class Pair:
    plain: Run
    scraped: Run
    scrapes: int
    scrape_p50_ms: float
    scrape_p99_ms: float
    scrape_max_ms: float
    scrape_bytes: int
    counted: float  # coredns_dns_requests_total delta over the scraped run
    errors: int


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, data: Path, srv: procs.Server, port: int, url: str) -> None:
        self.args, self.data, self.srv, self.port, self.url = args, data, srv, port, url

    def run(self) -> Run:
        return dnsperf(
            self.port,
            self.data,
            self.args.seconds,
            loadgen_cpu=self.args.loadgen_cpu,
            server_cpu=self.args.server_cpu,
            server_pids=self.srv.pids,
        )

    def measured(self, scraped: bool) -> tuple[Run, Scraper | None, float]:
        """A run (repeated while other work disturbed it); with a scraper when `scraped`, and the
        requests counted by petdns meanwhile."""
        best: tuple[Run, Scraper | None, float] | None = None
        for attempt in range(self.args.retries + 1):
            before = requests_total(fetch(self.url)[0])
            scraper = Scraper(self.url, self.args.interval) if scraped else None
            if scraper is not None:
                scraper.start(self.args.loadgen_cpu)
            try:
                run = self.run()
            finally:
                if scraper is not None:
                    scraper.stop()
            time.sleep(0.3)  # the last UDP batch folded in
            counted = requests_total(fetch(self.url)[0]) - before
            if best is None or run.other_load_pct < best[0].other_load_pct:
                best = (run, scraper, counted)
            if run.other_load_pct <= OTHER_LOAD_MAX:
                break
            log(f"other work took {run.other_load_pct:.0f}% of a CPU, repeating")
            time.sleep(2**attempt)
        assert best is not None
        return best

    def pair(self, first_scraped: bool) -> Pair:
        results = {}
        for scraped in (first_scraped, not first_scraped):
            results[scraped] = self.measured(scraped)
            time.sleep(1)
        plain, _, _ = results[False]
        scraped_run, scraper, counted = results[True]
        assert scraper is not None
        return Pair(
            plain,
            scraped_run,
            len(scraper.latencies),
            _pct(scraper.latencies, 0.5),
            _pct(scraper.latencies, 0.99),
            max(scraper.latencies, default=0.0) * 1000,
            max(scraper.sizes, default=0),
            counted,
            scraper.errors,
        )


def report(args: argparse.Namespace, pairs: list[Pair]) -> dict[str, float]:
    print(
        f"{'round':<6} {'qps':>9} {'qps_scraped':>12} {'cpu%':>5} {'cpu%_scr':>8} {'qps/core':>9} "
        f"{'qps/core_scr':>12} {'scrapes':>7} {'p50_ms':>7} {'p99_ms':>7} {'max_ms':>7} {'counted':>9} "
        f"{'completed':>9} {'other%':>6}"
    )
    for i, p in enumerate(pairs):
        other = max(p.plain.other_load_pct, p.scraped.other_load_pct)
        print(
            f"{i:<6} {p.plain.qps:>9.0f} {p.scraped.qps:>12.0f} {p.plain.srv_cpu_pct:>5.0f} "
            f"{p.scraped.srv_cpu_pct:>8.0f} {p.plain.qps_per_core:>9.0f} {p.scraped.qps_per_core:>12.0f} "
            f"{p.scrapes:>7} {p.scrape_p50_ms:>7.2f} {p.scrape_p99_ms:>7.2f} {p.scrape_max_ms:>7.2f} "
            f"{p.counted:>9.0f} {p.scraped.completed:>9} {other:>6.0f}"
        )
    med = statistics.median
    summary = {
        "qps": med(p.plain.qps for p in pairs),
        "qps_scraped": med(p.scraped.qps for p in pairs),
        "qps_per_core": med(p.plain.qps_per_core for p in pairs),
        "qps_per_core_scraped": med(p.scraped.qps_per_core for p in pairs),
        "scrape_p50_ms": med(p.scrape_p50_ms for p in pairs),
        "scrape_p99_ms": med(p.scrape_p99_ms for p in pairs),
        "scrape_max_ms": max(p.scrape_max_ms for p in pairs),
        "scrape_bytes": max(p.scrape_bytes for p in pairs),
    }
    # paired: the median of each round's ratio (rounds differ more than the two runs of a round)
    summary["scraped/plain qps"] = med(p.scraped.qps / p.plain.qps if p.plain.qps else 0.0 for p in pairs)
    summary["scraped/plain qps_per_core"] = med(
        p.scraped.qps_per_core / p.plain.qps_per_core if p.plain.qps_per_core else 0.0 for p in pairs
    )
    for name, value in summary.items():
        print(f"{name} = {value:.3f}" if "/" in name else f"{name} = {value:.2f}")
    mismatched = [p for p in pairs if abs(p.counted - p.scraped.completed) > max(10, 0.001 * p.counted)]
    if mismatched:
        print(f"requests counted by petdns and completed by dnsperf differ in {len(mismatched)} run(s)")
    worst = max(max(p.plain.other_load_pct, p.scraped.other_load_pct) for p in pairs)
    if worst > OTHER_LOAD_MAX:
        print(f"other work took up to {worst:.0f}% of a benchmark CPU: these figures are unreliable")
    out = args.out / "metrics.json"
    args_text = {k: str(v) for k, v in vars(args).items()}
    out.write_text(
        json.dumps({"args": args_text, "summary": summary, "pairs": [asdict(p) for p in pairs]}, indent=2)
    )
    log(f"written {out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = cluster.Spec(services=args.services, endpoints=args.endpoints, storm=1000)
    cluster_dir = args.out / f"metrics-cluster-{spec.services}-{spec.endpoints}"
    cluster.ensure(spec, cluster_dir)
    port, metrics_port = procs.free_port(), procs.free_port()
    budget = 2 * args.rounds * (args.retries + 1) * (args.seconds + 20) + 300
    with tempfile.TemporaryDirectory(prefix="petdns-bench-metrics-") as tmp:
        cmd = [*petdns_command(port, cluster_dir, Path(tmp)), "--metrics-listen", f"127.0.0.1:{metrics_port}"]
        log_path = args.out / "logs" / "metrics-petdns.log"
        srv = procs.start(
            "petdns", cmd, cpu=str(args.server_cpu), limit_s=budget, log=log_path, cwd=Path(tmp)
        )
        try:
            if not srv.wait_ready(port, cluster.probe_name(spec), 60):
                log(f"petdns: {srv.not_ready_reason(60)}\n{srv.log_tail()}")
                return 1
            bench = Bench(
                args, cluster_dir / "queries.txt", srv, port, f"http://127.0.0.1:{metrics_port}/metrics"
            )
            bench.run()  # warm-up
            pairs = []
            for i in range(args.rounds):
                pairs.append(bench.pair(first_scraped=i % 2 == 1))
                log(f"round {i}: {pairs[-1].plain.qps:.0f} qps, scraped {pairs[-1].scraped.qps:.0f} qps")
        finally:
            srv.stop()
    report(args, pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
