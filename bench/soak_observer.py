"""After every event: wait (with a deadline) until the API has settled and the separate DNS server's answers
equal what the API implies; the time from the event to that moment is the convergence time."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
from soak_api import Api, Snapshot
from soak_report import Record

Key = tuple[str, str]
SETTLE_DEADLINE = 90.0


def ask_all(port: int, keys: list[Key], timeout: float = 1.0) -> dict[Key, frozenset[str]] | None:
    """Every question at once over one socket; the answer sets (A: addresses, SRV: "port target");
    None when some query got no reply or an rcode other than NOERROR/NXDOMAIN."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        pending: dict[int, Key] = {}
        for i, key in enumerate(keys):
            query = dns.message.make_query(key[0], key[1])
            query.id = i + 1
            pending[query.id] = key
            sock.send(query.to_wire())
        got: dict[Key, frozenset[str]] = {}
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None
            try:
                reply = dns.message.from_wire(sock.recv(65535))
            except (OSError, dns.exception.DNSException):
                return None
            key_of = pending.pop(reply.id, None)
            if key_of is None:
                continue
            if reply.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return None
            got[key_of] = frozenset(_rdata(reply, key_of[1]))
        return got


def _rdata(reply: dns.message.Message, qtype: str) -> list[str]:
    out: list[str] = []
    want = dns.rdatatype.from_text(qtype)
    for rrset in reply.answer:
        if rrset.rdtype != want:
            continue
        for rd in rrset:
            if want == dns.rdatatype.SRV:
                out.append(f"{rd.port} {rd.target.to_text().lower()}")
            else:
                out.append(rd.to_text())
    return out


@dataclass
class Outcome:
    seconds: float
    converged: bool
    snapshot: Snapshot | None


class Observer:
    def __init__(self, api: Api, dns_port: int, record: Record) -> None:
        self.api = api
        self.dns_port = dns_port
        self.record = record
        self.last: Snapshot | None = None
        self.checks = 0

    def snapshot(self) -> Snapshot | None:
        try:
            self.last = self.api.snapshot()
        except Exception:  # the API is down or restarting
            return None
        return self.last

    def settle(
        self,
        kind: str,
        started: float,
        deadline: float = SETTLE_DEADLINE,
        effect: Callable[[Snapshot], bool] | None = None,
    ) -> Outcome:
        """Poll until the API shows the event's effect and has settled, and DNS equals it; record the
        convergence time under `kind`, or a violation naming what still differed at the deadline."""
        why = "no snapshot yet"
        while time.monotonic() - started < deadline:
            snap = self.snapshot()
            if snap is None:
                why = "API unreachable"
            elif effect is not None and not effect(snap):
                why = "API does not show the event's effect yet"
            elif (unsettled := snap.unsettled()) is not None:
                why = f"API not settled: {unsettled}"
            else:
                want = snap.expected()
                got = ask_all(self.dns_port, list(want))
                self.checks += 1
                if got is None:
                    why = "a DNS check query got no usable reply"
                else:
                    differ = [k for k in want if got.get(k) != want[k]]
                    if not differ:
                        seconds = time.monotonic() - started
                        self.record.converged(kind, seconds)
                        return Outcome(seconds, True, snap)
                    k = differ[0]
                    why = f"{len(differ)} names differ, e.g. {k[0]} {k[1]}: "
                    why += f"DNS {sorted(got[k])} API {sorted(want[k])}"
            time.sleep(0.1)
        kind_of = "api_not_settled" if why.startswith(("API", "no snapshot")) else "dns_not_equal_api"
        self.record.violation(kind_of, f"after {kind}, {deadline:.0f} s: {why}")
        return Outcome(time.monotonic() - started, False, self.last)
