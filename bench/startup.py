"""Start-up of petdns alone at scale: `petdns serve --objects` on a cluster's objects file, until its
last pet answers; reports wall time, the process's CPU time (user+system: steadier than wall time on
a shared machine) and its memory (/proc/PID/smaps_rollup), as JSON.

    .venv/bin/python bench/startup.py bench/out/scale-10000-100000 [--runs 3] [--pure]

The directory is one `bench/cluster.py --services N --endpoints M --out DIR` writes (or run.py's
scale run). Everything runs on 127.0.0.1 with forwarding off; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster  # bench/ is not a package

CLK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def _memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous", "Private_Dirty", "Shared_Clean"):
            out[key.lower()] = int(value.split()[0]) / 1024
    return out


def _answers(port: int, name: str) -> bool:
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=0.2)
    except (OSError, dns.exception.Timeout):
        return False
    return reply.rcode() == 0 and bool(reply.answer)


def run_once(directory: Path, *, pure: bool, limit_s: float) -> dict[str, float]:
    """One start of the server until its probe name answers."""
    params = json.loads((directory / "params.json").read_text())
    spec = cluster.Spec(**{k: v for k, v in params.items() if k in cluster.Spec.__dataclass_fields__})
    port = _free_port()
    exe = Path(sys.executable).with_name("petdns")
    cmd = [str(exe), "serve", "--objects", str(directory / "objects.json"), "--zone", cluster.ZONE]
    cmd += ["--listen", f"127.0.0.1:{port}", "--no-forward", "--workers", "1"]
    env = {**os.environ, "PETDNS_PURE": "1" if pure else "0"}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        name = cluster.probe_name(spec)
        while not _answers(port, name):
            if proc.poll() is not None or time.monotonic() - t0 > limit_s:
                raise RuntimeError(f"not ready after {time.monotonic() - t0:.1f} s")
            time.sleep(0.05)
        ready = time.monotonic() - t0
        return {"ready_s": round(ready, 2), "cpu_s": round(_cpu_s(proc.pid), 2), **_memory_mb(proc.pid)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", type=Path)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pure", action="store_true", help="PETDNS_PURE=1: no compiled table")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds to wait for the first answer")
    args = ap.parse_args()
    for _ in range(args.runs):
        print(json.dumps(run_once(args.directory, pure=args.pure, limit_s=args.limit)), flush=True)


if __name__ == "__main__":
    main()
