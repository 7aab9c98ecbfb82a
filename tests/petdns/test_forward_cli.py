"""`petdns serve` forwarding to a real Knot DNS on loopback, asked by `dig` and dnspython."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.knot import running
from tests.support.tools import free_port, require

EXAMPLE = str(Path(__file__).parents[2] / "config" / "examples" / "nginx-pets.yaml")
HOST = "127.0.0.1"
KNOT_ZONE = """$ORIGIN knot.test.
$TTL 300
@     SOA   ns.knot.test. host.knot.test. 1 7200 1800 86400 60
@     NS    ns
ns    A     127.0.0.1
www   A     192.0.2.53
www   AAAA  2001:db8::53
"""
REVERSE_ZONE = """$ORIGIN 2.0.192.in-addr.arpa.
$TTL 300
@     SOA   ns.knot.test. host.knot.test. 1 7200 1800 86400 60
@     NS    ns.knot.test.
53    PTR   www.knot.test.
"""


def _answered_at(name: str, port: int) -> bool:
    return _answered(port, name)


def _answered(port: int, name: str) -> bool:
    query = dns.message.make_query(name, "A")
    try:
        reply = dns.query.udp(query, HOST, port=port, timeout=0.2)
    except (OSError, dns.exception.Timeout):
        return False
    return reply.rcode() == dns.rcode.NOERROR


def _wait(proc: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while not _answered(port, name):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args!r} does not answer: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@dataclass
class Knot:
    proc: subprocess.Popen[bytes]
    port: int


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knot]:
    zones = {
        "knot.test": KNOT_ZONE + "".join(f"big A 192.0.2.{i}\n" for i in range(1, 61)),
        "2.0.192.in-addr.arpa": REVERSE_ZONE,
    }
    ready = functools.partial(_answered_at, "www.knot.test")
    with running(tmp_path_factory.mktemp("knot"), zones, ready) as (proc, port):
        yield Knot(proc, port)


def _petdns(tmp: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = tmp / f"petdns-{port}.log"
    argv = [
        sys.executable,
        "-m",
        "petdns",
        "serve",
        "--objects",
        EXAMPLE,
        "--listen",
        f"{HOST}:{port}",
        "--lameduck",
        "0",
        "--no-metrics",
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    _wait(proc, port, "web-0.nginx.default.svc.cluster.local", log)
    return proc, port, log


@pytest.fixture(scope="module")
def served(knot: Knot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    dead = free_port()  # nothing listens there: ICMP port unreachable
    proc, port, _ = _petdns(
        tmp_path_factory.mktemp("petdns"),
        "--upstream",
        f"{HOST}:{knot.port}",
        "--stub-domain",
        f"sub.knot.test={HOST}:{dead}",
        "--allow-recursion",
        "127.0.0.1/32",
        "--upstream-timeout",
        "1",
    )
    try:
        yield port
    finally:
        assert _stop(proc) == 0


def _dig(port: int, *args: str, source: str | None = None) -> str:
    dig = require("dig")
    bind = ["-b", source] if source else []
    proc = subprocess.run(
        [dig, f"@{HOST}", "-p", str(port), "+time=3", "+tries=1", *bind, *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode in (0, 9), proc.stderr  # 9: no reply
    return proc.stdout


def test_dig_resolves_through_knot_with_its_case_and_id(served: int) -> None:
    out = _dig(served, "WwW.KnOt.TeSt", "A")
    assert "status: NOERROR" in out and "flags: qr rd ra;" in out
    assert ";WwW.KnOt.TeSt.\t\t\tIN\tA" in out and "WwW.KnOt.TeSt.\t\t300\tIN\tA\t192.0.2.53" in out
    assert "ID mismatch" not in out and "WARNING" not in out
    assert _dig(served, "www.knot.test", "AAAA", "+short").split() == ["2001:db8::53"]
    query = dns.message.make_query("www.knot.test", "A", use_edns=0, payload=1232, want_dnssec=True)
    reply = dns.query.udp(query, HOST, port=served, timeout=3)
    assert reply.id == query.id and reply.payload == 1232 and reply.ednsflags & dns.flags.DO
    assert [rd.to_text() for rd in reply.answer[0]] == ["192.0.2.53"]
    tcp = dns.query.tcp(dns.message.make_query("www.knot.test", "AAAA"), HOST, port=served, timeout=3)
    assert [rd.to_text() for rd in tcp.answer[0]] == ["2001:db8::53"]


def test_truncated_knot_reply_is_fetched_over_tcp(served: int, knot: Knot) -> None:
    direct = _dig(knot.port, "big.knot.test", "+noedns", "+ignore")
    assert "flags: qr aa tc rd;" in direct  # Knot truncates at 512 bytes
    full = _dig(served, "big.knot.test", "+tcp", "+noedns")  # a TCP client: petdns asks Knot over TCP too
    assert full.count("\tA\t192.0.2.") == 60
    udp = _dig(served, "big.knot.test", "+noedns", "+ignore")  # 512 bytes for this client: TC
    assert "flags: qr tc rd ra;" in udp and 0 < udp.count("\tA\t192.0.2.") < 60
    edns = _dig(served, "big.knot.test", "+bufsize=4096")
    assert "flags: qr rd ra;" in edns and edns.count("\tA\t192.0.2.") == 60


def test_negative_answer_carries_knots_soa(served: int) -> None:
    out = _dig(served, "nope.knot.test")
    assert "status: NXDOMAIN" in out and "AUTHORITY: 1" in out
    soa = next(line for line in out.splitlines() if "\tSOA\t" in line)
    assert int(soa.split()[1]) <= 60  # min(SOA TTL, MINIMUM)
    nodata = _dig(served, "www.knot.test", "TXT")
    assert "status: NOERROR" in nodata and "ANSWER: 0" in nodata


def test_reverse_lookups_fall_through_to_knot(served: int) -> None:
    assert _dig(served, "-x", "192.0.2.53", "+short").split() == ["www.knot.test."]
    assert _dig(served, "-x", "10.244.1.11", "+short").split() == ["web-1.nginx.default.svc.cluster.local."]


def test_stub_domain_wins_over_the_default_upstream(served: int) -> None:
    out = _dig(served, "www.sub.knot.test")  # its stub upstream is gone; Knot would say NXDOMAIN
    assert "status: SERVFAIL" in out


def test_clients_outside_the_acl(served: int) -> None:
    assert "status: REFUSED" in _dig(served, "www.knot.test", source="127.0.0.2")
    assert "status: REFUSED" in _dig(served, "www.knot.test", "+tcp", source="127.0.0.2")
    cluster = _dig(served, "web-0.nginx.default.svc.cluster.local", "+short", source="127.0.0.2")
    assert cluster.split() == ["10.244.0.10"]


def test_cached_answers_outlive_knot(served: int, knot: Knot) -> None:
    """Last in this module: it stops Knot."""
    before = _dig(served, "www.knot.test", "+short")
    _dig(served, "nope.knot.test")
    _stop(knot.proc)
    assert _dig(served, "www.knot.test", "+short") == before  # from the cache
    assert "status: NXDOMAIN" in _dig(served, "nope.knot.test")  # negative answers too
    assert "status: SERVFAIL" in _dig(served, "other.knot.test")  # not cached, no upstream


def test_resolv_conf_and_no_forward(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.250\nnameserver 127.0.0.1\nsearch cluster.local\n")
    proc, port, log = _petdns(tmp_path, "--resolv-conf", str(resolv), "--upstream-timeout", "0.2")
    try:
        assert _dig(port, "web-0.nginx.default.svc.cluster.local", "+short").split() == ["10.244.0.10"]
    finally:
        assert _stop(proc) == 0
    assert "forwarding to 192.0.2.250:53, 127.0.0.1:53;" in log.read_text()
    proc, port, log = _petdns(tmp_path, "--no-forward")
    try:
        assert "status: REFUSED" in _dig(port, "www.knot.test")
        assert "status: NXDOMAIN" in _dig(port, "-x", "192.0.2.53")  # reverse names stay ours
    finally:
        assert _stop(proc) == 0
    assert "not forwarding" in log.read_text()


def test_bad_forwarding_arguments_exit_2() -> None:
    for args in (
        ["--upstream", "dns.google"],
        ["--stub-domain", "corp"],
        ["--allow-recursion", "10.0.0.0/40"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "petdns", "serve", "--objects", EXAMPLE, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "KUBECONFIG": "/nonexistent"},
            check=False,
        )
        assert proc.returncode == 2 and "petdns: error:" in proc.stderr, (args, proc.stderr)
