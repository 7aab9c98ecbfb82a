"""petdns against itself in variants (`bench/run.py --loadbalance`, `--nodehosts`): each variant a
process of its own on the server CPU, warmed up with one pass, its best closed-loop run over `ROUNDS`
rounds that alternate the variants (a passing burst of other work then hits them all)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import cluster
import procs
from loadgen import Run
from servers import petdns_command

ROUNDS = 2
Extra = Callable[[Path], list[str]]  # a variant's extra arguments, given its working directory


class Bench(Protocol):
    args: Any
    spec: cluster.Spec
    cluster_dir: Path

    def perf(self, srv: procs.Server, port: int, data: Path, seconds: int, **kw: Any) -> Run: ...
    def measured(self, srv: procs.Server, port: int, data: Path, label: str, **kw: Any) -> Run: ...


def closed_loop(bench: Bench, name: str, label: str, extra: Extra) -> Run:
    """One variant's measured closed-loop run after a warm-up pass."""
    port = procs.free_port()
    secs = bench.args.seconds
    with tempfile.TemporaryDirectory(prefix=f"petdns-bench-{name}-") as tmp:
        work = Path(tmp)
        cmd = [*petdns_command(port, bench.cluster_dir, work), *extra(work)]
        log = bench.args.out / "logs" / f"petdns-{name}-{label}.log"
        limit = bench.args.ready_timeout + 4 * (secs + 45) + 60
        srv = procs.start(
            f"petdns-{label}", cmd, cpu=str(bench.args.server_cpu), limit_s=limit, log=log, cwd=work
        )
        try:
            if not srv.wait_ready(port, cluster.probe_name(bench.spec), bench.args.ready_timeout):
                raise RuntimeError(srv.not_ready_reason(bench.args.ready_timeout))
            data = bench.cluster_dir / "queries.txt"
            bench.perf(srv, port, data, max(5, min(20, 2 * secs)), max_runs=1)  # warm-up: one pass
            return bench.measured(srv, port, data, f"{name} {label}")
        finally:
            srv.stop()
            procs.wait_port_free(port)


def best_runs(bench: Bench, name: str, variants: Mapping[str, Extra], best: dict[str, Run]) -> None:
    """Each variant's best run into `best` (by QPS), the variants alternating for `ROUNDS` rounds; a
    failure raises with the runs so far kept."""
    for _ in range(ROUNDS):
        for label, extra in variants.items():
            run = closed_loop(bench, name, label, extra)
            if label not in best or run.qps > best[label].qps:
                best[label] = run
