"""How much bigger petdns's UDP replies are than the queries that draw them, before and after the cap.

Starts petdns twice on 127.0.0.1 with generated objects (a 300-endpoint headless service, SRV, names
near 255 bytes) and forwarding to a local knotd serving large records: once with `--max-udp-size
65535` (the old behaviour: the client's EDNS size) and once with the default (1232). Per query family
(A, AAAA, SRV, ANY, TXT; cluster names and forwarded ones) and per EDNS offer (none, 512, 1232,
4096, 65535) it sends each of the family's names over UDP and prints the worst bytes-out/bytes-in
factor, old and new side by side, and the largest reply.

    .venv/bin/python bench/amplification.py
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

import dns.message
from dnsrig import BIG, HOST, LONG, UPSTREAM_ZONE, ZONE, start_knot, start_petdns, write_objects

OFFERS: tuple[int | None, ...] = (None, 512, 1232, 4096, 65535)
LONG_NAME = f"{LONG[:61]}00.{LONG[:60]}.default.svc.{ZONE}"
FAMILIES: dict[tuple[str, str], list[str]] = {
    ("A", "cluster"): [BIG, f"big-1.{BIG}", LONG_NAME, f"{LONG[:60]}.default.svc.{ZONE}"],
    ("AAAA", "cluster"): [BIG, f"big-1.{BIG}"],
    ("SRV", "cluster"): [
        f"_http._tcp.{BIG}",
        f"_https._tcp.{BIG}",
        BIG,
        f"_http._tcp.{LONG[:60]}.default.svc.{ZONE}",
    ],
    ("ANY", "cluster"): [BIG, f"big-1.{BIG}"],
    ("TXT", "cluster"): [f"dns-version.{ZONE}", BIG],
    ("A", "forwarded"): [f"big.{UPSTREAM_ZONE}", f"www.{UPSTREAM_ZONE}", f"ext.default.svc.{ZONE}"],
    ("AAAA", "forwarded"): [f"big.{UPSTREAM_ZONE}"],
    ("SRV", "forwarded"): [f"_sip._udp.srv.{UPSTREAM_ZONE}"],
    ("ANY", "forwarded"): [f"big.{UPSTREAM_ZONE}", f"txt.{UPSTREAM_ZONE}"],
    ("TXT", "forwarded"): [f"txt.{UPSTREAM_ZONE}"],
}


def exchange(port: int, name: str, qtype: str, offer: int | None) -> tuple[int, int, bool]:
    """(query bytes, reply bytes, TC) of one UDP exchange; a reply of 0 bytes when none came."""
    if offer is None:
        query = dns.message.make_query(name, qtype, use_edns=False)
    else:
        query = dns.message.make_query(name, qtype, use_edns=0, payload=offer)
    wire = query.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(wire, (HOST, port))
        try:
            while True:
                reply = sock.recv(65535)
                if reply[:2] == wire[:2]:
                    return len(wire), len(reply), bool(reply[2] & 0x02)
        except TimeoutError:
            return len(wire), 0, False


def measure(port: int) -> dict[tuple[str, str, int | None], tuple[float, int, bool]]:
    """Per (family, origin, offer): (worst factor, largest reply, any TC)."""
    out = {}
    for (qtype, origin), names in FAMILIES.items():
        for offer in OFFERS:
            worst, largest, tc = 0.0, 0, False
            for name in names:
                sent, got, truncated = exchange(port, name, qtype, offer)
                worst, largest, tc = max(worst, got / sent), max(largest, got), tc or truncated
            out[qtype, origin, offer] = (worst, largest, tc)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pets", type=int, default=300, help="endpoints of the big headless service")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="petdns-amp-") as tmp:
        work = Path(tmp)
        objects = write_objects(work, args.pets)
        knot, knot_port = start_knot(work)
        results = {}
        try:
            for label, extra in (("old (65535)", ["--max-udp-size", "65535"]), ("new (default)", [])):
                proc, port = start_petdns(objects, work, "--upstream", f"{HOST}:{knot_port}", *extra)
                try:
                    exchange(port, f"big.{UPSTREAM_ZONE}", "A", 4096)  # the forwarder's first fetch
                    results[label] = measure(port)
                finally:
                    proc.stop()
        finally:
            knot.stop()
    old, new = results["old (65535)"], results["new (default)"]
    offers = ["no EDNS" if o is None else f"EDNS {o}" for o in OFFERS]
    print("worst bytes-out / bytes-in per UDP query: old (--max-udp-size 65535) -> new (default 1232)")
    print(f"{'family':<15}" + "".join(f"{o:>17}" for o in offers) + f"{'largest reply':>22}")
    worst_old = worst_new = 0.0
    for qtype, origin in FAMILIES:
        cells = []
        for offer in OFFERS:
            a, b = old[qtype, origin, offer], new[qtype, origin, offer]
            worst_old, worst_new = max(worst_old, a[0]), max(worst_new, b[0])
            cells.append(f"{a[0]:6.1f} -> {b[0]:5.1f}{'*' if b[2] else ' '}")
        largest = f"{max(v[1] for k, v in old.items() if k[:2] == (qtype, origin))} -> "
        largest += f"{max(v[1] for k, v in new.items() if k[:2] == (qtype, origin))} B"
        print(f"{qtype + ' ' + origin:<15}" + "".join(f"{c:>17}" for c in cells) + f"{largest:>22}")
    print("* TC set on some reply (the client retries over TCP)")
    print(f"worst factor: old {worst_old:.1f}x, new {worst_new:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
