"""What answer rotation costs: petdns with `--loadbalance` off and on, closed loop on the same query mix.

`bench/run.py --loadbalance` runs the two modes as `variants` (alternating rounds, each mode's best
closed-loop run). The mix turns on about a fifth of its queries: headless service A (every pet's
address) and `_http._tcp` SRV (the pets' addresses as glue). Printed side by side with their ratio
(target: on within 10% of off) and NSD's figure from the same invocation, when it ran.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cluster
import dns.message
import variants
from loadgen import Run

from petdns.answer.fastpath import answer
from petdns.answer.zone import RenderedZone
from petdns.schema.loader import load_files
from petdns.settings.values import Settings

TARGET = 0.90  # on / off


@dataclass
class Rotation:
    off: Run | None = None
    on: Run | None = None
    nsd_qps: float | None = None
    status: str = "ok"

    inprocess: tuple[float, float] | None = None  # fast-path answers per second in one thread: off, on

    @property
    def ratio(self) -> float | None:
        if self.off is None or self.on is None or not self.off.qps:
            return None
        return self.on.qps / self.off.qps

    @property
    def per_core_ratio(self) -> float | None:
        """On / off in QPS per core: steadier than QPS when other work takes CPU from either run."""
        if self.off is None or self.on is None or not self.off.qps_per_core:
            return None
        return self.on.qps_per_core / self.off.qps_per_core

    def lines(self) -> list[str]:
        def qps(run: Run | None) -> str:
            return "-" if run is None else f"{run.qps:,.0f} qps (cpu {run.srv_cpu_pct:.0f}%)"

        ratio = self.ratio
        verdict = "" if ratio is None else (" ok" if ratio >= TARGET else " BELOW TARGET")
        nsd = "-" if self.nsd_qps is None else f"{self.nsd_qps:,.0f} qps"
        per_core = self.per_core_ratio
        lines = [
            "",
            "answer rotation (petdns --loadbalance, closed loop, same mix):",
            f"  off {qps(self.off)} | on {qps(self.on)} | on/off "
            f"{'-' if ratio is None else f'{ratio:.3f}'} (target >= {TARGET:.2f}){verdict} | NSD {nsd}",
            f"  on/off per core {'-' if per_core is None else f'{per_core:.3f}'}",
        ]
        if self.inprocess is not None:
            off, on = self.inprocess
            lines.append(
                f"  fast path in one thread: off {off:,.0f}/s, on {on:,.0f}/s, on/off {on / off:.3f}"
            )
        return lines + ([f"  {self.status}"] if self.status != "ok" else [])

    def to_json(self) -> dict[str, Any]:
        return {
            "off_qps": None if self.off is None else self.off.qps,
            "on_qps": None if self.on is None else self.on.qps,
            "ratio": self.ratio,
            "per_core_ratio": self.per_core_ratio,
            "inprocess": self.inprocess,
            "nsd_qps": self.nsd_qps,
            "status": self.status,
        }


def inprocess(cluster_dir: Path, passes: int = 7, chunk: int = 500) -> tuple[float, float]:
    """The fast path alone (`petdns.answer.fastpath.answer`, no sockets) over the query file's
    questions (with EDNS, as dnsperf -e sends them): answers per second, off and on. Each chunk of
    queries is timed `passes` times per mode, alternating, and its fastest time kept, so that other
    work on the machine mostly drops out (and thread CPU time, not wall time, is counted)."""
    objects = load_files([str(cluster_dir / "objects.json")]).objects
    zones = {}
    for on in (False, True):
        zones[on] = RenderedZone(Settings(zones=(cluster.ZONE,), loadbalance=on))
        zones[on].load(objects)
    lines = (cluster_dir / "queries.txt").read_text().split("\n")
    questions = (line.split() for line in lines)
    wires = [dns.message.make_query(q[0], q[1], use_edns=0).to_wire() for q in questions if q]
    total = {False: 0.0, True: 0.0}
    for i in range(0, len(wires), chunk):
        part = wires[i : i + chunk]
        best = {False: math.inf, True: math.inf}
        for _ in range(passes):
            for on, zone in zones.items():
                t0 = time.thread_time()
                for wire in part:
                    answer(zone, wire)
                best[on] = min(best[on], time.thread_time() - t0)
        for on in total:
            total[on] += best[on]
    return len(wires) / total[False], len(wires) / total[True]


def measure(bench: variants.Bench, nsd_qps: float | None) -> Rotation:
    """Each mode's best closed-loop run over `ROUNDS` alternating rounds, and the fast path in-process."""
    out = Rotation(nsd_qps=nsd_qps)
    out.inprocess = inprocess(bench.cluster_dir)
    best: dict[str, Run] = {}
    try:
        variants.best_runs(
            bench, "loadbalance", {"off": lambda _: [], "on": lambda _: ["--loadbalance"]}, best
        )
    except (RuntimeError, OSError) as e:
        out.status = f"failed: {e}"
    out.off, out.on = best.get("off"), best.get("on")
    return out
