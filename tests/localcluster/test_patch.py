"""Patches: JSON merge, JSON patch, strategic merge (with kubectl's directives), server-side apply."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeapi.meta import Obj
from localcluster.storage.patch import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    apply_patch,
    json_patch,
    merge_patch,
)
from localcluster.storage.store import ApiError, ObjectStore
from localcluster.storage.strategic import SCHEMAS, merge_patch_strategic
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    PETSETS,
    PODS,
    SERVICES,
    api_error,
    new_store,
    petset,
    pod,
    recorder,
)

# --- RFC 7386 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386(target: Obj, patch: Obj, expected: Obj) -> None:
    before = json.dumps(target)
    assert merge_patch(target, patch) == expected
    assert json.dumps(target) == before  # the input is not modified


# --- RFC 6902 -----------------------------------------------------------------------------------------------

DOC: Obj = {"metadata": {"annotations": {"a/b": "1", "m~n": "2"}}, "list": [1, 2, 3], "flag": True}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/x", "value": {"y": 1}}], {**DOC, "x": {"y": 1}}),
        ([{"op": "add", "path": "/list/-", "value": 4}], {**DOC, "list": [1, 2, 3, 4]}),
        ([{"op": "add", "path": "/list/0", "value": 0}], {**DOC, "list": [0, 1, 2, 3]}),
        ([{"op": "remove", "path": "/list/1"}], {**DOC, "list": [1, 3]}),
        ([{"op": "replace", "path": "/flag", "value": False}], {**DOC, "flag": False}),
        (
            [
                {"op": "remove", "path": "/metadata/annotations/a~1b"},
                {"op": "remove", "path": "/metadata/annotations/m~0n"},
            ],
            {**DOC, "metadata": {"annotations": {}}},
        ),
        (
            [{"op": "move", "from": "/list", "path": "/moved"}],
            {"metadata": DOC["metadata"], "flag": True, "moved": [1, 2, 3]},
        ),
        ([{"op": "copy", "from": "/list/0", "path": "/first"}], {**DOC, "first": 1}),
        ([{"op": "test", "path": "/flag", "value": True}], DOC),
        ([{"op": "test", "path": "/list", "value": [1, 2, 3.0]}], DOC),
        ([{"op": "replace", "path": "", "value": {"x": 1}}], {"x": 1}),
    ],
)
def test_json_patch(ops: list[Obj], expected: Obj) -> None:
    assert json_patch(DOC, ops) == expected
    assert DOC["list"] == [1, 2, 3]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/flag", "value": 1}],  # true is not 1
        [{"op": "test", "path": "/list/0", "value": 2}],
        [{"op": "test", "path": "/missing", "value": None}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/a/b/c", "value": 1}],
        [{"op": "add", "path": "/list/9", "value": 1}],
        [{"op": "add", "path": "/list/01", "value": 1}],
        [{"op": "move", "from": "/metadata", "path": "/metadata/inner"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "add", "path": "/x"}],
        [{"op": "frobnicate", "path": "/x"}],
    ],
)
def test_json_patch_failures_are_422(ops: list[Obj]) -> None:
    with pytest.raises(ApiError) as info:
        json_patch(DOC, ops)
    assert (info.value.code, info.value.reason) == (422, "Invalid")


def test_json_patch_with_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "/flag", "value": True}] * 10_001
    with pytest.raises(ApiError) as info:
        json_patch(DOC, ops)
    assert (info.value.code, info.value.reason) == (413, "RequestEntityTooLarge")


def test_json_patch_that_is_not_a_list_is_400() -> None:
    with pytest.raises(ApiError) as info:
        apply_patch({"kind": "ConfigMap"}, b'{"op":"add"}', JSON_PATCH)
    assert info.value.code == 400


# --- strategic merge ----------------------------------------------------------------------------------------

POD_SPEC: Obj = {
    "containers": [
        {
            "name": "app",
            "image": "nginx:1.27",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
        {"name": "sidecar", "image": "busybox"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a", "operator": "Exists"}],
}


def smp(obj: Obj, patch: Obj, kind: str = "Pod") -> Any:
    return merge_patch_strategic(obj, patch, SCHEMAS[kind])


def pod_obj(**meta: Any) -> Obj:
    return {"kind": "Pod", "metadata": {"name": "p", **meta}, "spec": json.loads(json.dumps(POD_SPEC))}


def test_strategic_merges_containers_by_name() -> None:
    patched = smp(pod_obj(), {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}})
    assert [c["name"] for c in patched["spec"]["containers"]] == ["app", "sidecar"]
    app = patched["spec"]["containers"][0]
    assert app["image"] == "nginx:1.28" and app["env"] == POD_SPEC["containers"][0]["env"]


def test_strategic_kubectl_apply_shape() -> None:
    """What `kubectl apply` sends after dropping env B, changing the image and adding a port."""
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "A"}],
                    "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 443}],
                    "env": [{"$patch": "delete", "name": "B"}],
                    "image": "nginx:1.28",
                    "name": "app",
                    "ports": [{"containerPort": 443, "protocol": "TCP"}],
                }
            ],
        },
    }
    patched = smp(pod_obj(), patch)
    app = patched["spec"]["containers"][0]
    assert app["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in app["ports"]] == [80, 443]
    assert app["image"] == "nginx:1.28"
    assert not any(k.startswith("$") for k in json.dumps(patched).split('"') if k)
    assert patched["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "{}\n"


def test_strategic_set_element_order_reorders() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
    assert [c["name"] for c in smp(pod_obj(), patch)["spec"]["containers"]] == ["sidecar", "app"]


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
            lambda s: [t["key"] for t in s["tolerations"]] == ["b"],
        ),
        (
            {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}}]}},
            lambda s: len(s["volumes"]) == 2,
        ),
        (
            {"spec": {"volumes": [{"$patch": "replace"}, {"name": "only"}]}},
            lambda s: s["volumes"] == [{"name": "only"}],
        ),
        (
            {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}},
            lambda s: len(s["containers"]) == 1,
        ),
        ({"spec": {"tolerations": None}}, lambda s: "tolerations" not in s),
        ({"spec": {"$patch": "replace", "containers": []}}, lambda s: s == {"containers": []}),
        (
            {
                "spec": {
                    "volumes": [
                        {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "c"}}
                    ]
                }
            },
            lambda s: s["volumes"] == [{"name": "data", "configMap": {"name": "c"}}],
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}
                    ]
                }
            },
            lambda s: (
                s["containers"][0]["volumeMounts"]
                == [{"name": "data", "mountPath": "/data", "readOnly": True}]
            ),
        ),
    ],
)
def test_strategic_directives(patch: Obj, check: Any) -> None:
    assert check(smp(pod_obj(), patch)["spec"])


def test_strategic_finalizers_and_owner_references() -> None:
    obj = pod_obj(finalizers=["a", "b"], ownerReferences=[{"uid": "1", "name": "x"}])
    patched = smp(
        obj, {"metadata": {"finalizers": ["c", "a"], "ownerReferences": [{"uid": "2", "name": "y"}]}}
    )
    assert patched["metadata"]["finalizers"] == ["a", "b", "c"]
    assert [r["uid"] for r in patched["metadata"]["ownerReferences"]] == ["1", "2"]
    removed = smp(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == ["b"]


def test_strategic_service_ports_and_conditions() -> None:
    service = {
        "kind": "Service",
        "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
    }
    patched = smp(service, {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}, "Service")
    assert patched["spec"]["ports"][1] == {"port": 443, "name": "https", "targetPort": 8443}
    status = {
        "kind": "Pod",
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]
        },
    }
    ready = smp(status, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert ready["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Scheduled", "status": "True"},
    ]


def test_strategic_list_element_without_merge_key_is_400() -> None:
    with pytest.raises(ApiError) as info:
        smp(pod_obj(), {"spec": {"containers": [{"image": "x"}]}})
    assert info.value.code == 400


# --- through the store --------------------------------------------------------------------------------------


@pytest.fixture
def store() -> ObjectStore:
    s = new_store()
    s.create(PODS, "default", pod("p", labels={"app": "web", "old": "x"}))
    s.create(PETSETS, "default", petset("web"))
    return s


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (MERGE, {"metadata": {"labels": {"old": None, "new": "y"}}}),
        (STRATEGIC, {"metadata": {"labels": {"old": None, "new": "y"}}}),
        (
            JSON_PATCH,
            [
                {"op": "remove", "path": "/metadata/labels/old"},
                {"op": "add", "path": "/metadata/labels/new", "value": "y"},
            ],
        ),
        (f"{MERGE}; charset=utf-8", {"metadata": {"labels": {"old": None, "new": "y"}}}),
    ],
)
def test_patch_types_on_a_pod(store: ObjectStore, content_type: str, body: Any) -> None:
    seen = recorder(store)
    patched = store.patch(PODS, "default", "p", json.dumps(body).encode(), content_type)
    assert patched["metadata"]["labels"] == {"app": "web", "new": "y"}
    assert patched["metadata"]["generation"] == 1
    assert [e.type for e in seen] == ["MODIFIED"]


def test_petset_refuses_strategic_merge(store: ObjectStore) -> None:
    with api_error(415, "UnsupportedMediaType", "application/merge-patch+json"):
        store.patch(PETSETS, "default", "web", b'{"spec":{"replicas":3}}', STRATEGIC)
    patched = store.patch(PETSETS, "default", "web", b'{"spec":{"replicas":3}}', MERGE)
    assert patched["spec"]["replicas"] == 3 and patched["metadata"]["generation"] == 2


def test_patch_resource_version_precondition(store: ObjectStore) -> None:
    rv = store.get(PODS, "default", "p")["metadata"]["resourceVersion"]
    body = json.dumps({"metadata": {"resourceVersion": rv, "labels": {"a": "1"}}}).encode()
    store.patch(PODS, "default", "p", body, MERGE)
    with api_error(409, "Conflict", "the object has been modified"):
        store.patch(PODS, "default", "p", body, MERGE)
    test_op = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}]
    with api_error(422, "Invalid"):
        store.patch(PODS, "default", "p", json.dumps(test_op).encode(), JSON_PATCH)


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (MERGE, b"{not json", 400),
        (MERGE, b"[1]", 400),
        (JSON_PATCH, b'[{"op":"test","path":"/spec/nodeName","value":"n9"}]', 422),
        ("text/plain", b"{}", 415),
        (MERGE, b'{"metadata":{"name":"renamed"}}', 400),
    ],
)
def test_bad_patches(store: ObjectStore, content_type: str, body: bytes, code: int) -> None:
    with pytest.raises(ApiError) as info:
        store.patch(PODS, "default", "p", body, content_type)
    assert info.value.code == code


def test_patch_missing_object_is_404(store: ObjectStore) -> None:
    with api_error(404, "NotFound"):
        store.patch(PODS, "default", "nope", b"{}", MERGE)


def test_status_patch_changes_only_status(store: ObjectStore) -> None:
    body = {"status": {"phase": "Running", "podIP": "10.244.0.9"}, "spec": {"nodeName": "n1"}}
    patched = store.patch(PODS, "default", "p", json.dumps(body).encode(), MERGE, subresource="status")
    assert patched["status"]["phase"] == "Running" and "nodeName" not in patched["spec"]
    plain = store.patch(PODS, "default", "p", b'{"status":{"phase":"Failed"}}', MERGE)
    assert plain["status"]["phase"] == "Running"


# --- server-side apply --------------------------------------------------------------------------------------

APPLIED_CM = b"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {team: a}
data:
  a: "1"
"""


