"""A short soak (bench/soak.py) as a process of its own: every kind of event once, against `petdns local`
and a separate DNS server under load; it must end with exit 0 and no violation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.process import ROOT

EVENT_KINDS = 9  # each kind of bench/soak_scenario.py comes once first


def test_short_soak_finds_no_violation(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "soak.py"), "--seed", "3", "--qps", "200"),
            *("--minutes", "0.75", "--events", str(EVENT_KINDS), "--fault-seconds", "2.5"),
            *("--out", str(out), "--work", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["violations"] == {}, report["violation_details"]
    dns = report["dns"]
    assert dns["sent"] > 1000 and dns["lost"] == 0 and dns["answered"] == dns["sent"]
    kinds = set(report["convergence"])
    assert {"kill_restart", "watch_reset", "watch_stall", "watch_refuse", "second_controller"} <= kinds
    assert report["local_starts"] >= 2  # killed and restarted on the same state
