"""`petdns serve` as a process: a configuration file followed live, JSON and query logs, /metrics, and the
stop sequence (lame duck with /ready at 503, then draining, exit 0)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest
import yaml

from tests.petdns.test_metrics import scrape
from tests.support.resolver import ScriptedResolver
from tests.support.tools import free_port
from tests.support.waiting import eventually

EXAMPLE = str(Path(__file__).parents[2] / "config" / "examples" / "nginx-pets.yaml")
HOST = "127.0.0.1"
PET = "web-0.nginx.default.svc.cluster.local"


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    config: Path
    log: Path
    dns: int
    http: int

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    async def logged(self, *parts: str) -> str:
        async def find() -> str | None:
            return next((line for line in self.lines() if all(p in line for p in parts)), None)

        return await eventually(find, f"a log line with {parts}", timeout=10)

    async def ask(self, name: str = PET, qtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(name, qtype)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await send(query, HOST, port=self.dns, timeout=3)

    async def status(self, path: str) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{HOST}:{self.http}{path}") as resp,
        ):
            return resp.status

    def write(self, **settings: object) -> None:
        """Replace the configuration file (a rename, as editors and ConfigMaps do)."""
        fresh = self.config.with_suffix(".new")
        fresh.write_text(yaml.safe_dump(settings))
        os.replace(fresh, self.config)


def _settings(dns_port: int, http_port: int, **more: object) -> dict[str, object]:
    return {
        "objects": [EXAMPLE],
        "listen": [f"{HOST}:{dns_port}"],
        "metrics_listen": [f"{HOST}:{http_port}"],
        "ready_listen": [f"{HOST}:{http_port}"],
        "health_listen": [f"{HOST}:{http_port}"],
        "log_format": "text",
        **more,
    }


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Process]:
    dns_port, http_port = free_port(), free_port()
    config = tmp_path / "petdns.yaml"
    config.write_text(yaml.safe_dump(_settings(dns_port, http_port, ttl=5, lameduck=2, no_forward=True)))
    log = tmp_path / "petdns.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "petdns",
            "serve",
            "--config",
            str(config),
            "--log-format",
            "json",  # the flag wins over the file's text
            "--query-log",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    p = Process(proc, config, log, dns_port, http_port)

    async def answers() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"petdns exited: {log.read_text()}")
        try:
            return (await p.ask()).rcode() == dns.rcode.NOERROR
        except (OSError, dns.exception.Timeout):
            return False

    await eventually(answers, "petdns answering", timeout=20)
    yield p
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _ttl(reply: dns.message.Message) -> int:
    return int(reply.answer[0].ttl)


async def test_config_reloads_logs_metrics_and_the_lame_duck(started: Process) -> None:
    p = started
    assert _ttl(await p.ask()) == 5
    assert (await p.ask(tcp=True)).rcode() == dns.rcode.NOERROR
    assert (await p.ask("web-9.nginx.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN

    # metrics
    async def counted() -> bool:
        got = await scrape(p.http)
        return got.value("coredns_dns_requests_total", proto="udp") >= 3

    await eventually(counted, "UDP queries in /metrics")
    got = await scrape(p.http)
    assert got.value("coredns_dns_requests_total", proto="tcp", type="A") == 1
    assert got.value("coredns_dns_responses_total", rcode="NXDOMAIN") == 1

    # logs: JSON lines, the query log among them
    query_line = await p.logged('"logger": "petdns.query"', "web-9.nginx")
    entry = json.loads(query_line)
    assert entry["level"] == "INFO" and entry["rcode"] == "NXDOMAIN" and entry["proto"] == "udp"
    assert entry["qname"] == "web-9.nginx.default.svc.cluster.local." and entry["qtype"] == "A"
    assert entry["client"] == HOST and "qr,aa,rd" in entry["message"]
    assert {"time", "level", "logger", "message"} <= set(entry)
    tcp_line = json.loads(await p.logged('"proto": "tcp"', "petdns.query"))
    assert tcp_line["rcode"] == "NOERROR"
    for line in p.lines():
        json.loads(line)  # every line is one JSON object

    # a reload that changes the TTL: the zone is rendered again
    p.write(**_settings(p.dns, p.http, ttl=30, lameduck=2, no_forward=True))

    async def ttl_30() -> bool:
        return _ttl(await p.ask()) == 30

    await eventually(ttl_30, "TTL 30 after the reload", timeout=10)
    await p.logged("config", "reloaded", "ttl")

    # bad files are rejected with one line naming the file and the key; the settings stay
    p.write(**_settings(p.dns, p.http, ttl="long", lameduck=2, no_forward=True))
    line = json.loads(await p.logged("keeping the settings in force", "ttl"))
    assert line["level"] == "ERROR" and str(p.config) in line["message"]
    p.config.write_text("ttl: [30\n")
    await p.logged("not valid YAML", "keeping the settings in force")
    p.write(**_settings(p.dns, p.http, tll=5))
    await p.logged("tll: unknown key")
    assert _ttl(await p.ask()) == 30
    p.write(**_settings(p.dns + 1, p.http, ttl=30, lameduck=2, no_forward=True))
    await p.logged("listen changed: that takes a restart")
    assert _ttl(await p.ask()) == 30

    # the stop: /ready 503 at once, DNS answering through the lame duck, then exit 0
    assert await p.status("/ready") == 200
    p.proc.send_signal(signal.SIGTERM)

    async def not_ready() -> bool:
        return await p.status("/ready") == 503

    await eventually(not_ready, "/ready at 503", timeout=1.5)
    assert await p.status("/health") == 200
    assert (await p.ask()).rcode() == dns.rcode.NOERROR
    assert (await p.ask(tcp=True)).rcode() == dns.rcode.NOERROR
    assert p.proc.returncode is None  # still in the lame duck
    assert await asyncio.wait_for(p.proc.wait(), 15) == 0
    await p.logged("stopped")
    assert "Traceback" not in p.log.read_text()


async def test_a_forwarded_query_in_flight_is_answered_before_exit(tmp_path: Path) -> None:
    resolver = await ScriptedResolver(delay=1.0).start()
    resolver.add("slow.example.test. 60 IN A 192.0.2.7")
    dns_port, http_port = free_port(), free_port()
    log = tmp_path / "petdns.log"
    try:
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "petdns",
                "serve",
                "--objects",
                EXAMPLE,
                "--listen",
                f"{HOST}:{dns_port}",
                "--ready-listen",
                f"{HOST}:{http_port}",
                "--no-metrics",
                "--upstream",
                resolver.address,
                "--upstream-timeout",
                "5",
                "--lameduck",
                "0.2",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        p = Process(proc, tmp_path / "none.yaml", log, dns_port, http_port)

        async def answers() -> bool:
            try:
                return (await p.ask()).rcode() == dns.rcode.NOERROR
            except (OSError, dns.exception.Timeout):
                return False

        await eventually(answers, "petdns answering", timeout=20)
        udp = asyncio.create_task(p.ask("slow.example.test"))
        tcp = asyncio.create_task(p.ask("slow.example.test", "A", tcp=True))

        async def asked() -> bool:
            return resolver.count("slow.example.test") >= 1

        await eventually(asked, "the upstream asked")
        proc.send_signal(signal.SIGTERM)
        for task in (udp, tcp):
            reply = await task
            assert reply.rcode() == dns.rcode.NOERROR
            assert [rd.to_text() for rrset in reply.answer for rd in rrset] == ["192.0.2.7"]
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        text = log.read_text()
        assert "stopped accepting" in text and "still in flight" not in text
        with pytest.raises((OSError, dns.exception.Timeout)):
            await dns.asyncquery.udp(dns.message.make_query(PET, "A"), HOST, port=dns_port, timeout=0.3)
    finally:
        await resolver.stop()


def test_a_bad_config_file_stops_the_start_with_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "petdns.yaml"
    for text, expected in (
        ("objects: [x.yaml]\nttl: 99999\n", f"petdns: error: config {config}: ttl: 99999 is outside 0..3600"),
        ("objects: [x.yaml]\nallow_recursion: [10.0.0.0/33]\n", f"config {config}: allow_recursion: "),
        ("objects: [x.yaml]\nlisten: 5353\n", f"config {config}: listen: expected a list of strings"),
    ):
        config.write_text(text)
        proc = subprocess.run(
            [sys.executable, "-m", "petdns", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert expected in lines[0]
    config.write_text("objects: [x.yaml]\nttl: 30\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "petdns",
            "serve",
            "--config",
            str(config),
            "--listen",
            "127.0.0.1:0",
            "--ttl",
            "-1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == "petdns: error: --ttl: -1 is outside 0..3600"
