"""Start-up of petdns alone at scale: `petdns serve --objects` on a cluster's objects file, until its
last pet answers; reports wall time, the process's CPU time (user+system: steadier than wall time on
a shared machine) and its memory (/proc/PID/smaps_rollup), as JSON.

    .venv/bin/python bench/startup.py bench/out/scale-10000-100000 [--runs 3] [--pure] [--ask-all]

The directory is one `bench/cluster.py --services N --endpoints M --out DIR` writes (or run.py's
scale run). Everything runs on 127.0.0.1 with forwarding off; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster  # bench/ is not a package
import procs


def _memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous", "Private_Dirty", "Shared_Clean"):
            out[key.lower()] = int(value.split()[0]) / 1024
    return out


def every_question(services: list[cluster.Service]) -> list[tuple[str, int]]:
    """Each (name, type) of the cluster's records once: every name the server holds, asked."""
    return list(dict.fromkeys((owner, procs.QTYPES[kind]) for owner, kind, _ in cluster.records(services)))


def ask_all(port: int, questions: list[tuple[str, int]], window: int = 32) -> dict[str, float]:
    """Ask every question over UDP, `window` in flight; (seconds, answered, lost)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((procs.LOCALHOST, port))
    sock.settimeout(2.0)
    packets = [procs.query_packet(i, name, qtype) for i, (name, qtype) in enumerate(questions)]
    t0 = time.monotonic()
    answered = lost = sent = 0
    with sock:
        while sent < min(window, len(packets)):
            sock.send(packets[sent])
            sent += 1
        while answered + lost < len(packets):
            try:
                sock.recv(65535)
                answered += 1
            except TimeoutError:
                lost += sent - answered - lost
            while sent < len(packets) and sent - answered - lost < window:
                sock.send(packets[sent])
                sent += 1
    return {"ask_all_s": round(time.monotonic() - t0, 2), "asked": len(packets), "lost": lost}


def run_once(directory: Path, *, pure: bool, limit_s: float, ask: bool = False) -> dict[str, float]:
    """One start of the server until its probe name answers."""
    directory = directory.resolve()  # the server runs in a directory of its own
    spec = cluster.read_spec(directory)
    port = procs.free_port()
    exe = Path(sys.executable).with_name("petdns")
    cmd = ["env", f"PETDNS_PURE={int(pure)}", str(exe), "serve", "--objects", str(directory / "objects.json")]
    cmd += ["--zone", cluster.ZONE, "--listen", f"127.0.0.1:{port}", "--no-forward", "--workers", "1"]
    cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    with tempfile.TemporaryDirectory(prefix="petdns-startup-") as tmp:
        t0 = time.monotonic()
        srv = procs.start(
            "petdns", cmd, cpu=cpus, limit_s=limit_s + 60, log=Path(tmp) / "petdns.log", cwd=Path(tmp)
        )
        try:
            name = cluster.probe_name(spec)
            while (got := procs.query_once(port, name, timeout_s=0.2)) is None or got[0] != 0 or not got[1]:
                if not srv.alive() or time.monotonic() - t0 > limit_s:
                    raise RuntimeError(f"not ready after {time.monotonic() - t0:.1f} s: {srv.log_tail()}")
                time.sleep(0.05)
            ready = time.monotonic() - t0
            pids = srv.pids()
            cpu_s = procs.cpu_ticks(pids) / procs.CLK_TCK
            out = {"ready_s": round(ready, 2), "cpu_s": round(cpu_s, 2), **_memory_mb(pids[-1])}
            if ask:
                out |= ask_all(port, every_question(cluster.build_services(spec)))
                out |= {f"{k}_all": v for k, v in _memory_mb(pids[-1]).items()}
            return out
        finally:
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", type=Path)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pure", action="store_true", help="PETDNS_PURE=1: no compiled table")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds to wait for the first answer")
    ap.add_argument("--ask-all", action="store_true", help="then ask every name once and measure again")
    args = ap.parse_args()
    for _ in range(args.runs):
        got = run_once(args.directory, pure=args.pure, limit_s=args.limit, ask=args.ask_all)
        print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
