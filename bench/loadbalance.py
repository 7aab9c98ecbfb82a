"""What answer rotation costs: petdns with `--loadbalance` off and on, closed loop on the same query mix.

`bench/run.py --loadbalance` starts petdns once per mode, alternating off and on for `ROUNDS` rounds
(a passing burst of other work then hits both), warms each up with one pass and keeps each mode's
best closed-loop run. The mix turns on about a fifth of its queries: headless service A (every pet's
address) and `_http._tcp` SRV (the pets' addresses as glue). Printed side by side with their ratio
(target: on within 10% of off) and NSD's figure from the same invocation, when it ran.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cluster
import procs
from loadgen import Run
from servers import petdns_command

ROUNDS = 2
TARGET = 0.90  # on / off


class Bench(Protocol):
    args: Any
    spec: cluster.Spec
    cluster_dir: Path

    def perf(self, srv: procs.Server, port: int, data: Path, seconds: int, **kw: Any) -> Run: ...
    def measured(self, srv: procs.Server, port: int, data: Path, label: str, **kw: Any) -> Run: ...


@dataclass
class Rotation:
    off: Run | None = None
    on: Run | None = None
    nsd_qps: float | None = None
    status: str = "ok"

    @property
    def ratio(self) -> float | None:
        if self.off is None or self.on is None or not self.off.qps:
            return None
        return self.on.qps / self.off.qps

    def lines(self) -> list[str]:
        def qps(run: Run | None) -> str:
            return "-" if run is None else f"{run.qps:,.0f} qps (cpu {run.srv_cpu_pct:.0f}%)"

        ratio = self.ratio
        verdict = "" if ratio is None else (" ok" if ratio >= TARGET else " BELOW TARGET")
        nsd = "-" if self.nsd_qps is None else f"{self.nsd_qps:,.0f} qps"
        return [
            "",
            "answer rotation (petdns --loadbalance, closed loop, same mix):",
            f"  off {qps(self.off)} | on {qps(self.on)} | on/off "
            f"{'-' if ratio is None else f'{ratio:.3f}'} (target >= {TARGET:.2f}){verdict} | NSD {nsd}",
            *([f"  {self.status}"] if self.status != "ok" else []),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "off_qps": None if self.off is None else self.off.qps,
            "on_qps": None if self.on is None else self.on.qps,
            "ratio": self.ratio,
            "nsd_qps": self.nsd_qps,
            "status": self.status,
        }


def _one(bench: Bench, extra: list[str], label: str) -> Run:
    port = procs.free_port()
    secs = bench.args.seconds
    with tempfile.TemporaryDirectory(prefix="petdns-bench-lb-") as tmp:
        cmd = [*petdns_command(port, bench.cluster_dir, Path(tmp)), *extra]
        log = bench.args.out / "logs" / f"petdns-{label}.log"
        limit = bench.args.ready_timeout + 4 * (secs + 45) + 60
        srv = procs.start(
            f"petdns-{label}", cmd, cpu=str(bench.args.server_cpu), limit_s=limit, log=log, cwd=Path(tmp)
        )
        try:
            if not srv.wait_ready(port, cluster.probe_name(bench.spec), bench.args.ready_timeout):
                raise RuntimeError(srv.not_ready_reason(bench.args.ready_timeout))
            data = bench.cluster_dir / "queries.txt"
            bench.perf(srv, port, data, max(5, min(20, 2 * secs)), max_runs=1)  # warm-up: one pass
            return bench.measured(srv, port, data, f"loadbalance {label}")
        finally:
            srv.stop()
            procs.wait_port_free(port)


def measure(bench: Bench, nsd_qps: float | None) -> Rotation:
    """Each mode's best closed-loop run over `ROUNDS` alternating rounds."""
    out = Rotation(nsd_qps=nsd_qps)
    try:
        for _ in range(ROUNDS):
            for label, extra in (("off", []), ("on", ["--loadbalance"])):
                run = _one(bench, extra, label)
                best = getattr(out, label)
                if best is None or run.qps > best.qps:
                    setattr(out, label, run)
    except (RuntimeError, OSError) as e:
        out.status = f"failed: {e}"
    return out
