"""Object store deletion: finalizers, graceful pods, preconditions, owner cascades, namespace termination."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi.meta import Obj
from localcluster.storage.store import ObjectStore
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    NAMESPACES,
    NOW,
    PETSETS,
    PODS,
    PVCS,
    REVISIONS,
    Clock,
    api_error,
    exists,
    names,
    new_store,
    owned,
    petset,
    pod,
    recorder,
)


@pytest.fixture
def store() -> ObjectStore:
    return new_store()


def cm(name: str, *, finalizers: tuple[str, ...] = ()) -> Obj:
    metadata: Obj = {"name": name}
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def test_plain_delete_returns_last_state(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a"))
    seen = recorder(store)
    obj, gone = store.delete(CONFIGMAPS, "default", "a")
    assert gone and obj["metadata"]["name"] == "a"
    assert obj["metadata"]["resourceVersion"] == str(store.resource_version)
    assert [(e.type, e.resource_version) for e in seen] == [("DELETED", store.resource_version)]
    assert not exists(store, CONFIGMAPS, "default", "a")
    with api_error(404, "NotFound"):
        store.delete(CONFIGMAPS, "default", "a")


def test_deletion_start_bumps_the_generation(store: ObjectStore) -> None:
    body = petset("web")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    store.create(PETSETS, "default", body)
    obj, gone = store.delete(PETSETS, "default", "web")
    assert not gone and obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["generation"] == 2  # the real server bumps it when deletion starts


@pytest.mark.parametrize(("field", "label"), [("uid", "UID"), ("resourceVersion", "ResourceVersion")])
def test_delete_preconditions(store: ObjectStore, field: str, label: str) -> None:
    created = store.create(CONFIGMAPS, "default", cm("a"))
    with api_error(409, "Conflict", f"Precondition failed: {label} in precondition"):
        store.delete(CONFIGMAPS, "default", "a", preconditions={field: "12345"})
    _, gone = store.delete(CONFIGMAPS, "default", "a", preconditions={field: created["metadata"][field]})
    assert gone


def test_finalizers_hold_the_object_until_removed(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a", finalizers=("example.com/hold",)))
    seen = recorder(store)
    obj, gone = store.delete(CONFIGMAPS, "default", "a")
    assert not gone
    assert obj["metadata"]["deletionTimestamp"] == "2027-01-15T08:00:00Z"
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "generation" not in obj["metadata"]  # a ConfigMap has none to bump
    assert [e.type for e in seen] == ["MODIFIED"]
    again, gone = store.delete(CONFIGMAPS, "default", "a")  # a second delete changes nothing
    assert not gone and again == obj and len(seen) == 1
    current = store.get(CONFIGMAPS, "default", "a")
    current["metadata"]["finalizers"].append("example.com/late")
    with api_error(422, "Invalid", "no new finalizers can be added"):
        store.update(CONFIGMAPS, "default", "a", current)
    current["metadata"]["finalizers"] = []
    last = store.update(CONFIGMAPS, "default", "a", current)
    assert [e.type for e in seen] == ["MODIFIED", "DELETED"]
    assert last["metadata"]["resourceVersion"] == str(store.resource_version)
    assert not exists(store, CONFIGMAPS, "default", "a")


def test_patch_removing_finalizer_completes_deletion(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a", finalizers=("x/y",)))
    store.delete(CONFIGMAPS, "default", "a")
    store.patch(
        CONFIGMAPS, "default", "a", b'{"metadata":{"finalizers":null}}', "application/merge-patch+json"
    )
    assert not exists(store, CONFIGMAPS, "default", "a")


@pytest.mark.parametrize(
    ("node", "grace_spec", "grace_req", "stays", "grace_seen"),
    [
        ("n1", None, None, True, 30),
        ("n1", 5, None, True, 5),
        ("n1", 5, 2, True, 2),
        ("n1", None, 0, False, None),
        ("", None, None, False, None),  # never scheduled: no kubelet to wait for
    ],
)
def test_graceful_pod_deletion(
    node: str, grace_spec: int | None, grace_req: int | None, stays: bool, grace_seen: int | None
) -> None:
    store = new_store(clock=Clock(NOW))
    store.create(PODS, "default", pod("p", node=node, grace=grace_spec))
    obj, gone = store.delete(PODS, "default", "p", grace_seconds=grace_req)
    assert gone is not stays
    assert exists(store, PODS, "default", "p") is stays
    if stays:
        assert obj["metadata"]["deletionGracePeriodSeconds"] == grace_seen
        assert obj["metadata"]["deletionTimestamp"] == f"2027-01-15T08:00:{grace_seen:02d}Z"


def test_kubelet_finishes_a_graceful_pod(store: ObjectStore) -> None:
    store.create(PODS, "default", pod("p", node="n1"))
    store.delete(PODS, "default", "p")
    _, gone = store.delete(PODS, "default", "p", grace_seconds=10)  # shorter grace: still waiting
    assert not gone and store.get(PODS, "default", "p")["metadata"]["deletionGracePeriodSeconds"] == 10
    _, gone = store.delete(PODS, "default", "p", grace_seconds=0)
    assert gone and not exists(store, PODS, "default", "p")


def test_finished_pod_goes_at_once(store: ObjectStore) -> None:
    created = store.create(PODS, "default", pod("p", node="n1"))
    created["status"] = {"phase": "Succeeded"}
    store.update(PODS, "default", "p", created, subresource="status")
    assert store.delete(PODS, "default", "p")[1]


def test_graceful_pod_with_finalizer_needs_both(store: ObjectStore) -> None:
    store.create(PODS, "default", pod("p", node="n1", finalizers=("x/y",)))
    store.delete(PODS, "default", "p")
    current = store.get(PODS, "default", "p")
    current["metadata"]["finalizers"] = []
    store.update(PODS, "default", "p", current)
    assert exists(store, PODS, "default", "p")  # still in its grace period
    _, gone = store.delete(PODS, "default", "p", grace_seconds=0)
    assert gone


# --- owner cascades -----------------------------------------------------------------------------------------


CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}


def make_family(store: ObjectStore, *, node: str = "") -> Obj:
    """A PetSet owning two pods, a ControllerRevision and a PVC; a pod owning a ConfigMap."""
    owner = store.create(PETSETS, "default", petset("web"))
    for i in range(2):
        store.create(PODS, "default", pod(f"web-{i}", owners=(owner,), node=node))
    store.create(REVISIONS, "default", owned("ControllerRevision", "web-6d4", owner, revision=1))
    store.create(PVCS, "default", owned("PersistentVolumeClaim", "www-web-0", owner, spec=CLAIM_SPEC))
    store.create(
        CONFIGMAPS, "default", owned("ConfigMap", "web-0-extra", store.get(PODS, "default", "web-0"))
    )
    store.create(PODS, "default", pod("bystander"))
    return owner


FAMILY = [
    (PODS, "web-0"),
    (PODS, "web-1"),
    (REVISIONS, "web-6d4"),
    (PVCS, "www-web-0"),
    (CONFIGMAPS, "web-0-extra"),
]


@pytest.mark.parametrize("propagation", [None, "Background"])
def test_background_cascade_removes_dependents_recursively(
    store: ObjectStore, propagation: str | None
) -> None:
    make_family(store)
    seen = recorder(store)
    _, gone = store.delete(PETSETS, "default", "web", propagation=propagation)
    assert gone
    assert all(not exists(store, res, "default", name) for res, name in FAMILY)
    assert exists(store, PODS, "default", "bystander")
    assert seen[0].store_key == "petsets.petdns.dev"  # the owner goes first
    assert {e.type for e in seen} == {"DELETED"} and len(seen) == 6


def test_orphan_strips_owner_references(store: ObjectStore) -> None:
    owner = make_family(store)
    seen = recorder(store)
    _, gone = store.delete(PETSETS, "default", "web", propagation="Orphan")
    assert gone
    for res, name in FAMILY[:4]:
        refs = store.get(res, "default", name)["metadata"].get("ownerReferences", [])
        assert owner["metadata"]["uid"] not in [r["uid"] for r in refs]
    assert [e.type for e in seen] == ["MODIFIED"] * 4 + ["DELETED"]
    assert exists(store, CONFIGMAPS, "default", "web-0-extra")  # its owner, web-0, lives on


def test_orphan_finalizer_means_orphan(store: ObjectStore) -> None:
    owner = store.create(
        PETSETS, "default", {**petset("web"), "metadata": {"name": "web", "finalizers": ["orphan"]}}
    )
    store.create(PODS, "default", pod("web-0", owners=(owner,)))
    assert store.delete(PETSETS, "default", "web")[1]
    assert "ownerReferences" not in store.get(PODS, "default", "web-0")["metadata"]


def test_foreground_waits_for_dependents(store: ObjectStore) -> None:
    make_family(store, node="n1")
    seen = recorder(store)
    obj, gone = store.delete(PETSETS, "default", "web", propagation="Foreground")
    assert not gone
    assert obj["metadata"]["finalizers"] == ["foregroundDeletion"] and obj["metadata"]["deletionTimestamp"]
    # pods are in their grace period; everything else went, the pod's own dependent too (foreground all down)
    assert [exists(store, res, "default", name) for res, name in FAMILY] == [True, True, False, False, False]
    assert "foregroundDeletion" not in store.get(PODS, "default", "web-0")["metadata"].get("finalizers", [])
    assert seen[0].type == "MODIFIED" and seen[0].store_key == "petsets.petdns.dev"
    store.delete(PODS, "default", "web-1", grace_seconds=0)
    assert exists(store, PETSETS, "default", "web")
    store.delete(PODS, "default", "web-0", grace_seconds=0)
    assert not exists(store, PETSETS, "default", "web")
    assert seen[-1].type == "DELETED" and seen[-1].store_key == "petsets.petdns.dev"


def test_foreground_owner_goes_when_its_dependent_is_released(store: ObjectStore) -> None:
    owner = store.create(PETSETS, "default", petset("web"))
    store.create(PODS, "default", pod("web-0", owners=(owner,), node="n1"))
    store.delete(PETSETS, "default", "web", propagation="Foreground")
    assert exists(store, PETSETS, "default", "web")
    store.patch(
        PODS, "default", "web-0", b'{"metadata":{"ownerReferences":null}}', "application/merge-patch+json"
    )
    assert not exists(store, PETSETS, "default", "web")
    assert exists(store, PODS, "default", "web-0")


def test_foreground_without_dependents_is_immediate(store: ObjectStore) -> None:
    store.create(PETSETS, "default", petset("web"))
    assert store.delete(PETSETS, "default", "web", propagation="Foreground")[1]


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_dependent_with_another_living_owner_survives(store: ObjectStore, propagation: str) -> None:
    a = store.create(CONFIGMAPS, "default", cm("a"))
    b = store.create(CONFIGMAPS, "default", cm("b"))
    shared = owned("ConfigMap", "shared", a)
    shared["metadata"]["ownerReferences"].append(owned("ConfigMap", "x", b)["metadata"]["ownerReferences"][0])
    store.create(CONFIGMAPS, "default", shared)
    assert store.delete(CONFIGMAPS, "default", "a", propagation=propagation)[1]
    refs = store.get(CONFIGMAPS, "default", "shared")["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["b"]
    store.delete(CONFIGMAPS, "default", "b")
    assert not exists(store, CONFIGMAPS, "default", "shared")


def test_unknown_propagation_is_rejected(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a"))
    with api_error(400, "BadRequest", "propagationPolicy"):
        store.delete(CONFIGMAPS, "default", "a", propagation="Sideways")


def test_delete_collection(store: ObjectStore) -> None:
    owner = store.create(
        CONFIGMAPS, "default", {**cm("owner"), "metadata": {"name": "owner", "labels": {"x": "1"}}}
    )
    dep = owned("ConfigMap", "dep", owner)
    dep["metadata"]["labels"] = {"x": "1"}
    store.create(CONFIGMAPS, "default", dep)
    store.create(CONFIGMAPS, "default", cm("other"))
    store.create(CONFIGMAPS, "kube-system", {**cm("far"), "metadata": {"name": "far", "labels": {"x": "1"}}})
    deleted = store.delete_collection(CONFIGMAPS, "default", label_selector="x=1")
    assert names(deleted) == ["dep", "owner"] or names(deleted) == ["owner"]
    assert names(store.list(CONFIGMAPS, None).items) == ["other", "far"]


# --- namespaces ---------------------------------------------------------------------------------------------


def fill_namespace(store: ObjectStore, name: str, *, node: str = "") -> None:
    store.create(NAMESPACES, None, {"metadata": {"name": name}})
    store.create(CONFIGMAPS, name, cm("settings"))
    owner = store.create(PETSETS, name, petset("web"))
    store.create(PODS, name, pod("web-0", owners=(owner,), node=node))
    store.create(PODS, name, pod("loose"))


def test_namespace_deletion_empties_and_removes_it(store: ObjectStore) -> None:
    fill_namespace(store, "team")
    store.create(CONFIGMAPS, "default", cm("settings"))
    seen = recorder(store)
    obj, gone = store.delete(NAMESPACES, None, "team")
    assert gone and obj["status"]["phase"] == "Terminating"
    assert not exists(store, NAMESPACES, None, "team")
    for res in (CONFIGMAPS, PODS, PETSETS):
        assert store.list(res, "team").items == []
    assert exists(store, CONFIGMAPS, "default", "settings")
    assert seen[0].type == "MODIFIED" and seen[0].object["status"]["phase"] == "Terminating"
    assert seen[-1].type == "DELETED" and seen[-1].store_key == "namespaces"


def test_namespace_waits_for_graceful_pods(store: ObjectStore) -> None:
    fill_namespace(store, "team", node="n1")
    obj, gone = store.delete(NAMESPACES, None, "team")
    assert not gone and obj["metadata"]["deletionTimestamp"]
    assert names(store.list(PODS, "team").items) == ["web-0"]
    with api_error(403, "Forbidden"):
        store.create(PODS, "team", pod("new"))
    assert store.delete(NAMESPACES, None, "team")[1] is False  # already terminating
    store.delete(PODS, "team", "web-0", grace_seconds=0)
    assert not exists(store, NAMESPACES, None, "team")


def test_namespace_waits_for_finalizers(store: ObjectStore) -> None:
    store.create(NAMESPACES, None, {"metadata": {"name": "team"}})
    store.create(CONFIGMAPS, "team", cm("held", finalizers=("x/y",)))
    store.delete(NAMESPACES, None, "team")
    assert exists(store, NAMESPACES, None, "team")
    store.patch(
        CONFIGMAPS,
        "team",
        "held",
        b'[{"op":"remove","path":"/metadata/finalizers"}]',
        "application/json-patch+json",
    )
    assert not exists(store, NAMESPACES, None, "team")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(store: ObjectStore, name: str) -> None:
    with api_error(403, "Forbidden", "may not be deleted"):
        store.delete(NAMESPACES, None, name)


def test_namespace_recreated_after_deletion(store: ObjectStore) -> None:
    fill_namespace(store, "team")
    store.delete(NAMESPACES, None, "team")
    again: Any = store.create(NAMESPACES, None, {"metadata": {"name": "team"}})
    assert again["status"]["phase"] == "Active"
    store.create(CONFIGMAPS, "team", cm("settings"))


def test_dangling_owner_references_are_collected_as_the_garbage_collector_does() -> None:
    store = new_store()
    owner = store.create(CONFIGMAPS, "default", {"metadata": {"name": "owner"}})
    gone = store.create(CONFIGMAPS, "default", {"metadata": {"name": "gone"}})
    store.delete(CONFIGMAPS, "default", "gone")
    # created with only a vanished owner: deleted
    store.create(CONFIGMAPS, "default", owned("ConfigMap", "orphaned", gone))
    assert not exists(store, CONFIGMAPS, "default", "orphaned")
    # one live owner and one vanished: kept, the vanished reference dropped
    both = owned("ConfigMap", "kept", owner)
    both["metadata"]["ownerReferences"].append(
        owned("ConfigMap", "x", gone)["metadata"]["ownerReferences"][0]
    )
    store.create(CONFIGMAPS, "default", both)
    kept = store.get(CONFIGMAPS, "default", "kept")
    assert [r["uid"] for r in kept["metadata"]["ownerReferences"]] == [owner["metadata"]["uid"]]
    # an update that points an object at a vanished owner: deleted
    plain = store.create(CONFIGMAPS, "default", {"metadata": {"name": "patched"}})
    plain["metadata"]["ownerReferences"] = owned("ConfigMap", "x", gone)["metadata"]["ownerReferences"]
    store.update(CONFIGMAPS, "default", "patched", plain)
    assert not exists(store, CONFIGMAPS, "default", "patched")
