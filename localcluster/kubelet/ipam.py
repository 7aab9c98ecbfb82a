"""Pod address allocation (pure): one pool per address family, each pod one address of every family."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PoolExhausted(Exception):
    """Every address of a pool is in use."""


class IpPool:
    """The usable addresses of one network, handed out round-robin so a freed address is reused last.

    The network address is never handed out, nor the broadcast address of an IPv4 network.
    """

    def __init__(self, cidr: str) -> None:
        self.network: Network = ipaddress.ip_network(cidr)
        size = self.network.num_addresses
        self._first = 1 if size > 2 else 0
        self._last = size - 2 if self.network.version == 4 and size > 2 else size - 1
        self._used: set[int] = set()
        self._next = self._first

    @property
    def capacity(self) -> int:
        """How many addresses the pool hands out in all."""
        return self._last - self._first + 1

    @property
    def used(self) -> int:
        """How many addresses are in use."""
        return len(self._used)

    def _offset(self, ip: str) -> int | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.version != self.network.version or addr not in self.network:
            return None
        offset = int(addr) - int(self.network.network_address)
        return offset if self._first <= offset <= self._last else None

    def __contains__(self, ip: object) -> bool:
        """Whether ip is an address of this pool that is in use."""
        offset = self._offset(ip) if isinstance(ip, str) else None
        return offset is not None and offset in self._used

    def owns(self, ip: str) -> bool:
        """Whether ip is one of the pool's addresses (used or not)."""
        return self._offset(ip) is not None

    def allocate(self) -> str:
        """The next free address after the last one handed out; PoolExhausted when there is none."""
        if len(self._used) >= self.capacity:
            raise PoolExhausted(f"no free address left in {self.network}")
        offset = self._next
        while offset in self._used:
            offset = offset + 1 if offset < self._last else self._first
        self._used.add(offset)
        self._next = offset + 1 if offset < self._last else self._first
        return str(self.network.network_address + offset)

    def reserve(self, ip: str) -> bool:
        """Mark an address as in use (one a pod already has); False when it is outside the pool or taken."""
        offset = self._offset(ip)
        if offset is None or offset in self._used:
            return False
        self._used.add(offset)
        return True

    def release(self, ip: str) -> None:
        """Free an address (unknown addresses are ignored)."""
        offset = self._offset(ip)
        if offset is not None:
            self._used.discard(offset)


class PodAddresses:
    """Each pod's addresses, by pod uid: one address of each pool, in pool order, never two pods alike."""

    def __init__(self, cidrs: Sequence[str]) -> None:
        self.pools = [IpPool(cidr) for cidr in cidrs]
        families = [pool.network.version for pool in self.pools]
        if len(set(families)) != len(families):
            raise ValueError("at most one pod network per address family")
        self._by_uid: dict[str, list[str | None]] = {}

    def __len__(self) -> int:
        """How many pods hold addresses."""
        return len(self._by_uid)

    def of(self, uid: str) -> tuple[str, ...]:
        """The addresses a pod holds (empty when none)."""
        return tuple(ip for ip in self._by_uid.get(uid, ()) if ip)

    def assign(self, uid: str) -> tuple[str, ...]:
        """The pod's addresses, allocating those of any family it does not have yet."""
        held = self._by_uid.setdefault(uid, [None] * len(self.pools))
        try:
            for at, pool in enumerate(self.pools):
                if held[at] is None:
                    held[at] = pool.allocate()
        except PoolExhausted:
            if not any(held):
                del self._by_uid[uid]
            raise
        return self.of(uid)

    def adopt(self, uid: str, ips: Iterable[str]) -> list[str]:
        """Record addresses a pod already has (read back from its status); returns those refused.

        An address is refused when it belongs to none of the pools, is held by another pod, or the pod
        already holds another address of that family.
        """
        refused = []
        for ip in ips:
            at = next((n for n, pool in enumerate(self.pools) if pool.owns(ip)), None)
            held = self._by_uid.get(uid)
            if at is None:
                refused.append(ip)
            elif held is not None and held[at] == ip:
                continue
            elif (held is not None and held[at] is not None) or not self.pools[at].reserve(ip):
                refused.append(ip)
            else:
                self._by_uid.setdefault(uid, [None] * len(self.pools))[at] = ip
        return refused

    def release(self, uid: str) -> tuple[str, ...]:
        """Free every address of a pod; returns them."""
        held = self.of(uid)
        for ip in held:
            for pool in self.pools:
                pool.release(ip)
        self._by_uid.pop(uid, None)
        return held
