"""Forwarding through the running server: test upstreams on loopback, dnspython as the client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.response_cache import CachePolicy
from petdns.forward.upstream_health import HealthPolicy
from petdns.forward.upstreams import Routes, Upstream, parse_upstream
from petdns.serve.transport import DnsServer
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import CASES, SETTINGS, objects
from tests.support.dnsmsg import check
from tests.support.resolver import ANSWER, DROP, REFUSED, SERVFAIL, ScriptedResolver
from tests.support.tools import free_port

HOST = "127.0.0.1"
WWW = "www.example.test"


class FakeClock:
    """The forwarder's monotonic clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    server: DnsServer
    forwarder: Forwarder
    clock: FakeClock
    host: str = HOST

    @property
    def port(self) -> int:
        return self.server.bound[0][1]

    async def ask(
        self, name: str, qtype: str = "A", *, tcp: bool = False, source: str | None = None, **kw: object
    ) -> dns.message.Message:
        query = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        reply = await send(query, self.host, port=self.port, timeout=5, source=source)
        assert reply.id == query.id
        return reply


def _zone() -> RenderedZone:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.load(objects())
    return zone


@contextlib.asynccontextmanager
async def serving(
    default: list[ScriptedResolver],
    stubs: dict[str, list[ScriptedResolver]] | None = None,
    *,
    host: str = HOST,
    batch: int = 64,
    **config: object,
) -> AsyncIterator[Rig]:
    def ups(resolvers: list[ScriptedResolver]) -> list[Upstream]:
        return [parse_upstream(f"[{r.host}]:{r.port}" if ":" in r.host else r.address) for r in resolvers]

    routes = Routes(ups(default), {d: ups(rs) for d, rs in (stubs or {}).items()})
    config.setdefault("timeout", 0.3)
    config.setdefault("health", HealthPolicy(max_fails=2, backoff=0.2, max_backoff=0.4))
    clock = FakeClock()
    forwarder = Forwarder(ForwardConfig(routes, **config), clock=clock)  # type: ignore[arg-type]
    server = DnsServer(_zone(), [(host, 0)], udp_batch=batch, forwarder=forwarder)
    await server.start()
    try:
        yield Rig(server, forwarder, clock, host)
    finally:
        await server.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedResolver]:
    resolver = await ScriptedResolver().start()
    resolver.add(f"{WWW}. 300 IN A 192.0.2.1", f"{WWW}. 300 IN AAAA 2001:db8::1")
    resolver.add(*(f"big.example.test. 300 IN A 192.0.2.{i}" for i in range(1, 61)))
    resolver.add("short.example.test. 10 IN A 192.0.2.10")
    resolver.add("7.2.0.192.in-addr.arpa. 300 IN PTR host.example.test.")
    yield resolver
    await resolver.stop()


@pytest.fixture
async def spare() -> AsyncIterator[Callable[[], Awaitable[ScriptedResolver]]]:
    started: list[ScriptedResolver] = []

    async def make() -> ScriptedResolver:
        resolver = await ScriptedResolver().start()
        resolver.add(f"{WWW}. 300 IN A 192.0.2.99")
        started.append(resolver)
        return resolver

    yield make
    for resolver in started:
        await resolver.stop()


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait for a condition (polled), failing after `limit` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _addresses(reply: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in reply.answer for rd in rrset)


