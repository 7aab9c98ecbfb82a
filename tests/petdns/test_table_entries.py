"""The compiled table's entries (`petdns._fastloop.Table`): a name's node packed into one block gives back
an equal node and the same replies, whatever shape it has and whether the registries it indexes into
still have room; truncated renderings are kept as lengths of the bodies and go with the node."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from petdns.answer.fasttable import compiled
from petdns.answer.heads import DYNAMIC
from petdns.dns.wire import headers, wire_name

if TYPE_CHECKING:
    from petdns._fastloop import Table

pytestmark = pytest.mark.skipif(compiled is None, reason="petdns._fastloop is not built (or PETDNS_PURE)")

ZONE = wire_name("cluster.local")
A_IN = struct.pack("!HH", 1, 1)
AAAA_IN = struct.pack("!HH", 28, 1)
SRV_IN = struct.pack("!HH", 33, 1)
HDRS = headers(0x8400, 1, 0, 0)


class Head:
    """A zone head object, as the zone's nodes start with (the table keeps it by identity)."""


def _table() -> Table:
    assert compiled is not None
    table: Table = compiled.Table(1232, DYNAMIC)
    soa = (b"\x00\x06\x00\x01\x00\x00\x00\x05\x00\x02", b"\xc0\x0c", b"\x00" * 20)
    table.set_heads(True, ((ZONE, False, False, wire_name("pod.cluster.local"), *soa),))
    return table


def _query(wire: bytes, type_class: bytes, edns: int | None = None) -> bytes:
    head = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 1 if edns else 0)
    opt = b"\x00\x00\x29" + struct.pack("!H", edns) + b"\x00\x00\x00\x00\x00\x00" if edns else b""
    return head + wire + type_class + opt


