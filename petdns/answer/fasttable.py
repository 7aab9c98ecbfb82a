"""The rendered zone's mirror in the compiled table (`petdns._fastloop.Table`), which the compiled UDP
loop reads without the GIL; a no-op when the extension is not built or `PETDNS_PURE=1`.

`RenderedZone` calls it where names change (`put`, `clear`) and where the zone heads change (SOA
serial, fallthrough, synced, deferring): each call swaps one immutable entry, so a watch event costs
one entry, never a rebuild of the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from petdns.answer.deferral import MARKER

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
    @property
    def deferring(self) -> bool: ...
    @property
    def settings(self) -> object: ...


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
        """`dynamic`: the zone head of the names that only the full path answers. Off (no table) when
        plugins that may change any question are configured: the Python fast path asks them first."""
        enabled = enabled and getattr(zone.settings, "plugins", None) is None
        self.table: Table | None = compiled.Table(zone.max_udp, dynamic) if compiled and enabled else None

    def put(self, wire: bytes, node: tuple[Any, ...]) -> None:
        """A name's rendering, replacing the one before (and the truncated renderings kept for it)."""
        if self.table is not None:
            self.table.put(wire, _plain(node))

    def cut(self, wire: bytes, type_class: bytes, limit: int, cut: tuple[Any, Any]) -> bool:
        """Keep a truncated rendering (header variants, body) of the name's current rendering for
        queries of that type and size limit; whether the table took it (a body of plain bytes that is a
        prefix of the type's body there)."""
        if self.table is None or cut[1].__class__ is not bytes:
            return False
        return self.table.cut(wire, type_class, limit, cut[0], cut[1])

    def clear(self, wire: bytes) -> None:
        """A name is gone."""
        if self.table is not None:
            self.table.clear(wire)

    def heads(self, zone: Zone) -> None:
        """The zone heads (SOA pieces, fallthrough), whether the zone is synced and whether names wait
        under markers (a miss then looks for a marker above it)."""
        if self.table is not None:
            self.table.set_heads(
                zone.synced,
                tuple(
                    (h.wire, h.fallthrough, h.dynamic_pods, h.pod_wire, h.soa_a, h.soa_b, h.soa_c)
                    for h in zone.heads.values()
                ),
                MARKER if zone.deferring else None,
            )


def _plain(node: tuple[Any, ...]) -> tuple[Any, ...]:
    """The node as the compiled loop reads it: a type whose body is not plain bytes (one that turns per
    query) is left to Python, as a deferred type is."""
    for body in node[3::3]:
        if body is not None and body.__class__ is not bytes:
            break
    else:
        return node
    out = [node[0]]
    for i in range(1, len(node), 3):
        plain = node[i + 2].__class__ is bytes
        out += (node[i], node[i + 1] if plain else None, node[i + 2] if plain else None)
    return tuple(out)
