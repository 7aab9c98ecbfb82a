"""Sockets a pod's processes listen on for every address (0.0.0.0, ::): pods share the host's network in
`petdns local`, so such a bind takes the port from every other pet; the kubelet says so in an Event.

`parse` reads /proc/net/{tcp,tcp6,udp,udp6} (pure); `wildcard_binds` finds the pod's processes by their PID
namespace and matches their socket inodes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

LISTEN, UNCONNECTED = "0A", "07"  # TCP state of a listening socket, UDP state of a bound one
TABLES = (
    ("tcp", False, LISTEN),
    ("tcp6", True, LISTEN),
    ("udp", False, UNCONNECTED),
    ("udp6", True, UNCONNECTED),
)


def parse(text: str, *, v6: bool, state: str) -> list[tuple[bool, int, int]]:
    """(bound to every address, port, inode) of the sockets of one /proc/net table in `state`."""
    found: list[tuple[bool, int, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != state:
            continue
        address, _, port = fields[1].partition(":")
        try:
            found.append((int(address, 16) == 0, int(port, 16), int(fields[9])))
        except ValueError:
            continue
    return found


def describe(proto: str, v6: bool, port: int) -> str:
    """How a wildcard bind reads in an Event: `0.0.0.0:8080/tcp`."""
    return f"{'[::]' if v6 else '0.0.0.0'}:{port}/{proto.rstrip('6')}"


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _socket_inodes(pids: Iterable[int]) -> set[int]:
    inodes: set[int] = set()
    for pid in pids:
        try:
            links = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in links:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def wildcard_binds(holder: int) -> list[str]:
    """The wildcard binds of the processes in `holder`'s PID namespace, described, sorted."""
    namespace = _namespace(holder)
    if namespace is None:
        return []
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _namespace(int(p)) == namespace]
    inodes = _socket_inodes(pids)
    if not inodes:
        return []
    found: set[str] = set()
    for proto, v6, state in TABLES:
        try:
            text = Path(f"/proc/net/{proto}").read_text()
        except OSError:
            continue
        for every, port, inode in parse(text, v6=v6, state=state):
            if every and inode in inodes:
                found.add(describe(proto, v6, port))
    return sorted(found)