def test_apply_creates_then_merges(store: ObjectStore) -> None:
    created = store.patch(CONFIGMAPS, "default", "settings", APPLIED_CM, APPLY, field_manager="kubectl")
    assert created["data"] == {"a": "1"} and created["metadata"]["uid"]
    again = APPLIED_CM.replace(b'a: "1"', b'b: "2"')
    merged = store.patch(CONFIGMAPS, "default", "settings", again, APPLY, field_manager="kubectl", force=True)
    assert merged["data"] == {"a": "1", "b": "2"}
    assert merged["metadata"]["uid"] == created["metadata"]["uid"]


def test_apply_uses_merge_keys_for_builtins(store: ObjectStore) -> None:
    applied = b"""
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    image: nginx:1.28
"""
    patched = store.patch(PODS, "default", "p", applied, APPLY, field_manager="me")
    assert patched["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert patched["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"


def test_apply_on_petset_and_errors(store: ObjectStore) -> None:
    applied = b"apiVersion: petdns.dev/v1\nkind: PetSet\nmetadata: {name: web}\nspec: {replicas: 4}\n"
    patched = store.patch(PETSETS, "default", "web", applied, APPLY, field_manager="me")
    assert patched["spec"]["replicas"] == 4 and patched["spec"]["serviceName"] == "web"
    with api_error(422, "Invalid", "fieldManager"):
        store.patch(PETSETS, "default", "web", applied, APPLY)
    with api_error(400, "BadRequest", "does not match the name on the URL"):
        store.patch(PETSETS, "default", "other", applied, APPLY, field_manager="me")
    with api_error(400, "BadRequest"):
        store.patch(
            PETSETS, "default", "web", b"kind: PetSet\nmetadata: {name: web}\n", APPLY, field_manager="me"
        )
    with api_error(400, "BadRequest"):
        store.patch(PETSETS, "default", "web", b"- not\n- an object\n", APPLY, field_manager="me")


def test_service_apply_keeps_allocated_ip(store: ObjectStore) -> None:
    applied = b"apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"
    created = store.patch(SERVICES, "default", "web", applied, APPLY, field_manager="me")
    again = store.patch(SERVICES, "default", "web", applied, APPLY, field_manager="me")
    assert again["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]  # nothing changed
