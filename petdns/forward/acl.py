"""Who may have names outside the served zones resolved: client addresses against networks (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

# Loopback, RFC 1918, shared address space (RFC 6598, used by some pod networks), IPv6 unique-local
# and link-local: addresses a pod or node has, never a stranger on the internet.
DEFAULT_RECURSION: Final = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
)
_MEMO_SIZE: Final = 4096


class Acl:
    """A list of networks; `allows(host)` for a textual client address (IPv4-mapped IPv6 counts as IPv4)."""

    def __init__(self, networks: Iterable[str] = DEFAULT_RECURSION) -> None:
        self.networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks)
        self._ranges: dict[int, tuple[tuple[int, int], ...]] = {
            version: tuple(
                (int(n.network_address), int(n.netmask)) for n in self.networks if n.version == version
            )
            for version in (4, 6)
        }
        self._memo: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        """Whether `host` (as a socket address gives it, `%scope` allowed) is in one of the networks."""
        verdict = self._memo.get(host)
        if verdict is None:
            verdict = self._check(host)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[host] = verdict
        return verdict

    def _check(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        value = int(ip)
        return any(value & mask == network for network, mask in self._ranges[ip.version])

    def __repr__(self) -> str:
        return f"Acl({', '.join(str(n) for n in self.networks)})"
