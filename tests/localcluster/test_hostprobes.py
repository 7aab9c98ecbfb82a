"""Probes against real servers on loopback (an HTTP(S) server, a TCP listener, `sh -c` commands run on the
host with an empty sandbox prefix) and the kubelet's probe timing, startup gating and back-off."""

from __future__ import annotations

import ast
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from localcluster.apiserver.tls import serving_cert
from localcluster.kubelet.hostrun import probestate
from localcluster.kubelet.hostrun.probes import run_probe
from localcluster.kubelet.hostrun.probestate import (
    ContainerProbes,
    ProbeResult,
    ProbeTracker,
    event_message,
    named_ports,
    restart_delay,
)

HOST = "127.0.0.2"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path
        if path == "/healthz":
            self._reply(200, b"ok")
        elif path == "/broken":
            self._reply(500, b"no")
        elif path == "/moved":
            self._reply(302, b"", {"Location": "/healthz"})
        elif path == "/loop":
            self._reply(302, b"", {"Location": "/loop"})
        elif path == "/elsewhere":
            self._reply(302, b"", {"Location": "http://127.0.0.3:1/broken"})
        elif path == "/needs-header":
            good = self.headers.get("X-Probe") == "yes" and self.headers.get("User-Agent") == "custom"
            self._reply(200 if good else 403, b"")
        elif path == "/virtual":
            self._reply(200 if self.headers.get("Host") == "pet.example" else 404, b"")
        elif path == "/slow":
            time.sleep(2)
            self._reply(200, b"late")
        else:
            self._reply(404, b"")

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    yield from _serve(ThreadingHTTPServer((HOST, 0), Handler))


@pytest.fixture(scope="module")
def https_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    cert = serving_cert(str(tmp_path_factory.mktemp("tls")))
    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.socket = cert.server_context().wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


async def _http(port: int | str, path: str, **extra: object) -> ProbeResult:
    probe = {"httpGet": {"port": port, "path": path, **extra}}
    return await run_probe(probe, pod_ip=HOST, ports={}, enter_argv=[])


async def test_http_status_decides(http_port: int) -> None:
    assert (await _http(http_port, "/healthz")).success
    broken = await _http(http_port, "/broken")
    assert not broken.success and broken.message == "HTTP probe failed with statuscode: 500"
    assert not (await _http(http_port, "/nothing")).success


async def test_http_named_port_headers_and_host(http_port: int) -> None:
    named = {"httpGet": {"port": "web", "path": "/healthz"}}
    ports = named_ports({"ports": [{"name": "web", "containerPort": http_port}, {"containerPort": 1}]})
    assert ports == {"web": http_port}
    assert (await run_probe(named, pod_ip=HOST, ports=ports, enter_argv=None)).success
    missing = await run_probe(named, pod_ip=HOST, ports={}, enter_argv=None)
    assert not missing.success and "web" in missing.message
    headers = [{"name": "X-Probe", "value": "yes"}, {"name": "user-agent", "value": "custom"}]
    assert (await _http(http_port, "/needs-header", httpHeaders=headers)).success
    assert not (await _http(http_port, "/needs-header")).success
    assert (
        await _http(http_port, "/virtual", httpHeaders=[{"name": "Host", "value": "pet.example"}])
    ).success
    assert not (await _http(http_port, "/virtual")).success
    elsewhere = {"httpGet": {"port": http_port, "path": "/healthz", "host": HOST}}
    assert (await run_probe(elsewhere, pod_ip="127.0.0.3", ports={}, enter_argv=None)).success


async def test_http_redirects(http_port: int) -> None:
    assert (await _http(http_port, "/moved")).success  # followed on the same host
    away = await _http(http_port, "/elsewhere")  # not followed: its 302 counts
    assert away.success and away.message.startswith("Probe terminated redirects")
    assert not (await _http(http_port, "/loop")).success


async def test_http_timeout_and_refused(http_port: int) -> None:
    started = time.monotonic()
    slow = await _http(http_port, "/slow", scheme="HTTP")
    assert not slow.success and "deadline exceeded" in slow.message
    assert time.monotonic() - started < 1.8  # timeoutSeconds 1
    refused = await run_probe({"httpGet": {"port": 1, "path": "/"}}, pod_ip=HOST, ports={}, enter_argv=None)
    assert refused.message == f'Get "http://{HOST}:1/": dial tcp {HOST}:1: connect: connection refused'


async def test_https_without_verifying(https_port: int) -> None:
    assert (await _http(https_port, "/healthz", scheme="HTTPS")).success
    assert not (await _http(https_port, "/broken", scheme="HTTPS")).success


async def test_tcp_socket() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        probe = {"tcpSocket": {"port": "db"}}
        assert (await run_probe(probe, pod_ip=HOST, ports={"db": port}, enter_argv=None)).success
    closed = await run_probe({"tcpSocket": {"port": port}}, pod_ip=HOST, ports={}, enter_argv=None)
    assert closed == ProbeResult(False, f"dial tcp {HOST}:{port}: connect: connection refused")


