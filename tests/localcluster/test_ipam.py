"""Pod address pools: usable addresses, round-robin reuse, exhaustion, adopting addresses read back."""

from __future__ import annotations

import pytest

from localcluster.kubelet.ipam import IpPool, PodAddresses, PoolExhausted


@pytest.mark.parametrize(
    ("cidr", "first", "capacity"),
    [
        ("127.244.0.0/16", "127.244.0.1", 65534),
        ("10.0.0.0/29", "10.0.0.1", 6),  # network .0 and broadcast .7 are never handed out
        ("10.0.0.0/31", "10.0.0.0", 2),  # point-to-point: both addresses
        ("10.0.0.5/32", "10.0.0.5", 1),
        ("fd00:10:244::/64", "fd00:10:244::1", 2**64 - 1),  # IPv6: no broadcast address
    ],
)
def test_pool_hands_out_usable_addresses(cidr: str, first: str, capacity: int) -> None:
    pool = IpPool(cidr)
    assert pool.capacity == capacity
    assert pool.allocate() == first
    assert pool.used == 1 and first in pool


def test_pool_is_round_robin_and_exhausts() -> None:
    pool = IpPool("10.0.0.0/29")
    got = [pool.allocate() for _ in range(6)]
    assert got == [f"10.0.0.{n}" for n in range(1, 7)]
    with pytest.raises(PoolExhausted):
        pool.allocate()
    pool.release("10.0.0.2")
    pool.release("10.0.0.4")
    assert pool.allocate() == "10.0.0.2"  # wraps around to the first free one
    assert pool.allocate() == "10.0.0.4"


def test_freed_address_is_reused_last() -> None:
    pool = IpPool("10.0.0.0/24")
    a = pool.allocate()
    pool.release(a)
    assert pool.allocate() == "10.0.0.2"


def test_reserve_refuses_taken_and_foreign_addresses() -> None:
    pool = IpPool("10.0.0.0/29")
    assert pool.reserve("10.0.0.3")
    assert not pool.reserve("10.0.0.3")
    for bad in ("10.0.0.0", "10.0.0.7", "10.0.1.1", "fd00::1", "nonsense"):
        assert not pool.reserve(bad), bad
    assert [pool.allocate() for _ in range(5)] == ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]


def test_pod_addresses_one_per_family_and_idempotent() -> None:
    pods = PodAddresses(["127.244.0.0/16", "fd00:10:244::/64"])
    first = pods.assign("uid-a")
    assert first == ("127.244.0.1", "fd00:10:244::1")
    assert pods.assign("uid-a") == first
    assert pods.assign("uid-b") == ("127.244.0.2", "fd00:10:244::2")
    assert pods.release("uid-a") == first
    assert pods.of("uid-a") == () and len(pods) == 1


def test_adopt_rebuilds_after_restart_without_duplicates() -> None:
    pods = PodAddresses(["10.0.0.0/29"])
    assert pods.adopt("uid-a", ["10.0.0.1"]) == []
    assert pods.adopt("uid-a", ["10.0.0.1"]) == []  # read back again: nothing changes
    assert pods.adopt("uid-b", ["10.0.0.1"]) == ["10.0.0.1"]  # taken by another pod
    assert pods.adopt("uid-c", ["192.168.0.9"]) == ["192.168.0.9"]  # outside the pod range
    assert pods.assign("uid-b") == ("10.0.0.2",)  # a refused pod gets a fresh address
    assert pods.adopt("uid-b", ["10.0.0.3"]) == ["10.0.0.3"]  # one address per family
    assert pods.assign("uid-d") == ("10.0.0.3",)


def test_exhausted_assign_leaves_nothing_behind() -> None:
    pods = PodAddresses(["10.0.0.4/31"])
    pods.assign("a")
    pods.assign("b")
    with pytest.raises(PoolExhausted):
        pods.assign("c")
    assert pods.of("c") == () and len(pods) == 2


def test_one_network_per_family() -> None:
    with pytest.raises(ValueError, match="per address family"):
        PodAddresses(["10.0.0.0/24", "10.1.0.0/24"])
