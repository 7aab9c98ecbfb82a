"""Zone heads: a served zone's wire name and the SOA pieces its negative answers are made of."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Final

from petdns.dns.constants import IN, SOA
from petdns.dns.wire import wire_name
from petdns.schema.records import SOA_TIMERS
from petdns.settings.values import REVERSE_ZONES, Settings

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


def zone_of(by_wire: Mapping[bytes, ZoneHead], name: bytes) -> tuple[ZoneHead, int] | None:
    """The served zone (of the heads by wire name) of a well-formed wire name and the zone's offset in
    it; None if outside."""
    i, end, found = 0, len(name) - 1, None
    if end > 254:
        return None
    while i < end:
        if found is None:
            head = by_wire.get(name[i:])
            if head is not None:
                found = (head, i)
        if name[i] > 63:
            return None
        i += name[i] + 1
    if i != end:
        return None
    if found is None:
        head = by_wire.get(b"\x00")
        return None if head is None else (head, end)
    return found


def fallthrough_zones(settings: Settings) -> tuple[str, ...]:
    """`settings.fallthrough`: () is every served zone; None the reverse zones not cluster zones."""
    given = settings.fallthrough
    if given is None:
        return tuple(z for z in REVERSE_ZONES if z not in settings.zones)
    return given or settings.served_zones


def within(name: str, zone: str) -> bool:
    """Whether a name is the zone or below it (text, lower-case, no trailing dot)."""
    return name == zone or name.endswith("." + zone)
