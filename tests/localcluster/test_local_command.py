"""`petdns local` as a process: kubectl drives it, and `--state` keeps every object across a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"


def _start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "petdns",
            "local",
            "--api",
            f"127.0.0.1:{port}",
            "--dns",
            "127.0.0.1:0",
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            "--state",
            str(tmp_path / "state"),
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200 and (tmp_path / "kubeconfig").exists():
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"petdns local did not start: {proc.stderr.read() if proc.stderr else ''}")


def _kubectl(tmp_path: Path, *args: str) -> str:
    return subprocess.run(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            "--cache-dir",
            str(tmp_path / "cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl comes with the test extras")
def test_kubectl_against_petdns_local_and_state_survives_a_restart(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(tmp_path, port)
    try:
        _kubectl(tmp_path, "create", "-f", str(ROOT / "config" / "examples" / "petset.yaml"))
        assert _kubectl(tmp_path, "get", "petset", "web", "-o", "jsonpath={.spec.replicas}") == "2"
        _kubectl(tmp_path, "scale", "petset", "web", "--replicas=3")
    finally:
        _stop(proc)
    proc = _start(tmp_path, port)
    try:
        assert _kubectl(tmp_path, "get", "petset", "web", "-o", "jsonpath={.spec.replicas}") == "3"
        assert "nginx" in _kubectl(tmp_path, "get", "service", "-o", "name")
    finally:
        _stop(proc)
