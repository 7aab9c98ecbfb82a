"""The plan driving a tiny in-memory cluster step by step, with invariants checked on every step."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petset_controller.core.model import REVISION_LABEL, petset_from_raw
from tests.petset_controller.builders import raw_set
from tests.petset_controller.fakecluster import FakeCluster


def _cluster(seed: int = 0, max_start: int = 2, **kw: Any) -> FakeCluster:
    return FakeCluster(raw_set(**kw), rng=random.Random(seed), max_start=max_start)


def _uids(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: obj["metadata"]["uid"] for name, obj in objects.items()}


def test_seed_walkthrough_scale_2_5_3_keeps_claims() -> None:
    cluster = _cluster(replicas=2)
    cluster.run()
    assert sorted(cluster.pods) == ["web-0", "web-1"]
    cluster.spec()["replicas"] = 5
    cluster.run()
    assert sorted(cluster.pods) == [f"web-{i}" for i in range(5)]
    cluster.spec()["replicas"] = 3
    cluster.run()
    assert sorted(cluster.pods) == ["web-0", "web-1", "web-2"]
    assert sorted(cluster.claims) == [f"www-web-{i}" for i in range(5)]  # www-web-3 and www-web-4 stay
    claims_before = _uids(cluster.claims)
    cluster.spec()["replicas"] = 5
    cluster.run()
    assert _uids(cluster.claims) == claims_before  # scaling back up reuses them
    status = cluster.model().status
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (5, 5, 5)
    progressing = status.condition("Progressing")
    assert progressing is not None and progressing.reason == "Complete"


def test_deleted_pet_returns_with_same_name_and_claim() -> None:
    cluster = _cluster(replicas=3)
    cluster.run()
    pod_uid, claims = cluster.pods["web-1"]["metadata"]["uid"], _uids(cluster.claims)
    cluster.delete_pod("web-1")
    cluster.run()
    assert cluster.pods["web-1"]["metadata"]["uid"] != pod_uid
    assert _uids(cluster.claims) == claims
    assert cluster.pods["web-1"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "www-web-1"


def test_on_delete_image_upgrade() -> None:
    cluster = _cluster(replicas=3, strategy="OnDelete")
    cluster.run()
    old_revision = cluster.model().status.update_revision
    cluster.spec()["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    cluster.petset["metadata"]["generation"] = 2
    cluster.run()
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods.values()} == {"nginx:1"}
    for name in ("web-2", "web-1", "web-0"):
        cluster.delete_pod(name)
        cluster.run()
        assert cluster.pods[name]["spec"]["containers"][0]["image"] == "nginx:2"
    status = cluster.model().status
    assert status.updated_replicas == 3
    assert status.current_revision == status.update_revision != old_revision


def test_rolling_update_with_partition_then_rollback() -> None:
    cluster = _cluster(replicas=3, partition=1)
    cluster.run()
    first = cluster.model().status.update_revision
    cluster.spec()["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    cluster.run()
    images = {n: p["spec"]["containers"][0]["image"] for n, p in cluster.pods.items()}
    assert images == {"web-0": "nginx:1", "web-1": "nginx:2", "web-2": "nginx:2"}
    assert cluster.model().status.current_revision == first  # not promoted while a partition holds
    cluster.spec()["updateStrategy"]["rollingUpdate"]["partition"] = 0
    cluster.run()
    status = cluster.model().status
    assert status.current_revision == status.update_revision != first
    cluster.spec()["template"]["spec"]["containers"][0]["image"] = "nginx:1"  # roll back
    cluster.run()
    assert cluster.model().status.update_revision == first  # the old revision is reused
    assert cluster.revisions[first]["revision"] == 3
    assert {p["metadata"]["labels"][REVISION_LABEL] for p in cluster.pods.values()} == {first}


def test_failing_pet_is_replaced_under_its_name() -> None:
    cluster = _cluster(replicas=3)
    cluster.run()
    cluster.fail_pod("web-1")
    cluster.fail_next_start.add("web-1")  # and it fails once more on its first start
    cluster.run()
    assert cluster.running_ready("web-1")
    assert [e.reason for e in cluster.events].count("RecreatingFailedPet") == 2


def test_when_scaled_delete_removes_only_condemned_claims() -> None:
    cluster = _cluster(replicas=4, when_scaled="Delete")
    cluster.run()
    cluster.spec()["replicas"] = 2
    cluster.run()
    for _ in range(5):  # let the collector catch up
        cluster.step()
    assert sorted(cluster.claims) == ["www-web-0", "www-web-1"]
    assert sorted(cluster.collected) == ["www-web-2", "www-web-3"]
    cluster.spec()["replicas"] = 3
    cluster.run()
    assert "www-web-2" in cluster.claims  # a fresh claim for the returning pet


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    parallel=st.booleans(),
    scaled=st.sampled_from(["Retain", "Delete"]),
    partition=st.integers(0, 2),
    steps=st.lists(
        st.tuples(
            st.integers(0, 6),
            st.sampled_from(["nginx:1", "nginx:2", "nginx:3"]),
            st.none() | st.integers(0, 5),
        ),
        min_size=1,
        max_size=4,
    ),
    max_start=st.integers(0, 4),
)
def test_random_scaling_and_updates_keep_invariants(
    *,
    seed: int,
    parallel: bool,
    scaled: str,
    partition: int,
    steps: list[tuple[int, str, int | None]],
    max_start: int,
) -> None:
    kw: dict[str, Any] = {"when_scaled": scaled, "partition": partition}
    if parallel:
        kw["policy"] = "Parallel"
    cluster = _cluster(seed, max_start, replicas=1, **kw)
    cluster.run()
    for size, image, fail in steps:
        cluster.spec()["replicas"] = size
        cluster.spec()["template"]["spec"]["containers"][0]["image"] = image
        for _ in range(3):  # change course mid-flight sometimes
            cluster.reconcile()
            cluster.step()
        if fail is not None and f"web-{fail}" in cluster.pods:
            cluster.fail_pod(f"web-{fail}")
        cluster.run()
        status = petset_from_raw(cluster.petset).status
        assert sorted(cluster.pods) == sorted(f"web-{i}" for i in range(size))
        assert status.ready_replicas == status.available_replicas == size
        assert not [c for c in status.conditions if c.type == "Stalled" and c.status == "True"]
        if scaled == "Retain":
            assert not cluster.collected
