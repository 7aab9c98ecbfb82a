"""What a k3s-style `hosts` block costs: petdns without plugins and with k3s's default NodeHosts block
(`hosts /etc/coredns/NodeHosts { ttl 60 reload 15s fallthrough }`), closed loop on the same query mix.

`bench/run.py --nodehosts` starts petdns once per mode, alternating for `ROUNDS` rounds (a passing
burst of other work then hits both), warms each up with one pass and keeps each mode's best
closed-loop run. The hosts file has the nodes' names, as k3s writes it; the mix asks none of them,
so every query is one the fast path should still answer. Printed side by side with their ratio
(target: with hosts within 10% of without).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cluster
import procs
from loadgen import Run
from servers import petdns_command

ROUNDS = 2
TARGET = 0.90  # with hosts / without
NODE_HOSTS = "172.18.0.2 k3d-petdns-server-0\n172.18.0.3 k3d-petdns-agent-0\n172.18.0.4 k3d-petdns-agent-1\n"
HOSTS_BLOCK = {"ttl": 60, "reload": "15s", "fallthrough": []}


class Bench(Protocol):
    args: Any
    spec: cluster.Spec
    cluster_dir: Path

    def perf(self, srv: procs.Server, port: int, data: Path, seconds: int, **kw: Any) -> Run: ...
    def measured(self, srv: procs.Server, port: int, data: Path, label: str, **kw: Any) -> Run: ...


@dataclass
class NodeHosts:
    none: Run | None = None
    hosts: Run | None = None
    status: str = "ok"

    @property
    def ratio(self) -> float | None:
        if self.none is None or self.hosts is None or not self.none.qps:
            return None
        return self.hosts.qps / self.none.qps

    def lines(self) -> list[str]:
        def qps(run: Run | None) -> str:
            return "-" if run is None else f"{run.qps:,.0f} qps (cpu {run.srv_cpu_pct:.0f}%)"

        ratio = self.ratio
        verdict = "" if ratio is None else (" ok" if ratio >= TARGET else " BELOW TARGET")
        return [
            "",
            "k3s NodeHosts hosts block (fallthrough), closed loop, same mix:",
            f"  none {qps(self.none)} | hosts {qps(self.hosts)} | hosts/none "
            f"{'-' if ratio is None else f'{ratio:.3f}'} (target >= {TARGET:.2f}){verdict}",
            *([f"  {self.status}"] if self.status != "ok" else []),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "none_qps": None if self.none is None else self.none.qps,
            "hosts_qps": None if self.hosts is None else self.hosts.qps,
            "ratio": self.ratio,
            "status": self.status,
        }


def _one(bench: Bench, hosts: bool) -> Run:
    port = procs.free_port()
    secs = bench.args.seconds
    label = "hosts" if hosts else "none"
    with tempfile.TemporaryDirectory(prefix="petdns-bench-nodehosts-") as tmp:
        work = Path(tmp)
        extra: list[str] = []
        if hosts:
            (work / "NodeHosts").write_text(NODE_HOSTS)
            block = {"file": str(work / "NodeHosts"), **HOSTS_BLOCK}
            (work / "hosts.json").write_text(json.dumps({"hosts": [block]}))  # JSON is YAML
            extra = ["--config", str(work / "hosts.json")]
        cmd = [*petdns_command(port, bench.cluster_dir, work), *extra]
        log = bench.args.out / "logs" / f"petdns-nodehosts-{label}.log"
        limit = bench.args.ready_timeout + 4 * (secs + 45) + 60
        srv = procs.start(
            f"petdns-{label}", cmd, cpu=str(bench.args.server_cpu), limit_s=limit, log=log, cwd=work
        )
        try:
            if not srv.wait_ready(port, cluster.probe_name(bench.spec), bench.args.ready_timeout):
                raise RuntimeError(srv.not_ready_reason(bench.args.ready_timeout))
            data = bench.cluster_dir / "queries.txt"
            bench.perf(srv, port, data, max(5, min(20, 2 * secs)), max_runs=1)  # warm-up: one pass
            return bench.measured(srv, port, data, f"nodehosts {label}")
        finally:
            srv.stop()
            procs.wait_port_free(port)


def measure(bench: Bench) -> NodeHosts:
    """Each mode's best closed-loop run over `ROUNDS` alternating rounds."""
    out = NodeHosts()
    try:
        for _ in range(ROUNDS):
            for hosts in (False, True):
                run = _one(bench, hosts)
                label = "hosts" if hosts else "none"
                best = getattr(out, label)
                if best is None or run.qps > best.qps:
                    setattr(out, label, run)
    except (RuntimeError, OSError) as e:
        out.status = f"failed: {e}"
    return out
