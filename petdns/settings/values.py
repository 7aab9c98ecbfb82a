"""Frozen settings of the DNS server: zones, TTL, pod records mode, endpoint naming, listen addresses."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")
SCHEMA_VERSION = "1.1.0"
VERSION_TTL = 28800


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

    def __post_init__(self) -> None:
        if not 0 <= self.ttl <= 3600:
            raise ValueError(f"ttl {self.ttl} is outside 0..3600")
        for zone in self.zones:
            if not zone or zone != zone.lower().strip(".") or ".." in zone:
                raise ValueError(f"zone {zone!r} must be a lower-case name without a trailing dot")
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
