"""Names rendered when first asked: what a large batch (a start, a relist, a reload) touches waits.

Rendering every name of 10,000 services and 100,000 endpoints at start takes seconds and holds every
answer in memory whether or not it is ever asked. So a batch that touches many services (or reverse
addresses) renders none of those not rendered yet: each waits behind a marker in the table at its
group's name (a service's name in each cluster zone; the /24 of an IPv4 reverse name). The fast paths
leave a query at or below a marker to Python, which renders that one group and answers from it (the
full path, which reads the catalog, when the fast path still declines); later queries are answered by
the fast paths. A marker is one node object (`MARKER`),
with the `DYNAMIC` head the fast paths leave to the full path; on a miss they look for it above the
name while anything waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from petdns.answer.heads import DYNAMIC
from petdns.schema.catalog import SvcKey, last_byte

# a batch touching at least this many services (or reverse addresses) defers those not rendered yet:
# a list page (500 objects) does, a watch event does not
DEFER_FROM: Final = 256
MARKER: Final = (DYNAMIC,)  # the node at a marker's name (found by identity)
_LABELS: Final = [bytes((len(str(n)),)) + str(n).encode() for n in range(256)]  # a last byte's wire label


def reverse_group(ip: str) -> str | None:
    """The /24 whose reverse name a canonical IPv4 address's PTR is under (c.b.a.in-addr.arpa), the
    address's last byte; None for IPv6 (rendered at once)."""
    if ":" in ip:
        return None
    a, b, c, _ = ip.split(".")
    return f"{c}.{b}.{a}.in-addr.arpa"


class Addresses:
    """The IPv4 addresses of one /24 whose PTR names wait: the first three bytes as text, the last as
    a bitmap (a /24 of waiting pets costs 32 bytes, not a string each)."""

    __slots__ = ("bits", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.bits = bytearray(32)

    def add(self, last: int) -> None:
        self.bits[last >> 3] |= 1 << (last & 7)

    def __iter__(self) -> Iterator[str]:
        bits, prefix = self.bits, self.prefix
        return (f"{prefix}.{n}" for n in range(256) if bits[n >> 3] >> (n & 7) & 1)

    def __contains__(self, ip: object) -> bool:
        slot = last_byte(ip) if isinstance(ip, str) else None
        if slot is None or slot[0] != self.prefix:
            return False
        return bool(self.bits[slot[1] >> 3] >> (slot[1] & 7) & 1)


class Deferred:
    """The markers: wire name -> the service key it stands for, or the addresses of its /24 whose PTR
    names wait; and each deferred service's markers (one per cluster zone)."""

    __slots__ = ("groups", "services")

    def __init__(self) -> None:
        self.groups: dict[bytes, SvcKey | Addresses] = {}
        self.services: dict[SvcKey, tuple[bytes, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.groups)

    def under(self, wire: bytes) -> bytes | None:
        """The marker that a well-formed wire name is, or is below; None."""
        groups = self.groups
        i, end = 0, len(wire) - 1
        while i < end:
            if wire[i:] in groups:
                return wire[i:]
            i += wire[i] + 1
        return None

    def add_service(self, key: SvcKey, wires: tuple[bytes, ...]) -> None:
        """A service's names wait under these markers."""
        self.services[key] = wires
        for wire in wires:
            self.groups[wire] = key

    def take(self, marker: bytes) -> SvcKey | Addresses:
        """What waits under a marker, no longer waiting (a service's other markers go with it)."""
        entry = self.groups.pop(marker)
        if not isinstance(entry, Addresses):
            for wire in self.services.pop(entry):
                self.groups.pop(wire, None)
        return entry

    def split_reverse(
        self, ips: Iterable[str], defer: bool, marker_of: Callable[[str], bytes | None]
    ) -> tuple[list[str], list[bytes], list[bytes]]:
        """Touched addresses: (those whose PTR names are to be rendered now, the markers of the /24s
        that start to wait (with `defer`), the reverse names whose renderings are to be cleared: those
        of the addresses that wait). `marker_of`: a /24's marker, None where it may not wait."""
        now: list[str] = []
        new: list[bytes] = []
        stale: list[bytes] = []
        by_prefix: dict[str, tuple[bytes, Addresses] | None] = {}  # an address's /24 by its first bytes
        for ip in ips:
            slot = last_byte(ip)
            if slot is None:  # its last byte not canonical: rendered now
                now.append(ip)
                continue
            prefix, last = slot
            if prefix in by_prefix:
                found = by_prefix[prefix]
            else:
                found = by_prefix[prefix] = self._waiting_group(ip, prefix, defer, marker_of, new)
            if found is None:
                now.append(ip)
                continue
            found[1].add(last)
            stale.append(_LABELS[last] + found[0])
        return now, new, stale

    def _waiting_group(
        self, ip: str, prefix: str, defer: bool, marker_of: Callable[[str], bytes | None], new: list[bytes]
    ) -> tuple[bytes, Addresses] | None:
        """The marker and the waiting addresses of an address's /24 (made, its marker added to `new`,
        with `defer`); None when its PTR name is to be rendered now."""
        group = reverse_group(ip)
        marker = None if group is None else marker_of(group)
        if marker is None:
            return None
        waiting = self.groups.get(marker)
        if waiting is None and defer:
            waiting = self.groups[marker] = Addresses(prefix)
            new.append(marker)
        return (marker, waiting) if isinstance(waiting, Addresses) else None
