"""Object store: create/get/update, server metadata, resourceVersion, conflicts, events, watch window."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localcluster.storage.meta import GENERATE_ALPHABET
from localcluster.storage.store import ObjectStore
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    NAMESPACES,
    PETSETS,
    PETSETS_ALPHA,
    PODS,
    PVCS,
    SERVICES,
    api_error,
    new_store,
    petset,
    pod,
    recorder,
)


@pytest.fixture
def store() -> ObjectStore:
    return new_store()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


def test_create_sets_server_metadata(store: ObjectStore) -> None:
    created = store.create(PODS, "default", pod("web-0"))
    m = created["metadata"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", m["uid"])
    assert m["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert m["namespace"] == "default"
    assert m["generation"] == 1
    assert m["resourceVersion"] == str(store.resource_version)
    assert created["status"] == {"phase": "Pending"}
    assert store.get(PODS, "default", "web-0") == created


def test_returned_objects_are_private_copies(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, "default", cm("a", k="v"))
    created["data"]["k"] = "changed"
    got = store.get(CONFIGMAPS, "default", "a")
    got["data"]["k"] = "changed too"
    assert store.get(CONFIGMAPS, "default", "a")["data"] == {"k": "v"}


def test_resource_version_is_global_and_increasing(store: ObjectStore) -> None:
    start = store.resource_version
    versions = [
        store.create(CONFIGMAPS, "default", cm("a"))["metadata"]["resourceVersion"],
        store.create(PODS, "default", pod("p"))["metadata"]["resourceVersion"],
        store.update(CONFIGMAPS, "default", "a", cm("a", k="v"))["metadata"]["resourceVersion"],
        store.create(PETSETS, "default", petset("web"))["metadata"]["resourceVersion"],
    ]
    assert [int(v) for v in versions] == [start + 1, start + 2, start + 3, start + 4]
    assert store.resource_version == start + 4


@pytest.mark.parametrize(
    ("namespace", "body_ns", "error"),
    [
        ("missing", None, (404, "NotFound", 'namespaces "missing" not found')),
        ("default", "other", (400, "BadRequest", "does not match the namespace sent on the request")),
    ],
)
def test_create_namespace_errors(
    store: ObjectStore, namespace: str, body_ns: str | None, error: tuple[int, str, str]
) -> None:
    body = cm("a")
    if body_ns:
        body["metadata"]["namespace"] = body_ns
    with api_error(*error):
        store.create(CONFIGMAPS, namespace, body)


def test_create_in_terminating_namespace_is_forbidden(store: ObjectStore) -> None:
    store.create(NAMESPACES, None, {"metadata": {"name": "team"}})
    store.create(PODS, "team", pod("slow", node="n1"))
    store.delete(NAMESPACES, None, "team")
    assert store.get(NAMESPACES, None, "team")["status"]["phase"] == "Terminating"
    with api_error(403, "Forbidden", "because it is being terminated"):
        store.create(CONFIGMAPS, "team", cm("late"))


@pytest.mark.parametrize(
    ("res", "name", "ok"),
    [
        (CONFIGMAPS, "a.b-c", True),
        (CONFIGMAPS, "Upper", False),
        (CONFIGMAPS, "-dash", False),
        (CONFIGMAPS, "x" * 254, False),
        (CONFIGMAPS, "", False),
        (NAMESPACES, "a.b", False),
        (SERVICES, "1abc", False),
        (SERVICES, "abc-1", True),
    ],
)
def test_name_validation(store: ObjectStore, res: Any, name: str, ok: bool) -> None:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if res is SERVICES:
        body["spec"] = {"ports": [{"port": 80}]}
    namespace = None if res is NAMESPACES else "default"
    if ok:
        assert store.create(res, namespace, body)["metadata"]["name"] == name
        return
    with api_error(422, "Invalid", "metadata.name") as info:
        store.create(res, namespace, body)
    causes = info.value.status()["details"]["causes"]
    assert causes and all(c["field"] == "metadata.name" for c in causes)


def test_create_twice_is_already_exists(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a"))
    with api_error(409, "AlreadyExists", 'configmaps "a" already exists'):
        store.create(CONFIGMAPS, "default", cm("a"))


def test_create_with_resource_version_is_rejected(store: ObjectStore) -> None:
    body = cm("a")
    body["metadata"]["resourceVersion"] = "3"
    with api_error(400, "BadRequest", "resourceVersion should not be set"):
        store.create(CONFIGMAPS, "default", body)


def test_generate_name(store: ObjectStore) -> None:
    made = {
        store.create(CONFIGMAPS, "default", {"metadata": {"generateName": "job-"}})["metadata"]["name"]
        for _ in range(50)
    }
    assert len(made) == 50
    for name in made:
        assert name.startswith("job-") and len(name) == 9
        assert set(name[4:]) <= set(GENERATE_ALPHABET)


def test_generate_name_keeps_within_63_chars(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, "default", {"metadata": {"generateName": "p" * 80}})
    assert len(created["metadata"]["name"]) == 63


def test_petset_versions_share_one_store_and_keep_written_api_version(store: ObjectStore) -> None:
    alpha = store.create(PETSETS_ALPHA, "default", petset("web", api_version="apps/v1alpha1"))
    assert alpha["apiVersion"] == "apps/v1alpha1"
    assert store.get(PETSETS, "default", "web")["metadata"]["uid"] == alpha["metadata"]["uid"]
    with api_error(409, "AlreadyExists"):
        store.create(PETSETS, "default", petset("web"))


# --- update -------------------------------------------------------------------------------------------------


def test_update_with_stale_resource_version_conflicts(store: ObjectStore) -> None:
    first = store.create(CONFIGMAPS, "default", cm("a", k="1"))
    second = store.update(CONFIGMAPS, "default", "a", {**first, "data": {"k": "2"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    with api_error(409, "Conflict", "the object has been modified; please apply your changes"):
        store.update(CONFIGMAPS, "default", "a", {**first, "data": {"k": "3"}})
    third = store.update(CONFIGMAPS, "default", "a", cm("a", k="3"))  # no resourceVersion: last write wins
    assert third["data"] == {"k": "3"}


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        ({"name": "other"}, 400, "BadRequest"),
        ({"namespace": "kube-system"}, 400, "BadRequest"),
        ({"uid": "0000"}, 422, "Invalid"),
    ],
)
def test_update_cannot_change_identity(
    store: ObjectStore, change: dict[str, str], code: int, reason: str
) -> None:
    current = store.create(CONFIGMAPS, "default", cm("a"))
    current["metadata"].update(change)
    with api_error(code, reason):
        store.update(CONFIGMAPS, "default", "a", current)


def test_update_of_missing_object_is_not_found(store: ObjectStore) -> None:
    with api_error(404, "NotFound", 'configmaps "a" not found'):
        store.update(CONFIGMAPS, "default", "a", cm("a"))


def test_update_keeps_server_metadata(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, "default", cm("a"))
    body = cm("a", k="v")
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    updated = store.update(CONFIGMAPS, "default", "a", body)
    for key in ("uid", "creationTimestamp"):
        assert updated["metadata"][key] == created["metadata"][key]


@pytest.mark.parametrize(
    ("edit", "bumps"),
    [
        (lambda o: o["spec"].update(replicas=5), True),
        (lambda o: o["metadata"].setdefault("labels", {}).update(a="b"), False),
        (lambda o: o["metadata"].setdefault("annotations", {}).update(a="b"), False),
        (lambda o: o.update(status={"replicas": 3}), False),
        (lambda o: None, False),
    ],
)
def test_generation_bumps_only_outside_metadata_and_status(
    store: ObjectStore, edit: Any, bumps: bool
) -> None:
    current = store.create(PETSETS, "default", petset("web"))
    edit(current)
    updated = store.update(PETSETS, "default", "web", current)
    assert updated["metadata"]["generation"] == (2 if bumps else 1)


def test_status_subresource(store: ObjectStore) -> None:
    current = store.create(PETSETS, "default", petset("web"))
    current["status"] = {"replicas": 2}
    current["spec"]["replicas"] = 7
    after_status = store.update(PETSETS, "default", "web", current, subresource="status")
    assert after_status["status"] == {"replicas": 2}
    assert after_status["spec"]["replicas"] == 1  # the status write ignores spec
    plain = store.get(PETSETS, "default", "web")
    plain["status"] = {"replicas": 0}
    plain["spec"]["replicas"] = 3
    after_plain = store.update(PETSETS, "default", "web", plain)
    assert after_plain["status"] == {"replicas": 2}  # a plain write keeps the status
    assert after_plain["spec"]["replicas"] == 3


def test_status_is_plain_data_without_status_subresource(store: ObjectStore) -> None:
    body = cm("a")
    store.create(CONFIGMAPS, "default", body)
    updated = store.update(CONFIGMAPS, "default", "a", {**body, "status": {"x": 1}})
    assert updated["status"] == {"x": 1}


def test_unchanged_update_commits_nothing(store: ObjectStore) -> None:
    current = store.create(CONFIGMAPS, "default", cm("a", k="v"))
    seen = recorder(store)
    again = store.update(CONFIGMAPS, "default", "a", current)
    assert again["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    assert seen == []


def test_dry_run_changes_nothing(store: ObjectStore) -> None:
    seen = recorder(store)
    rv = store.resource_version
    made = store.create(CONFIGMAPS, "default", cm("a"), dry_run=True)
    assert made["metadata"]["uid"]
    real = store.create(CONFIGMAPS, "default", cm("b"))
    store.update(CONFIGMAPS, "default", "b", {**real, "data": {"k": "v"}}, dry_run=True)
    store.delete(CONFIGMAPS, "default", "b", dry_run=True)
    assert [e.type for e in seen] == ["ADDED"] and store.resource_version == rv + 1
    assert store.get(CONFIGMAPS, "default", "b")["metadata"]["resourceVersion"] == str(rv + 1)


def test_scale_subresource(store: ObjectStore) -> None:
    store.create(PETSETS, "default", petset("web", replicas=2))
    scale = store.get(PETSETS, "default", "web", subresource="scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 4
    assert store.update(PETSETS, "default", "web", scale, subresource="scale")["spec"]["replicas"] == 4
    with api_error(409, "Conflict"):
        store.update(PETSETS, "default", "web", scale, subresource="scale")  # stale resourceVersion
    patched = store.patch(
        PETSETS,
        "default",
        "web",
        b'{"spec":{"replicas":0}}',
        "application/merge-patch+json",
        subresource="scale",
    )
    assert patched["spec"]["replicas"] == 0
    assert store.get(PETSETS, "default", "web")["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    "metadata",
    [
        {"labels": {"bad key": "v"}},
        {"labels": {"k": "-bad-value"}},
        {"labels": {"k": "x" * 64}},
        {"annotations": {"Bad_Prefix.com/x": "v"}},
        {"ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]},
    ],
)
def test_metadata_validation(store: ObjectStore, metadata: dict[str, Any]) -> None:
    body = cm("a")
    body["metadata"].update(metadata)
    with api_error(422, "Invalid", "metadata."):
        store.create(CONFIGMAPS, "default", body)
    good = store.create(CONFIGMAPS, "default", cm("a"))
    good["metadata"].update(metadata)
    with api_error(422, "Invalid", "metadata."):
        store.update(CONFIGMAPS, "default", "a", good)


def test_pod_spec_is_mostly_immutable(store: ObjectStore) -> None:
    created = store.create(PODS, "default", pod("p"))
    created["spec"]["containers"][0]["image"] = "nginx:1.28"
    created["spec"]["activeDeadlineSeconds"] = 60
    created["spec"]["nodeName"] = "n1"  # binding an unscheduled pod
    updated = store.update(PODS, "default", "p", created)
    assert updated["spec"]["nodeName"] == "n1" and updated["metadata"]["generation"] == 2
    edits: list[tuple[str, Any]] = [
        ("containers", [{"name": "app", "image": "nginx:1.28", "env": [{"name": "A", "value": "1"}]}]),
        ("nodeName", "n2"),
        ("restartPolicy", "Never"),
    ]
    for field, value in edits:
        current = store.get(PODS, "default", "p")
        current["spec"][field] = value
        with api_error(422, "Invalid", "pod updates may not change fields"):
            store.update(PODS, "default", "p", current)


# --- kind defaults ------------------------------------------------------------------------------------------


def test_namespace_defaults(store: ObjectStore) -> None:
    ns = store.create(NAMESPACES, None, {"metadata": {"name": "team", "namespace": "ignored"}})
    assert ns["status"] == {"phase": "Active"}
    assert "namespace" not in ns["metadata"]
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}


def test_pvc_defaults(store: ObjectStore) -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    pvc = store.create(PVCS, "default", {"metadata": {"name": "www-web-0"}, "spec": spec})
    assert pvc["status"]["phase"] == "Pending"


def svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80, "name": "http"}], **spec}}


def test_service_cluster_ip_allocation(store: ObjectStore) -> None:
    a = store.create(SERVICES, "default", svc("a"))["spec"]
    b = store.create(SERVICES, "default", svc("b"))["spec"]
    assert a["clusterIP"] != b["clusterIP"]
    for spec in (a, b):
        assert spec["clusterIP"].startswith("10.9") and spec["clusterIPs"] == [spec["clusterIP"]]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 80}]
    headless = store.create(SERVICES, "default", svc("h", clusterIP="None"))["spec"]
    assert headless["clusterIP"] == "None" and headless["clusterIPs"] == ["None"]
    external = store.create(SERVICES, "default", svc("x", type="ExternalName", externalName="a.example"))
    assert "clusterIP" not in external["spec"]


def test_service_static_ip_conflicts_and_release(store: ObjectStore) -> None:
    store.create(SERVICES, "kube-system", svc("kube-dns", clusterIP="10.96.0.10"))
    with api_error(422, "Invalid", "provided IP is already allocated"):
        store.create(SERVICES, "default", svc("other", clusterIP="10.96.0.10"))
    with api_error(422, "Invalid", "not in the valid range"):
        store.create(SERVICES, "default", svc("outside", clusterIP="192.168.0.1"))
    store.delete(SERVICES, "kube-system", "kube-dns")
    assert (
        store.create(SERVICES, "default", svc("other", clusterIP="10.96.0.10"))["spec"]["clusterIP"]
        == "10.96.0.10"
    )


def test_service_update_keeps_cluster_ip(store: ObjectStore) -> None:
    ip = store.create(SERVICES, "default", svc("a"))["spec"]["clusterIP"]
    updated = store.update(SERVICES, "default", "a", svc("a", selector={"app": "a"}))
    assert updated["spec"]["clusterIP"] == ip
    with api_error(422, "Invalid", "may not change"):
        store.update(SERVICES, "default", "a", svc("a", clusterIP="10.96.5.5"))


# --- events and the window ----------------------------------------------------------------------------------


def test_listeners_see_each_change_in_order() -> None:
    store = new_store()
    seen = recorder(store)
    store.create(CONFIGMAPS, "default", cm("a"))
    store.update(CONFIGMAPS, "default", "a", cm("a", k="v"))
    store.delete(CONFIGMAPS, "default", "a")
    assert [(e.type, e.store_key) for e in seen] == [
        ("ADDED", "configmaps"),
        ("MODIFIED", "configmaps"),
        ("DELETED", "configmaps"),
    ]
    assert [e.resource_version for e in seen] == [int(e.object["metadata"]["resourceVersion"]) for e in seen]
    assert seen[-1].resource_version == store.resource_version
    assert seen[-1].object["data"] == {"k": "v"}  # the last state


def test_unsubscribe_and_failing_listener() -> None:
    store = new_store()
    seen = recorder(store)

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    store.subscribe(broken)
    unsubscribe = store.subscribe(seen.append)
    store.create(CONFIGMAPS, "default", cm("a"))
    unsubscribe()
    store.create(CONFIGMAPS, "default", cm("b"))
    assert [e.object["metadata"]["name"] for e in seen] == ["a", "a", "b"]


def test_events_after_filters_storage_and_namespace(store: ObjectStore) -> None:
    start = store.resource_version
    store.create(CONFIGMAPS, "default", cm("a"))
    store.create(PODS, "default", pod("p"))
    store.create(CONFIGMAPS, "kube-system", cm("b"))
    store.create(PETSETS_ALPHA, "default", petset("web", api_version="apps/v1alpha1"))
    assert [e.object["metadata"]["name"] for e in store.events_after(CONFIGMAPS, None, start)] == ["a", "b"]
    assert [e.object["metadata"]["name"] for e in store.events_after(CONFIGMAPS, "kube-system", start)] == [
        "b"
    ]
    assert [e.object["metadata"]["name"] for e in store.events_after(CONFIGMAPS, None, start + 1)] == ["b"]
    assert [e.object["apiVersion"] for e in store.events_after(PETSETS, "default", start)] == [
        "apps/v1alpha1"
    ]
    assert store.events_after(CONFIGMAPS, None, store.resource_version) == []


def test_events_after_too_old_is_gone() -> None:
    store = new_store(window=5)
    for i in range(20):
        store.create(CONFIGMAPS, "default", cm(f"c{i}"))
    current = store.resource_version
    assert len(store.events_after(CONFIGMAPS, None, current - 5)) == 5
    with api_error(410, "Expired", f"too old resource version: {current - 6} ({current - 5})"):
        store.events_after(CONFIGMAPS, None, current - 6)
    with api_error(410, "Expired"):
        store.events_after(CONFIGMAPS, None, 1)
    assert store.events_after(CONFIGMAPS, None, current) == []


def test_window_of_a_quiet_store_covers_everything_since_start() -> None:
    store = new_store(window=100)
    assert [e.object["metadata"]["name"] for e in store.events_after(NAMESPACES, None, 0)] == [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    ]
