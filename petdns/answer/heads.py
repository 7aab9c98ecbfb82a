"""Zone heads: a served zone's wire name and the SOA pieces its negative answers are made of."""

from __future__ import annotations

import struct
from typing import Final

from petdns.dns.constants import IN, SOA
from petdns.dns.wire import wire_name
from petdns.schema.records import SOA_TIMERS
from petdns.settings.values import Settings

_POINTERS: Final = tuple(struct.pack("!H", 0xC000 | i) for i in range(12 + 256))


class ZoneHead:
    """A served zone's wire name and the SOA pieces that negative answers are assembled from."""

    __slots__ = ("dynamic_pods", "fallthrough", "name", "pod_wire", "soa_a", "soa_b", "soa_c", "wire")

    def __init__(self, name: str, *, dynamic_pods: bool) -> None:
        self.name = name
        self.wire = wire_name(name)
        self.pod_wire = b"\x03pod" + self.wire
        self.dynamic_pods = dynamic_pods
        self.fallthrough = False  # NXDOMAIN is left to the full path (and from there to the upstreams)
        self.soa_a = self.soa_b = self.soa_c = b""

    def set_soa(self, settings: Settings, serial: int) -> None:
        """Prepare `owner SOA ns.dns.<zone> hostmaster.<zone> serial timers ttl` around three pointers."""
        self.soa_a = struct.pack("!HHIH", SOA, IN, settings.soa_ttl, 42) + b"\x02ns\x03dns"
        self.soa_b = b"\x0ahostmaster"
        self.soa_c = struct.pack("!IIIII", serial, *SOA_TIMERS, settings.ttl)

    def negative(self, zone_offset: int) -> bytes:
        """The authority section of a negative answer; the zone name is at `zone_offset` in the reply."""
        ptr = _POINTERS[zone_offset]
        return ptr + self.soa_a + ptr + self.soa_b + ptr + self.soa_c


DYNAMIC: Final = ZoneHead("dynamic", dynamic_pods=False)  # names only the full lookup can answer
