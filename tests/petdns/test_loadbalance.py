"""`loadbalance`: multi-address answers turn per query on the fast and the full path, over UDP and TCP,
truncated ones too; every reply holds the unrotated set in a rotated order; off is today's bytes."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import AsyncIterator

import dns.flags
import dns.message
import dns.rdatatype
import pytest

from petdns.answer import fastpath
from petdns.answer.dispatch import full
from petdns.answer.rotation import Rotation
from petdns.answer.zone import RenderedZone
from petdns.schema.model import EndpointSlice, Namespace, Port, Service, ServiceKind
from petdns.schema.packing import Endpoint
from petdns.serve.transport import DnsServer
from petdns.settings.values import Settings
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, SETTINGS, objects
from tests.support.dnsmsg import full_reply

HOST = "127.0.0.1"
WEB = "web.default.svc.cluster.local"
PORTS = (Port("http", 80, "tcp"), Port("https", 443, "tcp"))
BATCH = 50  # queries in flight at once
CHI2_4DF_P001 = 18.467  # chi-square, 4 degrees of freedom: exceeded with probability 0.001


def _zone(pets: int, *, loadbalance: bool = True, dual: bool = False) -> RenderedZone:
    def addresses(i: int) -> tuple[str, ...]:
        v4 = f"10.1.{i // 250}.{i % 250 + 1}"
        return (v4, f"fd00::{i + 1:x}") if dual else (v4,)

    endpoints = tuple(Endpoint(addresses(i), True, f"web-{i}", "") for i in range(pets))
    zone = RenderedZone(Settings(loadbalance=loadbalance), clock=lambda: FIXED_NOW)
    zone.load(
        [
            Namespace("default"),
            Service("default", "web", ServiceKind.HEADLESS, (), PORTS),
            EndpointSlice("default", "web-1", "web", "IPv4", endpoints, PORTS),
        ]
    )
    return zone


def _sections(wire: bytes) -> list[list[str]]:
    """Each section's records as text, in wire order (OPT left out)."""
    msg = dns.message.from_wire(wire, one_rr_per_rrset=True)
    return [
        [rrset.to_text() for rrset in section if rrset.rdtype != dns.rdatatype.OPT]
        for section in (msg.answer, msg.authority, msg.additional)
    ]


def _is_rotation(got: list[str], of: list[str]) -> bool:
    return len(got) == len(of) and any(got == of[k:] + of[:k] for k in range(max(1, len(of))))


def _same_set_rotated(got: bytes, off: bytes) -> None:
    got_msg, off_msg = dns.message.from_wire(got), dns.message.from_wire(off)
    assert (got_msg.id, got_msg.flags, got_msg.question) == (off_msg.id, off_msg.flags, off_msg.question)
    for section, unrotated in zip(_sections(got), _sections(off), strict=True):
        assert _is_rotation(section, unrotated), (section, unrotated)


def _bytes(reply: object) -> bytes:
    assert isinstance(reply, bytes)
    return reply


def _chi2(counts: collections.Counter[str], n: int, k: int) -> float:
    assert len(counts) == k, counts  # every pet came first
    return sum((counts[x] - n / k) ** 2 / (n / k) for x in counts)


@pytest.mark.parametrize("settings", sorted(SETTINGS))
def test_every_table_row_is_the_unrotated_set_in_a_rotated_order(settings: str) -> None:
    off = RenderedZone(SETTINGS[settings], clock=lambda: FIXED_NOW)
    on = RenderedZone(
        Settings(**{**_fields(SETTINGS[settings]), "loadbalance": True}), clock=lambda: FIXED_NOW
    )
    loaded = objects()
    off.load(loaded)
    on.load(loaded)
    for case in (c for c in CASES if c.settings == settings):
        for edns in (False, True):
            wire = dns.message.make_query(case.name, case.qtype, use_edns=0 if edns else False).to_wire()
            expected = _bytes(full_reply(off, wire))
            for _ in range(2):
                for path in (fastpath.answer, full_reply):
                    got = path(on, wire)
                    if got is not None:
                        assert isinstance(got, bytes)
                        _same_set_rotated(got, expected)


def _fields(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__slots__}


def test_off_is_todays_bytes_and_the_first_turn_is_the_rendered_order() -> None:
    off, on = _zone(5, loadbalance=False), _zone(5)
    assert not any(isinstance(x, Rotation) for node in off.nodes.values() for x in node)
    assert any(isinstance(x, Rotation) for node in on.nodes.values() for x in node)
    wire = dns.message.make_query(WEB, "A").to_wire()
    assert fastpath.answer(off, wire) == full(off, wire) == fastpath.answer(off, wire)
    assert fastpath.answer(on, wire) == full(on, wire) == fastpath.answer(off, wire)  # turn 0 of each
    assert fastpath.answer(on, wire) != fastpath.answer(off, wire)


