"""Shared builders for the object store tests: resources, a settable clock, a seeded store, raw objects."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kubeapi.meta import Obj
from localcluster.storage.journal import Journal
from localcluster.storage.resources import PETSET_GROUP, Resource, find
from localcluster.storage.store import ApiError, Event, ObjectStore


def _res(group: str, version: str, plural: str) -> Resource:
    found = find(group, version, plural)
    assert found is not None
    return found


NAMESPACES = _res("", "v1", "namespaces")
PODS = _res("", "v1", "pods")
SERVICES = _res("", "v1", "services")
CONFIGMAPS = _res("", "v1", "configmaps")
EVENTS = _res("", "v1", "events")
PVCS = _res("", "v1", "persistentvolumeclaims")
PVS = _res("", "v1", "persistentvolumes")
SLICES = _res("discovery.k8s.io", "v1", "endpointslices")
REVISIONS = _res("apps", "v1", "controllerrevisions")
PETSETS = _res(PETSET_GROUP, "v1", "petsets")
PETSETS_ALPHA = _res("apps", "v1alpha1", "petsets")
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    """A settable clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_store(
    *, window: int = 50_000, journal: Journal | None = None, clock: Clock | None = None
) -> ObjectStore:
    """A store with the default namespaces, a fixed clock and a seeded random source."""
    store = ObjectStore(clock=clock or Clock(), window=window, journal=journal, rng=random.Random(7))
    store.ensure_namespaces()
    return store


def recorder(store: ObjectStore) -> list[Event]:
    """Every event the store commits from now on."""
    seen: list[Event] = []
    store.subscribe(seen.append)
    return seen


def pod(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    node: str = "",
    owners: tuple[Obj, ...] = (),
    finalizers: tuple[str, ...] = (),
    grace: int | None = None,
) -> Obj:
    """A raw Pod with one container."""
    spec: Obj = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    metadata: Obj = {"name": name}
    if labels:
        metadata["labels"] = labels
    if owners:
        metadata["ownerReferences"] = [owner_ref(o) for o in owners]
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def petset(name: str, *, replicas: int = 1, api_version: str = f"{PETSET_GROUP}/v1") -> Obj:
    """A raw PetSet."""
    return {
        "apiVersion": api_version,
        "kind": "PetSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        },
    }


def owned(kind: str, name: str, owner: Obj, **extra: Any) -> Obj:
    """A raw object of a simple kind (ConfigMap, ControllerRevision, PVC) owned by owner."""
    api_version = "apps/v1" if kind == "ControllerRevision" else "v1"
    metadata = {"name": name, "ownerReferences": [owner_ref(owner)]}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **extra}


def owner_ref(owner: Obj) -> Obj:
    """A controller ownerReference to owner."""
    m = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


@contextmanager
def api_error(code: int, reason: str, message: str = "") -> Iterator[pytest.ExceptionInfo[ApiError]]:
    """Expect an ApiError with this code and reason (and message fragment)."""
    with pytest.raises(ApiError) as info:
        yield info
    err = info.value
    assert (err.code, err.reason) == (code, reason), err.status()
    assert message in err.message
    status = err.status()
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == code


def names(items: list[Obj]) -> list[str]:
    """metadata.name of each object."""
    return [o["metadata"]["name"] for o in items]


def exists(store: ObjectStore, res: Resource, namespace: str | None, name: str) -> bool:
    """Whether an object is stored."""
    try:
        store.get(res, namespace, name)
    except ApiError as err:
        assert err.code == 404
        return False
    return True
