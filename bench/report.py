"""Benchmark results: the side-by-side table, the petdns/peer ratios, the targets, and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from check import CheckResult
from loadgen import Run

SUBJECT = "petdns"
PEERS = ("nsd", "knot")
QPS_PER_CORE_MIN = 1.0  # x NSD
P99_MAX = 1.2  # x NSD, at the fixed offered load, with no loss
TWO_WORKERS_MIN = 1.7  # x one worker, closed-loop QPS (petdns-2w vs petdns)
STORM_MIN = 0.5  # x the normal mix, QPS per core
OTHER_LOAD_MAX = 15.0  # % of a CPU taken by other work on the benchmark CPUs: above it a run is repeated
KEPT_UP = 0.98  # share of the fixed offered load that must be answered for the p99 target


def coredns_sizing_mb(pods: int, services: int) -> float:
    """CoreDNS's published memory sizing for the kubernetes plugin: (pods + services) / 1000 + 54 MB."""
    return (pods + services) / 1000 + 54


@dataclass
class ServerResult:
    name: str
    status: str = "ok"  # "ok", "skipped: why", "failed: why"
    ready_s: float | None = None
    check: CheckResult | None = None
    max: Run | None = None
    fixed: Run | None = None
    storm: Run | None = None
    storm_names: int = 0
    rss_mb: float | None = None
    pss_mb: float | None = None

    @property
    def storm_repeated(self) -> bool:
        """True when the run sent more queries than storm.txt has names (dnsperf looped the file)."""
        return self.storm is not None and self.storm.sent > self.storm_names

    @property
    def other_load_pct(self) -> float | None:
        """The most CPU that other work took during any of the three runs."""
        runs = [r for r in (self.max, self.fixed, self.storm) if r is not None]
        return max(r.other_load_pct for r in runs) if runs else None

    @property
    def storm_ratio(self) -> float | None:
        if self.storm is None or self.max is None or self.max.qps_per_core == 0:
            return None
        return self.storm.qps_per_core / self.max.qps_per_core


@dataclass
class ScaleResult:
    name: str
    services: int
    endpoints: int
    status: str = "ok"
    ready_s: float | None = None
    rss_ready_mb: float | None = None  # as soon as the last pet answers
    rss_mb: float | None = None  # after one pass over the query mix
    pss_mb: float | None = None

    @property
    def coredns_mb(self) -> float:
        return coredns_sizing_mb(self.endpoints, self.services)