# -- relaying ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True])
async def test_relay_keeps_the_clients_id_and_case(upstream: ScriptedResolver, tcp: bool) -> None:
    async with serving([upstream]) as rig:
        reply = await rig.ask("WwW.ExAmple.TEST", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.question[0].name.to_text() == "WwW.ExAmple.TEST."
        assert reply.answer[0].name.to_text() == "WwW.ExAmple.TEST."  # owner compressed to the question
        assert _addresses(reply) == ["192.0.2.1"] and reply.answer[0].ttl == 300
        assert reply.flags & dns.flags.RA and reply.flags & dns.flags.RD and not reply.flags & dns.flags.AA
        assert upstream.seen[-1].name == WWW  # asked upstream in lower case, over the client's transport
        assert upstream.seen[-1].transport == ("tcp" if tcp else "udp")
        assert rig.forwarder.stats.responses == {0: 1}


async def test_the_plain_udp_loop_forwards_too(upstream: ScriptedResolver) -> None:
    async with serving([upstream], batch=1) as rig:
        assert _addresses(await rig.ask(WWW)) == ["192.0.2.1"]
        assert rig.server.counters.answered == 1


async def test_edns_size_and_do_go_upstream(upstream: ScriptedResolver) -> None:
    async with serving([upstream]) as rig:
        reply = await rig.ask(WWW, use_edns=0, payload=1232, want_dnssec=True)
        assert reply.edns == 0 and reply.payload == 1232 and reply.ednsflags & dns.flags.DO
        assert (upstream.seen[-1].edns, upstream.seen[-1].do) == (1232, True)
        await rig.ask(WWW, "AAAA")
        assert (upstream.seen[-1].edns, upstream.seen[-1].do) == (0, False)  # no OPT: none upstream


async def test_truncated_upstream_reply_is_asked_again_over_tcp(upstream: ScriptedResolver) -> None:
    async with serving([upstream]) as rig:
        small = await rig.ask("big.example.test")  # no EDNS: 512 bytes
        assert [s.transport for s in upstream.seen] == ["udp", "tcp"]
        assert small.flags & dns.flags.TC and len(small.to_wire()) <= 512 and 0 < len(small.answer[0]) < 60
        assert rig.forwarder.stats.upstreams[upstream.address].tcp_retries == 1
        full = await rig.ask("big.example.test", use_edns=0, payload=4096)  # the cached full answer
        assert not full.flags & dns.flags.TC and len(full.answer[0]) == 60
        tcp = await rig.ask("big.example.test", tcp=True)
        assert len(tcp.answer[0]) == 60
        assert upstream.count("big.example.test") == 2  # one UDP + one TCP, then the cache


# -- the cache ---------------------------------------------------------------------------------------------


async def test_cache_hit_and_ttl_decrement(upstream: ScriptedResolver) -> None:
    async with serving([upstream]) as rig:
        assert (await rig.ask(WWW)).answer[0].ttl == 300
        rig.clock.now += 100
        again = await rig.ask(WWW.upper())
        assert again.answer[0].ttl == 200 and again.question[0].name.to_text() == WWW.upper() + "."
        assert (await rig.ask(WWW, tcp=True)).answer[0].ttl == 200
        assert upstream.count(WWW) == 1
        assert (rig.forwarder.cache.hits, rig.forwarder.cache.misses, len(rig.forwarder.cache)) == (2, 1, 1)
        rig.clock.now += 200  # expired
        assert (await rig.ask(WWW)).answer[0].ttl == 300
        assert upstream.count(WWW) == 2


async def test_ttls_are_capped(upstream: ScriptedResolver) -> None:
    async with serving([upstream], cache=CachePolicy(max_ttl=60)) as rig:
        assert (await rig.ask(WWW)).answer[0].ttl == 60
        rig.clock.now += 61
        await rig.ask(WWW)
        assert upstream.count(WWW) == 2


async def test_negative_answers_are_cached_by_the_soa(upstream: ScriptedResolver) -> None:
    upstream.negative_ttl = 60
    async with serving([upstream]) as rig:
        nx = await rig.ask("nope.example.test")
        assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
        rig.clock.now += 20
        nx = await rig.ask("nope.example.test")
        assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].ttl == 40
        nodata = await rig.ask("short.example.test", "AAAA")
        assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
        await rig.ask("short.example.test", "AAAA")
        assert upstream.count("nope.example.test") == 1 and upstream.count("short.example.test") == 1
        rig.clock.now += 41
        await rig.ask("nope.example.test")
        assert upstream.count("nope.example.test") == 2


async def test_identical_queries_share_one_upstream_query(upstream: ScriptedResolver) -> None:
    upstream.delay = 0.2
    async with serving([upstream]) as rig:
        replies = await asyncio.gather(*(rig.ask(WWW) for _ in range(5)))
        assert all(_addresses(r) == ["192.0.2.1"] for r in replies)
        assert upstream.count(WWW) == 1 and rig.forwarder.stats.coalesced == 4


async def test_serve_stale_when_every_upstream_fails(upstream: ScriptedResolver) -> None:
    upstream.add("short2.example.test. 10 IN A 192.0.2.11")
    async with serving([upstream], cache=CachePolicy(stale=30)) as rig:
        loop = asyncio.get_running_loop()
        assert (await rig.ask("short.example.test")).answer[0].ttl == 10
        await rig.ask("short2.example.test")
        rig.clock.now += 15  # expired, inside the stale window
        upstream.mode = DROP
        stale = await rig.ask("short.example.test")  # after the upstream timed out
        assert stale.rcode() == dns.rcode.NOERROR and _addresses(stale) == ["192.0.2.10"]
        assert stale.answer[0].ttl == 30 and rig.forwarder.stats.stale == 1
        await rig.ask("short2.example.test")  # a second timeout: the upstream is down
        asked, started = upstream.count("short.example.test"), loop.time()
        again = await rig.ask("short.example.test")  # every upstream down: stale at once
        assert _addresses(again) == ["192.0.2.10"] and loop.time() - started < 0.2
        assert upstream.count("short.example.test") == asked
        rig.clock.now += 30  # beyond the window
        assert (await rig.ask("short.example.test")).rcode() == dns.rcode.SERVFAIL


