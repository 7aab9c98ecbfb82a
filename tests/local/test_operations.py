"""`petdns local` runs its DNS server as `petdns serve` does: /health, /ready, /metrics and the lame duck."""

from __future__ import annotations

import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.support.process import ROOT, LocalProcess, wait_for

EXAMPLE = str(ROOT / "config" / "examples" / "petset.yaml")
PET = "web-0.nginx.default.svc.cluster.local"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _answers(local: LocalProcess, name: str) -> int:
    query = dns.message.make_query(name, "A")
    return dns.query.udp(query, local.dns_host, port=local.dns_port, timeout=2).rcode()


def _metrics_url(local: LocalProcess) -> str:
    def found() -> str | None:
        while not local.lines.empty():
            local.printed.append(local.lines.get())
        found = [m.group(1) for line in local.printed if (m := re.search(r"curl -s (\S+)/metrics", line))]
        return found[0] if found else None

    return wait_for(found, timeout=10, what="the curl line of the banner")


def test_local_serves_health_ready_metrics_and_stops_after_the_lame_duck(tmp_path: Path) -> None:
    address = "127.0.0.1:0"  # one listener for the three paths
    local = LocalProcess(
        tmp_path,
        "-f",
        EXAMPLE,
        *("--health-listen", address, "--ready-listen", address, "--metrics-listen", address),
        *("--lameduck", "2"),
    )
    try:
        base = _metrics_url(local)
        assert _get(f"{base}/health") == (200, "OK")
        wait_for(lambda: _get(f"{base}/ready")[0] == 200, what="/ready 200")
        wait_for(lambda: local.dig(PET), what=f"{PET} answering")
        assert _answers(local, PET) == dns.rcode.NOERROR
        text = _get(f"{base}/metrics")[1]
        assert re.search(r'coredns_dns_requests_total\{[^}]*type="A"[^}]*\} [1-9]', text), text[:2000]
        assert "petdns_watch_lists_total" in text or "petdns_" in text
        local.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        wait_for(lambda: _get(f"{base}/ready")[0] == 503, timeout=1.5, what="/ready 503 at once")
        assert _answers(local, PET) == dns.rcode.NOERROR  # still answering in the lame duck
        assert local.proc.poll() is None
        assert local.proc.wait(timeout=20) == 0
        assert time.monotonic() - started >= 1.5  # it waited the lame duck out
    finally:
        local.kill()


def test_default_http_address_in_use_is_only_a_warning(tmp_path: Path) -> None:
    first = LocalProcess(tmp_path / "a")  # holds the default HTTP address (or warns, when another does)
    try:
        second = LocalProcess(tmp_path / "b")
        try:
            assert second.kubectl("get", "namespace", "default", "-o", "name").strip() == "namespace/default"
        finally:
            code = second.stop()
        assert second.proc.stderr is not None
        assert code == 0 and "/health /metrics /ready not served: 127.0.0.1:9154" in second.proc.stderr.read()
    finally:
        assert first.stop() == 0
