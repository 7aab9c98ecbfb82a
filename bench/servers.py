"""How each benchmarked server is started: petdns from its objects, NSD and Knot from the zone files."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from cluster import ZONE

REVERSE_ZONE = "10.in-addr.arpa"

# (port, cluster dir, private work dir) -> argv
CommandMaker = Callable[[int, Path, Path], list[str]]


def petdns_executable() -> str | None:
    """The ``petdns`` script next to this interpreter (the virtualenv's bin), else on PATH."""
    local = Path(sys.executable).parent / "petdns"
    if local.is_file():
        return str(local)
    return shutil.which("petdns")


def system_binary(name: str) -> str | None:
    """``name`` on PATH, else in /usr/sbin (daemons live there and PATH may lack it)."""
    found = shutil.which(name)
    if found is None and Path("/usr/sbin", name).is_file():
        found = str(Path("/usr/sbin", name))
    return found


def petdns_command(
    port: int, cluster_dir: Path, work: Path, workers: int = 1, *, pure: bool = False
) -> list[str]:
    """petdns with `workers` UDP threads, forwarding off; `pure`: the pure-Python loop (PETDNS_PURE=1),
    not the compiled."""
    exe = petdns_executable() or "petdns"
    objects = cluster_dir / "objects.json"
    cmd = [exe, "serve", "--objects", str(objects), "--listen", f"127.0.0.1:{port}", "--zone", ZONE]
    cmd.append("--no-forward")  # the traffic stays here: nothing goes to the machine's resolver
    return [*(["env", "PETDNS_PURE=1"] if pure else []), *cmd, "--workers", str(workers)]


def nsd_command(port: int, cluster_dir: Path, work: Path, workers: int = 1) -> list[str]:
    conf = work / "nsd.conf"
    conf.write_text(
        f"""server:
    ip-address: 127.0.0.1@{port}
    server-count: {workers}
    username: ""
    zonesdir: "{cluster_dir}"
    database: ""
    zonelistfile: "{work}/zone.list"
    xfrdfile: "{work}/xfrd.state"
    xfrdir: "{work}"
    pidfile: "{work}/nsd.pid"
    verbosity: 0
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: {ZONE}.zone
zone:
    name: {REVERSE_ZONE}
    zonefile: {REVERSE_ZONE}.zone
"""
    )
    return [system_binary("nsd") or "nsd", "-d", "-c", str(conf)]


def knot_conf(port: int, storage: Path, work: Path, zones: list[str], workers: int = 1) -> Path:
    """A Knot configuration (`workers` UDP workers) in `work` serving each `<zone>.zone` file of `storage`."""
    conf = work / "knot.conf"
    served = "".join(f"  - domain: {zone}\n    file: {zone}.zone\n" for zone in zones)
    conf.write_text(
        f"""server:
    rundir: "{work}"
    listen: 127.0.0.1@{port}
    udp-workers: {workers}
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{work}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{storage}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
zone:
{served}"""
    )
    return conf


def knot_command(port: int, cluster_dir: Path, work: Path, workers: int = 1) -> list[str]:
    conf = knot_conf(port, cluster_dir, work, [ZONE, REVERSE_ZONE], workers)
    return [system_binary("knotd") or "knotd", "-c", str(conf)]


SERVERS: dict[str, CommandMaker] = {
    "petdns": petdns_command,  # the compiled UDP loop (when built), one worker
    "nsd": nsd_command,
    "knot": knot_command,
    "petdns-pure": lambda port, d, w: petdns_command(port, d, w, pure=True),
    "petdns-2w": lambda port, d, w: petdns_command(port, d, w, 2),
    "nsd-2w": lambda port, d, w: nsd_command(port, d, w, 2),
    "knot-2w": lambda port, d, w: knot_command(port, d, w, 2),
}
BINARIES = {"nsd": "nsd", "knot": "knotd"}
TWO_WORKERS_CPUS = "0,1"  # the 2-worker variants run on two CPUs (dnsperf shares the second)


def base(name: str) -> str:
    """petdns, nsd or knot: the server a variant runs."""
    return name.partition("-")[0]


def server_cpus(name: str, default: int) -> str:
    """The CPUs a server is pinned to: `default`, both benchmark CPUs for the 2-worker variants."""
    return TWO_WORKERS_CPUS if name.endswith("-2w") else str(default)


def missing(name: str) -> str | None:
    """Why ``name`` cannot be started here, or None."""
    if name not in SERVERS:
        return f"unknown server (known: {', '.join(SERVERS)})"
    if base(name) == "petdns":
        return None if petdns_executable() else "petdns executable not found (next to python or on PATH)"
    if system_binary(BINARIES[base(name)]) is None:
        return f"{BINARIES[base(name)]} not installed"
    return None


def needs_zone_files(name: str) -> bool:
    return base(name) != "petdns"
