"""The upstream transport as a real Knot DNS counts it (its mod-stats, read with knotc): the client's
transport by default, TCP with force_tcp, UDP first with prefer_udp, TCP with both. The server under
test runs in process, dnspython asks it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.rcode
import pytest

from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, Upstream
from tests.petdns.test_forward_server import Rig, serving
from tests.support.tools import free_port, require

ZONE = """$ORIGIN knot.test.
$TTL 300
@     SOA   ns.knot.test. host.knot.test. 1 7200 1800 86400 60
@     NS    ns
ns    A     127.0.0.1
www   A     192.0.2.53
"""
STAT = re.compile(r"mod-stats\.request-protocol\[(\w+)\] = (\d+)")


@dataclass
class Knot:
    conf: Path
    socket: Path
    port: int

    def protocols(self) -> dict[str, int]:
        """Queries received so far, by protocol (`udp4`, `tcp4`)."""
        out = subprocess.run(
            [require("knotc"), "-c", str(self.conf), "-s", str(self.socket), "stats", "mod-stats"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return {proto: int(n) for proto, n in STAT.findall(out)}


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knot]:
    knotd = require("knotd")
    work = tmp_path_factory.mktemp("knot")
    (work / "knot.test.zone").write_text(ZONE)
    port = free_port()
    conf = work / "knot.conf"
    conf.write_text(
        f"""server:
    rundir: "{work}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{work}/knot.sock"
database:
    storage: "{work}"
log:
  - target: stderr
    any: warning
mod-stats:
  - id: proto
    request-protocol: on
    server-operation: off
template:
  - id: default
    storage: "{work}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
    global-module: mod-stats/proto
zone:
  - domain: knot.test
    file: knot.test.zone
"""
    )
    proc = subprocess.Popen([knotd, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Knot(conf, work / "knot.sock", port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.protocols()
                break
            except subprocess.CalledProcessError:
                assert proc.poll() is None and time.monotonic() < deadline, "knotd did not start"
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _through(
    rig: Rig, knot: Knot, config: dict[str, object], name: str, *, tcp: bool
) -> dict[str, int]:
    """What Knot counts for one query through a forwarder configured with `config`."""
    before = knot.protocols()
    forwarder = Forwarder(ForwardConfig(Routes([Upstream("127.0.0.1", knot.port)]), timeout=2, **config))  # type: ignore[arg-type]
    rig.server.set_forwarder(forwarder)
    reply = await rig.ask(name, tcp=tcp)
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority  # Knot's SOA
    after = knot.protocols()
    return {proto: after.get(proto, 0) - before.get(proto, 0) for proto in ("udp4", "tcp4")}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with serving([]) as rig:
        yield rig


@pytest.mark.parametrize(
    ("config", "tcp", "seen"),
    [
        ({}, False, {"udp4": 1, "tcp4": 0}),
        ({}, True, {"udp4": 0, "tcp4": 1}),
        ({"force_tcp": True}, False, {"udp4": 0, "tcp4": 1}),
        ({"prefer_udp": True}, True, {"udp4": 1, "tcp4": 0}),
        ({"force_tcp": True, "prefer_udp": True}, True, {"udp4": 0, "tcp4": 1}),
    ],
    ids=["udp", "tcp", "force_tcp", "prefer_udp", "both"],
)
async def test_knot_sees_the_transport(
    rig: Rig, knot: Knot, config: dict[str, object], tcp: bool, seen: dict[str, int]
) -> None:
    name = f"n{len(config)}-{int(tcp)}-{'-'.join(sorted(config))}.knot.test"
    assert await _through(rig, knot, config, name, tcp=tcp) == seen