# -- failures and failover ---------------------------------------------------------------------------------


async def test_timeout_failover_and_health(
    upstream: ScriptedResolver, spare: Callable[[], Awaitable[ScriptedResolver]]
) -> None:
    bad = await spare()
    bad.mode = DROP
    async with serving([bad, upstream]) as rig:
        loop = asyncio.get_running_loop()
        health = rig.forwarder.health[Upstream(bad.host, bad.port)]
        stats = rig.forwarder.stats.upstreams[bad.address]
        for name in (WWW, "short.example.test"):  # `bad` first, times out; the next upstream answers
            assert (await rig.ask(name)).rcode() == dns.rcode.NOERROR
        assert (stats.failures, stats.timeouts) == (2, 2) and health.down  # two in a row: down
        started = loop.time()
        assert _addresses(await rig.ask(WWW, "AAAA")) == ["2001:db8::1"]
        assert loop.time() - started < 0.3  # no timeout spent on the down upstream ...
        assert bad.count(WWW) == 1  # ... which was not asked
        bad.mode = ANSWER  # it recovers: a probe (`. NS`) brings it back
        await until(lambda: not health.down)
        assert stats.probes >= 1 and bad.count("") >= 1
        reply = await rig.ask("big.example.test", use_edns=0, payload=4096)
        assert bad.seen[-1].name == "big.example.test" and reply.rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("modes", [(SERVFAIL,), (SERVFAIL, REFUSED), (DROP, SERVFAIL)])
async def test_servfail_when_every_upstream_fails(
    modes: tuple[str, ...], spare: Callable[[], Awaitable[ScriptedResolver]]
) -> None:
    resolvers = [await spare() for _ in modes]
    for resolver, mode in zip(resolvers, modes, strict=True):
        resolver.mode = mode
    async with serving(resolvers) as rig:
        reply = await rig.ask(WWW, use_edns=0, payload=1232)
        assert reply.rcode() == dns.rcode.SERVFAIL and reply.edns == 0
        assert all(r.count(WWW) == 1 for r in resolvers)  # each tried once
        assert rig.forwarder.stats.responses == {2: 1}
        assert len(rig.forwarder.cache) == 0


async def test_an_upstream_that_is_not_there_fails_fast(upstream: ScriptedResolver) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        closed = probe.getsockname()[1]
    gone = ScriptedResolver(port=closed)  # never started: ICMP port unreachable
    async with serving([gone, upstream], timeout=5.0) as rig:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert _addresses(await rig.ask(WWW)) == ["192.0.2.1"]
        assert loop.time() - started < 2.0
        assert rig.forwarder.stats.upstreams[gone.address].failures == 1


async def test_the_udp_thread_keeps_answering_while_an_upstream_is_slow(upstream: ScriptedResolver) -> None:
    upstream.delay = 1.0
    async with serving([upstream], timeout=3.0) as rig:
        slow = asyncio.create_task(rig.ask(WWW))
        await until(lambda: upstream.count(WWW) == 1)
        cluster = await rig.ask("web-0.nginx.default.svc.cluster.local")
        assert _addresses(cluster) == ["10.244.0.10"] and not slow.done()
        assert _addresses(await slow) == ["192.0.2.1"]


# -- who may recurse, and where names go --------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True])
async def test_clients_outside_the_acl_are_refused(upstream: ScriptedResolver, tcp: bool) -> None:
    async with serving([upstream], allow=("127.0.0.1/32",)) as rig:
        refused = await rig.ask(WWW, tcp=tcp, source="127.0.0.2")
        assert refused.rcode() == dns.rcode.REFUSED and not refused.flags & dns.flags.RA
        cluster = await rig.ask("web-0.nginx.default.svc.cluster.local", tcp=tcp, source="127.0.0.2")
        assert _addresses(cluster) == ["10.244.0.10"]  # cluster names for anyone
        ptr = await rig.ask("7.2.0.192.in-addr.arpa", "PTR", tcp=tcp, source="127.0.0.2")
        assert ptr.rcode() == dns.rcode.NXDOMAIN and ptr.flags & dns.flags.AA  # our own negative answer
        assert upstream.count() == 0 and rig.forwarder.stats.refused == 2
        allowed = await rig.ask(WWW, tcp=tcp, source="127.0.0.1")
        assert _addresses(allowed) == ["192.0.2.1"]


