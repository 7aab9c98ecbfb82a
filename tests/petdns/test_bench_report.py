"""The benchmark's verdicts on the 2-worker runs: judged against one worker and the peers' 2 workers,
and not judged where the two shared CPUs cannot carry the target (the load generator's own CPU)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench scripts import one another as top-level modules

from loadgen import Run  # noqa: E402
from report import Report, ServerResult, targets, two_core_ceiling  # noqa: E402


def _run(qps: float, server_pct: float, loadgen_pct: float) -> Run:
    return Run(
        qps, 0.2, int(qps * 8), int(qps * 8), 0, 0.0, server_pct, server_pct, loadgen_pct, loadgen_pct, 8.0
    )


def _verdicts(**runs: Run) -> dict[str, tuple[str, str]]:
    report = Report(40000, [ServerResult(name, max=run) for name, run in runs.items()])
    return {t.what: (t.verdict, t.value) for t in targets(report) if "2 workers" in t.what}


def test_the_ceiling_is_two_cpus_over_the_cpu_time_of_one_query() -> None:
    # 150k qps with the server at 100% and dnsperf at 100% of a CPU: 2 CPUs carry 150k at most
    assert round(two_core_ceiling(_run(150_000, 100, 100)) or 0) == 150_000
    assert round(two_core_ceiling(_run(100_000, 50, 50)) or 0) == 200_000


def test_two_workers_are_judged_against_one_and_the_peers() -> None:
    got = _verdicts(
        petdns=_run(100_000, 50, 20),  # 2 CPUs carry 285k: 1.7x is reachable, and reached
        **{
            "petdns-2w": _run(180_000, 120, 40),
            "nsd-2w": _run(150_000, 110, 40),
            "knot-2w": _run(200_000, 120, 50),
        },
    )
    assert got["2 workers >= 1.7x one (qps)"] == ("PASS", "1.80x")
    assert got["2 workers >= 1.0x nsd 2 workers (qps)"] == ("PASS", "1.20x")
    assert got["2 workers >= 1.0x knot 2 workers (qps)"] == ("FAIL", "0.90x")


def test_a_load_generator_bound_run_is_not_judged_but_says_why() -> None:
    got = _verdicts(petdns=_run(150_000, 95, 98), **{"petdns-2w": _run(160_000, 95, 100)})
    verdict, value = got["2 workers >= 1.7x one (qps)"]
    assert verdict == "n/a" and value.startswith("1.07x") and "load generator bound" in value
    reachable = _verdicts(petdns=_run(100_000, 50, 20), **{"petdns-2w": _run(120_000, 60, 25)})
    assert reachable["2 workers >= 1.7x one (qps)"] == ("FAIL", "1.20x")
