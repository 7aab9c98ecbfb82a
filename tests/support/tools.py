"""Debian tools the tests run (dig, knotd): found on PATH or in /usr/sbin, else installed by `make tools`."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _which(binary: str) -> str | None:
    found = shutil.which(binary)
    if found is None and Path("/usr/sbin", binary).is_file():
        found = str(Path("/usr/sbin", binary))
    return found


def require(binary: str) -> str:
    """The path of `binary`; when it is missing, `make tools` installs it (as `make test` does), and a
    tool that is still missing fails the test rather than skipping it."""
    found = _which(binary)
    if found is None:
        subprocess.run(["make", "-C", str(ROOT), "tools"], check=False, timeout=900)
        found = _which(binary)
    if found is None:
        pytest.fail(f"{binary} is not installed and `make tools` could not install it")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError("no free port")
