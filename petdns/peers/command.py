"""`petdns peers`: look the governing service's SRV records up every second and run the on-start /
on-change script with the peers on its stdin. Flags as the peer-finder's (`-service`, `-ns`, `-domain`,
`-on-start`, `-on-change`, one dash or two). Exit 0 after on-start without on-change; 1 when a script
fails; 2 on bad arguments."""

from __future__ import annotations

import argparse
import os
import random
import socket
import struct
import subprocess
import sys
import time
from typing import Any

from petdns.peers.core import (
    POLL_PERIOD,
    PeerFinder,
    PeersError,
    nameserver,
    namespace_domain,
    own_names,
    read_reply,
    srv_query,
    stdin_text,
)

RESOLV_CONF = "/etc/resolv.conf"
TIMEOUT = 2.0  # seconds per lookup


def add_parser(sub: Any) -> None:
    """The `peers` subcommand's arguments."""
    parser = sub.add_parser(
        "peers",
        help="find a pet's peers in its governing service's DNS and run a script with them",
        description="The PetSet peer-finder: every second, ask the SRV records of <service>.<ns>.svc.<zone>; "
        "when the set of peers changed and holds this pet, run the script (sh -c) with the sorted names, "
        "one per line, on its stdin. After --on-start, exit unless --on-change is given.",
    )
    parser.add_argument("--service", "-service", required=True, help="the governing (headless) service")
    parser.add_argument(
        "--namespace",
        "--ns",
        "-ns",
        help="this pet's namespace (default: $POD_NAMESPACE, else the search line of resolv.conf)",
    )
    parser.add_argument(
        "--domain", "-domain", help="cluster domain (default: from the search line of resolv.conf)"
    )
    parser.add_argument("--on-start", "-on-start", metavar="CMD", help="script run once with the peers")
    parser.add_argument("--on-change", "-on-change", metavar="CMD", help="script run on every change")
    parser.add_argument(
        "--nameserver", metavar="IP[:PORT]", help="ask this server (default: resolv.conf's first nameserver)"
    )
    parser.add_argument("--self", dest="me", metavar="FQDN", help="this pet's name (default: hostname -f)")
    parser.add_argument("--resolv-conf", default=RESOLV_CONF, metavar="FILE", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Loop until on-start has run (or forever with on-change); the exit code."""
    namespace = args.namespace or os.environ.get("POD_NAMESPACE", "")
    if not (args.on_start or args.on_change):
        print("petdns peers: error: need --on-start and/or --on-change", file=sys.stderr)
        return 2
    try:
        given = namespace and args.domain and args.nameserver
        resolv = "" if given else _read(args.resolv_conf)
        domain = namespace_domain(namespace, args.domain, resolv)
        server = nameserver(args.nameserver, resolv)
    except PeersError as err:
        print(f"petdns peers: error: {err}", file=sys.stderr)
        return 2
    service_domain = f"{args.service}.{domain}"
    me = own_names(service_domain, socket.gethostname(), socket.getfqdn(), args.me)
    finder = PeerFinder(me, args.on_start, args.on_change)
    _log(
        f"asking {server[0]} port {server[1]} for SRV {service_domain}; this pet is {' or '.join(sorted(me))}"
    )
    try:
        return _loop(finder, service_domain, server)
    except KeyboardInterrupt:
        return 130


def _loop(finder: PeerFinder, name: str, server: tuple[str, int]) -> int:
    seen: frozenset[str] | None = None
    while not finder.done:
        try:
            found = lookup(name, server)
        except (OSError, PeersError) as err:
            _log(f"lookup of {name}: {err}")
            time.sleep(POLL_PERIOD)
            continue
        script = finder.decide(found)
        if script is None:
            if found != seen and not (found & finder.me):
                _log(f"have not found myself in the list yet: {', '.join(sorted(found)) or 'none'}")
            seen = found
            time.sleep(POLL_PERIOD)
            continue
        _log(f"peers now: {', '.join(sorted(found))}; running {script!r}")
        done = subprocess.run(["/bin/sh", "-c", script], input=stdin_text(found), text=True, check=False)
        if done.returncode != 0:
            _log(f"{script!r} exited with {done.returncode}")
            return 1
        finder.ran(found)
        seen = found
        if not finder.done:
            time.sleep(POLL_PERIOD)
    return 0


def lookup(name: str, server: tuple[str, int]) -> frozenset[str]:
    """The SRV targets of `name` from `server`: UDP, and TCP when the reply is truncated."""
    ident = random.randrange(1 << 16)
    query = srv_query(name, ident)
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        udp.settimeout(TIMEOUT)
        udp.connect(server)
        udp.send(query)
        deadline = time.monotonic() + TIMEOUT
        while True:  # a late reply to an earlier query is skipped
            udp.settimeout(max(0.01, deadline - time.monotonic()))
            data = udp.recv(65535)
            if data[:2] == query[:2]:
                break
    reply = read_reply(data, ident)
    if not reply.truncated:
        return reply.peers
    with socket.create_connection(server, timeout=TIMEOUT) as tcp:
        tcp.sendall(struct.pack("!H", len(query)) + query)
        size = struct.unpack("!H", _exactly(tcp, 2))[0]
        return read_reply(_exactly(tcp, size), ident).peers


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise PeersError("the server closed the connection mid-reply")
        data += chunk
    return data


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise PeersError(f"{path}: {err.strerror}") from None


def _log(message: str) -> None:
    print(f"petdns peers: {message}", file=sys.stderr, flush=True)
