"""Answer rotation (`loadbalance`): multi-address record sets turn round by one record per query.

As CoreDNS's loadbalance plugin, each section of a NOERROR answer is put in the order CNAME records,
other records, A/AAAA records, MX records, and the addresses (and the MX records) are reordered per
query: here by a rotation, so the set is unchanged and every record leads equally often.

The full path rotates the lookup's response before rendering (`rotated`). The fast path rotates
pre-rendered bytes: a `Rotation` stands in a rendered name's body and `rotation.next()` gives its
next order (every order rendered up front for small bodies, spliced for larger ones), so an answer
still costs one dict lookup and a copy. Only address records whose owner is a two-byte
pointer are spliced (16 bytes for A, 28 for AAAA: no names to compress inside them, so nothing
points into them and they move freely); any other section that would need reordering leaves the
type to the full path.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Final

from petdns.dns.constants import AAAA, CNAME, IN, NOERROR, A
from petdns.schema.lookup import Response
from petdns.schema.records import RR

MX: Final = 15
_SIZES: Final = {A: 16, AAAA: 28}  # a pointer owner, type, class, TTL, rdlength and the address
PRERENDERED: Final = 4096  # bytes of every order of one run (or body) rendered up front, at most


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
    """A rendered body whose address runs turn by one record per use: `next()` is the body in its next
    order; `at(k)` is the body turned by k. Small runs have every order rendered up front, and `next`
    is an `itertools.cycle`'s, prefixed and suffixed by `map` (all in C: no Python frame per query);
    larger ones are spliced per use from a doubled copy of each run, the turns counted by an
    `itertools.count`. Both are atomic under the GIL: no lock on the fast path."""

    __slots__ = (
        "_double",
        "_length",
        "_n",
        "_offsets",
        "_post",
        "_pre",
        "_regions",
        "_run",
        "_strides",
        "_turns",
        "body",
        "next",
    )

    def __init__(self, body: bytes, regions: list[tuple[int, int, list[int]]]) -> None:
        self.body = body  # as rendered, turned by 0
        # per run: (start, end, doubled bytes, each record's offset in them)
        self._regions = [(s, e, body[s:e] * 2, offsets_of(sizes)) for s, e, sizes in regions]
        self._strides = [sizes[0] if len(set(sizes)) == 1 else 0 for _, _, sizes in regions]
        self._turns = itertools.count()
        self._length = len(body)
        period = math.lcm(*(len(sizes) for _, _, sizes in regions))
        start, end, double, offsets = self._regions[0]
        self._double, self._offsets, self._n, self._run = double, offsets, len(offsets), end - start
        self._pre = self._post = b""
        self.next: Callable[[], bytes]
        if len(regions) == 1 and self._n * self._run <= PRERENDERED:  # the common case, all in C
            pre, post = body[:start], body[end:]
            turning: Iterator[bytes] = itertools.cycle([double[o : o + self._run] for o in offsets])
            if post:
                turning = map(bytes.__add__, turning, itertools.repeat(post))
            if pre:
                turning = map(pre.__add__, turning)
            self.next = turning.__next__
        elif period * len(body) <= PRERENDERED:
            self.next = itertools.cycle([self.at(k) for k in range(period)]).__next__
        elif len(regions) == 1:  # one run (a headless name's addresses; an SRV answer's glue)
            self._pre, self._post = body[:start], body[end:]
            self.next = self._spliced
        else:
            self.next = self._joined

    def __len__(self) -> int:
        return self._length

    def _spliced(self) -> bytes:
        o = self._offsets[next(self._turns) % self._n]
        return self._pre + self._double[o : o + self._run] + self._post

    def _joined(self) -> bytes:
        return self.at(self.turn())

    def turn(self) -> int:
        """The next turn of the spliced orders (and of the truncated ones, `RotatedCut`)."""
        return next(self._turns)

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

    def cut(self, length: int) -> RotatedCut | None:
        """The first `length` bytes of each turned body, when that is whole records of every order:
        truncation keeps whole records from the start, so `length` must not end inside a run of
        records of different sizes. None otherwise."""
        for (start, end, _, _), stride in zip(self._regions, self._strides, strict=True):
            if start < length < end and (not stride or (length - start) % stride):
                return None
        return RotatedCut(self, length)


class RotatedCut:
    """A truncated rendering of a rotating body: `next()` is the first `length` bytes of the body's
    next turn (the truncated rendering of that order: its counts and flags are the same)."""

    __slots__ = ("length", "rotation")

    def __init__(self, rotation: Rotation, length: int) -> None:
        self.rotation = rotation
        self.length = length

    def __len__(self) -> int:
        return self.length

    def next(self) -> bytes:
        """The next turn's truncated body."""
        return self.rotation.at(self.rotation.turn())[: self.length]


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
