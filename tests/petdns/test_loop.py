"""Forwarding-loop detection (`--loop-detect`, CoreDNS's `loop`): a `petdns serve` process whose
upstream is itself logs CoreDNS's line and exits 1; one with a real upstream keeps serving."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode

from tests.support.resolver import ScriptedResolver
from tests.support.tools import free_port

EXAMPLE = str(Path(__file__).parents[2] / "config" / "examples" / "nginx-pets.yaml")
HOST = "127.0.0.1"
LINE = re.compile(
    r'Loop \(127\.0\.0\.1 -> 127\.0\.0\.1:(\d+)\) detected for zone "\.", see '
    r'https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO (\d+)\.(\d+)\."'
)


async def _petdns(port: int, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "petdns",
        "serve",
        "--objects",
        EXAMPLE,
        "--listen",
        f"{HOST}:{port}",
        "--no-metrics",
        "--lameduck",
        "0",
        "--upstream-timeout",
        "1",
        "--loop-detect",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_a_server_forwarding_to_itself_halts_with_coredns_line() -> None:
    port = free_port()
    proc = await _petdns(port, "--upstream", f"{HOST}:{port}")
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode(errors="replace")
    assert proc.returncode == 1, text
    found = LINE.search(text)
    assert found is not None and int(found.group(1)) == port, text
    assert "stopped" not in text  # halted at once: no lame duck, no drain


async def test_a_server_with_a_real_upstream_keeps_serving() -> None:
    upstream = await ScriptedResolver().start()
    upstream.add("www.example.test. 300 IN A 192.0.2.1")
    port = free_port()
    proc = await _petdns(port, "--upstream", upstream.address)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not any(s.qtype == "HINFO" for s in upstream.seen):  # the probe went through once
            assert proc.returncode is None and loop.time() < deadline
            await asyncio.sleep(0.05)
        probes = [s.name for s in upstream.seen if s.qtype == "HINFO"]
        assert len(probes) == 1 and re.fullmatch(r"\d+\.\d+", probes[0])
        query = dns.message.make_query("www.example.test", "A")
        reply = await dns.asyncquery.udp(query, HOST, port=port, timeout=5)
        assert reply.rcode() == dns.rcode.NOERROR
        for _ in range(3):  # the probe's name again, later: counting has stopped
            again = dns.message.make_query(probes[0] + ".", "HINFO")
            assert (await dns.asyncquery.udp(again, HOST, port=port, timeout=5)).rcode() == dns.rcode.NXDOMAIN
        await asyncio.sleep(0.3)
        assert proc.returncode is None
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        await upstream.stop()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "loop detection: probing with HINFO" in text and "detected" not in text
