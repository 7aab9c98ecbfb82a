"""The compiled UDP loop while Python is busy: a stream of queries it answers itself is answered
without the GIL, even while another thread holds it (a busy event loop, a long computation)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import dns.message
import pytest

from petdns.answer.fasttable import compiled
from petdns.answer.zone import RenderedZone
from petdns.serve.transport import DnsServer

pytestmark = pytest.mark.skipif(compiled is None, reason="petdns._fastloop is not built (or PETDNS_PURE)")

QUERIES = 200

# sequential queries from another process once told to go: each reply's arrival (time.monotonic)
CLIENT = """
import socket, sys, time
port, wire, n = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(5)
print("ready", flush=True)
sys.stdin.readline()
got = []
for _ in range(n):
    sock.sendto(wire, ("127.0.0.1", port))
    sock.recv(4096)
    got.append(time.monotonic())
print(" ".join(map(repr, got)))
"""


async def test_queries_are_answered_while_python_holds_the_gil(zones: dict[str, RenderedZone]) -> None:
    server = DnsServer(zones["default"], [("127.0.0.1", 0)])
    await server.start()
    wire = dns.message.make_query("web-0.nginx.default.svc.cluster.local", "A").to_wire()
    argv = [sys.executable, "-c", CLIENT, str(server.bound[0][1]), wire.hex(), str(QUERIES)]
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdin is not None and client.stdout is not None
        assert await asyncio.to_thread(client.stdout.readline) == "ready\n"
        client.stdin.write("go\n")
        client.stdin.flush()
        held_from = time.monotonic()
        sum(range(30_000_000))  # one C call: the GIL is not released until it returns
        held_until = time.monotonic()
        out, _ = await asyncio.to_thread(client.communicate, timeout=30)
    finally:
        client.kill()
        await server.stop()
    got = [float(t) for t in out.split()]
    assert len(got) == QUERIES
    # a loop that took the GIL after each batch would answer one query while the call runs; this one
    # counts what it answers itself and never needs the GIL for a hit, so the client's sequential
    # queries go on at its own pace while the call runs
    during = sum(1 for t in got if held_from < t < held_until)
    assert during >= QUERIES // 2, (during, held_until - held_from)
    assert server.counters.answered == QUERIES  # counted once the GIL was free
