"""The pure parts of forwarding as tables: ACL, health, the response cache, upstreams, message rewriting."""

from __future__ import annotations

import random
import struct

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from petdns.dns.constants import RD, REFUSED, SERVFAIL
from petdns.forward import relay
from petdns.forward.acl import Acl
from petdns.forward.response_cache import CachePolicy, ResponseCache
from petdns.forward.upstream_health import Health, HealthPolicy, plan
from petdns.forward.upstreams import (
    Routes,
    Upstream,
    default_upstreams,
    nameservers,
    parse_stub_domain,
    parse_upstream,
)

# -- ACL ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("10.244.1.7", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("100.128.0.1", False),
        ("fd00::1", True),
        ("fe80::1%eth0", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped counts as IPv4
        ("::ffff:8.8.8.8", False),
        ("8.8.8.8", False),
        ("2001:db8::1", False),
        ("not-an-ip", False),
        ("", False),
    ],
)
def test_default_acl(host: str, allowed: bool) -> None:
    acl = Acl()
    assert acl.allows(host) is allowed
    assert acl.allows(host) is allowed  # memoised the same


def test_acl_from_cidrs() -> None:
    acl = Acl(["127.0.0.1/32", "2001:db8::/32", "192.0.2.7"])
    assert [acl.allows(h) for h in ("127.0.0.1", "127.0.0.2", "2001:db8:1::5", "192.0.2.7", "192.0.2.8")] == [
        True,
        False,
        True,
        True,
        False,
    ]
    assert not Acl([]).allows("127.0.0.1")
    with pytest.raises(ValueError):
        Acl(["10.0.0.0/33"])


# -- health ---------------------------------------------------------------------------------------------


def test_health_goes_down_after_max_fails_and_backs_off() -> None:
    h = Health(HealthPolicy(max_fails=2, backoff=1.0, max_backoff=4.0))
    assert h.failure(10.0) is False and not h.down
    assert h.failure(10.5) is True and h.down and h.probe_at == 11.5
    assert h.failure(10.6) is False  # already down: the probe time stays
    assert h.probe_at == 11.5
    steps = []
    for now in (11.5, 13.5, 17.5, 21.5):
        h.probe_failed(now)
        steps.append(h.probe_at - now)
    assert steps == [2.0, 4.0, 4.0, 4.0]  # doubled, capped
    h.success()
    assert not h.down and h.fails == 0 and h.backoff == 1.0
    assert h.failure(30.0) is False  # counting starts again


def test_health_success_resets_the_count() -> None:
    h = Health(HealthPolicy(max_fails=2))
    h.failure(1.0)
    h.success()
    assert h.failure(2.0) is False and not h.down


@pytest.mark.parametrize(
    ("down", "policy", "expected"),
    [
        ((), "sequential", ["a", "b", "c"]),
        (("a",), "sequential", ["b", "c"]),
        (("a", "c"), "sequential", ["b"]),
        (("a", "b", "c"), "sequential", ["b", "c", "a"]),  # all down: all, the soonest probe first
    ],
)
def test_plan(down: tuple[str, ...], policy: str, expected: list[str]) -> None:
    health = {u: Health(HealthPolicy(max_fails=1)) for u in "abc"}
    for when, u in ((3.0, "a"), (1.0, "b"), (2.0, "c")):
        if u in down:
            health[u].failure(when)
    assert plan(["a", "b", "c"], health, policy=policy) == expected


def test_plan_random_spreads_over_healthy_upstreams() -> None:
    health = {u: Health() for u in "abc"}
    rng = random.Random(1)
    firsts = {plan(["a", "b", "c"], health, policy="random", rng=rng)[0] for _ in range(50)}
    assert firsts == {"a", "b", "c"}


# -- response cache -------------------------------------------------------------------------------------


