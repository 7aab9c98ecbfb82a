"""One dnsperf run against 127.0.0.1, pinned to the load-generator CPU, with the server's CPU sampled."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from procs import CLK_TCK, LOCALHOST, core_ticks, cpu_ticks

CLIENTS = 10
OUTSTANDING = 100


@dataclass
class Run:
    """What one dnsperf run measured. Percentiles only with ``verbose`` (per-query lines)."""

    qps: float
    avg_ms: float
    sent: int
    completed: int
    lost: int
    lost_pct: float
    srv_cpu_pct: float  # server process tree CPU time / wall time, 100 = one core
    core_pct: float  # busy share of the server's CPU, softirq included
    loadgen_cpu_pct: float  # dnsperf's own CPU time / wall time
    loadgen_core_pct: float  # busy share of the load generator's CPU
    wall_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    shared: bool = False  # the server runs on both CPUs, the load generator's too

    @property
    def qps_per_core(self) -> float:
        return self.qps * 100 / self.srv_cpu_pct if self.srv_cpu_pct > 0 else 0.0

    @property
    def other_load_pct(self) -> float:
        """CPU spent on the two benchmark CPUs by anything but the server and dnsperf (other load)."""
        if self.shared:
            busy = self.core_pct + self.loadgen_core_pct
            return max(0.0, busy - self.srv_cpu_pct - self.loadgen_cpu_pct)
        return max(0.0, self.core_pct - self.srv_cpu_pct, self.loadgen_core_pct - self.loadgen_cpu_pct)


@dataclass
class _Sample:
    time: float
    server_ticks: int
    loadgen_s: float
    server_core: tuple[int, int]
    loadgen_core: tuple[int, int]


def _sample(pids: list[int], server_cpu: int, loadgen_cpu: int) -> _Sample:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _Sample(
        time.monotonic(),
        cpu_ticks(pids),
        children.ru_utime + children.ru_stime,
        core_ticks(server_cpu),
        core_ticks(loadgen_cpu),
    )


def _busy_pct(a: tuple[int, int], b: tuple[int, int]) -> float:
    return (b[0] - a[0]) * 100 / (b[1] - a[1]) if b[1] > a[1] else 0.0


def _number(text: str, label: str) -> float:
    m = re.search(rf"^\s*{re.escape(label)}\s+([0-9.]+)", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def latencies_ms(path: Path) -> list[float]:
    """Answered queries' latencies from ``dnsperf -v`` lines ``> RCODE name type seconds``."""
    values: list[float] = []
    with path.open(errors="replace") as f:
        for line in f:
            if line.startswith("> ") and not line.startswith("> T "):
                try:
                    values.append(float(line.rsplit(None, 1)[1]) * 1000)
                except (IndexError, ValueError):
                    continue
    values.sort()
    return values


def dnsperf(
    port: int,
    datafile: Path,
    seconds: int,
    *,
    loadgen_cpu: int,
    server_cpu: int,
    server_pids: Callable[[], list[int]],
    max_qps: int | None = None,
    verbose: bool = False,
    max_runs: int | None = None,
    nice_adjust: int = 0,
    shared: bool = False,
) -> Run:
    """Run dnsperf for ``seconds`` (closed loop, or at ``max_qps``) and sample the server around it."""
    args = ["dnsperf", "-s", LOCALHOST, "-p", str(port), "-d", str(datafile), "-e"]
    args += ["-c", str(CLIENTS), "-q", str(OUTSTANDING), "-l", str(seconds)]
    if max_qps:
        args += ["-Q", str(max_qps)]
    if verbose:
        args.append("-v")
    if max_runs:
        args += ["-n", str(max_runs)]
    argv = ["timeout", "-k", "5", str(seconds + 30), "taskset", "-c", str(loadgen_cpu), *args]
    if nice_adjust:  # e.g. undo a niceness the driver gave itself so that dnsperf outranks its helpers
        argv = ["nice", "-n", str(nice_adjust), *argv]
    with tempfile.TemporaryDirectory(prefix="petdns-bench-", dir=_scratch()) as tmp:
        out = Path(tmp) / "dnsperf.out"
        pids = server_pids()
        a = _sample(pids, server_cpu, loadgen_cpu)
        with out.open("wb") as f:
            subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, check=False, timeout=seconds + 60)
        b = _sample(pids, server_cpu, loadgen_cpu)
        text = out.read_text(errors="replace") if not verbose else _summary(out)
        lat = latencies_ms(out) if verbose else []
    if "Queries per second:" not in text:
        raise RuntimeError("dnsperf failed: " + " | ".join(text.strip().splitlines()[-3:]))
    lost_m = re.search(r"Queries lost:\s+(\d+)\s+\(([0-9.]+)%\)", text)
    wall = b.time - a.time
    return Run(
        qps=_number(text, "Queries per second:"),
        avg_ms=_number(text, "Average Latency (s):") * 1000,
        sent=int(_number(text, "Queries sent:")),
        completed=int(_number(text, "Queries completed:")),
        lost=int(lost_m.group(1)) if lost_m else 0,
        lost_pct=float(lost_m.group(2)) if lost_m else 0.0,
        srv_cpu_pct=(b.server_ticks - a.server_ticks) / CLK_TCK / wall * 100,
        core_pct=_busy_pct(a.server_core, b.server_core),
        loadgen_cpu_pct=(b.loadgen_s - a.loadgen_s) / wall * 100,
        loadgen_core_pct=_busy_pct(a.loadgen_core, b.loadgen_core),
        wall_s=wall,
        p50_ms=percentile(lat, 0.50),
        p99_ms=percentile(lat, 0.99),
        shared=shared,
    )


def _scratch() -> str | None:
    """Memory-backed scratch space for the per-query output, so writing it never waits on a disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _summary(path: Path) -> str:
    """The output without the per-query lines (they can be millions)."""
    with path.open(errors="replace") as f:
        return "".join(line for line in f if not line.startswith("> "))
