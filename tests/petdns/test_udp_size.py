"""UDP replies capped at --max-udp-size (default 1232) whatever the client offers: cluster answers on
the fast and the full path, forwarded answers, the flag, the configuration key and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from petdns.answer.dispatch import full
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, parse_upstream
from petdns.schema.model import EndpointSlice, Namespace, Port, Service, ServiceKind
from petdns.schema.packing import Endpoint
from petdns.serve.transport import DnsServer
from petdns.settings.values import Settings
from tests.petdns.conftest import FIXED_NOW
from tests.support.loops import LOOPS, fast_answer
from tests.support.resolver import ScriptedResolver
from tests.support.tools import free_port

HOST = "127.0.0.1"
BIG = "big.default.svc.cluster.local"
ROOT = Path(__file__).parents[2]
PORTS = (Port("http", 80, "tcp"), Port("https", 443, "tcp"))


def _zone(pets: int, **settings: int) -> RenderedZone:
    endpoints = tuple(
        Endpoint((f"10.1.{i // 250}.{i % 250 + 1}",), True, f"big-{i}", "") for i in range(pets)
    )
    zone = RenderedZone(Settings(**settings), clock=lambda: FIXED_NOW)  # type: ignore[arg-type]
    zone.load(
        [
            Namespace("default"),
            Service("default", "big", ServiceKind.HEADLESS, (), PORTS),
            EndpointSlice("default", "big-1", "big", "IPv4", endpoints, PORTS),
        ]
    )
    return zone


@pytest.fixture(params=[64, 1], ids=["batched", "plain"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    server = DnsServer(_zone(300), [(HOST, 0)], udp_batch=request.param)
    await server.start()
    yield server.bound[0][1]
    await server.stop()


async def _udp(port: int, name: str, qtype: str = "A", **kw: object) -> tuple[dns.message.Message, int]:
    query = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
    reply = await dns.asyncquery.udp(query, HOST, port=port, timeout=2)
    assert reply.id == query.id
    return reply, len(reply.to_wire())


@pytest.mark.parametrize("offer", [1233, 4096, 65535])
async def test_big_offers_get_at_most_1232_bytes_and_tc_then_all_over_tcp(port: int, offer: int) -> None:
    reply, size = await _udp(port, BIG, use_edns=0, payload=offer)
    assert size <= 1232 and reply.flags & dns.flags.TC
    assert 60 < len(reply.answer[0]) < 300 and reply.payload == 1232  # as many as fit; our size advertised
    srv, size = await _udp(port, f"_http._tcp.{BIG}", "SRV", use_edns=0, payload=offer)
    assert size <= 1232 and srv.flags & dns.flags.TC and not srv.additional
    tcp = await dns.asyncquery.tcp(
        dns.message.make_query(BIG, "A", use_edns=0, payload=offer), HOST, port=port
    )
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 300 and tcp.payload == 1232


async def test_small_answers_and_small_offers_are_unchanged(port: int) -> None:
    plain, size = await _udp(port, BIG)  # no EDNS: 512 bytes
    assert size <= 512 and plain.flags & dns.flags.TC and plain.edns < 0
    small, size = await _udp(port, BIG, use_edns=0, payload=800)  # below our cap: the client's size
    assert 512 < size <= 800 and small.flags & dns.flags.TC
    one, _ = await _udp(port, f"big-7.{BIG}", use_edns=0, payload=4096, want_dnssec=True)  # the fast path
    assert [rd.to_text() for rd in one.answer[0]] == ["10.1.0.8"] and not one.flags & dns.flags.TC
    assert one.payload == 1232 and one.ednsflags & dns.flags.DO
    missing, _ = await _udp(port, f"nope.{BIG}", use_edns=0, payload=4096)
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.payload == 1232


async def test_a_larger_setting_restores_big_replies() -> None:
    server = DnsServer(_zone(200, max_udp=4096), [(HOST, 0)])
    await server.start()
    try:
        port = server.bound[0][1]
        reply, size = await _udp(port, BIG, use_edns=0, payload=4096)
        assert 1232 < size <= 4096 and not reply.flags & dns.flags.TC and len(reply.answer[0]) == 200
        assert reply.payload == 4096
        capped, size = await _udp(port, BIG, use_edns=0, payload=2000)  # the client's smaller size
        assert size <= 2000 and capped.flags & dns.flags.TC
    finally:
        await server.stop()


async def test_forwarded_big_answer_is_truncated_then_whole_over_tcp() -> None:
    upstream = await ScriptedResolver().start()
    upstream.add(*(f"big.example.test. 300 IN A 192.0.2.{i}" for i in range(1, 201)))
    forwarder = Forwarder(ForwardConfig(Routes((parse_upstream(upstream.address),), {}), timeout=1))
    server = DnsServer(_zone(1), [(HOST, 0)], forwarder=forwarder)
    await server.start()
    try:
        port = server.bound[0][1]
        reply, size = await _udp(port, "big.example.test", use_edns=0, payload=4096)
        assert size <= 1232 and reply.flags & dns.flags.TC and 0 < len(reply.answer[0]) < 200
        assert reply.payload == 1232
        assert upstream.seen[0].edns == 1232  # the client's size capped at ours, then TCP for all
        assert [s.transport for s in upstream.seen] == ["udp", "tcp"]
        cached, size = await _udp(port, "big.example.test", use_edns=0, payload=65535)
        assert size <= 1232 and cached.flags & dns.flags.TC
        query = dns.message.make_query("big.example.test", "A", use_edns=0, payload=4096)
        tcp = await dns.asyncquery.tcp(query, HOST, port=port, timeout=2)
        assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 200
    finally:
        await server.stop()
        await upstream.stop()


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("max_udp", [1232, 4096])
def test_the_fast_path_serves_truncated_answers_as_the_full_path_renders_them(
    max_udp: int, loop: str
) -> None:
    zone = _zone(300, max_udp=max_udp)
    first = dns.message.make_query(BIG, "A").to_wire()
    assert fast_answer(loop, zone, first) is None  # nothing kept before the full path has rendered it
    assert fast_answer(loop, zone, first) is None
    full(zone, first)
    assert fast_answer(loop, zone, first) == full(zone, first)
    names = [(BIG, "A"), (BIG.upper(), "AAAA"), (f"_http._tcp.{BIG}", "SRV"), (f"big-3.{BIG}", "A")]
    for name, qtype in names:
        offers = (
            {"payload": 512},
            {"payload": max_udp, "want_dnssec": True},
            {"payload": 65535},
            {"payload": 800},
        )
        for kw in ({}, *({"use_edns": 0, **offer} for offer in offers)):
            query = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
            for rd in (True, False):
                if not rd:
                    query.flags &= ~dns.flags.RD
                data = query.to_wire()
                big = qtype != "AAAA" and not name.startswith("big-3")  # AAAA: NODATA (IPv4 pets)
                expected = full(zone, data)  # the full path truncates a big answer, and keeps it
                fast = fast_answer(loop, zone, data)
                assert (fast is None) == (big and kw.get("payload") == 800)  # 800: not a kept limit
                if fast is not None:
                    assert fast == expected, (name, qtype, kw, rd)
    zone.load([EndpointSlice("default", "big-1", "big", "IPv4", (), PORTS)])  # the pets leave: nothing to cut
    assert not zone.truncated


# -- the flag and the configuration key ----------------------------------------------------------------


def _objects(path: Path, pets: int) -> Path:
    ports = [{"name": "http", "port": 80, "protocol": "TCP"}]
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "big", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": ports},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "big-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "big"},
            },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": [
                {"addresses": [f"10.1.0.{i + 1}"], "conditions": {"ready": True}, "hostname": f"big-{i}"}
                for i in range(pets)
            ],
        },
    ]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def _serve(objects: Path, *args: str) -> list[str]:
    petdns = [sys.executable, "-m", "petdns", "serve", "--objects", str(objects)]
    return [*petdns, "--no-forward", "--no-metrics", "--lameduck", "0", *args]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _objects(tmp_path_factory.mktemp("objects") / "big.json", 200)


@pytest.fixture
def serve() -> Iterator[Callable[..., int]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> int:
        port = free_port()
        proc = subprocess.Popen([*argv, "--listen", f"{HOST}:{port}"], cwd=ROOT, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 20
        query = dns.message.make_query(f"big-0.{BIG}", "A")
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                dns.query.udp(query, HOST, port=port, timeout=0.2)
                return port
            except (OSError, dns.exception.Timeout):
                time.sleep(0.05)
        raise AssertionError(f"petdns does not answer: {proc.stderr.read() if proc.stderr else ''!r}")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def _size(port: int, offer: int) -> tuple[int, bool]:
    query = dns.message.make_query(BIG, "A", use_edns=0, payload=offer)
    reply = dns.query.udp(query, HOST, port=port, timeout=2)
    return len(reply.to_wire()), bool(reply.flags & dns.flags.TC)


def test_flag_and_config_key(serve: Callable[..., int], objects: Path, tmp_path: Path) -> None:
    default = serve(*_serve(objects))
    size, tc = _size(default, 4096)
    assert size <= 1232 and tc
    flag = serve(*_serve(objects, "--max-udp-size", "4096"))
    size, tc = _size(flag, 4096)
    assert size > 1232 and not tc
    config = tmp_path / "petdns.yaml"
    config.write_text("max_udp_size: 65535\n")
    keyed = serve(*_serve(objects, "--config", str(config)))
    size, tc = _size(keyed, 65535)
    assert size > 1232 and not tc


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--max-udp-size", "511"], None, "--max-udp-size: 511 is outside 512..65535 bytes"),
        (["--max-udp-size", "65536"], None, "--max-udp-size: 65536 is outside 512..65535 bytes"),
        ([], "max_udp_size: 100\n", "config {path}: max_udp_size: 100 is outside 512..65535 bytes"),
        ([], "max_udp_size: big\n", "config {path}: max_udp_size: expected an integer, got 'big'"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    objects: Path, tmp_path: Path, args: list[str], config: str | None, message: str
) -> None:
    path = tmp_path / "petdns.yaml"
    if config is not None:
        path.write_text(config)
        args = [*args, "--config", str(path)]
    done = subprocess.run(
        [*_serve(objects, *args), "--listen", f"{HOST}:0"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["petdns: error: " + message.format(path=path)]


def test_petdns_local_checks_the_flag() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "petdns", "local", "--max-udp-size", "100", "--dns", f"{HOST}:0"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["petdns: error: --max-udp-size: 100 is outside 512..65535 bytes"]