def test_cache_ttl_age_and_expiry() -> None:
    cache: ResponseCache[str] = ResponseCache(CachePolicy(size=10, stale=0))
    assert cache.put(b"k", "v", 60, now=100.0)
    assert cache.get(b"k", 100.0) == ("v", 0)
    assert cache.get(b"k", 159.9) == ("v", 59)
    assert cache.get(b"k", 160.0) is None
    assert len(cache) == 0  # expired and no stale window: gone
    assert (cache.hits, cache.misses) == (2, 1)
    assert not cache.put(b"z", "v", 0, now=1.0)  # TTL 0 is not kept


def test_cache_lru_eviction() -> None:
    cache: ResponseCache[int] = ResponseCache(CachePolicy(size=3))
    for i in range(3):
        cache.put(bytes([i]), i, 100, now=0.0)
    assert cache.get(b"\x00", 1.0) is not None  # 0 is now the most recently used
    cache.put(b"\x03", 3, 100, now=1.0)
    assert cache.get(b"\x01", 1.0) is None  # the least recently used went
    assert [cache.get(bytes([i]), 1.0) is not None for i in (0, 2, 3)] == [True, True, True]
    assert len(cache) == 3 and cache.evictions == 1


def test_cache_serve_stale_window() -> None:
    cache: ResponseCache[str] = ResponseCache(CachePolicy(stale=30))
    cache.put(b"k", "v", 10, now=0.0)
    assert cache.stale(b"k", 5.0) is None  # still fresh: not stale
    assert cache.get(b"k", 10.0) is None  # expired: a miss ...
    assert cache.stale(b"k", 10.0) == "v"  # ... but usable when upstreams fail
    assert cache.stale(b"k", 39.9) == "v"
    assert cache.stale(b"k", 40.0) is None
    assert cache.get(b"k", 40.0) is None and len(cache) == 0
    assert cache.stale_hits == 2


def test_cache_disabled() -> None:
    cache: ResponseCache[str] = ResponseCache(CachePolicy(size=0))
    assert not cache.put(b"k", "v", 10, now=0.0)
    assert cache.get(b"k", 0.0) is None


@pytest.mark.parametrize(
    ("ttl", "negative", "lifetime"),
    [
        (300, False, 300),
        (7200, False, 3600),
        (0, False, 5),
        (3, False, 5),
        (7200, True, 1800),
        (60, True, 60),
    ],
)
def test_cache_lifetime_bounds(ttl: int, negative: bool, lifetime: int) -> None:
    policy = CachePolicy(max_ttl=3600, min_ttl=5, max_negative_ttl=1800)
    assert policy.lifetime(ttl, negative=negative) == lifetime


def test_cache_policy_validation() -> None:
    for bad in ({"size": -1}, {"min_ttl": 10, "max_ttl": 5}, {"stale": -1.0}):
        with pytest.raises(ValueError):
            CachePolicy(**bad)


# -- upstreams, resolv.conf, stub domains -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.1.1.1", Upstream("1.1.1.1", 53)),
        ("1.1.1.1:5353", Upstream("1.1.1.1", 5353)),
        ("[::1]:53", Upstream("::1", 53)),
        ("[::1]", Upstream("::1", 53)),
        ("::1", Upstream("::1", 53)),
        ("2001:DB8::1", Upstream("2001:db8::1", 53)),
        ("[fe80::1%eth0]:54", Upstream("fe80::1%eth0", 54)),
    ],
)
def test_parse_upstream(text: str, expected: Upstream) -> None:
    assert parse_upstream(text) == expected


@pytest.mark.parametrize(
    "bad", ["dns.google", "1.1.1.1:0", "1.1.1.1:70000", "[::1", "[::1]x", "1.1.1:53", ""]
)
def test_parse_upstream_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(bad)


def test_upstream_text() -> None:
    assert [str(u) for u in (Upstream("10.0.0.1"), Upstream("::1", 5353))] == ["10.0.0.1:53", "[::1]:5353"]


RESOLV = """# generated
search default.svc.cluster.local svc.cluster.local
nameserver 10.96.0.10
nameserver 127.0.0.53   ; systemd-resolved
nameserver fe80::1%eth0
nameserver bogus
options ndots:5
nameserver 10.96.0.10
"""


