"""The two fast paths a test can run a query through: the Python one (`petdns.answer.fastpath`) and the
compiled one (`petdns._fastloop`, reading the zone's mirror table without the GIL)."""

from __future__ import annotations

import pytest

from petdns.answer import fastpath
from petdns.answer.fasttable import compiled
from petdns.answer.zone import RenderedZone

LOOPS = ("python", "compiled")


def fast_answer(loop: str, zone: RenderedZone, wire: bytes, seen: bytearray | None = None) -> bytes | None:
    """The reply of fast path `loop` to a UDP query, None when it declines; the answered query's type
    code is appended to `seen`. Skips the test when the compiled loop is not built."""
    if loop == "python":
        return fastpath.answer(zone, wire, seen)
    table = zone.mirror.table
    if table is None:
        pytest.skip("petdns._fastloop is not built" if compiled is None else "PETDNS_PURE is set")
    return fastpath.compiled_answer(table, wire, seen)
