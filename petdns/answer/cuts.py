"""Truncated renderings kept for the fast path: a name's answer too big for a common UDP limit, as the
full path first cut it, served again until the name is rendered again or cleared."""

from __future__ import annotations

from petdns.answer.heads import DYNAMIC
from petdns.answer.rotation import Rotation
from petdns.answer.zone import Cut, Rendered, RenderedZone


def keep_cut(  # noqa: PLR0917
    zone: RenderedZone, wire: bytes, node: Rendered | None, type_class: bytes, limit: int, cut: Cut
) -> None:
    """Keep the full path's truncated rendering of a name for the fast path, when `node` (the name's
    rendering before the lookup) is still current, the type is pre-rendered there and too big for
    `limit`, one of the common limits."""
    if node is None or node[0] is DYNAMIC or limit not in zone.truncation_limits:
        return
    if zone.nodes.get(wire) != node:  # the compiled table rebuilds an equal node: equal is current
        return
    for i in range(1, len(node), 3):
        if node[i] == type_class:
            body = node[i + 2]
            if body is None or 12 + len(wire) + 4 + len(body) <= limit:
                return
            break
    else:
        return
    if isinstance(body, Rotation):  # the cut of each turn, as long as this one
        rotated = body.cut(len(cut[1]))
        if rotated is None:
            return
        cut = (cut[0], rotated)
    if zone.mirror.cut(wire, type_class, limit, cut) and zone.nodes is zone.mirror.table:
        return  # the compiled table holds the names (and now the cut, as a length of the body)
    cuts = zone.truncated.get(wire)
    if cuts is None:
        cuts = zone.truncated[wire] = {}
    cuts[type_class, limit] = cut