@pytest.mark.parametrize("dual", [False, True])
def test_the_srv_additional_addresses_turn_too(dual: bool) -> None:
    zone = _zone(4, dual=dual)
    wire = dns.message.make_query(f"_http._tcp.{WEB}", "SRV").to_wire()
    n = 8 if dual else 4  # additional records: an A (and an AAAA) per pet
    replies = [_sections(_bytes(fastpath.answer(zone, wire))) for _ in range(2 * n)]
    first = [additional[0] for _, _, additional in replies]
    assert len(set(first)) == n and first[:n] == first[n:]
    assert all(answer == replies[0][0] for answer, _, _ in replies)  # the SRV records keep their order
    assert _sections(_bytes(full(zone, wire)))[0] == replies[0][0]


def test_truncated_answers_are_windows_of_the_turned_set() -> None:
    zone = _zone(300)
    wire = dns.message.make_query(WEB, "A").to_wire()  # no EDNS: 512 bytes, about 30 records
    assert fastpath.answer(zone, wire) is None  # the full path renders the cut first, then keeps it
    whole = _sections(_bytes(full(zone, wire, tcp=True)))[0]
    cuts = [full(zone, wire)] + [fastpath.answer(zone, wire) for _ in range(5)]
    firsts = set()
    for cut in cuts:
        assert isinstance(cut, bytes) and len(cut) <= 512
        msg = dns.message.from_wire(cut)
        assert msg.flags & dns.flags.TC
        records = _sections(cut)[0]
        firsts.add(records[0])
        start = whole.index(records[0])
        assert records == (whole * 2)[start : start + len(records)]  # a window of the turned whole
    assert len(firsts) == len(cuts)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    srv = DnsServer(_zone(5), [(HOST, 0)])
    await srv.start()
    yield srv.bound[0][1]
    await srv.stop()


def _addresses(wire: bytes, section: str) -> list[str]:
    """The five A records' addresses of a reply, read from the wire: they end the answer section of an
    A reply, the additional section (before the 11-byte OPT) of a headless name's SRV reply."""
    end = len(wire) - 11
    records = wire[end - 80 : end]
    assert all(records[i] & 0xC0 == 0xC0 and records[i + 2 : i + 4] == b"\x00\x01" for i in range(0, 80, 16))
    assert wire[6:8] == b"\x00\x05" if section == "answer" else wire[10:12] == b"\x00\x06"  # and the OPT
    return [socket.inet_ntoa(records[i + 12 : i + 16]) for i in range(0, 80, 16)]


def _udp_replies(port: int, queries: list[bytes]) -> list[bytes]:
    """Send queries over one UDP socket, a batch at a time, and read the replies back."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((HOST, port))
        for i in range(0, len(queries), BATCH):
            batch = queries[i : i + BATCH]
            for wire in batch:
                sock.send(wire)
            out += [sock.recv(65535) for _ in batch]
    return out


async def _tcp_replies(port: int, queries: list[bytes]) -> list[bytes]:
    """Send queries over one TCP connection, a batch pipelined at a time, and read the replies back."""
    out = []
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for i in range(0, len(queries), BATCH):
            batch = queries[i : i + BATCH]
            writer.write(b"".join(len(wire).to_bytes(2, "big") + wire for wire in batch))
            for _ in batch:
                size = int.from_bytes(await reader.readexactly(2), "big")
                out.append(await reader.readexactly(size))
    finally:
        writer.close()
    return out


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize(
    ("qname", "qtype", "section"),
    [(WEB, "A", "answer"), (WEB, "SRV", "additional")],  # SRV on the bare name: the full path
    ids=["fast", "full"],
)
async def test_each_pet_leads_equally_often(
    server: int, proto: str, qname: str, qtype: str, section: str
) -> None:
    n = 1000
    queries = [dns.message.make_query(qname, qtype, use_edns=0, payload=1232) for _ in range(n)]
    wires = [q.to_wire() for q in queries]
    if proto == "udp":
        replies = await asyncio.to_thread(_udp_replies, server, wires)
    else:
        replies = await _tcp_replies(server, wires)
    first: collections.Counter[str] = collections.Counter()
    ids = set()
    for i, wire in enumerate(replies):
        ids.add(wire[:2])
        addresses = _addresses(wire, section)
        assert sorted(addresses) == [f"10.1.0.{i}" for i in range(1, 6)]
        first[addresses[0]] += 1
        if i < 20:  # what dnspython reads agrees (it is too slow to read all: SRV rdata is hashed)
            reply = dns.message.from_wire(wire)
            assert not reply.flags & dns.flags.TC
            assert addresses == [rd.address for rrset in getattr(reply, section) for rd in rrset]
        else:  # everything but the turned records is the first reply's
            assert wire[2:-91] == replies[0][2:-91]
    assert ids == {q.to_wire()[:2] for q in queries}
    assert _chi2(first, n, 5) < CHI2_4DF_P001, first