def test_resolv_conf_nameservers() -> None:
    assert nameservers(RESOLV) == ["10.96.0.10", "127.0.0.53", "fe80::1%eth0", "10.96.0.10"]


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ([("127.0.0.1", 5353)], ["10.96.0.10:53", "127.0.0.53:53", "[fe80::1%eth0]:53"]),
        ([("10.96.0.10", 53)], ["127.0.0.53:53", "[fe80::1%eth0]:53"]),  # ourselves: skipped
        ([("0.0.0.0", 53)], ["10.96.0.10:53", "[fe80::1%eth0]:53"]),  # a wildcard on 53 covers loopback
        ([("10.96.0.10", 5353)], ["10.96.0.10:53", "127.0.0.53:53", "[fe80::1%eth0]:53"]),
    ],
)
def test_default_upstreams_skip_own_addresses(listen: list[tuple[str, int]], expected: list[str]) -> None:
    assert [str(u) for u in default_upstreams(RESOLV, listen)] == expected


def test_parse_stub_domain() -> None:
    assert parse_stub_domain("Example.Internal.=10.0.0.53,10.0.0.54:5353,[fd00::53]") == (
        "example.internal",
        (Upstream("10.0.0.53"), Upstream("10.0.0.54", 5353), Upstream("fd00::53")),
    )
    for bad in ("example.internal", "example.internal=", "a..b=10.0.0.1", "x=host.example"):
        with pytest.raises(ValueError):
            parse_stub_domain(bad)


def _wire(name: str) -> bytes:
    return b"".join(bytes((len(x),)) + x.encode() for x in name.split(".") if x) + b"\x00"


def test_routes_longest_suffix_wins() -> None:
    a, b, c = Upstream("10.0.0.1"), Upstream("10.0.0.2"), Upstream("10.0.0.3")
    routes = Routes([a], {"corp.example": [b], "lab.corp.example": [c], "10.in-addr.arpa": [c]})
    cases = {
        "www.example.com": (a,),
        "corp.example": (b,),
        "x.corp.example": (b,),
        "xcorp.example": (a,),  # label boundaries only
        "y.lab.corp.example": (c,),
        "4.3.2.10.in-addr.arpa": (c,),
        "": (a,),
    }
    for name, expected in cases.items():
        assert routes.route(_wire(name)) == expected, name
    assert routes.upstreams == (a, b, c)
    only_stub = Routes([], {"corp.example": [b]})
    assert only_stub.route(_wire("www.example.com")) == ()
    assert bool(only_stub) and not Routes([])


# -- message rewriting ---------------------------------------------------------------------------------


def _query(name: str, qtype: str = "A", **kw: object) -> bytes:
    q = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
    q.id = 0x1234
    return q.to_wire()


def test_parse_client_common_shapes() -> None:
    q = relay.parse_client(_query("WWW.Example.COM"))
    assert q is not None
    assert q.qid == b"\x12\x34" and q.edns == 0 and not q.do
    assert q.question[:-4] == _wire("WWW.Example.COM") and q.name == _wire("www.example.com")
    e = relay.parse_client(_query("www.example.com", use_edns=0, payload=1232, want_dnssec=True))
    assert e is not None and e.edns == 1232 and e.do
    assert e.key != q.key and e.key[:-1] == q.key[:-1]  # DO is part of the key
    small = relay.parse_client(_query("x.example", use_edns=0, payload=100))
    assert small is not None and small.edns == 512  # sizes below 512 mean 512


@pytest.mark.parametrize(
    "data",
    [
        _query("x.example")[:-1],  # cut short
        _query("x.example", "AXFR"),
        _query("x.example", "TXT")[:-2] + b"\x00\x03",  # class CH
        _query("x.example", use_edns=1),  # EDNS version 1: the full path answers BADVERS
        b"\x12\x34\x80\x00" + _query("x.example")[4:],  # a response
        b"\x12\x34\x28\x00" + _query("x.example")[4:],  # UPDATE
        _query("x.example") + b"junk",
    ],
)
def test_parse_client_leaves_the_rest_to_the_full_path(data: bytes) -> None:
    assert relay.parse_client(data) is None


