"""The query counters: batches folded in exactly, counters that never go down, CoreDNS's labels."""

from __future__ import annotations

import struct

import dns.message
from hypothesis import given
from hypothesis import strategies as st

from petdns.serve.tally import (
    ACL,
    CACHE,
    FOLD_AT,
    KUBERNETES,
    TIME_BOUNDS,
    Histogram,
    Tally,
    merged_durations,
    rcode_name,
    server_label,
    type_code,
    type_name,
)

LISTENER = ("dns://127.0.0.1:53", "udp", "1")


def test_type_codes_and_names_follow_coredns() -> None:
    for qtype, name in (("A", "A"), ("AAAA", "AAAA"), ("SRV", "SRV"), ("PTR", "PTR"), ("ANY", "ANY")):
        wire = dns.message.make_query("web-0.nginx.default.svc.cluster.local", qtype, use_edns=0).to_wire()
        assert type_name(type_code(wire)) == name
    caa = dns.message.make_query("example.com", "CAA").to_wire()  # 257: the low byte alone would be A
    assert type_code(caa) == 0 and type_name(type_code(caa)) == "other"
    assert type_name(type_code(b"\x00" * 5)) == "other"
    assert type_name(99) == "other"  # SPF: not one of CoreDNS's names
    assert [rcode_name(r) for r in (0, 2, 3, 5, 15)] == [
        "NOERROR",
        "SERVFAIL",
        "NXDOMAIN",
        "REFUSED",
        "RCODE15",
    ]


def test_server_labels() -> None:
    assert server_label("0.0.0.0", 53) == "dns://:53"
    assert server_label("::", 53) == "dns://:53"
    assert server_label("127.0.0.1", 5353) == "dns://127.0.0.1:5353"
    assert server_label("::1", 5353) == "dns://[::1]:5353"


def test_histogram_buckets_are_coredns_time_buckets_and_cumulative() -> None:
    assert TIME_BOUNDS[0] == 0.00025 and len(TIME_BOUNDS) == 16 and abs(TIME_BOUNDS[-1] - 8.192) < 1e-9
    hist = Histogram()
    for value in (0.0001, 0.00025, 0.0003, 100.0):
        hist.observe(value)
    cumulative = hist.cumulative()
    assert cumulative[0] == (0.00025, 2)  # le is inclusive
    assert cumulative[1] == (0.0005, 3)
    assert cumulative[-1] == (float("inf"), 4) and cumulative[-2][1] == 3
    assert hist.count == 4 and abs(hist.total - 100.00065) < 1e-9


def _flags(*rcodes: int, ra: bool = False) -> bytes:
    return bytes((0x80 if ra else 0) | rcode for rcode in rcodes)


def test_a_batch_is_counted_by_type_rcode_and_duration() -> None:
    tally = Tally()
    batches = tally.batches(LISTENER)
    batches.commit(bytearray([1, 1, 33, 12, 1]), _flags(0, 3, 0, 0, 3), 0.0003, [])
    batches.commit(bytearray([28]), _flags(0, ra=True), 0.002, [])
    assert not tally.durations[LISTENER]  # appended, not counted yet
    tally.settle()
    table = tally.durations[LISTENER]
    assert {code: h.count for code, h in table.items()} == {1: 3, 33: 1, 12: 1, 28: 1}
    assert table[1].counts[1] == 3  # 0.3 ms: the 0.5 ms bucket
    assert table[28].counts[TIME_BOUNDS.index(0.002)] == 1
    assert abs(table[1].total - 0.0009) < 1e-12
    row = tally.responses[(LISTENER[0], KUBERNETES)]
    assert row[0] == 4 and row[3] == 2 and sum(row) == 6


def test_replies_of_other_plugins_are_not_counted_as_the_zones() -> None:
    tally = Tally()
    batches = tally.batches(LISTENER)
    # five replies: two from the zones, a cache hit, two refused by the ACL
    batches.commit(bytearray([1] * 5), _flags(0, 3, 0, 5, 5), 0.0001, [(CACHE, 0), (ACL, 5), (ACL, 5)])
    tally.settle()
    server = LISTENER[0]
    assert tally.responses[(server, KUBERNETES)][0] == 1
    assert tally.responses[(server, KUBERNETES)][3] == 1
    assert tally.responses[(server, KUBERNETES)][5] == 0
    assert tally.responses[(server, CACHE)][0] == 1
    assert tally.responses[(server, ACL)][5] == 2


