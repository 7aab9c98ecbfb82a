"""What a k3s-style `hosts` block costs: petdns without plugins and with k3s's default NodeHosts block
(`hosts /etc/coredns/NodeHosts { ttl 60 reload 15s fallthrough }`), closed loop on the same query mix.

`bench/run.py --nodehosts` runs the two modes as `variants` (alternating rounds, each mode's best
closed-loop run). The hosts file has the nodes' names, as k3s writes it; the mix asks none of them,
so every query is one the fast path should still answer. Printed side by side with their ratio
(target: with hosts within 10% of without).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import variants
from loadgen import Run

TARGET = 0.90  # with hosts / without
NODE_HOSTS = "172.18.0.2 k3d-petdns-server-0\n172.18.0.3 k3d-petdns-agent-0\n172.18.0.4 k3d-petdns-agent-1\n"
HOSTS_BLOCK = {"ttl": 60, "reload": "15s", "fallthrough": []}


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


def _with_hosts(work: Path) -> list[str]:
    """k3s's NodeHosts file and a configuration with its hosts block."""
    (work / "NodeHosts").write_text(NODE_HOSTS)
    block = {"file": str(work / "NodeHosts"), **HOSTS_BLOCK}
    (work / "hosts.json").write_text(json.dumps({"hosts": [block]}))  # JSON is YAML
    return ["--config", str(work / "hosts.json")]


def measure(bench: variants.Bench) -> NodeHosts:
    """Each mode's best closed-loop run over the alternating rounds."""
    out = NodeHosts()
    best: dict[str, Run] = {}
    try:
        variants.best_runs(bench, "nodehosts", {"none": lambda _: [], "hosts": _with_hosts}, best)
    except (RuntimeError, OSError) as e:
        out.status = f"failed: {e}"
    out.none, out.hosts = best.get("none"), best.get("hosts")
    return out