async def test_exec(tmp_path: Path) -> None:
    def probe(script: str, **extra: object) -> dict[str, object]:
        return {"exec": {"command": ["sh", "-c", script]}, **extra}

    marker = tmp_path / "healthy"
    check = probe(f"cat {marker}")
    failed = await run_probe(check, pod_ip=HOST, ports={}, enter_argv=[])
    assert not failed.success and "No such file or directory" in failed.message
    assert event_message("readiness", failed).startswith("Readiness probe failed: cat: ")
    marker.write_text("yes\n")
    assert await run_probe(check, pod_ip=HOST, ports={}, enter_argv=[]) == ProbeResult(True, "yes\n")
    # the sandbox prefix comes first: here `env X=1` stands for nsenter
    prefixed = await run_probe(probe('test "$X" = 1'), pod_ip=HOST, ports={}, enter_argv=["env", "X=1"])
    assert prefixed.success
    started = time.monotonic()
    slow = await run_probe(probe("sleep 5", timeoutSeconds=1), pod_ip=HOST, ports={}, enter_argv=[])
    assert slow == ProbeResult(False, 'command "sh -c sleep 5" timed out')
    assert time.monotonic() - started < 3
    absent = await run_probe({"exec": {"command": ["no-such-cmd"]}}, pod_ip=HOST, ports={}, enter_argv=[])
    assert absent == ProbeResult(False, 'exec: "no-such-cmd": executable file not found in $PATH')
    assert not (await run_probe(check, pod_ip=HOST, ports={}, enter_argv=None)).success


async def test_grpc_is_not_supported() -> None:
    result = await run_probe({"grpc": {"port": 9000}}, pod_ip=HOST, ports={}, enter_argv=[])
    assert not result.success and "not supported" in result.message


EXEC = {"exec": {"command": ["true"]}}


def test_readiness_timing_and_thresholds() -> None:
    tracker = ProbeTracker(
        {**EXEC, "initialDelaySeconds": 5, "periodSeconds": 2, "successThreshold": 2, "failureThreshold": 2},
        "readiness",
        started=100.0,
    )
    assert tracker.state is False and tracker.due(100.0) == 105.0
    tracker.record(105.0, True)
    assert tracker.state is False and tracker.due(105.0) == 107.0  # one success of two
    tracker.record(107.0, True)
    assert tracker.state is True
    tracker.record(109.0, False)
    assert tracker.state is True  # one failure of two
    tracker.record(111.0, True)
    tracker.record(113.0, False)
    tracker.record(115.0, False)
    assert tracker.state is False and tracker.due(115.0) == 117.0  # readiness keeps probing


def test_defaults_and_liveness() -> None:
    tracker = ProbeTracker(EXEC, "liveness", started=0.0)
    assert (tracker.period, tracker.timeout, tracker.failure_threshold, tracker.initial_delay) == (
        10,
        1,
        3,
        0,
    )
    assert tracker.state is True and tracker.due(0.0) == 0.0
    for now in (0.0, 10.0):
        tracker.record(now, False)
    assert tracker.state is True and not tracker.failed
    tracker.record(20.0, False)
    assert tracker.failed and tracker.due(20.0) is None  # to be restarted
    none = ProbeTracker(None, "readiness", started=0.0)
    assert none.state is True and none.due(0.0) is None


def test_startup_gates_the_others() -> None:
    container = {
        "startupProbe": {**EXEC, "periodSeconds": 1, "failureThreshold": 3},
        "livenessProbe": EXEC,
        "readinessProbe": {**EXEC, "initialDelaySeconds": 2},
    }
    probes = ContainerProbes(container, started=0.0)
    assert probes.trackers["startup"].state is None
    assert probes.due(0.0) == {"startup": 0.0} and not probes.ready
    probes.record("startup", 0.0, False)
    probes.record("startup", 1.0, True)
    assert probes.started and probes.due(1.0) == {"liveness": 0.0, "readiness": 2.0}
    probes.record("readiness", 2.0, True)
    assert probes.ready
    failing = ContainerProbes(container, started=0.0)
    for now in (0.0, 1.0, 2.0):
        failing.record("startup", now, False)
    assert failing.restart_needed == "startup" and failing.due(2.0) == {}
    plain = ContainerProbes({}, started=0.0)
    assert plain.ready and plain.started and plain.due(0.0) == {}


def test_restart_delay_is_crash_loop_back_off() -> None:
    assert [restart_delay(n) for n in range(8)] == [0, 10, 20, 40, 80, 160, 300, 300]
    assert restart_delay(1000) == 300


def test_probestate_is_pure() -> None:
    tree = ast.parse(Path(probestate.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n.split(".")[0] for n in names} & {"asyncio", "aiohttp", "socket", "threading", "subprocess"}