@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from([1, 28, 33, 12, 0]), st.sampled_from([0, 2, 3, 5])), max_size=64),
        max_size=20,
    )
)
def test_counters_only_grow_and_add_up(batches_of_replies: list[list[tuple[int, int]]]) -> None:
    tally = Tally()
    batches = tally.batches(LISTENER)
    seen: list[int] = []
    for replies in batches_of_replies:
        types = bytearray(code for code, _ in replies)
        flags = _flags(*(rcode for _, rcode in replies), ra=True)
        others = [(CACHE, rcode) for _, rcode in replies[::3]]
        batches.commit(types, flags, 0.001 * len(replies), others)
        tally.settle()
        now = [n for row in tally.responses.values() for n in row]
        now += [h.count for table in tally.durations.values() for h in table.values()]
        assert all(a >= b for a, b in zip(now, seen, strict=False))
        seen = now
    total = sum(len(r) for r in batches_of_replies)
    assert sum(sum(row) for row in tally.responses.values()) == total
    merged = merged_durations([tally])
    assert sum(h.count for h in merged.values()) == total
    seconds = sum(0.001 * len(r) * len(r) for r in batches_of_replies)
    assert abs(sum(h.total for h in merged.values()) - seconds) < 1e-9  # the sums add up exactly


def test_a_thread_counts_by_itself_every_few_thousand_replies() -> None:
    tally = Tally()
    batches = tally.batches(LISTENER)
    for _ in range(FOLD_AT // 64 - 1):
        batches.commit(bytearray([1] * 64), _flags(*[0] * 64), 0.0001, [])
    assert not tally.durations[LISTENER]
    batches.commit(bytearray([33] * 64), _flags(*[3] * 64), 0.01, [])
    assert tally.durations[LISTENER][1].count == FOLD_AT - 64
    assert tally.durations[LISTENER][33].counts[TIME_BOUNDS.index(0.016)] == 64
    assert tally.responses[(LISTENER[0], KUBERNETES)][3] == 64


def test_per_type_sums_share_their_buckets_time() -> None:
    tally = Tally()
    batches = tally.batches(LISTENER)
    batches.commit(bytearray([1, 1, 1, 33]), _flags(0, 0, 0, 0), 0.0001, [])
    batches.commit(bytearray([33]), _flags(0), 0.0002, [])
    tally.settle()
    table = tally.durations[LISTENER]
    mean = (0.0001 * 4 + 0.0002) / 5  # one bucket: its mean for every reply in it
    assert abs(table[1].total - 3 * mean) < 1e-12 and abs(table[33].total - 2 * mean) < 1e-12


def test_the_event_loop_records_queries_one_by_one() -> None:
    tally = Tally()
    tcp = ("dns://127.0.0.1:53", "tcp", "1")
    tally.record(tcp, 1, 0, KUBERNETES, 0.001, 60, 120)
    tally.record(LISTENER, 33, 2, "forward", 0.5, -1, -1)  # UDP: sizes are not measured
    assert tally.durations[tcp][1].count == 1 and tally.durations[LISTENER][33].count == 1
    assert tally.responses[("dns://127.0.0.1:53", "forward")][2] == 1
    assert set(tally.request_sizes) == {("dns://127.0.0.1:53", "tcp")}
    assert tally.response_sizes[("dns://127.0.0.1:53", "tcp")].total == 120


def test_the_fast_path_appends_the_type_code_of_what_it_answers(zones: dict[str, object]) -> None:
    from petdns.answer import fastpath  # noqa: PLC0415
    from petdns.answer.zone import RenderedZone  # noqa: PLC0415

    zone = zones["default"]
    assert isinstance(zone, RenderedZone)
    seen = bytearray()
    srv = dns.message.make_query("_web._tcp.nginx.default.svc.cluster.local", "SRV", use_edns=0).to_wire()
    missing = dns.message.make_query("nothing.default.svc.cluster.local", "AAAA").to_wire()
    assert fastpath.answer(zone, srv, seen) is not None
    assert fastpath.answer(zone, missing, seen) is not None
    assert list(seen) == [33, 28]
    malformed = srv[:-3]
    assert fastpath.answer(zone, malformed, seen) is None and list(seen) == [33, 28]  # declined: not counted
    assert struct.unpack("!H", srv[-15:-13])[0] == 33