def _upstream_reply(query: bytes, *answer: str, rcode: int = 0, authority: tuple[str, ...] = ()) -> bytes:
    """A reply as dnspython writes it (owner names compressed against the question)."""
    reply = dns.message.make_response(dns.message.from_wire(query))
    reply.set_rcode(dns.rcode.Rcode(rcode))
    for section, lines in ((reply.answer, answer), (reply.authority, authority)):
        for line in lines:
            name, ttl, _, rtype, rdata = line.split(maxsplit=4)
            rdtype = dns.rdatatype.from_text(rtype)
            rrset = reply.find_rrset(
                section, dns.name.from_text(name), dns.rdataclass.IN, rdtype, create=True
            )
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, rdata), int(ttl))
    return reply.to_wire()


def test_reply_relayed_with_client_id_case_and_decremented_ttls() -> None:
    client = relay.parse_client(_query("WwW.ExAmple.com", use_edns=0, payload=4096), max_udp=1232)
    assert client is not None
    sent = relay.upstream_query(client, b"\xab\xcd")
    assert sent[:2] == b"\xab\xcd" and _wire("www.example.com") in sent  # lower-cased upstream
    assert struct.unpack("!H", sent[2:4])[0] & RD
    data = _upstream_reply(sent, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2")
    assert relay.answers(data, sent) and not relay.answers(b"\x00\x00" + data[2:], sent)
    reply = relay.parse_reply(data, sent)
    assert reply.counts == (2, 0, 0) and reply.min_ttl == 300 and reply.cache_ttl() == 300
    out = dns.message.from_wire(reply.render(client, age=42))
    assert out.id == 0x1234 and out.question[0].name.to_text() == "WwW.ExAmple.com."
    assert out.answer[0].ttl == 258 and len(out.answer[0]) == 2
    assert out.edns == 0 and out.payload == 1232
    assert out.flags & dns.flags.RA and not out.flags & dns.flags.AA
    stale = dns.message.from_wire(reply.render(client, age=1000, ttl=relay.STALE_TTL))
    assert stale.answer[0].ttl == relay.STALE_TTL
    expired = dns.message.from_wire(reply.render(client, age=1000))
    assert expired.answer[0].ttl == 0


def test_negative_reply_ttl_from_soa() -> None:
    client = relay.parse_client(_query("nope.example.com"))
    assert client is not None
    sent = relay.upstream_query(client, b"\x00\x07")
    soa = "example.com. 900 IN SOA ns.example.com. host.example.com. 1 7200 1800 86400 120"
    nx = relay.parse_reply(_upstream_reply(sent, rcode=3, authority=(soa,)), sent)
    assert nx.negative and nx.negative_ttl == 120 and nx.cache_ttl() == 120
    bare = relay.parse_reply(_upstream_reply(sent, rcode=3), sent)
    assert bare.negative and bare.cache_ttl() is None  # no SOA: not cached (RFC 2308)
    fail = relay.parse_reply(_upstream_reply(sent, rcode=2), sent)
    assert fail.cache_ttl() is None
    out = dns.message.from_wire(nx.clamped(0, 100).render(client, age=10))
    assert out.rcode() == dns.rcode.NXDOMAIN and out.authority[0].ttl == 90


def test_relay_truncates_to_the_client_size() -> None:
    client = relay.parse_client(_query("big.example.com"))
    assert client is not None
    sent = relay.upstream_query(client, b"\x00\x08")
    lines = [f"big.example.com. 60 IN A 192.0.2.{i}" for i in range(1, 61)]
    reply = relay.parse_reply(_upstream_reply(sent, *lines), sent)
    udp = reply.render(client)
    assert len(udp) <= 512
    msg = dns.message.from_wire(udp)
    assert msg.flags & dns.flags.TC and 0 < len(msg.answer[0]) < 60
    tcp = dns.message.from_wire(reply.render(client, tcp=True))
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 60
    big = relay.parse_client(_query("big.example.com", use_edns=0, payload=4096))
    assert big is not None
    assert len(dns.message.from_wire(reply.render(big)).answer[0]) == 60


def test_upstream_opt_is_dropped_and_ours_advertised() -> None:
    query = _query("www.example.com", use_edns=0, payload=1400, want_dnssec=True)
    client = relay.parse_client(query, max_udp=1232)
    assert client is not None and client.limit == 1232
    sent = relay.upstream_query(client, b"\x00\x09")  # the client's size capped at ours
    assert (
        dns.message.from_wire(sent).payload == 1232 and dns.message.from_wire(sent).ednsflags & dns.flags.DO
    )
    smaller = relay.parse_client(query, max_udp=4096)
    assert (
        smaller is not None
        and dns.message.from_wire(relay.upstream_query(smaller, b"\x00\x09")).payload == 1400
    )
    upstream = dns.message.make_response(dns.message.from_wire(sent))
    upstream.use_edns(0, dns.flags.DO, 4096)
    reply = relay.parse_reply(upstream.to_wire(), sent)
    assert reply.counts == (0, 0, 0) and reply.body == b""
    out = dns.message.from_wire(reply.render(client))
    assert out.payload == 1232 and out.ednsflags & dns.flags.DO
    assert dns.message.from_wire(reply.render(smaller)).payload == 4096  # our size, not the client's


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d[:11],
        lambda d: d[:-3],  # record cut short
        lambda d: d[:12] + b"\x03foo" + d[16:],  # another question
    ],
)
def test_bad_replies(mangle: object) -> None:
    client = relay.parse_client(_query("www.example.com"))
    assert client is not None
    sent = relay.upstream_query(client, b"\x00\x0a")
    data = _upstream_reply(sent, "www.example.com. 300 IN A 192.0.2.1")
    with pytest.raises(relay.BadReply):
        relay.parse_reply(mangle(data), sent)  # type: ignore[operator]


