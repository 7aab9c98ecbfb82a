"""Forwarding names the zones do not answer: ACL, response cache, coalescing, failover, health probes.

The transports call `admit` first (any thread: routing, ACL, a fresh cache hit, all without waiting),
then, on the event loop, `submit` or `resolve` for what must be fetched. Identical queries waiting on
an upstream share one fetch; beyond `max_concurrent` fetches in flight a new one is REFUSED (as
CoreDNS's forward does). Upstreams are tried in `health.plan` order, each with its own timeout, over
the client's transport (UDP first with `prefer_udp`, TCP always with `force_tcp`); a truncated UDP
reply is asked again over TCP; SERVFAIL, REFUSED and other errors move on to the next upstream; when
none answers, an expired cache entry within the serve-stale window is used, else SERVFAIL. A popular
cache entry close to expiring is fetched again in the background (`CachePolicy.prefetch`). Counters
are plain attributes: `stats` here and the hit/miss counters of `cache`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from petdns.dns.constants import NOERROR, NXDOMAIN, REFUSED, SERVFAIL
from petdns.forward import exchange, relay
from petdns.forward.acl import DEFAULT_RECURSION, Acl
from petdns.forward.loop import LoopProbe
from petdns.forward.relay import STALE_TTL, ClientQuery, Reply
from petdns.forward.response_cache import CachePolicy, ResponseCache
from petdns.forward.stats import ForwardStats, UpstreamStats
from petdns.forward.upstream_health import POLICIES, Health, HealthPolicy, plan
from petdns.forward.upstreams import Routes, Upstream
from petdns.serve.tally import ACL, CACHE, FORWARD, KUBERNETES, NO_PLUGIN, Histogram

log = logging.getLogger("petdns.forward")
MAX_CACHED_BYTES: Final = 16384  # larger answers are relayed but not kept

Deliver = Callable[[bytes], None]
_Waiter = tuple[ClientQuery, Deliver, bool]
_Outcome = tuple[Reply | None, bool]  # (reply, stale); (None, False) is SERVFAIL


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """Where names go (`routes`), who may ask (`allow`, CIDRs), the per-upstream timeout in seconds,
    the upstream order policy (`sequential`, `random` or `round_robin`), the cache and the health
    policies; fetches in flight at once (`max_concurrent`, 0: unbounded); the upstream transport
    (`force_tcp`, `prefer_udp`; else the client's); `expire`: how long an idle upstream connection may
    be reused (connections are not pooled: each exchange has its own socket, so none outlives it)."""

    routes: Routes
    allow: tuple[str, ...] = DEFAULT_RECURSION
    timeout: float = 2.0
    policy: str = "sequential"
    cache: CachePolicy = field(default_factory=CachePolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    max_concurrent: int = 0
    force_tcp: bool = False
    prefer_udp: bool = False
    expire: float = 10.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 0 or self.expire < 0:
            raise ValueError("max_concurrent and expire must not be negative")
        if not 0 < self.timeout <= 60:
            raise ValueError(f"upstream timeout {self.timeout} is outside (0, 60] seconds")
        if self.policy not in POLICIES:
            raise ValueError(f"upstream policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        Acl(self.allow)  # malformed networks fail here, at configuration time


class Forwarder:
    """Answers names outside the zones from the cache or the upstreams; `clock` is monotonic seconds.

    `stats` continues the counters of a forwarder this one replaces (a configuration reload).
    """

    def __init__(
        self,
        config: ForwardConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        stats: ForwardStats | None = None,
    ) -> None:
        self.config = config
        self.routes = config.routes
        self.acl = Acl(config.allow)
        self.cache: ResponseCache[Reply] = ResponseCache(config.cache)
        self.health = {u: Health(config.health) for u in self.routes.upstreams}
        self.stats = stats if stats is not None else ForwardStats()
        for upstream in self.routes.upstreams:
            self.stats.upstreams.setdefault(str(upstream), UpstreamStats())
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # the cache is shared by the UDP threads and the event loop
        self._inflight: dict[bytes, list[_Waiter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[Upstream, asyncio.TimerHandle] = {}
        self._closed = False
        self._turn = 0  # round_robin: where the next query starts
        self._loop: asyncio.AbstractEventLoop | None = None  # known from the first fetch on
        self.loop_probe: LoopProbe | None = None  # counts the probe of the loop detection

    # -- any thread ----------------------------------------------------------------------------------

    def admit(
        self, q: ClientQuery, host: str, local: bytes | None = None, *, tcp: bool = False
    ) -> bytes | None:
        """The reply to send now, or None when the answer must be fetched (`submit`, `resolve`).

        Names no upstream serves, and clients outside the ACL, get `local` (REFUSED when not given);
        allowed clients get a fresh cache entry when there is one.
        """
        return self.screen(q, host, local, tcp=tcp)[0]

    def screen(
        self, q: ClientQuery, host: str, local: bytes | None = None, *, tcp: bool = False
    ) -> tuple[bytes | None, str]:
        """`admit`, and who answered, as the `plugin` label of the response metrics: `cache` for a
        cache hit, `acl` for a client refused recursion, `""` when no upstream serves the name (or
        `kubernetes` when `local` is the zones' own answer, a reverse NXDOMAIN); `forward` with None."""
        if not self.routes.route(q.name):
            return self._local(q, local, NO_PLUGIN)
        probe = self.loop_probe
        if probe is not None and q.name == probe.wire:
            probe.seen(q.name, host)
            if probe.detected:  # the loop is not fed any further
                return self._count(relay.error(q, SERVFAIL)), NO_PLUGIN
        if not self.acl.allows(host):
            self.stats.refused += 1
            return self._local(q, local, ACL)
        self.stats.requests += 1
        now = self._clock()
        with self._lock:
            hit = self.cache.get(q.key, now)
            due = hit is not None and self.cache.prefetch_due(q.key, now)
        if hit is None:
            return None, FORWARD
        if due and self._loop is not None:
            self._loop.call_soon_threadsafe(self._prefetch, q)
        return self._count(hit[0].render(q, age=hit[1], tcp=tcp)), CACHE

    @staticmethod
    def _local(q: ClientQuery, local: bytes | None, plugin: str) -> tuple[bytes, str]:
        if local is None:
            return relay.error(q, REFUSED, recursion=False), plugin
        return local, plugin if local[3] & 0x0F == REFUSED else KUBERNETES

    # -- the event loop ------------------------------------------------------------------------------

    def submit(self, q: ClientQuery, deliver: Deliver, *, tcp: bool = False) -> None:
        """Answer an admitted query through `deliver`, joining an identical query in flight."""
        self._loop = asyncio.get_running_loop()
        probe = self.loop_probe
        if probe is not None and q.name == probe.wire and not self._closed:
            self._start(self._direct(q, deliver, tcp))  # never coalesced: each pass through a loop counts
            return
        waiters = self._inflight.get(q.key)
        if waiters is not None:
            waiters.append((q, deliver, tcp))
            self.stats.coalesced += 1
            return
        with self._lock:  # filled since `admit` looked?
            hit = self.cache.get(q.key, self._clock(), count=False)
        if hit is not None:
            deliver(self._count(hit[0].render(q, age=hit[1], tcp=tcp)))
            return
        if self._closed:
            deliver(self._count(relay.error(q, SERVFAIL)))
            return
        if self.config.max_concurrent and len(self._inflight) >= self.config.max_concurrent:
            self.stats.max_concurrent_rejects += 1
            deliver(self._count(relay.error(q, REFUSED)))
            return
        self._inflight[q.key] = [(q, deliver, tcp)]
        self._start(self._fetch(q, tcp))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _prefetch(self, q: ClientQuery) -> None:
        """Fetch a popular entry again before it expires (no client waits for it)."""
        busy = self.config.max_concurrent and len(self._inflight) >= self.config.max_concurrent
        if self._closed or busy or q.key in self._inflight:
            return
        self._inflight[q.key] = []
        self._start(self._fetch(q, False))

    async def _direct(self, q: ClientQuery, deliver: Deliver, tcp: bool) -> None:
        reply, _ = await self._ask(q, tcp)
        out = relay.error(q, SERVFAIL) if reply is None else reply.render(q, tcp=tcp)
        deliver(self._count(out))

    async def resolve(self, q: ClientQuery, *, tcp: bool = False) -> bytes:
        """`submit`, awaited."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def deliver(reply: bytes) -> None:
            if not future.done():
                future.set_result(reply)

        self.submit(q, deliver, tcp=tcp)
        return await future

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the fetches in flight (pending probes are dropped); True
        when none is left."""
        self._cancel_probes()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._tasks), timeout=left)
        return True

    def _cancel_probes(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def stop(self) -> None:
        """Cancel probes and fetches; queries still waiting get SERVFAIL."""
        self._closed = True
        self._cancel_probes()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch(self, q: ClientQuery, over_tcp: bool) -> None:
        outcome: _Outcome = (None, False)
        try:
            outcome = await self._ask(q, over_tcp)
        finally:
            for waiter, deliver, tcp in self._inflight.pop(q.key, []):
                reply, stale = outcome
                if reply is None:
                    out = relay.error(waiter, SERVFAIL)
                else:
                    out = reply.render(waiter, tcp=tcp, ttl=STALE_TTL if stale else None)
                try:
                    deliver(self._count(out))
                except Exception:
                    log.exception("delivering a forwarded answer")

    async def _ask(self, q: ClientQuery, tcp: bool) -> _Outcome:
        self._turn += 1
        config = self.config
        order = plan(
            self.routes.route(q.name), self.health, policy=config.policy, rng=self._rng, turn=self._turn
        )
        over_tcp = config.force_tcp or (tcp and not config.prefer_udp)
        if order and self.health[order[0]].down:  # every one is down: a stale answer now beats timeouts first
            self.stats.all_down += 1
            stale = self._stale(q)
            if stale is not None:
                return stale, True
        for upstream in order:
            stats = self.stats.upstreams[str(upstream)]
            query = relay.upstream_query(q, secrets.token_bytes(2))
            stats.queries += 1
            started = self._clock()
            try:
                if over_tcp:
                    data = await exchange.tcp(upstream, query, self.config.timeout)
                else:
                    data = await exchange.udp(upstream, query, self.config.timeout)
                if not over_tcp and relay.truncated(data):
                    stats.tcp_retries += 1
                    data = await exchange.tcp(upstream, query, self.config.timeout)
                reply = relay.parse_reply(data, query)
            except (TimeoutError, OSError, relay.BadReply) as err:
                stats.failures += 1
                stats.timeouts += isinstance(err, TimeoutError)
                log.debug("upstream %s failed: %r", upstream, err)
                self._failed(upstream)
                continue
            stats.replies += 1
            stats.rcodes[reply.rcode] = stats.rcodes.get(reply.rcode, 0) + 1
            took = stats.durations.get(reply.rcode)
            if took is None:
                took = stats.durations[reply.rcode] = Histogram()
            took.observe(self._clock() - started)
            self.health[upstream].success()
            if reply.rcode not in (NOERROR, NXDOMAIN):
                stats.error_rcodes += 1
                continue
            return self._keep(q, reply), False
        stale = self._stale(q)
        return (stale, True) if stale is not None else (None, False)

    def _stale(self, q: ClientQuery) -> Reply | None:
        with self._lock:
            stale = self.cache.stale(q.key, self._clock())
        if stale is not None:
            self.stats.stale += 1
        return stale

    def _keep(self, q: ClientQuery, reply: Reply) -> Reply:
        """Cap the reply's TTLs and cache it when its records allow."""
        policy = self.cache.policy
        ttl = reply.cache_ttl()
        if ttl is None:
            return reply.clamped(0, policy.max_ttl)
        lifetime = policy.lifetime(ttl, negative=reply.negative)
        kept = reply.clamped(policy.floor(negative=reply.negative), lifetime)
        if len(kept.body) <= MAX_CACHED_BYTES:
            with self._lock:
                self.cache.put(q.key, kept, lifetime, self._clock(), negative=reply.negative)
        return kept

    def _count(self, reply: bytes) -> bytes:
        rcode = reply[3] & 0xF
        self.stats.responses[rcode] = self.stats.responses.get(rcode, 0) + 1
        return reply

    # -- health probes -------------------------------------------------------------------------------

    def _failed(self, upstream: Upstream) -> None:
        health = self.health[upstream]
        if health.failure(self._clock()):
            log.warning("upstream %s is down after %d failures; probing it", upstream, health.fails)
            self._schedule_probe(upstream)

    def _schedule_probe(self, upstream: Upstream) -> None:
        if self._closed:
            return
        delay = max(0.0, self.health[upstream].probe_at - self._clock())
        self._timers[upstream] = asyncio.get_running_loop().call_later(delay, self._start_probe, upstream)

    def _start_probe(self, upstream: Upstream) -> None:
        self._timers.pop(upstream, None)
        task = asyncio.get_running_loop().create_task(self._probe(upstream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, upstream: Upstream) -> None:
        """`. NS` to a down upstream: any reply brings it back, silence doubles the wait."""
        health = self.health[upstream]
        if not health.down:
            return
        self.stats.upstreams[str(upstream)].probes += 1
        send = exchange.tcp if self.config.force_tcp else exchange.udp  # as queries go, as CoreDNS does
        try:
            await send(upstream, relay.probe_query(secrets.token_bytes(2)), self.config.timeout)
        except (TimeoutError, OSError):
            self.stats.upstreams[str(upstream)].probe_failures += 1
            health.probe_failed(self._clock())
            self._schedule_probe(upstream)
            return
        health.success()
        log.info("upstream %s answers again", upstream)