def _body(n: int, seed: int = 0) -> bytes:
    """n bytes of answer records: an owner pointer, A IN, TTL 5, an address, repeated."""
    record = b"\xc0\x0c" + A_IN + b"\x00\x00\x00\x05\x00\x04"
    out = b"".join(record + bytes((10, seed % 256, i // 256 % 256, i % 256)) for i in range(n // 16 + 1))
    return out[:n]


def test_every_node_shape_comes_back_equal_and_answers_the_same() -> None:
    table = _table()
    head = Head()
    shapes = {
        b"\x01a" + ZONE: (head, A_IN, HDRS, _body(16)),
        b"\x01b" + ZONE: (head, A_IN, HDRS, _body(16, 1), SRV_IN, None, None),  # SRV: the full path's
        b"\x01c" + ZONE: (head, SRV_IN, None, None, A_IN, headers(0x8400, 3, 0, 0), _body(48, 2)),
        b"\x01d" + ZONE: (head, A_IN, HDRS, b""),  # an empty body
        b"\x01e" + ZONE: (DYNAMIC,),  # a head alone
        b"\x01f" + ZONE: (head,),  # a name without records: NODATA for every type
    }
    for wire, node in shapes.items():
        table.put(wire, node)
    assert len(table) == len(shapes)
    for wire, node in shapes.items():
        got = table[wire]
        assert got == node and got[0] is node[0]
    assert sorted(table.keys()) == sorted(shapes)
    assert sorted(table.items()) == sorted(shapes.items(), key=lambda kv: kv[0])
    a = table.answer(_query(b"\x01A" + ZONE, A_IN))
    assert a is not None and a[0] == b"\x42\x42" + HDRS[1] + b"\x01A" + ZONE + A_IN + _body(16)
    assert table.answer(_query(b"\x01b" + ZONE, SRV_IN)) is None
    c = table.answer(_query(b"\x01c" + ZONE, A_IN, edns=1232))
    assert c is not None and _body(48, 2) in c[0] and c[0][2:12] == headers(0x8400, 3, 0, 0)[3]
    assert table.answer(_query(b"\x01e" + ZONE, A_IN)) is None
    nodata = table.answer(_query(b"\x01f" + ZONE, AAAA_IN))
    assert nodata is not None and nodata[0][3] & 0x0F == 0 and nodata[0][9] == 1  # NODATA with the SOA
    table.clear(b"\x01a" + ZONE)
    assert b"\x01a" + ZONE not in table and len(table) == len(shapes) - 1
    nx = table.answer(_query(b"\x01a" + ZONE, A_IN))
    assert nx is not None and nx[0][3] & 0x0F == 3  # NXDOMAIN once gone
    table.put(b"\x01a" + ZONE, shapes[b"\x01a" + ZONE])
    assert table[b"\x01a" + ZONE] == shapes[b"\x01a" + ZONE]


def test_heads_and_header_variants_beyond_the_registries_are_kept_as_objects() -> None:
    table = _table()
    heads = [Head() for _ in range(300)]  # the registry takes 256
    nodes = {}
    for i, head in enumerate(heads):
        wire = b"\x04h%03d" % i + ZONE
        nodes[wire] = (head, A_IN, HDRS, _body(16, i))
        table.put(wire, nodes[wire])
    variants = [  # the registry takes 65535 distinct ones
        tuple(
            struct.pack("!HHHHH", 0x8400 | (v & 1) << 8, 1, i % 65536, i // 65536, v >> 1) for v in range(4)
        )
        for i in range(66_000)
    ]
    head = heads[0]
    for i, hdrs in enumerate(variants):
        wire = b"\x06v%05d" % i + ZONE
        table.put(wire, (head, A_IN, hdrs, _body(16, i)))
    for wire, node in nodes.items():
        assert table[wire] == node and table[wire][0] is node[0]
        reply = table.answer(_query(wire, A_IN))
        assert reply is not None and reply[0].endswith(node[3])
    for i in (0, 65_000, 65_533, 65_534, 65_999):  # HDRS took the first index
        wire = b"\x06v%05d" % i + ZONE
        assert table[wire][2] == variants[i]
        reply = table.answer(_query(wire, A_IN))
        assert reply is not None and reply[0][2:12] == variants[i][1]  # the query asks recursion


def test_a_cut_is_a_prefix_of_the_body_kept_until_the_name_changes() -> None:
    table = _table()
    head = Head()
    wire = b"\x03big" + ZONE
    body = _body(16 * 80)  # 80 addresses: too big for 512
    node = (head, A_IN, headers(0x8400, 80, 0, 0), body, SRV_IN, None, None)
    table.put(wire, node)
    plain = _query(wire, A_IN)
    assert table.answer(plain) is None  # too big, nothing kept: the full path truncates it
    cut_headers = headers(0x8600, 29, 0, 0)
    assert not table.cut(wire, A_IN, 512, cut_headers, body[1:465])
    assert not table.cut(wire, SRV_IN, 512, cut_headers, b"")
    assert not table.cut(b"\x04none" + ZONE, A_IN, 512, cut_headers, b"")
    assert table.cut(wire, A_IN, 512, cut_headers, body[:464])
    reply = table.answer(plain)
    assert reply == (b"\x42\x42" + cut_headers[1] + wire + A_IN + body[:464], 1)
    assert table[wire] == node
    assert table.answer(_query(wire, A_IN, edns=1232)) is None
    assert table.cut(wire, A_IN, 1221, cut_headers, body[:1200])
    assert table.cut(wire, A_IN, 512, headers(0x8600, 28, 0, 0), body[:448])
    replaced = table.answer(plain)
    assert replaced is not None and replaced[0].endswith(A_IN + body[:448])
    edns = table.answer(_query(wire, A_IN, edns=1232))
    assert edns is not None and edns[0][:-11].endswith(A_IN + body[:1200])
    table.put(wire, node)  # rendered again: its cuts go
    assert table.answer(plain) is None
    table.put(wire, (DYNAMIC,))
    assert not table.cut(wire, A_IN, 512, cut_headers, b"")


class ZoneHeadLike:
    """A head with the zone's wire name: the names that end with it are kept without it."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire


def test_names_kept_without_their_zone_end_come_back_whole() -> None:
    table = _table()
    head = ZoneHeadLike(ZONE)
    other = ZoneHeadLike(wire_name("example.org"))
    names = {
        b"\x05web-0\x03web" + ZONE: (head, A_IN, HDRS, _body(16)),  # ends with its head's wire
        ZONE: (head, A_IN, HDRS, _body(16, 1)),  # the apex: nothing in front of the end
        b"\x01x" + wire_name("elsewhere.test"): (head, A_IN, HDRS, _body(16, 2)),  # not under it
        b"\x01y" + wire_name("example.org"): (other, A_IN, HDRS, _body(16, 3)),
    }
    for wire, node in names.items():
        table.put(wire, node)
    assert sorted(table.keys()) == sorted(names)
    for wire, node in names.items():
        assert table[wire] == node and wire in table
        reply = table.answer(_query(wire, A_IN))
        assert reply is not None and reply[0].endswith(wire + A_IN + node[3])
    assert b"\x05web-0\x03web" + wire_name("example.org") not in table  # the same front, another end
    assert b"\x05web-0\x03web" not in table and b"\x03web" + ZONE not in table
    pet = b"\x05web-0\x03web" + ZONE
    big = (head, A_IN, headers(0x8400, 80, 0, 0), _body(16 * 80))
    table.put(pet, big)
    assert table.cut(pet, A_IN, 512, headers(0x8600, 29, 0, 0), big[3][:464])
    cut = table.answer(_query(pet, A_IN))
    assert cut is not None and cut[0].endswith(pet + A_IN + big[3][:464]) and table[pet] == big
    table.clear(pet)
    assert pet not in table and len(table) == len(names) - 1
    table.put(pet, names[pet])
    assert table[pet] == names[pet]
