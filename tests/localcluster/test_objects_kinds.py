"""Per-kind rules of the object store: the table, which kinds have metadata.generation, the Scale selector."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi.meta import Obj
from localcluster.storage.kinds import PLAIN, RULES, rules_for
from localcluster.storage.resources import RESOURCES, Resource, find
from localcluster.storage.store import ObjectStore
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    EVENTS,
    NAMESPACES,
    PETSETS,
    PETSETS_ALPHA,
    PODS,
    PVCS,
    PVS,
    REVISIONS,
    SERVICES,
    SLICES,
    new_store,
    petset,
    pod,
)


def resource(group: str, version: str, plural: str) -> Resource:
    found = find(group, version, plural)
    assert found is not None
    return found


SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
LEASES = resource("coordination.k8s.io", "v1", "leases")


@pytest.fixture
def store() -> ObjectStore:
    return new_store()


def body(kind: str, name: str, **fields: Any) -> Obj:
    return {"kind": kind, "metadata": {"name": name}, **fields}


CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
SLICE = {"addressType": "IPv4", "endpoints": [], "ports": []}
GENERATION_CASES = [
    (PODS, pod("p"), 1),
    (SLICES, body("EndpointSlice", "s", **SLICE), 1),
    (PETSETS, petset("ps"), 1),
    (CONFIGMAPS, body("ConfigMap", "cm", data={"a": "b"}), None),
    (SERVICES, body("Service", "svc", spec={"ports": [{"port": 80}]}), None),
    (NAMESPACES, body("Namespace", "gen"), None),
    (PVCS, body("PersistentVolumeClaim", "c", spec=CLAIM_SPEC), None),
    (PVS, body("PersistentVolume", "v", spec={}), None),
    (EVENTS, body("Event", "e", reason="r"), None),
    (SERVICE_ACCOUNTS, body("ServiceAccount", "sa"), None),
    (LEASES, body("Lease", "l", spec={"holderIdentity": "x"}), None),
    (REVISIONS, body("ControllerRevision", "r", revision=1), None),
]


@pytest.mark.parametrize(
    ("res", "obj", "generation"), GENERATION_CASES, ids=[c[0].kind for c in GENERATION_CASES]
)
def test_generation_only_for_kinds_the_real_server_gives_one(
    store: ObjectStore, res: Resource, obj: Obj, generation: int | None
) -> None:
    namespace = "default" if res.namespaced else None
    obj["metadata"]["generation"] = 7  # a client's value is never kept
    created = store.create(res, namespace, obj)
    assert created["metadata"].get("generation") == generation
    created["metadata"].setdefault("labels", {})["touched"] = "yes"
    updated = store.update(res, namespace, obj["metadata"]["name"], created)
    assert updated["metadata"].get("generation") == generation


def classic(name: str, *, selector: Obj | None, labels: dict[str, str]) -> Obj:
    spec: Obj = {"replicas": 2, "serviceName": name, "template": {"metadata": {"labels": labels}}}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "apps/v1alpha1", "kind": "PetSet", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("selector", "labels", "text"),
    [
        (None, {"app": "nginx"}, "app=nginx"),
        (None, {"tier": "web", "app": "nginx"}, "app=nginx,tier=web"),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, "app=web"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "zone", "operator": "Exists"},
                    {"key": "broken", "operator": "DoesNotExist"},
                ],
            },
            {"app": "web", "track": "stable", "env": "prod", "zone": "a"},
            "app=web,!broken,env in (dev,prod),track notin (beta,canary),zone",
        ),
    ],
)
def test_scale_selector_is_the_set_selector_as_text(
    store: ObjectStore, selector: Obj | None, labels: dict[str, str], text: str
) -> None:
    store.create(PETSETS_ALPHA, "default", classic("web", selector=selector, labels=labels))
    scale = store.get(PETSETS_ALPHA, "default", "web", subresource="scale")
    assert scale["status"]["selector"] == text


def test_kinds_without_rules_are_plain() -> None:
    assert rules_for("Lease") is PLAIN
    assert rules_for("") is PLAIN
    assert not PLAIN.generation and PLAIN.name_rule == "subdomain" and PLAIN.defaults is None


def test_every_ruled_kind_is_served() -> None:
    served = {res.kind for res in RESOURCES}
    assert set(RULES) - served == set()


@pytest.mark.parametrize(
    ("res", "obj", "generation"), GENERATION_CASES, ids=[c[0].kind for c in GENERATION_CASES]
)
def test_the_table_names_the_kinds_with_a_generation(res: Resource, obj: Obj, generation: int | None) -> None:
    del obj
    assert rules_for(res.kind).generation == (generation is not None)
