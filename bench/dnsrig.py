"""What bench/fuzz.py and bench/amplification.py share: generated cluster objects with big answers, a
Knot upstream serving large records, and petdns and knotd started on 127.0.0.1 and stopped by PID."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from procs import free_port
from servers import knot_conf, system_binary

HOST = "127.0.0.1"
ZONE = "cluster.local"
UPSTREAM_ZONE = "knot.test"
LONG = "l" * 63  # the longest label: names near 255 bytes
BIG = f"big.default.svc.{ZONE}"
PETS = 300


def _slice(name: str, service: str, family: str, endpoints: list[dict[str, object]]) -> dict[str, object]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "addressType": family,
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "https", "port": 443, "protocol": "TCP"},
        ],
        "endpoints": endpoints,
    }


def _service(name: str, cluster_ip: str = "None") -> dict[str, object]:
    ports = [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "TCP"},
    ]
    spec: dict[str, object] = {"clusterIP": cluster_ip, "ports": ports}
    if cluster_ip != "None":
        spec["clusterIPs"] = [cluster_ip]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def write_objects(directory: Path, pets: int = PETS, crowd: int = 0) -> Path:
    """objects.json: a headless service `big` with `pets` IPv4 and IPv6 endpoints (slices of 100, two
    ports: SRV answers of 2 x pets records), a small headless `web`, a ClusterIP `api`, and a headless
    service with a 63-byte name and 63-byte hostnames (names near 255 bytes), plus an ExternalName; and
    `crowd` headless services `c<i>` of one pet `c<i>-0` (10.4.0.1 on): from 256, a start that leaves
    services to be rendered when first asked."""
    ready = {"ready": True}
    items: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
        _service("big"),
        _service("web"),
        _service("api", "10.96.0.10"),
        _service(LONG[:60]),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ext", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": f"www.{UPSTREAM_ZONE}"},
        },
    ]
    for first in range(0, pets, 100):
        four = [
            {"addresses": [f"10.1.{i // 250}.{i % 250 + 1}"], "conditions": ready, "hostname": f"big-{i}"}
            for i in range(first, min(pets, first + 100))
        ]
        six = [
            {"addresses": [f"fd00::1:{i:x}"], "conditions": ready, "hostname": f"big-{i}"}
            for i in range(first, min(pets, first + 100))
        ]
        items += [
            _slice(f"big-v4-{first}", "big", "IPv4", four),
            _slice(f"big-v6-{first}", "big", "IPv6", six),
        ]
    web = [{"addresses": [f"10.2.0.{i + 1}"], "conditions": ready, "hostname": f"web-{i}"} for i in range(3)]
    long = [
        {"addresses": [f"10.3.0.{i + 1}"], "conditions": ready, "hostname": f"{LONG[:61]}{i:02d}"}
        for i in range(8)
    ]
    items += [_slice("web-1", "web", "IPv4", web), _slice("long-1", LONG[:60], "IPv4", long)]
    for i in range(crowd):
        pet = {"addresses": [f"10.4.{i // 250}.{i % 250 + 1}"], "conditions": ready, "hostname": f"c{i}-0"}
        items += [_service(f"c{i}"), _slice(f"c{i}-1", f"c{i}", "IPv4", [pet])]
    path = directory / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def upstream_zone() -> str:
    """knot.test: `www` (A, AAAA), `big` (60 A), `txt` (40 TXT strings of 200 bytes), `srv` (40 SRV)."""
    lines = [
        f"$ORIGIN {UPSTREAM_ZONE}.",
        "$TTL 300",
        f"@ SOA ns.{UPSTREAM_ZONE}. host.{UPSTREAM_ZONE}. 1 7200 1800 86400 60",
        "@ NS ns",
        "ns A 127.0.0.1",
        "www A 192.0.2.53",
        "www AAAA 2001:db8::53",
    ]
    lines += [f"big A 192.0.2.{i}" for i in range(1, 61)]
    lines += [f"big AAAA 2001:db8::{i:x}" for i in range(1, 61)]
    lines += [f'txt TXT "{i:03d}{"t" * 197}"' for i in range(40)]
    lines += [f"_sip._udp.srv SRV 10 10 5060 host-{i}.{LONG}.{UPSTREAM_ZONE}." for i in range(40)]
    return "\n".join(lines) + "\n"


def knot_command(work: Path, port: int) -> list[str]:
    """A one-worker knotd on 127.0.0.1:port serving `upstream_zone()`."""
    (work / f"{UPSTREAM_ZONE}.zone").write_text(upstream_zone())
    conf = knot_conf(port, work, work, [UPSTREAM_ZONE])
    return [system_binary("knotd") or "knotd", "-c", str(conf)]


def petdns_command(objects: Path, port: int, *args: str) -> list[str]:
    """`petdns serve` from this interpreter on 127.0.0.1:port, quiet, no HTTP."""
    petdns = [
        sys.executable,
        "-m",
        "petdns",
        "serve",
        "--objects",
        str(objects),
        "--listen",
        f"{HOST}:{port}",
    ]
    return [*petdns, "--no-metrics", "--lameduck", "0", "--log-level", "error", *args]


def _query(name: str) -> bytes:
    wire = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
    return b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire + b"\x00\x01\x00\x01"


def answers(port: int, name: str, timeout: float = 0.2) -> bool:
    """Whether 127.0.0.1:port answers `name A` over UDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(_query(name), (HOST, port))
            return sock.recv(65535)[:2] == b"\x12\x34"
        except OSError:
            return False


class Proc:
    """A server process with its log file; `start` waits until it answers `ready_name`."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, port: int, ready_name: str, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        while not answers(port, ready_name):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{self.popen.args[0]} does not answer on port {port}: {tail}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


def start_knot(work: Path) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(knot_command(work, port), work / "knot.log")
    proc.wait_ready(port, f"www.{UPSTREAM_ZONE}")
    return proc, port


def start_petdns(objects: Path, work: Path, *args: str) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(petdns_command(objects, port, *args), work / f"petdns-{port}.log")
    proc.wait_ready(port, f"big-0.{BIG}")
    return proc, port
