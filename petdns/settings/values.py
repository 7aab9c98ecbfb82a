"""Frozen settings of the DNS server: zones, TTL, pod records, endpoint naming, NS addresses, UDP size."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Any

REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")
SCHEMA_VERSION = "1.1.0"
VERSION_TTL = 28800
DEFAULT_MAX_UDP = 1232  # DNS Flag Day 2020: no UDP reply larger, whatever the client offers
UDP_SIZES = range(512, 65536)  # what --max-udp-size may be


class PodsMode(enum.Enum):
    """CoreDNS `pods` option: which `<dashed-ip>.<ns>.pod.<zone>` names exist."""

    DISABLED = "disabled"
    INSECURE = "insecure"
    VERIFIED = "verified"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the lookup and the renderer need to know besides the objects."""

    zones: tuple[str, ...] = ("cluster.local",)
    ttl: int = 5
    pods: PodsMode = PodsMode.DISABLED
    endpoint_pod_names: bool = False
    ptr_hostname_only: bool = False  # a pet's IP: only its pet names as PTRs
    ns_addresses: tuple[str, ...] = field(default=())
    max_udp: int = DEFAULT_MAX_UDP  # UDP replies: at most this, and the size our OPT records advertise
    # rewrite, template and hosts in front of the zones: a petdns.plugins.chain.Plugins built by
    # settings.options (None: none configured, and the fast path answers what it can)
    plugins: Any = field(default=None, compare=False)
    loadbalance: bool = False  # multi-address answers turn round per query (CoreDNS `loadbalance`)
    # zones whose NXDOMAIN goes on to forwarding (the kubernetes plugin's `fallthrough [ZONES]`; () all
    # served zones); None: the reverse zones that are not cluster zones, when forwarding
    fallthrough: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_udp not in UDP_SIZES:
            raise ValueError(f"{self.max_udp} is outside 512..65535 bytes")
        if not 0 <= self.ttl <= 3600:
            raise ValueError(f"ttl {self.ttl} is outside 0..3600")
        for zone in self.zones:
            if not zone or zone != zone.lower().strip(".") or ".." in zone:
                raise ValueError(f"zone {zone!r} must be a lower-case name without a trailing dot")
        for zone in self.fallthrough or ():
            if zone != zone.lower().strip(".") or ".." in zone:
                raise ValueError(
                    f"fallthrough zone {zone!r} must be a lower-case name without a trailing dot"
                )
        for ip in self.ns_addresses:
            ipaddress.ip_address(ip)

    @property
    def served_zones(self) -> tuple[str, ...]:
        """Cluster zones first, then the reverse zones we are authoritative for."""
        return self.zones + tuple(z for z in REVERSE_ZONES if z not in self.zones)

    @property
    def soa_ttl(self) -> int:
        """TTL of the SOA record itself: min(ttl, 300), as CoreDNS."""
        return min(self.ttl, 300)
