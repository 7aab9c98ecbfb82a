"""Answer rotation (`loadbalance`): multi-address record sets turn round by one record per query.

As CoreDNS's loadbalance plugin, each section of a NOERROR answer is put in the order CNAME records,
other records, A/AAAA records, MX records, and the addresses (and the MX records) are reordered per
query: here by a rotation, so the set is unchanged and every record leads equally often.

The full path rotates the lookup's response before rendering (`rotated`). The fast path rotates
pre-rendered bytes: a `Rotation` stands in a rendered name's body, and `bytes + rotation` (Python
calls `Rotation.__radd__`) splices the next order, so the fast path itself is unchanged and the
answer still costs one dict lookup and a copy. Only address records whose owner is a two-byte
pointer are spliced (16 bytes for A, 28 for AAAA: no names to compress inside them, so nothing
points into them and they move freely); any other section that would need reordering leaves the
type to the full path.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import replace
from typing import Final

from petdns.dns.constants import AAAA, CNAME, IN, NOERROR, A
from petdns.schema.lookup import Response
from petdns.schema.records import RR

MX: Final = 15
_SIZES: Final = {A: 16, AAAA: 28}  # a pointer owner, type, class, TTL, rdlength and the address


def ordered(records: tuple[RR, ...], turn: int) -> tuple[RR, ...]:
    """One section in CoreDNS's loadbalance order, the addresses and the MX records turned by `turn`."""
    if len(records) < 2:
        return records
    cname, rest, address, mx = [], [], [], []
    for rr in records:
        if rr.rtype == CNAME:
            cname.append(rr)
        elif rr.rtype in _SIZES:
            address.append(rr)
        elif rr.rtype == MX:
            mx.append(rr)
        else:
            rest.append(rr)
    return (*cname, *rest, *_turned(address, turn), *_turned(mx, turn))


def _turned(records: list[RR], turn: int) -> list[RR]:
    if len(records) < 2:
        return records
    k = turn % len(records)
    return records[k:] + records[:k]


def rotated(response: Response, turn: int) -> Response:
    """A NOERROR response with every section in loadbalance order for query number `turn`."""
    if response.rcode != NOERROR:
        return response
    return replace(
        response,
        answer=ordered(response.answer, turn),
        authority=ordered(response.authority, turn),
        additional=ordered(response.additional, turn),
    )


class Rotation:
    """A rendered body whose address runs turn by one record per use: `head + rotation` is `head` and
    the body in its next order. The turns are counted per rotation by an `itertools.count` (atomic under
    the GIL: no lock on the fast path); `at(k)` is the body turned by k."""

    __slots__ = ("_double", "_length", "_n", "_next", "_offsets", "_regions", "_strides", "body")

    def __init__(self, body: bytes, regions: list[tuple[int, int, list[int]]]) -> None:
        self.body = body  # as rendered, turned by 0
        # per run: (start, end, doubled bytes, each record's offset in them)
        self._regions = [(s, e, body[s:e] * 2, offsets_of(sizes)) for s, e, sizes in regions]
        self._strides = [sizes[0] if len(set(sizes)) == 1 else 0 for _, _, sizes in regions]
        self._next = itertools.count()
        whole = len(regions) == 1 and regions[0][0] == 0 and regions[0][1] == len(body)
        # the common case, one run that is the whole body (a headless name's A or AAAA records)
        self._double = self._regions[0][2] if whole else b""
        self._offsets = self._regions[0][3] if whole else ()
        self._n = len(self._offsets)
        self._length = len(body)

    def __len__(self) -> int:
        return self._length

    def __radd__(self, head: bytes) -> bytes:
        k = next(self._next)
        if self._n:
            o = self._offsets[k % self._n]
            return head + self._double[o : o + self._length]
        return head + self.at(k)

    def at(self, k: int) -> bytes:
        """The body with each run turned by k records."""
        out: list[bytes] = []
        pos, body = 0, self.body
        for start, end, double, offsets in self._regions:
            o = offsets[k % len(offsets)]
            out += (body[pos:start], double[o : o + end - start])
            pos = end
        out.append(body[pos:])
        return b"".join(out)

    def turns(self) -> int:
        """The next turn, counted: what a truncated rendering of this body uses."""
        return next(self._next)

    def cut(self, length: int) -> RotatedCut | None:
        """The first `length` bytes of each turned body, when that is whole records of every order:
        truncation keeps whole records from the start, so `length` must not end inside a run of
        records of different sizes. None otherwise."""
        for (start, end, _, _), stride in zip(self._regions, self._strides, strict=True):
            if start < length < end and (not stride or (length - start) % stride):
                return None
        return RotatedCut(self, length)


class RotatedCut:
    """A truncated rendering of a rotating body: `head + cut` is the first `length` bytes of the body's
    next order (the truncated rendering of that order, whose counts and flags are the same)."""

    __slots__ = ("length", "rotation")

    def __init__(self, rotation: Rotation, length: int) -> None:
        self.rotation = rotation
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __radd__(self, head: bytes) -> bytes:
        return head + self.rotation.at(self.rotation.turns())[: self.length]


def offsets_of(sizes: list[int]) -> tuple[int, ...]:
    """Each record's offset from its run's start, given the records' sizes."""
    return tuple(itertools.accumulate(sizes[:-1], initial=0))


def rotation_of(body: bytes, response: Response, counts: tuple[int, int, int]) -> bytes | Rotation | None:
    """What the fast path serves for a rendered answer with loadbalance on: the body itself when no
    section turns, a `Rotation` when the turning runs can be spliced, None for the full path."""
    regions = []
    answer, additional = response.answer, response.additional
    if ordered(response.authority, 1) != response.authority:
        return None
    if ordered(answer, 1) != answer:
        run = _run(body, 0, answer)
        if run is None:
            return None
        regions.append(run)
    if counts[2] != len(additional):
        return None
    if ordered(additional, 1) != additional:
        sizes = [_SIZES.get(rr.rtype, 0) for rr in additional]
        run = _run(body, len(body) - sum(sizes), additional)
        if run is None:
            return None
        regions.append(run)
    return Rotation(body, regions) if regions else body


def _run(body: bytes, start: int, records: tuple[RR, ...]) -> tuple[int, int, list[int]] | None:
    """(start, end, record sizes) of a section of addresses only, each rendered with a pointer owner."""
    sizes, pos = [], start
    for rr in records:
        size = _SIZES.get(rr.rtype)
        if size is None or pos < 0 or body[pos] & 0xC0 != 0xC0:
            return None
        if body[pos + 2 : pos + 6] != struct.pack("!HH", rr.rtype, IN):
            return None
        sizes.append(size)
        pos += size
    if pos > len(body):
        return None
    return start, pos, sizes
