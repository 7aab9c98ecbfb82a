"""bench/fuzz.py, short: mutated queries over UDP and TCP against `petdns serve` (alone, then forwarding
to a local knotd) leave no crash, no hang and no malformed reply; and its checks do catch each kind."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from petdns.answer.fasttable import compiled
from tests.support.loops import LOOPS
from tests.support.tools import require

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench scripts import one another as top-level modules

from fuzzcheck import Tally, check_reply  # noqa: E402
from mutate import FAMILIES, mutate, seed_queries  # noqa: E402


@pytest.mark.parametrize("loop", LOOPS)
def test_short_fuzz_run_meets_the_targets(loop: str) -> None:
    """Against the UDP loop `loop` (the pure-Python one: fewer queries, TCP is the same for both)."""
    require("knotd")
    env = {k: v for k, v in os.environ.items() if k != "PETDNS_PURE"}
    if loop == "python":
        env["PETDNS_PURE"] = "1"
    elif compiled is None:
        pytest.skip("petdns._fastloop is not built (or PETDNS_PURE)")
    counts = ["--udp", "10000", "--tcp", "2000"] if loop == "compiled" else ["--udp", "4000", "--tcp", "200"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "fuzz.py"), *counts, "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "targets: crash 0/0, hang 0/0, malformed 0/0 -> PASS" in done.stdout
    assert "[forwarding to knotd]" in done.stdout and "ending in a length lie" in done.stdout


def _pair(**kw: object) -> tuple[bytes, dns.message.Message]:
    query = dns.message.make_query("web-0.nginx.default.svc.cluster.local", "A", **kw)  # type: ignore[arg-type]
    reply = dns.message.make_response(query)
    return query.to_wire(), reply


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda q, r: r.to_wire()[:-1] if r.question else b"", "does not parse"),
        (lambda q, r: r.to_wire()[:2] + b"\x00" + r.to_wire()[3:], "without QR"),
        (lambda q, r: b"\x00\x00" + r.to_wire()[2:], "reply ID"),
        (lambda q, r: r.to_wire().replace(b"\x05web-0", b"\x05web-1"), "question"),
        (lambda q, r: r.to_wire() + b"\x00" * 0, None),
    ],
)
def test_the_checks_catch_what_they_name(spoil: object, problem: str | None) -> None:
    query, reply = _pair(use_edns=0, payload=1232)
    wire = spoil(query, reply)  # type: ignore[operator]
    found = check_reply(query, wire, udp=True, tally=Tally())
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_udp_replies_over_the_clients_size_are_caught() -> None:
    query, reply = _pair()  # no EDNS: 512 bytes
    reply.flags |= dns.flags.AA
    for i in range(40):
        reply.answer.append(
            dns.rrset.from_text("web-0.nginx.default.svc.cluster.local.", 5, "IN", "A", f"10.0.0.{i}")
        )
    wire = reply.to_wire()
    assert len(wire) > 512
    found = check_reply(query, wire, udp=True, tally=Tally())
    assert found is not None and "over the limit 512" in found
    assert check_reply(query, wire, udp=False, tally=Tally()) is None
    header_only = dns.message.make_response(dns.message.from_wire(query))
    header_only.question = []
    header_only.set_rcode(dns.rcode.FORMERR)
    assert check_reply(query, header_only.to_wire(), udp=True, tally=Tally()) is None


def test_every_mutation_family_takes_any_bytes() -> None:
    rng = random.Random(3)
    seeds = seed_queries([("a.b.cluster.local", "A"), ("x.example", "SRV")], rng)
    for _ in range(5000):
        mutate(rng, seeds)
    for family in FAMILIES.values():
        for size in range(12, 48):
            family(rng, rng.randbytes(size))
