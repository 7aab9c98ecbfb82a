"""The soak's record: violations by type (with the first few in detail), events, convergence times, and
the report printed at the end and written as JSON."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any

DETAILS_KEPT = 5  # per violation type


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


class Record:
    """Thread-safe: the scenario, the observer, the watchers and the DNS load all write here."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.events: collections.Counter[str] = collections.Counter()
        self.violations: collections.Counter[str] = collections.Counter()
        self.details: dict[str, list[str]] = {}
        self.convergence: dict[str, list[float]] = collections.defaultdict(list)
        self.log: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        line = f"[{self.now():7.1f}s] {text}"
        with self._lock:
            self.log.append(line)
        print(line, flush=True)

    def event(self, kind: str, detail: str) -> None:
        with self._lock:
            self.events[kind] += 1
        self.note(f"event {kind}: {detail}")

    def violation(self, kind: str, detail: str) -> None:
        with self._lock:
            self.violations[kind] += 1
            kept = self.details.setdefault(kind, [])
            if len(kept) < DETAILS_KEPT:
                kept.append(f"at {self.now():.1f}s: {detail}")
        self.note(f"VIOLATION {kind}: {detail}")

    def converged(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.convergence[kind].append(seconds)

    def report(self, dns: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            convergence = {
                kind: {
                    "count": len(values),
                    "p50_s": _round(percentile(values, 50)),
                    "p99_s": _round(percentile(values, 99)),
                    "max_s": _round(max(values)),
                }
                for kind, values in sorted(self.convergence.items())
            }
            return {
                "seconds": round(self.now(), 1),
                "events": dict(sorted(self.events.items())),
                "violations": dict(sorted(self.violations.items())),
                "violation_details": dict(sorted(self.details.items())),
                "dns": dns,
                "convergence": convergence,
                **extra,
            }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def dns_figures(
    sent: int, answered: int, lost: int, latencies: list[float], by_rcode: dict[str, int]
) -> dict[str, Any]:
    return {
        "sent": sent,
        "answered": answered,
        "lost": lost,
        "rcodes": dict(sorted(by_rcode.items())),
        "latency_p50_ms": _ms(percentile(latencies, 50)),
        "latency_p99_ms": _ms(percentile(latencies, 99)),
        "latency_max_ms": _ms(max(latencies) if latencies else None),
    }


def text(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = [f"soak: {report['seconds']} s, seed {report.get('seed')}"]
    lines.append("events: " + ", ".join(f"{k} {v}" for k, v in report["events"].items()))
    total = sum(report["violations"].values())
    lines.append(
        f"violations: {total}"
        + ("" if not total else " (" + ", ".join(f"{k} {v}" for k, v in report["violations"].items()) + ")")
    )
    for kind, details in report["violation_details"].items():
        for detail in details:
            lines.append(f"  {kind}: {detail}")
    d = report["dns"]
    lines.append(
        f"dns: sent {d['sent']} answered {d['answered']} lost {d['lost']} "
        f"p50 {d['latency_p50_ms']} ms p99 {d['latency_p99_ms']} ms max {d['latency_max_ms']} ms "
        f"rcodes {d['rcodes']}"
    )
    lines.append("convergence (event -> DNS equals API), seconds:")
    for kind, c in report["convergence"].items():
        lines.append(f"  {kind:22} n={c['count']:<4} p50 {c['p50_s']}  p99 {c['p99_s']}  max {c['max_s']}")
    return "\n".join(lines)
