"""Object store events: the replaced version on each event, and objects shared with the event window."""

from __future__ import annotations

import pytest

from kubeapi.meta import Obj
from localcluster.storage.store import ObjectStore
from tests.localcluster.test_objects_support import CONFIGMAPS, new_store, recorder


def cm(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


@pytest.fixture
def store() -> ObjectStore:
    return new_store()


def rv(obj: Obj | None) -> str | None:
    return None if obj is None else obj["metadata"]["resourceVersion"]


def test_each_event_carries_the_version_it_replaced(store: ObjectStore) -> None:
    seen = recorder(store)
    made = store.create(CONFIGMAPS, "default", cm("a", v="1"))
    changed = store.update(CONFIGMAPS, "default", "a", {**made, "data": {"v": "2"}})
    store.delete(CONFIGMAPS, "default", "a")
    assert [(e.type, rv(e.old), rv(e.object)) for e in seen] == [
        ("ADDED", None, rv(made)),
        ("MODIFIED", rv(made), rv(changed)),
        ("DELETED", rv(changed), str(store.resource_version)),
    ]
    assert seen[1].old is not None and seen[1].old["data"] == {"v": "1"}
    assert seen[2].object["data"] == {"v": "2"}  # the last state, at the delete's resourceVersion


def test_events_share_the_committed_objects(store: ObjectStore) -> None:
    seen = recorder(store)
    store.create(CONFIGMAPS, "default", cm("a", v="1"))
    stored = store.get(CONFIGMAPS, "default", "a", copy=False)
    assert seen[0].object is stored
    store.update(CONFIGMAPS, "default", "a", {**store.get(CONFIGMAPS, "default", "a"), "data": {"v": "2"}})
    assert seen[1].old is stored and seen[1].object is store.get(CONFIGMAPS, "default", "a", copy=False)
    assert store.events_after(CONFIGMAPS, None, int(rv(stored) or 0))[0] is seen[1]


def test_a_deleted_object_returned_is_a_private_copy(store: ObjectStore) -> None:
    seen = recorder(store)
    store.create(CONFIGMAPS, "default", cm("a", v="1"))
    last, gone = store.delete(CONFIGMAPS, "default", "a")
    assert gone and last == seen[-1].object
    last["data"]["v"] = "changed"
    last["metadata"]["name"] = "changed"
    assert seen[-1].object["data"] == {"v": "1"} and seen[-1].object["metadata"]["name"] == "a"
    assert seen[-1].old is not None and seen[-1].old["data"] == {"v": "1"}
