"""The shell's parts: action batches, cache routing, expectations, idempotent writes, sync outcomes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.errors import Conflict
from kubeapi.paths import CONTROLLER_REVISIONS, PERSISTENT_VOLUME_CLAIMS, PETSETS, PODS
from kubeapi.store import Change, Store
from localcluster.apiserver.server import ApiServer
from petset_controller.core.actions import (
    Action,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    Event,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.batches import batch_sizes, split, units
from petset_controller.core.identity import new_claim, new_pod
from petset_controller.core.model import Claim, OwnerRef, PetSet, Pod, Revision, petset_from_raw
from petset_controller.core.revision import new_revision
from petset_controller.runtime.controller import Controller
from petset_controller.runtime.events import EventRecorder, Fenced
from petset_controller.runtime.executor import Executor, Outcome, Target
from petset_controller.runtime.expectations import Expectations, pod_created
from petset_controller.runtime.informers import CachedSet, Informers, stem
from tests.petset_controller.harness import NS, petset

T = TypeVar("T")
WEB = petset_from_raw({**petset(replicas=3), "metadata": {"name": "web", "namespace": NS, "uid": "u-web"}})


def test_batch_sizes_double_up_to_the_cap() -> None:
    assert list(batch_sizes(10, grow=True)) == [1, 2, 4, 3]
    sizes = list(batch_sizes(1000, grow=True))
    assert sizes[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256] and sum(sizes) == 1000 and max(sizes) <= 500
    assert list(batch_sizes(3, grow=False)) == [1, 1, 1]


def test_split_and_units_keep_each_pets_writes_together() -> None:
    claim = UpdateClaimOwner("www-web-4", "c4", ())
    actions: list[Action] = [
        CreateRevision("web-x", {}),
        claim,
        UpdateClaimOwner("www-web-3", "c3", ()),
        Event("RecreatingFailedPet", "web-1 failed"),
        DeletePod("web-1", "p1", "Failed"),
        DeletePod("web-4", "p4", "ScaleDown"),
        CreateClaim("www-web-5", "web-5", {}),
        CreatePod("web-5", 5, {}),
        UpdateStatus(WEB.status),
        RequeueAfter(3.0),
    ]
    first, pets, last = split(actions)
    assert first == actions[:1] and last == actions[-2:]
    grouped = units(WEB, pets)
    assert [[type(a).__name__ for a in unit] for unit in grouped] == [
        ["UpdateClaimOwner", "DeletePod"],  # web-4: claim handed over before the pod goes
        ["UpdateClaimOwner"],  # web-3
        ["Event", "DeletePod"],  # web-1
        ["CreateClaim", "CreatePod"],  # web-5: claim before pod
    ]


def _pod(name: str, *, owner: str = "", labels: dict[str, str] | None = None) -> Pod:
    refs = (OwnerRef("petdns.dev/v1", "PetSet", "x", owner, controller=True),) if owner else ()
    return Pod(NS, name, uid=f"u-{name}", owner_refs=refs, labels=labels or {})


def _put(store: Store[T], value: T, name: str) -> list[Change[T]]:
    """Put a value into an informer's store as its reflector would; the change it reports."""
    change = store.put((NS, name), value)
    assert change is not None
    return [change]


def _remove(store: Store[T], name: str) -> list[Change[T]]:
    change = store.remove((NS, name))
    assert change is not None
    return [change]


