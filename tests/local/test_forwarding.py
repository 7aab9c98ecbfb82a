"""`petdns local` answers names outside the cluster zone through an upstream, as a cluster DNS does."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import LocalProcess
from tests.support.resolver import ScriptedResolver


@pytest.fixture
def upstream() -> Iterator[ScriptedResolver]:
    """A scripted upstream on loopback, served from a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    resolver = ScriptedResolver()
    resolver.add("www.example.test. 300 IN A 192.0.2.7")
    asyncio.run_coroutine_threadsafe(resolver.start(), loop).result(10)
    try:
        yield resolver
    finally:
        asyncio.run_coroutine_threadsafe(resolver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def status(local: LocalProcess, name: str) -> str:
    out = subprocess.run(
        ["dig", f"@{local.dns_host}", "-p", str(local.dns_port), name, "+tries=1", "+time=3"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return out.split("status: ", 1)[1].split(",", 1)[0]


def test_other_names_go_to_the_upstream(tmp_path: Path, upstream: ScriptedResolver) -> None:
    local = LocalProcess(tmp_path, "--upstream", f"127.0.0.1:{upstream.port}")
    try:
        assert local.dig("www.example.test") == ["192.0.2.7"]
        assert status(local, "missing.example.test") == "NXDOMAIN"
        assert upstream.count("www.example.test") == 1
        assert local.dig("www.example.test") == ["192.0.2.7"]  # from the cache
        assert upstream.count("www.example.test") == 1
        assert status(local, "kubernetes-not-here.default.svc.cluster.local") == "NXDOMAIN"  # ours
        assert upstream.count("kubernetes-not-here.default.svc.cluster.local") == 0
    finally:
        assert local.stop() == 0


def test_no_forward_refuses_other_names(tmp_path: Path, upstream: ScriptedResolver) -> None:
    local = LocalProcess(tmp_path, "--no-forward", "--upstream", f"127.0.0.1:{upstream.port}")
    try:
        assert status(local, "www.example.test") == "REFUSED"
        assert upstream.count() == 0
    finally:
        assert local.stop() == 0