@dataclass
class Target:
    what: str
    value: str
    ok: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Report:
    rate: int
    results: list[ServerResult]
    scale: list[ScaleResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> ServerResult | None:
        return next((r for r in self.results if r.name == name and r.status == "ok"), None)

    def scale_of(self, name: str) -> ScaleResult | None:
        return next((r for r in self.scale if r.name == name and r.status == "ok"), None)


def _v(run: Run | None, attr: str) -> float | None:
    """``run.attr``, or None when there is no run or no value."""
    value = getattr(run, attr, None)
    return None if value is None else float(value)


def _f(value: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def table(report: Report) -> str:
    k = f"@{report.rate // 1000}k" if report.rate % 1000 == 0 else f"@{report.rate}"
    head = ["server", "max_qps", "avg_ms", "srv_cpu%", "qps/core", f"p50{k}_ms", f"p99{k}_ms", f"loss{k}%"]
    head += [f"cpu{k}%", "storm_qps", "storm_qps/core", "storm/normal", "rss_MB", "pss_MB", "other%"]
    rows = [head]
    for r in report.results:
        if r.status != "ok":
            rows.append([r.name, r.status])
            continue
        m, x, s = r.max, r.fixed, r.storm
        rows.append(
            [
                r.name,
                _f(_v(m, "qps")),
                _f(_v(m, "avg_ms"), "{:.3f}"),
                _f(_v(m, "srv_cpu_pct")),
                _f(_v(m, "qps_per_core")),
                _f(_v(x, "p50_ms"), "{:.3f}"),
                _f(_v(x, "p99_ms"), "{:.3f}"),
                _f(_v(x, "lost_pct"), "{:.2f}"),
                _f(_v(x, "srv_cpu_pct")),
                _f(_v(s, "qps")),
                _f(_v(s, "qps_per_core")),
                _f(r.storm_ratio, "{:.2f}x"),
                _f(r.rss_mb, "{:.1f}"),
                _f(r.pss_mb, "{:.1f}"),
                _f(r.other_load_pct),
            ]
        )
    widths = [max(len(row[i]) for row in rows if i < len(row) and len(row) > 2) for i in range(len(head))]
    lines = []
    for row in rows:
        if len(row) == 2:  # skipped or failed: name and reason
            lines.append(f"{row[0].ljust(widths[0])}  {row[1]}")
        else:
            cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
            cells[0] = row[0].ljust(widths[0])
            lines.append("  ".join(cells))
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratio_lines(report: Report) -> list[str]:
    lines: list[str] = []
    me = report.get(SUBJECT)
    k = f"@{report.rate // 1000}k"
    for peer in PEERS:
        other = report.get(peer)
        if me is None or other is None or me.max is None or other.max is None:
            continue
        qpc = _ratio(me.max.qps_per_core, other.max.qps_per_core)
        lines.append(f"{SUBJECT}/{peer} qps_per_core = {_f(qpc, '{:.2f}x')}")
        p99 = _ratio(_v(me.fixed, "p99_ms"), _v(other.fixed, "p99_ms"))
        lines.append(f"{SUBJECT}/{peer} p99{k} = {_f(p99, '{:.2f}x')}")
    for r in report.results:
        if r.status == "ok" and r.storm_ratio is not None:
            note = " (storm names repeated: file looped)" if r.storm_repeated else ""
            lines.append(f"{r.name} storm/normal qps_per_core = {r.storm_ratio:.2f}x{note}")
    for sc in report.scale:
        if sc.status != "ok":
            lines.append(f"{sc.name} at {sc.services} svc/{sc.endpoints} eps: {sc.status}")
            continue
        mb = "{:.1f}"
        ratio = _f(_ratio(sc.rss_mb, sc.coredns_mb), "{:.2f}x")
        lines.append(
            f"{sc.name} RSS at {sc.services} svc/{sc.endpoints} eps = {_f(sc.rss_mb, mb)} MB "
            f"(Pss {_f(sc.pss_mb, mb)} MB; {_f(sc.rss_ready_mb, mb)} MB when it first answered, "
            f"after {_f(sc.ready_s, mb)} s) vs CoreDNS sizing {sc.coredns_mb:.0f} MB = {ratio}"
        )
    return lines


def targets(report: Report) -> list[Target]:
    me, nsd = report.get(SUBJECT), report.get("nsd")
    out: list[Target] = []
    qpc = None
    if me and nsd and me.max and nsd.max:
        qpc = _ratio(me.max.qps_per_core, nsd.max.qps_per_core)
    out.append(
        Target(
            f"qps/core >= {QPS_PER_CORE_MIN}x NSD",
            _f(qpc, "{:.2f}x"),
            None if qpc is None else qpc >= QPS_PER_CORE_MIN,
        )
    )
    what = f"p99@{report.rate // 1000}k <= {P99_MAX}x NSD with 0 loss"
    if me and nsd and me.fixed and nsd.fixed:
        p99, x = _ratio(me.fixed.p99_ms, nsd.fixed.p99_ms), me.fixed
        kept_up = x.qps >= KEPT_UP * report.rate
        value = f"{_f(p99, '{:.2f}x')}, lost {x.lost}, answered {x.qps:.0f} qps"
        out.append(Target(what, value, p99 is not None and p99 <= P99_MAX and x.lost == 0 and kept_up))
    else:
        out.append(Target(what, "-", None))
    storm = me.storm_ratio if me else None
    out.append(
        Target(
            f"NXDOMAIN storm >= {STORM_MIN}x normal mix (qps/core)",
            _f(storm, "{:.2f}x"),
            None if storm is None else storm >= STORM_MIN,
        )
    )
    out += _variant_targets(report)
    sc = report.scale_of(SUBJECT)
    what = "RSS at 10k svc/100k eps < CoreDNS sizing"
    if sc is None or sc.rss_mb is None:
        out.append(Target(what, "-", None))
    else:
        rss = max(sc.rss_mb, sc.rss_ready_mb or 0.0)
        what = f"RSS at {sc.services} svc/{sc.endpoints} eps < CoreDNS sizing {sc.coredns_mb:.0f} MB"
        out.append(Target(what, f"{rss:.1f} MB", rss < sc.coredns_mb))
    return out


def _qps(r: ServerResult | None, per_core: bool) -> float | None:
    if r is None or r.max is None:
        return None
    return r.max.qps_per_core if per_core else r.max.qps


def two_core_ceiling(one: Run, cores: int = 2) -> float | None:
    """The most queries per second `cores` CPUs can carry when the server and dnsperf share them: the
    one-worker run gives each one's CPU time per query (server + load generator)."""
    if one.qps <= 0:
        return None
    per_query = (one.srv_cpu_pct + one.loadgen_cpu_pct) / 100 / one.qps
    return cores / per_query if per_query > 0 else None


def _variant_targets(report: Report) -> list[Target]:
    """With the variants measured: the compiled loop against the pure one, 2 workers against 1 and
    against NSD's and Knot's 2 workers (and their own 2-worker scaling, for reference)."""
    out = []
    pure = report.get("petdns-pure")
    if pure is not None:
        ratio = _ratio(_qps(report.get(SUBJECT), True), _qps(pure, True))
        out.append(Target("compiled loop vs pure-Python loop (qps/core)", _f(ratio, "{:.2f}x"), None))
    for name in (SUBJECT, *PEERS):
        two = report.get(f"{name}-2w")
        if two is None:
            continue
        one = report.get(name)
        ratio = _ratio(_qps(two, False), _qps(one, False))
        if name != SUBJECT:
            out.append(Target(f"{name}: 2 workers vs one (qps)", _f(ratio, "{:.2f}x"), None))
            continue
        ok = None if ratio is None else ratio >= TWO_WORKERS_MIN
        value = _f(ratio, "{:.2f}x")
        ceiling = two_core_ceiling(one.max) if one is not None and one.max is not None else None
        if ok is False and ceiling is not None and one is not None and one.max is not None:
            bound = ceiling / one.max.qps
            if bound < TWO_WORKERS_MIN:  # dnsperf itself needs the CPU the second worker would use
                ok = None
                value += (
                    f" (2 shared CPUs carry at most {ceiling:.0f} qps = {bound:.2f}x: load generator bound)"
                )
        out.append(Target(f"2 workers >= {TWO_WORKERS_MIN}x one (qps)", value, ok))
        for peer in PEERS:
            theirs = report.get(f"{peer}-2w")
            if theirs is not None:
                peer_ratio = _ratio(_qps(two, False), _qps(theirs, False))
                ok_peer = None if peer_ratio is None else peer_ratio >= QPS_PER_CORE_MIN
                out.append(
                    Target(
                        f"2 workers >= {QPS_PER_CORE_MIN}x {peer} 2 workers (qps)",
                        _f(peer_ratio, "{:.2f}x"),
                        ok_peer,
                    )
                )
    return out


def check_lines(report: Report) -> list[str]:
    lines = []
    for r in report.results:
        if r.check is not None:
            c = r.check
            note = f" (stopped early: {c.unanswered} unanswered)" if c.stopped_early else ""
            lines.append(
                f"{r.name} answers matching the zone files: {c.checked - c.mismatches}/{c.checked}{note}"
            )
    return lines


def load_lines(report: Report) -> list[str]:
    worst = max((r.other_load_pct or 0.0 for r in report.results), default=0.0)
    if worst <= OTHER_LOAD_MAX:
        return []
    return [
        f"other%: other work took up to {worst:.0f}% of a benchmark CPU during a run even after repeats;",
        "         figures of that server are unreliable, rerun on a quieter machine",
    ]


def render(report: Report) -> str:
    parts = [table(report), *load_lines(report), "", *check_lines(report), *ratio_lines(report)]
    parts += ["", "targets:"]
    parts += [f"  {t.verdict:4}  {t.what}: {t.value}" for t in targets(report)]
    return "\n".join(parts)


def to_json(report: Report) -> dict[str, Any]:
    def server(r: ServerResult) -> dict[str, Any]:
        d = asdict(r)
        for key in ("max", "fixed", "storm"):
            run = getattr(r, key)
            if run is not None:
                d[key]["qps_per_core"] = run.qps_per_core
                d[key]["other_load_pct"] = run.other_load_pct
        d["storm_ratio"] = r.storm_ratio
        d["other_load_pct"] = r.other_load_pct
        d["storm_repeated"] = r.storm_repeated
        return d

    def scale(s: ScaleResult) -> dict[str, Any]:
        return {**asdict(s), "coredns_sizing_mb": s.coredns_mb}

    return {
        "meta": report.meta,
        "fixed_rate_qps": report.rate,
        "servers": [server(r) for r in report.results],
        "scale": [scale(s) for s in report.scale],
        "checks": check_lines(report),
        "ratios": ratio_lines(report),
        "targets": [{"target": t.what, "value": t.value, "result": t.verdict} for t in targets(report)],
    }


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(report), indent=2) + "\n")
