"""`petdns serve` as a process, asked by the real `dig`, and stopped by SIGTERM."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = str(Path(__file__).parents[2] / "config" / "examples" / "nginx-pets.yaml")
DIG = shutil.which("dig")


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OSError("no free port")


def _dig(port: int, *args: str) -> str:
    assert DIG is not None
    proc = subprocess.run(
        [DIG, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return proc.stdout


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "petdns",
            "serve",
            "--objects",
            EXAMPLE,
            "--listen",
            f"127.0.0.1:{port}",
            "--lameduck",
            "0",
            "--no-metrics",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.settimeout(0.2)
    query = b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07cluster\x05local\x00\x00\x06\x00\x01"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            probe.sendto(query, ("127.0.0.1", port))
            if probe.recv(512)[:2] == b"\x12\x34":
                break
        except OSError:
            time.sleep(0.1)
    probe.close()
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(DIG is None, reason="dig is installed by `make test`")
def test_dig_finds_the_pets(served: tuple[subprocess.Popen[str], int]) -> None:
    _, port = served
    assert _dig(port, "web-0.nginx.default.svc.cluster.local", "+short").split() == ["10.244.0.10"]
    assert _dig(port, "+tcp", "web-1.nginx.default.svc.cluster.local", "+short").split() == ["10.244.1.11"]
    srv = _dig(port, "SRV", "_web._tcp.nginx.default.svc.cluster.local", "+short").splitlines()
    assert sorted(srv) == [
        "0 50 80 web-0.nginx.default.svc.cluster.local.",
        "0 50 80 web-1.nginx.default.svc.cluster.local.",
    ]
    assert _dig(port, "-x", "10.244.1.11", "+short").split() == ["web-1.nginx.default.svc.cluster.local."]
    full = _dig(port, "web-2.nginx.default.svc.cluster.local")
    assert "status: NXDOMAIN" in full and "flags: qr aa" in full and "SOA" in full


def test_sigterm_stops_cleanly(served: tuple[subprocess.Popen[str], int]) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert "serving cluster.local on udp+tcp 127.0.0.1" in log and "Traceback" not in log