def test_error_replies() -> None:
    client = relay.parse_client(_query("x.example", use_edns=0, payload=1232))
    assert client is not None
    refused = dns.message.from_wire(relay.error(client, REFUSED, recursion=False))
    assert refused.rcode() == dns.rcode.REFUSED and not refused.flags & dns.flags.RA and refused.edns == 0
    servfail = dns.message.from_wire(relay.error(client, SERVFAIL))
    assert servfail.rcode() == dns.rcode.SERVFAIL and servfail.id == 0x1234


# -- hostile bytes -------------------------------------------------------------------------------------

_SENT = relay.upstream_query(
    relay.ClientQuery(b"\x00\x01", 0x100, _wire("www.example.com") + b"\x00\x01\x00\x01", 0, False),
    b"\x00\x0b",
)
_GOOD = _upstream_reply(
    _SENT,
    "www.example.com. 300 IN CNAME web.example.com.",
    authority=("example.com. 900 IN SOA ns.example.com. host.example.com. 1 7200 1800 86400 120",),
)


@settings(max_examples=500, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, len(_GOOD)),
)
def test_mangled_replies_parse_or_raise_bad_reply(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_GOOD)
    for pos, value in flips:
        data[pos] = value
    client = relay.parse_client(_query("www.example.com", use_edns=0, payload=512))
    assert client is not None
    try:
        reply = relay.parse_reply(bytes(data[:cut]), _SENT)
    except relay.BadReply:
        return
    reply.render(client)
    reply.render(client, tcp=True, age=5)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=80), prefix=st.sampled_from([b"", _query("a.example")[:12]]))
def test_random_queries_parse_or_decline(data: bytes, prefix: bytes) -> None:
    q = relay.parse_client(prefix + data)
    if q is not None:
        assert q.question in prefix + data and q.name == q.question[:-4].lower()
