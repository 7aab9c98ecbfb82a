"""The controller on the local API server with a stepped kubelet: invariants hold after every change."""

from __future__ import annotations

import asyncio

from kubeapi.paths import CONTROLLER_REVISIONS, PERSISTENT_VOLUME_CLAIMS, PETSETS, PODS, ResourceRef
from localcluster.storage.store import Event
from tests.petset_controller.harness import NS, Harness, harness, petset


async def names(h: Harness, ref: ResourceRef = PODS) -> list[str]:
    items, _ = await h.client.list(ref, NS)
    return sorted(i["metadata"]["name"] for i in items)


def pets(*ordinals: int) -> list[str]:
    return [f"web-{i}" for i in ordinals]


async def test_ordered_scale_up_down_up_keeps_order_and_claims() -> None:
    async with harness() as h:
        h.start()
        await h.create(petset(replicas=3))
        await h.run_until(lambda: h.invariants.ready() == pets(0, 1, 2))
        assert h.invariants.created == pets(0, 1, 2)
        await h.patch("web", {"replicas": 5})
        await h.run_until(lambda: h.invariants.ready() == pets(0, 1, 2, 3, 4))
        await h.patch("web", {"replicas": 2})
        await h.run_until(lambda: sorted(h.invariants.pods) == pets(0, 1))
        assert await names(h, PERSISTENT_VOLUME_CLAIMS) == [f"www-web-{i}" for i in range(5)]
        claims = {n: c["metadata"]["uid"] for n, c in h.invariants.claims.items()}
        await h.patch("web", {"replicas": 4})
        await h.run_until(lambda: h.invariants.ready() == pets(0, 1, 2, 3))
        assert {n: c["metadata"]["uid"] for n, c in h.invariants.claims.items()} == claims  # reused
        status = (await h.get("web"))["status"]
        assert (status["replicas"], status["readyReplicas"], status["selector"]) == (4, 4, "app=web")
        assert not h.invariants.violations


async def test_parallel_creates_in_batches_without_waiting() -> None:
    async with harness(ready_after=3) as h:
        running = h.start()
        await h.create(petset(replicas=12, podManagementPolicy="Parallel"))
        assert await names(h) == sorted(pets(*range(12)))  # all at once, none Ready yet
        assert h.invariants.ready() == []
        await h.run_until(lambda: len(h.invariants.ready()) == 12)
        await h.patch("web", {"replicas": 3})
        await h.run_until(lambda: sorted(h.invariants.pods) == pets(0, 1, 2))
        assert running.controller.expectations.expired == 0
        assert len(await names(h, PERSISTENT_VOLUME_CLAIMS)) == 12


async def test_failed_and_deleted_pets_come_back_with_their_claims() -> None:
    async with harness(ready_after=1) as h:
        h.start()
        await h.create(petset(replicas=3))
        await h.run_until(lambda: len(h.invariants.ready()) == 3)
        uids = {n: p["metadata"]["uid"] for n, p in h.invariants.pods.items()}
        claims = {n: c["metadata"]["uid"] for n, c in h.invariants.claims.items()}
        await h.kubelet.fail(NS, "web-1")
        await h.settle()
        await h.client.delete(PODS, NS, "web-2")
        await h.run_until(
            lambda: (
                len(h.invariants.ready()) == 3
                and all(h.invariants.pods[n]["metadata"]["uid"] != uids[n] for n in pets(1, 2))
            )
        )
        assert h.invariants.pods["web-0"]["metadata"]["uid"] == uids["web-0"]
        assert {n: c["metadata"]["uid"] for n, c in h.invariants.claims.items()} == claims