async def test_stub_domains_longest_suffix_wins(
    upstream: ScriptedResolver, spare: Callable[[], Awaitable[ScriptedResolver]]
) -> None:
    corp, lab = await spare(), await spare()
    corp.add("www.corp.test. 60 IN A 192.0.2.20")
    lab.add("www.lab.corp.test. 60 IN A 192.0.2.30")
    async with serving([upstream], {"corp.test": [corp], "lab.corp.test": [lab]}) as rig:
        assert _addresses(await rig.ask("WWW.corp.test")) == ["192.0.2.20"]
        assert _addresses(await rig.ask("www.lab.corp.test")) == ["192.0.2.30"]
        assert _addresses(await rig.ask(WWW)) == ["192.0.2.1"]
        assert (corp.count(), lab.count(), upstream.count()) == (1, 1, 1)


async def test_only_stub_domains_refuse_other_names(spare: Callable[[], Awaitable[ScriptedResolver]]) -> None:
    corp = await spare()
    corp.add("www.corp.test. 60 IN A 192.0.2.20")
    async with serving([], {"corp.test": [corp]}) as rig:
        assert _addresses(await rig.ask("www.corp.test")) == ["192.0.2.20"]
        assert (await rig.ask(WWW)).rcode() == dns.rcode.REFUSED
        ptr = await rig.ask("7.2.0.192.in-addr.arpa", "PTR")
        assert ptr.rcode() == dns.rcode.NXDOMAIN and ptr.flags & dns.flags.AA
        assert corp.count() == 1


async def test_reverse_names_fall_through_for_ips_outside_the_cluster(upstream: ScriptedResolver) -> None:
    async with serving([upstream]) as rig:
        outside = await rig.ask("7.2.0.192.IN-ADDR.arpa", "PTR")
        assert [rd.to_text() for rd in outside.answer[0]] == ["host.example.test."]
        assert not outside.flags & dns.flags.AA
        inside = await rig.ask("10.0.244.10.in-addr.arpa", "PTR")
        assert [rd.to_text() for rd in inside.answer[0]] == ["web-0.nginx.default.svc.cluster.local."]
        assert inside.flags & dns.flags.AA and inside.answer[0].ttl == 5
        apex = await rig.ask("in-addr.arpa", "SOA")
        assert apex.flags & dns.flags.AA and apex.answer  # the reverse zone itself stays ours
        assert [s.name for s in upstream.seen] == ["7.2.0.192.in-addr.arpa"]


async def test_cluster_answers_are_unchanged(upstream: ScriptedResolver) -> None:
    async with serving([upstream]) as rig:
        forwarded = set()
        for case in (c for c in CASES if c.settings == "default"):
            for tcp in (False, True):
                reply = await rig.ask(case.name, case.qtype, tcp=tcp, use_edns=0, payload=1232)
                if case.rcode == 5 or (case.rcode == 3 and case.name.endswith(".arpa")):
                    forwarded.add(case.name)  # outside the zones, or a reverse name for no cluster IP
                    assert not reply.flags & dns.flags.AA
                else:
                    check(case, reply, FIXED_NOW)
        assert forwarded == {
            "example.com",
            "notcluster.local",
            "12.2.244.10.in-addr.arpa",
            "1.1.1.1.in-addr.arpa",
        }
        assert {s.name for s in upstream.seen} == forwarded


async def test_ipv6_listen_and_upstream() -> None:
    try:
        resolver = await ScriptedResolver(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    resolver.add(f"{WWW}. 300 IN A 192.0.2.6")
    try:
        async with serving([resolver], host="::1") as rig:
            assert _addresses(await rig.ask(WWW)) == ["192.0.2.6"]
            assert _addresses(await rig.ask(WWW, tcp=True)) == ["192.0.2.6"]
    finally:
        await resolver.stop()


async def test_a_forwarding_loop_is_not_multiplied() -> None:
    port = free_port()
    own = Upstream(HOST, port)
    forwarder = Forwarder(ForwardConfig(Routes([own]), timeout=0.3), clock=FakeClock())
    server = DnsServer(_zone(), [(HOST, port)], forwarder=forwarder)
    await server.start()
    try:
        rig = Rig(server, forwarder, FakeClock())
        assert (await rig.ask(WWW)).rcode() == dns.rcode.SERVFAIL
        stats = forwarder.stats
        assert stats.upstreams[str(own)].queries == 1  # our own query came back and joined the first
        assert stats.coalesced == 1 and stats.requests == 2
    finally:
        await server.stop()
