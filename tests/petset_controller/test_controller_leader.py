"""Leader election on a Lease against the local API server: one writer at a time, takeover, fencing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import LEASES
from localcluster.apiserver.server import ApiServer
from petset_controller.runtime.events import Fenced
from petset_controller.runtime.leader import LeaderElector, LeadershipLost, LeaseConfig
from tests.petset_controller.harness import Harness, Running, eventually, harness, petset
from tests.support.faultproxy import FaultProxy

FAST = {"lease_duration": 2.0, "renew_deadline": 1.2, "retry_period": 0.2}


@dataclass
class Clock:
    """A monotonic clock a test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_lease_fencing_takeover_and_release(server: ApiServer) -> None:
    config = LeaseConfig(name="lock", namespace="kube-system", lease_duration=15, renew_deadline=10)
    clocks = {"a": Clock(), "b": Clock()}
    async with Client(Connection(server.url)) as client:
        a = LeaderElector(client, replace(config, identity="a"), monotonic=clocks["a"])
        b = LeaderElector(client, replace(config, identity="b"), monotonic=clocks["b"])
        assert await a.try_acquire_or_renew() and a.holding()
        assert not await b.try_acquire_or_renew()  # a's lease is valid in b's eyes
        clocks["a"].now += 9.9
        a.gate("create", "Pod", "web-0")  # still within the renew deadline
        clocks["a"].now += 0.2
        with pytest.raises(Fenced):
            a.gate("create", "Pod", "web-0")  # past it: a must not write even before anyone took over
        clocks["b"].now += 14.9
        assert not await b.try_acquire_or_renew()
        clocks["b"].now += 0.2
        assert await b.try_acquire_or_renew() and b.holding()  # a never renewed: expired for b
        lease = await client.get(LEASES, "kube-system", "lock")
        assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
        assert not await a.try_acquire_or_renew()
        await b.release()
        assert not b.holding()
        assert await a.try_acquire_or_renew()  # released: no need to wait for expiry
        lease = await client.get(LEASES, "kube-system", "lock")
        assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("a", 2)


def test_timing_rules() -> None:
    assert LeaseConfig(identity="x").problems() == []
    assert LeaseConfig(identity="x", lease_duration=5, renew_deadline=10).problems()
    assert LeaseConfig(identity="x", renew_deadline=2, retry_period=2).problems()


@dataclass
class Writes:
    """Every write each replica let through its gate, with the loop time."""

    log: list[tuple[str, float, str]] = field(default_factory=list)

    def recorder(self, who: str) -> object:
        def note(verb: str, kind: str, name: str) -> None:
            self.log.append((who, asyncio.get_running_loop().time(), f"{verb} {kind} {name}"))

        return note

    def times(self, who: str) -> list[float]:
        return [t for w, t, _ in self.log if w == who]


def candidate(h: Harness, who: str, *, writes: Writes, client: Client | None = None, **kw: object) -> Running:
    config = LeaseConfig(identity=who, **FAST)  # type: ignore[arg-type]
    return h.start(
        elector=lambda c: LeaderElector(client or c, config),
        on_write=writes.recorder(who),
        config=kw,
    )


async def test_two_replicas_race_one_writes_then_the_other_takes_over() -> None:
    writes = Writes()
    async with harness(ready_after=1) as h:
        racers = {who: candidate(h, who, writes=writes) for who in ("a", "b")}  # started together
        await h.create(petset(replicas=4))
        await eventually(lambda: any(r.controller.leading for r in racers.values()))
        leader = next(who for who, r in racers.items() if r.controller.leading)
        standby = "b" if leader == "a" else "a"
        await h.run_until(lambda: len(h.invariants.ready()) >= 2)
        assert not racers[standby].controller.leading and writes.times(standby) == []
        assert await racers[leader].stop() is None  # a clean stop releases the lease
        stopped = asyncio.get_running_loop().time()
        await eventually(lambda: racers[standby].controller.leading, timeout=3)
        await h.run_until(lambda: len(h.invariants.ready()) == 4)
        first, second = writes.times(leader), writes.times(standby)
        assert first and second and max(first) < stopped < min(second)
        lease = await h.client.get(LEASES, "kube-system", "petset-controller")
        assert lease["spec"]["holderIdentity"] == standby and lease["spec"]["leaseTransitions"] == 1
        assert h.invariants.created == [f"web-{i}" for i in range(4)]


async def test_crashed_leader_is_replaced_only_after_its_lease_expires() -> None:
    writes = Writes()
    async with harness(ready_after=1) as h:
        a = candidate(h, "a", writes=writes, release_on_stop=False)
        await eventually(lambda: a.controller.leading)
        b = candidate(h, "b", writes=writes)
        await h.create(petset(replicas=3))
        await h.run_until(lambda: len(h.invariants.ready()) >= 1)
        await a.stop()  # no release: b must wait out the lease
        killed = asyncio.get_running_loop().time()
        await eventually(lambda: b.controller.leading, timeout=5)
        await h.run_until(lambda: len(h.invariants.ready()) == 3)
        assert min(writes.times("b")) - killed > FAST["lease_duration"] - 2 * FAST["retry_period"]
        assert max(writes.times("a")) < killed


async def test_leader_cut_off_from_the_api_stops_before_the_other_starts() -> None:
    writes = Writes()
    async with harness(ready_after=1) as h:
        proxy = FaultProxy(h.server.url)
        await proxy.start()
        cut_off = Client(Connection(proxy.url), retries=0, timeout=0.3)
        try:
            a = candidate(h, "a", writes=writes, client=cut_off)
            await eventually(lambda: a.controller.leading)
            b = candidate(h, "b", writes=writes)
            await h.create(petset(replicas=3))
            await h.run_until(lambda: len(h.invariants.ready()) >= 1)
            proxy.faults.down = True
            outcome = await asyncio.wait_for(asyncio.gather(a.task, return_exceptions=True), timeout=5)
            assert isinstance(outcome[0], LeadershipLost)
            await eventually(lambda: b.controller.leading, timeout=5)
            await h.run_until(lambda: len(h.invariants.ready()) == 3)
            assert max(writes.times("a")) < min(writes.times("b"))
            assert h.invariants.created == ["web-0", "web-1", "web-2"]
        finally:
            await cut_off.close()
            await proxy.stop()