async def test_when_scaled_delete_removes_only_the_condemned_claims() -> None:
    async with harness(ready_after=1) as h:
        h.invariants.claims_may_go = lambda name: name in ("www-web-2", "www-web-3")
        h.start()
        policy = {"whenScaled": "Delete", "whenDeleted": "Retain"}
        await h.create(petset(replicas=4, persistentVolumeClaimRetentionPolicy=policy))
        await h.run_until(lambda: len(h.invariants.ready()) == 4)
        await h.patch("web", {"replicas": 2})
        await h.run_until(lambda: sorted(h.invariants.claims) == ["www-web-0", "www-web-1"])
        assert sorted(h.invariants.deleted_claims) == ["www-web-2", "www-web-3"]
        await h.patch("web", {"replicas": 3})
        await h.run_until(lambda: len(h.invariants.ready()) == 3)
        assert "www-web-2" in h.invariants.claims  # a fresh claim for the returning pet


async def test_rolling_update_one_at_a_time_from_the_top() -> None:
    async with harness(ready_after=1) as h:
        h.start()
        await h.create(petset(replicas=3))
        await h.run_until(lambda: len(h.invariants.ready()) == 3)
        template = (await h.get("web"))["spec"]["template"]
        template["spec"]["containers"][0]["image"] = "nginx:2"
        order: list[str] = []
        h.store.subscribe(lambda e: _note_deletes(e, order))
        await h.patch("web", {"template": template})

        def updated() -> bool:
            pods = h.invariants.pods.values()
            images = {p["spec"]["containers"][0]["image"] for p in pods}
            return images == {"nginx:2"} and len(h.invariants.ready()) == 3

        await h.run_until(updated)
        assert order == pets(2, 1, 0)
        revisions = await names(h, CONTROLLER_REVISIONS)
        status = (await h.get("web"))["status"]
        assert len(revisions) == 2 and status["currentRevision"] == status["updateRevision"]


def _note_deletes(event: Event, order: list[str]) -> None:
    meta = event.object.get("metadata") or {}
    if event.store_key == "pods" and event.type == "DELETED":
        order.append(meta["name"])


async def test_controller_killed_and_restarted_mid_scale() -> None:
    async with harness(ready_after=2) as h:
        first = h.start()
        await h.create(petset(replicas=5))
        await h.run_until(lambda: "web-2" in h.invariants.pods)
        await first.stop()
        for _ in range(3):  # the pets go on without a controller
            await h.step()
        h.start()
        await h.run_until(lambda: len(h.invariants.ready()) == 5)
        assert h.invariants.created == pets(0, 1, 2, 3, 4)
        assert len(await names(h, CONTROLLER_REVISIONS)) == 1


async def test_parallel_controller_killed_mid_batch() -> None:
    async with harness(ready_after=1) as h:
        first = h.start()

        def kill_on_third_pod(event: Event) -> None:
            if event.store_key == "pods" and event.type == "ADDED" and len(h.invariants.created) == 3:
                first.task.cancel()

        h.store.subscribe(kill_on_third_pod)
        await h.client.create(PETSETS, NS, petset(replicas=20, podManagementPolicy="Parallel"))
        await asyncio.gather(first.task, return_exceptions=True)
        assert len(h.invariants.created) < 20  # it died part way through its batches
        h.start()
        await h.run_until(lambda: len(h.invariants.ready()) == 20)
        assert sorted(h.invariants.created) == sorted(pets(*range(20)))  # each pet made exactly once
        assert len(await names(h, PERSISTENT_VOLUME_CLAIMS)) == 20
        assert len(await names(h, CONTROLLER_REVISIONS)) == 1


async def test_status_selector_is_the_text_the_scale_subresource_reports() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "zone", "operator": "Exists"},
            {"key": "broken", "operator": "DoesNotExist"},
        ],
    }
    labels = {"app": "web", "env": "prod", "zone": "a"}
    body = petset(replicas=1, selector=selector)
    body["spec"]["template"]["metadata"]["labels"] = labels
    async with harness() as h:
        h.start()
        await h.create(body)
        await h.run_until(lambda: h.invariants.ready() == pets(0))
        status = (await h.get("web"))["status"]
        scale = await h.client.get(PETSETS, NS, "web", "scale")
    canonical = "app=web,!broken,env in (dev,prod),track notin (beta,canary),zone"
    assert status["selector"] == scale["status"]["selector"] == canonical