def test_cache_routes_changes_to_the_sets_they_concern() -> None:
    cache = Informers()
    assert cache.on_sets(_put(cache.set_store, CachedSet(WEB, "1"), "web")) == {(NS, "web")}
    assert (stem("web-3"), stem("www-web-3"), stem("web"), stem("web-x")) == ("web", "www-web", "", "")
    assert cache.on_pods(_put(cache.pod_store, _pod("web-3"), "web-3")) == {(NS, "web")}  # by name
    assert cache.on_pods(_put(cache.pod_store, _pod("db-0", owner="u-web"), "db-0")) == {(NS, "web")}
    assert cache.on_pods(_put(cache.pod_store, _pod("db-1"), "db-1")) == set()
    claim = Claim(NS, "www-web-7", uid="c7")
    assert cache.on_claims(_put(cache.claim_store, claim, "www-web-7")) == {(NS, "web")}
    assert [c.name for c in cache.claims_of(WEB)] == ["www-web-7"]
    assert sorted(p.name for p in cache.pods_of((NS, "web"))) == ["web-3"]
    orphan = Revision(NS, "web-abc", labels={"app": "web"})
    assert cache.on_revisions(_put(cache.revision_store, orphan, "web-abc")) == {(NS, "web")}
    assert [r.name for r in cache.revisions_in(NS)] == ["web-abc"]
    assert cache.on_sets(_remove(cache.set_store, "web")) == {(NS, "web")}
    assert cache.on_pods(_remove(cache.pod_store, "web-3")) == set()  # the set is gone
    assert cache.pods_of((NS, "web")) == [] and len(cache.sets) == 0


def test_expectations_wait_until_seen_or_expired() -> None:
    cache, expectations, key = Informers(), Expectations(timeout=30), (NS, "web")
    expectations.expect(key, "pod web-0", seen=pod_created(NS, "web-0", uid="u-web-0"), now=100)
    assert expectations.wait(key, cache, now=101) == 29
    cache.on_pods(_put(cache.pod_store, _pod("web-0"), "web-0"))
    assert expectations.wait(key, cache, now=102) is None and expectations.count(key) == 0
    expectations.expect(key, "pod web-9", seen=pod_created(NS, "web-9", uid=""), now=100)
    assert expectations.wait(key, cache, now=131) is None and expectations.expired == 1


def executor(client: Client) -> Executor:
    return Executor(client, expectations=Expectations(), events=EventRecorder(client))


def _manifest(ordinal: int, owner: PetSet = WEB) -> dict[str, Any]:
    return new_pod(owner, ordinal, template=owner.spec.template, revision="web-rev")


async def _stored(client: Client, **spec: Any) -> PetSet:
    """A PetSet the server holds: pods it owns are not garbage (their owner exists)."""
    created = await client.create(
        PETSETS, NS, {**petset(**spec), "metadata": {"name": "web", "namespace": NS}}
    )
    return petset_from_raw(created)


async def test_writes_are_idempotent(server: ApiServer) -> None:
    async with Client(Connection(server.url)) as client:
        run = executor(client)
        web = await _stored(client, replicas=3)
        target = Target(web, "1")
        made = await client.create(PODS, NS, _manifest(0, web))
        claim = new_claim(web, web.spec.claim_templates[0], 0)
        await client.create(PERSISTENT_VOLUME_CLAIMS, NS, claim)
        revision = new_revision(web, template=web.spec.template, number=1, collision_count=0)
        await client.create(CONTROLLER_REVISIONS, NS, revision)
        again: list[Action] = [
            CreateClaim(claim["metadata"]["name"], "web-0", claim),  # exists: the one wanted
            CreatePod("web-0", 0, _manifest(0, web)),  # exists: the cache is behind
            DeletePod("web-1", "gone", "ScaleDown"),  # not there at all
            DeletePod("web-0", "an-older-web-0", "ScaleDown"),  # replaced: UID precondition fails
            UpdatePodLabels("web-0", "an-older-web-0", {"a": "b"}),  # replaced
        ]
        outcome = await run.execute(target, again)
        assert outcome.error is None and not outcome.stopped
        pod = await client.get(PODS, NS, "web-0")
        assert pod["metadata"]["uid"] == made["metadata"]["uid"] and "a" not in pod["metadata"]["labels"]
        clash = await run.execute(target, [CreateRevision(revision["metadata"]["name"], revision)])
        assert clash.stopped  # the next plan decides, once the cache shows whose it is


async def test_parallel_batches_stop_at_the_first_failure(server: ApiServer) -> None:
    async with Client(Connection(server.url)) as client:
        parallel = await _stored(client, replicas=10, podManagementPolicy="Parallel")
        creates: list[Action] = [CreatePod(f"web-{i}", i, _manifest(i, parallel)) for i in range(10)]
        bad = _manifest(2, parallel)
        bad["metadata"]["labels"]["broken"] = "not a label value"  # the server refuses it (422)
        creates[2] = CreatePod("web-2", 2, bad)
        outcome = await executor(client).execute(Target(parallel, "1"), creates)
        assert outcome.error is not None
        pods, _ = await client.list(PODS, NS)
    # batch [web-0], then [web-1, web-2]: web-2 failed, so the batch of four never started
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1"]


