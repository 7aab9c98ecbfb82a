"""A local Knot DNS (knotd) as the upstream of forwarding tests: its configuration, start and stop, on
loopback only."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.support.tools import free_port, require

HOST = "127.0.0.1"
_STATS = """mod-stats:
  - id: proto
    request-protocol: on
    server-operation: off
"""


def write_conf(work: Path, port: int, zones: Mapping[str, str], *, stats: bool = False) -> Path:
    """Zone files (`<domain>.zone`) and knot.conf in work; with `stats`, a control socket (work/knot.sock)
    and mod-stats counting each query's transport."""
    for domain, text in zones.items():
        (work / f"{domain}.zone").write_text(text)
    control = f'control:\n    listen: "{work}/knot.sock"\n' if stats else ""
    module = "    global-module: mod-stats/proto\n" if stats else ""
    listed = "".join(f"  - domain: {d}\n    file: {d}.zone\n" for d in zones)
    conf = work / "knot.conf"
    conf.write_text(
        f"""server:
    rundir: "{work}"
    listen: {HOST}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
{control}database:
    storage: "{work}"
log:
  - target: stderr
    any: warning
{_STATS if stats else ""}template:
  - id: default
    storage: "{work}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
{module}zone:
{listed}"""
    )
    return conf


@contextlib.contextmanager
def running(
    work: Path, zones: Mapping[str, str], ready: Callable[[int], bool], *, stats: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """knotd serving zones on a free loopback port until ready(port) says it answers; stopped after."""
    knotd = require("knotd")
    port = free_port()
    conf = write_conf(work, port, zones, stats=stats)
    log = work / "knot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([knotd, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"knotd does not answer: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
