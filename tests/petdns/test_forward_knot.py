"""The upstream transport as a real Knot DNS counts it (its mod-stats, read with knotc): the client's
transport by default, TCP with force_tcp, UDP first with prefer_udp, TCP with both. The server under
test runs in process, dnspython asks it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.rcode
import pytest

from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, Upstream
from tests.petdns.test_forward_server import Rig, serving
from tests.support.knot import running
from tests.support.tools import require

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
    work = tmp_path_factory.mktemp("knot")
    server = Knot(work / "knot.conf", work / "knot.sock", 0)

    def ready(port: int) -> bool:
        try:
            server.protocols()
        except subprocess.CalledProcessError:
            return False
        return True

    with running(work, {"knot.test": ZONE}, ready, stats=True) as (_, port):
        server.port = port
        yield server


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
