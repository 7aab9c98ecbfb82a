"""The wire encoder against dnslib's (an independent implementation), and truncation rules."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rdatatype
import dnslib
import pytest

from petdns.answer.render import render
from petdns.answer.zone import RenderedZone
from petdns.dns.constants import AAAA, CNAME, NOERROR, NS, PTR, SOA, SRV, TXT, A
from petdns.dns.wire import encode_name, headers
from petdns.schema.lookup import Response, lookup
from petdns.schema.records import RR
from tests.support.dns_table import CASES, Case


def _dnslib_rr(rr: RR) -> dnslib.RR:
    r = rr.rdata
    rdata = {
        A: lambda: dnslib.A(r),
        AAAA: lambda: dnslib.AAAA(r),
        SRV: lambda: dnslib.SRV(r[0], r[1], r[2], f"{r[3]}."),
        PTR: lambda: dnslib.PTR(f"{r}."),
        CNAME: lambda: dnslib.CNAME(f"{r}."),
        NS: lambda: dnslib.NS(f"{r}."),
        TXT: lambda: dnslib.TXT([s.encode() for s in r]),
        SOA: lambda: dnslib.SOA(f"{r[0]}.", f"{r[1]}.", r[2:]),
    }[rr.rtype]()
    return dnslib.RR(f"{rr.name}.", rr.rtype, ttl=rr.ttl, rdata=rdata)


def _ours(name: str, qtype: int, response: Response, limit: int = 65535) -> dns.message.Message:
    labels = tuple(label.encode() for label in name.split("."))
    r = render(labels, response, limit)
    wire = (
        b"\x00\x07"
        + headers(r.flags, *r.counts)[0]
        + encode_name(labels)
        + struct.pack("!HH", qtype, 1)
        + r.body
    )
    return dns.message.from_wire(wire)


@pytest.mark.parametrize("case", [c for c in CASES if c.rcode != 5], ids=lambda c: c.id)
def test_encoder_matches_dnslib(case: Case, zones: dict[str, RenderedZone]) -> None:
    zone = zones[case.settings]
    qtype = dns.rdatatype.from_text(case.qtype)
    response = lookup(zone.catalog, zone.settings, case.name, qtype)
    assert response is not None
    theirs = dnslib.DNSRecord(
        dnslib.DNSHeader(id=7, qr=1, aa=1, rd=0, rcode=response.rcode),
        q=dnslib.DNSQuestion(f"{case.name}.", qtype),
    )
    theirs.rr = [_dnslib_rr(r) for r in response.answer]
    theirs.auth = [_dnslib_rr(r) for r in response.authority]
    theirs.ar = [_dnslib_rr(r) for r in response.additional]
    expected = dns.message.from_wire(bytes(theirs.pack()))
    got = _ours(case.name, qtype, response)
    assert got == expected
    assert got.flags == expected.flags and got.rcode() == expected.rcode()


def test_truncation_drops_additional_first_then_whole_answers() -> None:
    name = "big.default.svc.cluster.local"
    answer = tuple(RR(name, SRV, 5, (0, 1, 80, f"pet-{i}.{name}")) for i in range(40))
    additional = tuple(RR(f"pet-{i}.{name}", A, 5, f"10.0.0.{i}") for i in range(40))
    full = Response(NOERROR, answer=answer, additional=additional)
    whole = _ours(name, SRV, full)
    assert len(whole.answer[0]) == 40 and len(whole.additional) == 40
    size_without_extra = len(_ours(name, SRV, Response(NOERROR, answer=answer)).to_wire())
    no_extra = _ours(name, SRV, full, limit=size_without_extra)
    assert not no_extra.flags & dns.flags.TC
    assert len(no_extra.answer[0]) == 40 and not no_extra.additional
    cut = _ours(name, SRV, full, limit=512)
    assert cut.flags & dns.flags.TC
    assert 0 < len(cut.answer[0]) < 40 and len(cut.to_wire()) <= 512


def test_header_variants_carry_rd_and_the_opt_count() -> None:
    plain, rd, edns, both = headers(0x8400, 2, 0, 1)
    assert struct.unpack("!HHHHH", plain) == (0x8400, 1, 2, 0, 1)
    assert struct.unpack("!HHHHH", rd) == (0x8500, 1, 2, 0, 1)
    assert struct.unpack("!HHHHH", edns) == (0x8400, 1, 2, 0, 2)
    assert struct.unpack("!HHHHH", both) == (0x8500, 1, 2, 0, 2)