WEB_META = {"name": "web", "namespace": NS, "uid": "u-web"}


async def test_sync_outcomes_map_onto_the_work_queue(
    server: ApiServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="petset_controller")
    key, now = (NS, "web"), [0.0]
    results: Iterator[Outcome | Exception] = iter([])

    async def sync(_: tuple[str, str]) -> Outcome:
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    async with Client(Connection(server.url)) as client:
        controller = Controller(client, monotonic=lambda: now[0])
        monkeypatch.setattr(controller, "sync", sync)
        queue = controller.queue
        results = iter(
            [Outcome(error=Conflict("busy")), Outcome(stopped="behind"), Fenced("no lease"), ValueError()]
        )
        for failures in (1, 2, 3, 4):  # each retried rate-limited, the backoff growing
            await controller.workers.process(key)
            assert queue.failures(key) == failures and queue.delayed == 1
        assert controller.stats.failed == 2  # the failed write and the crash; not the stop, not the fence
        assert controller.stats.stopped == 1
        assert f"{NS}/web: stopped: behind (the cache is behind; retrying)" in caplog.text
        now[0] = 100.0
        assert queue.get_nowait() == key
        queue.done(key)
        results = iter([Outcome(requeue_after=5.0)])
        await controller.workers.process(key)
        assert queue.failures(key) == 0 and queue.next_due() == 105.0  # success forgets; then after the delay
        results = iter([Outcome()])
        await controller.workers.process(key)
        assert queue.failures(key) == 0 and controller.stats.failed == 2


async def test_a_claim_is_condemned_only_while_the_set_and_the_pod_are_as_the_plan_saw_them(
    server: ApiServer,
) -> None:
    # a cache behind the API (a restart, another controller) must not hand an in-range pet's claim to
    # a pod for the collector: uncached reads of the set's generation and of the pod come first
    policy = {"whenScaled": "Delete", "whenDeleted": "Retain"}
    async with Client(Connection(server.url)) as client:
        web = await _stored(client, replicas=3, persistentVolumeClaimRetentionPolicy=policy)
        pod = await client.create(PODS, NS, _manifest(2, web))
        claim = await client.create(
            PERSISTENT_VOLUME_CLAIMS, NS, new_claim(web, web.spec.claim_templates[0], 2)
        )
        name, uid = claim["metadata"]["name"], claim["metadata"]["uid"]
        live = OwnerRef(
            "v1", "Pod", "web-2", pod["metadata"]["uid"], controller=True, block_owner_deletion=True
        )
        gone = OwnerRef("v1", "Pod", "web-2", "an-older-web-2", controller=True, block_owner_deletion=True)

        async def owners() -> list[Any]:
            return list(
                (await client.get(PERSISTENT_VOLUME_CLAIMS, NS, name))["metadata"].get("ownerReferences")
                or []
            )

        # the pod the reference names was replaced: nothing written
        outcome = await executor(client).execute(Target(web, "1"), [UpdateClaimOwner(name, uid, (gone,))])
        assert outcome.stopped == f"pod web-2 was replaced: claim {name} kept" and await owners() == []
        # the set's spec moved on (scaled up again) since the plan's copy: nothing written
        await client.patch(PETSETS, NS, "web", {"spec": {"replicas": 6}})
        outcome = await executor(client).execute(Target(web, "1"), [UpdateClaimOwner(name, uid, (live,))])
        assert outcome.stopped and await owners() == []
        # the plan's copy is current and the pod is the one named: the claim goes to the pod
        fresh = petset_from_raw(await client.patch(PETSETS, NS, "web", {"spec": {"replicas": 2}}))
        outcome = await executor(client).execute(Target(fresh, "1"), [UpdateClaimOwner(name, uid, (live,))])
        assert not outcome.stopped and outcome.error is None
        assert [r["uid"] for r in await owners()] == [pod["metadata"]["uid"]]
