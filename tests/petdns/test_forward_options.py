"""CoreDNS `forward` and `cache` options through the running server: max_concurrent, force_tcp,
prefer_udp, the policies, except, max_fails 0, prefetch, disable and the denial capacity. Upstreams are
scripted resolvers on loopback (they record each query and its transport); dnspython is the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.message
import dns.rcode
import pytest

from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.response_cache import CachePolicy
from petdns.forward.upstream_health import HealthPolicy
from petdns.forward.upstreams import Routes, parse_upstream
from tests.petdns.test_forward_server import WWW, serving
from tests.support.resolver import DROP, ScriptedResolver

Make = Callable[..., Awaitable[ScriptedResolver]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    started: list[ScriptedResolver] = []

    async def start(delay: float = 0.0, mode: str = "answer") -> ScriptedResolver:
        resolver = await ScriptedResolver(delay=delay, mode=mode).start()
        resolver.add(f"{WWW}. 300 IN A 192.0.2.1", "short.example.test. 10 IN A 192.0.2.10")
        resolver.add(*(f"n{i}.example.test. 300 IN A 192.0.2.{i}" for i in range(1, 30)))
        started.append(resolver)
        return resolver

    yield start
    for resolver in started:
        await resolver.stop()


def _rcodes(replies: list[dns.message.Message]) -> list[str]:
    return sorted(dns.rcode.to_text(r.rcode()) for r in replies)


async def test_max_concurrent_refuses_beyond_the_fetches_in_flight(make: Make) -> None:
    slow = await make(delay=0.4)
    async with serving([slow], timeout=2.0, max_concurrent=2) as rig:
        replies = await asyncio.gather(*(rig.ask(f"n{i}.example.test") for i in range(1, 5)))
        assert _rcodes(list(replies)) == ["NOERROR", "NOERROR", "REFUSED", "REFUSED"]
        assert rig.forwarder.stats.max_concurrent_rejects == 2
        assert slow.count() == 2  # the refused ones never went upstream
        # identical queries join the fetch in flight: they do not count against the cap
        same = await asyncio.gather(*(rig.ask("n9.example.test") for _ in range(4)))
        assert _rcodes(list(same)) == ["NOERROR"] * 4
        assert (await rig.ask("n1.example.test")).rcode() == dns.rcode.NOERROR  # cached: no fetch


async def test_force_tcp_asks_over_tcp_and_prefer_udp_over_udp(make: Make) -> None:
    upstream = await make()
    async with serving([upstream], force_tcp=True) as rig:
        assert (await rig.ask(WWW)).answer[0][0].to_text() == "192.0.2.1"
        assert [s.transport for s in upstream.seen] == ["tcp"]  # a UDP client, TCP upstream
    upstream.seen.clear()
    async with serving([upstream], prefer_udp=True) as rig:
        assert (await rig.ask(WWW, tcp=True)).answer[0][0].to_text() == "192.0.2.1"
        assert [s.transport for s in upstream.seen] == ["udp"]  # a TCP client, UDP upstream
    upstream.seen.clear()
    async with serving([upstream], force_tcp=True, prefer_udp=True) as rig:  # force_tcp wins
        await rig.ask(WWW, tcp=True)
        assert [s.transport for s in upstream.seen] == ["tcp"]


@pytest.mark.parametrize(
    ("policy", "spread"), [("sequential", [8, 0]), ("round_robin", [4, 4]), ("random", None)]
)
async def test_policies_spread_queries_over_two_upstreams(
    make: Make, policy: str, spread: list[int] | None
) -> None:
    first, second = await make(), await make()
    names = 20 if spread is None else 8
    async with serving([first, second], policy=policy) as rig:
        for i in range(1, names + 1):
            assert (await rig.ask(f"n{i}.example.test")).rcode() == dns.rcode.NOERROR
    counts = [first.count(), second.count()]
    if spread is None:
        assert sum(counts) == names and min(counts) > 0  # all on one: a chance of 2 in a million
    else:
        assert counts == spread


async def test_except_zones_are_not_forwarded(make: Make) -> None:
    upstream = await make()
    async with serving([upstream]) as rig:
        routes = Routes([parse_upstream(upstream.address)], {}, ("corp.example",))
        rig.server.set_forwarder(Forwarder(ForwardConfig(routes, timeout=0.3)))
        assert (await rig.ask("host.corp.example")).rcode() == dns.rcode.REFUSED
        assert (await rig.ask("corp.example", tcp=True)).rcode() == dns.rcode.REFUSED
        assert (await rig.ask(WWW)).rcode() == dns.rcode.NOERROR
        assert [s.name for s in upstream.seen] == [WWW]


async def test_max_fails_zero_never_takes_an_upstream_down(make: Make) -> None:
    silent, spare = await make(mode=DROP), await make()
    health = HealthPolicy(max_fails=0, backoff=0.2, max_backoff=0.2)
    async with serving([silent, spare], timeout=0.2, health=health) as rig:
        for i in range(1, 4):
            assert (await rig.ask(f"n{i}.example.test")).rcode() == dns.rcode.NOERROR
        assert silent.count() == 3  # still asked first every time
        assert not rig.forwarder.health[next(iter(rig.forwarder.health))].down


async def test_prefetch_fetches_a_popular_entry_before_it_expires(make: Make) -> None:
    upstream = await make()
    cache = CachePolicy(prefetch=2, prefetch_window=60, prefetch_percentage=50)
    async with serving([upstream], cache=cache) as rig:
        name = "short.example.test"  # TTL 10
        assert (await rig.ask(name)).answer[0].ttl == 10
        rig.clock.now += 2  # 8 s left: above 50 %
        await rig.ask(name)
        await rig.ask(name)
        assert upstream.count(name) == 1
        rig.clock.now += 4  # 4 s left, asked twice in the window: fetched again in the background
        assert (await rig.ask(name)).answer[0].ttl == 4
        await asyncio.wait_for(_until(lambda: upstream.count(name) == 2), 5)
        await asyncio.sleep(0.05)
        assert (await rig.ask(name)).answer[0].ttl == 10  # the fresh entry
        assert rig.forwarder.cache.prefetches == 1


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_disable_success_and_denial(make: Make) -> None:
    upstream = await make()
    async with serving([upstream], cache=CachePolicy(disable_success=True)) as rig:
        for _ in range(2):
            await rig.ask(WWW)
            await rig.ask("nope.example.test")
        assert upstream.count(WWW) == 2 and upstream.count("nope.example.test") == 1
    upstream.seen.clear()
    async with serving([upstream], cache=CachePolicy(disable_denial=True)) as rig:
        for _ in range(2):
            await rig.ask(WWW)
            assert (await rig.ask("nope.example.test")).rcode() == dns.rcode.NXDOMAIN
        assert upstream.count(WWW) == 1 and upstream.count("nope.example.test") == 2


async def test_denial_has_its_own_capacity_and_floor(make: Make) -> None:
    upstream = await make()
    cache = CachePolicy(size=10, denial_size=1, denial_min_ttl=120, max_negative_ttl=1800)
    async with serving([upstream], cache=cache) as rig:
        await rig.ask(WWW)
        first = await rig.ask("nope1.example.test")
        assert first.authority[0].ttl == 120  # the SOA's 60 s raised to the denial floor
        await rig.ask("nope2.example.test")  # evicts nope1: one denial at most
        await rig.ask("nope1.example.test")
        await rig.ask(WWW)
        assert upstream.count("nope1.example.test") == 2 and upstream.count(WWW) == 1
        assert rig.forwarder.cache.negative_evictions >= 1
