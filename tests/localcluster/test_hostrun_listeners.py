"""Reading /proc/net tables for wildcard binds (pure); who may run pods."""

from __future__ import annotations

from localcluster.kubelet.hostrun.listeners import LISTEN, UNCONNECTED, describe, parse
from localcluster.kubelet.hostrun.runtime import available

HEAD = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
TAIL = " 00000000:00000000 00:00000000 00000000     0        0 {} 1 0 100 0 0 10 0\n"
TCP = (
    HEAD
    + "   0: 00000000:1F90 00000000:0000 0A"
    + TAIL.format(4242)
    + "   1: 0B00F47F:1F90 00000000:0000 0A"
    + TAIL.format(4243)
    + "   2: 0B00F47F:9C40 0C00F47F:1F90 01"
    + TAIL.format(4244)
    + "   3: garbage\n"
)
ANY6 = "0" * 32
UDP6 = HEAD + f"  5: {ANY6}:0035 {ANY6}:0000 07" + TAIL.format(99)


def test_listening_sockets_with_their_address_kind_port_and_inode() -> None:
    assert parse(TCP, v6=False, state=LISTEN) == [(True, 8080, 4242), (False, 8080, 4243)]
    assert parse(UDP6, v6=True, state=UNCONNECTED) == [(True, 53, 99)]
    assert parse(UDP6, v6=True, state=LISTEN) == []


def test_descriptions() -> None:
    assert describe("tcp", False, 8080) == "0.0.0.0:8080/tcp"
    assert describe("udp6", True, 53) == "[::]:53/udp"


def test_pods_run_only_as_root() -> None:
    said = available(euid=1000)
    assert said is not None and ("root" in said or "not found" in said)
