"""The rendered zone's mirror in the compiled table (`petdns._fastloop.Table`), which the compiled UDP
loop reads without the GIL; a no-op when the extension is not built or `PETDNS_PURE=1`.

`RenderedZone` calls it where names change (`put`, `clear`) and where the zone heads change (SOA
serial, fallthrough, synced): each call swaps one immutable entry, so a watch event costs one entry,
never a rebuild of the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from petdns._fastloop import Table


class _Head(Protocol):
    wire: bytes
    fallthrough: bool
    dynamic_pods: bool
    pod_wire: bytes
    soa_a: bytes
    soa_b: bytes
    soa_c: bytes


class Zone(Protocol):
    """What the mirror reads of a `RenderedZone`."""

    @property
    def heads(self) -> Mapping[str, _Head]: ...
    @property
    def max_udp(self) -> int: ...
    @property
    def synced(self) -> bool: ...


def _load() -> ModuleType | None:
    if os.environ.get("PETDNS_PURE", "") not in ("", "0"):
        return None
    try:
        from petdns import _fastloop  # noqa: PLC0415
    except ImportError:
        return None
    return _fastloop


compiled = _load()


class Mirror:
    """Keeps a zone's compiled table (`table`, None without the extension) equal to its rendering."""

    __slots__ = ("table",)

    def __init__(self, zone: Zone, dynamic: object, *, enabled: bool = True) -> None:
        """`dynamic`: the zone head of the names that only the full path answers."""
        self.table: Table | None = compiled.Table(zone.max_udp, dynamic) if compiled and enabled else None

    def put(
        self, wire: bytes, node: tuple[Any, ...], cuts: dict[tuple[bytes, int], Any] | None = None
    ) -> None:
        """A name's rendering (and the truncated renderings kept for it), replacing the one before."""
        if self.table is not None:
            kept = tuple((tc, limit, cut[0], cut[1]) for (tc, limit), cut in cuts.items()) if cuts else ()
            self.table.put(wire, node, kept)

    def clear(self, wire: bytes) -> None:
        """A name is gone."""
        if self.table is not None:
            self.table.clear(wire)

    def heads(self, zone: Zone) -> None:
        """The zone heads (SOA pieces, fallthrough) and whether the zone is synced."""
        if self.table is not None:
            self.table.set_heads(
                zone.synced,
                tuple(
                    (h.wire, h.fallthrough, h.dynamic_pods, h.pod_wire, h.soa_a, h.soa_b, h.soa_c)
                    for h in zone.heads.values()
                ),
            )
