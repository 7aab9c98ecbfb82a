"""The official `kubernetes` Python client against the local API server: CRUD, conflicts, patches, watches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config, watch
from kubernetes.client import (
    ApiClient,
    CoreV1Api,
    CustomObjectsApi,
    V1ConfigMap,
    V1ObjectMeta,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
)
from kubernetes.client.exceptions import ApiException

from tests.localcluster.conftest import LocalApi, serving

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture(scope="module")
def client(api: LocalApi) -> Iterator[ApiClient]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        yield made


@pytest.fixture
def core(client: ApiClient) -> CoreV1Api:
    return CoreV1Api(client)


def configmap(name: str, **data: str) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels={"app": "demo"}), data=data)


def petset(name: str) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    spec = {
        "serviceName": name,
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": template,
    }
    return {"apiVersion": "petdns.dev/v1", "kind": "PetSet", "metadata": {"name": name}, "spec": spec}


def test_create_get_list(core: CoreV1Api, ns: str) -> None:
    made = core.create_namespaced_config_map(ns, configmap("one", a="1"))
    assert made.metadata.uid and made.metadata.resource_version and made.data == {"a": "1"}
    core.create_namespaced_config_map(ns, configmap("two"))
    got = core.read_namespaced_config_map("one", ns)
    assert got.metadata.uid == made.metadata.uid
    listed = core.list_namespaced_config_map(ns, label_selector="app=demo")
    assert [i.metadata.name for i in listed.items] == ["one", "two"]
    page = core.list_namespaced_config_map(ns, limit=1)
    assert len(page.items) == 1 and page.metadata._continue
    rest = core.list_namespaced_config_map(ns, limit=1, _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["two"] and not rest.metadata._continue
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", ns)
    assert missing.value.status == 404


def test_replace_with_stale_resource_version_conflicts(core: CoreV1Api, ns: str) -> None:
    made = core.create_namespaced_config_map(ns, configmap("c", v="1"))
    made.data = {"v": "2"}
    assert core.replace_namespaced_config_map("c", ns, made).data == {"v": "2"}
    made.data = {"v": "stale"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("c", ns, made)
    assert conflict.value.status == 409 and '"reason":"Conflict"' in conflict.value.body


def test_patch(core: CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("p", a="1"))
    merged = core.patch_namespaced_config_map("p", ns, {"data": {"b": "2"}}, _content_type=MERGE)
    assert merged.data == {"a": "1", "b": "2"}
    patched = core.patch_namespaced_config_map("p", ns, [{"op": "remove", "path": "/data/a"}])
    assert patched.data == {"b": "2"}
    service = V1Service(
        metadata=V1ObjectMeta(name="s"),
        spec=V1ServiceSpec(selector={"app": "x"}, ports=[V1ServicePort(port=80, name="web")]),
    )
    core.create_namespaced_service(ns, service)
    body = {"spec": {"ports": [{"port": 81, "name": "alt"}]}}
    svc = core.patch_namespaced_service("s", ns, body, _content_type=STRATEGIC)
    assert sorted(p.port for p in svc.spec.ports) == [80, 81]
    assert svc.spec.cluster_ip and svc.spec.type == "ClusterIP"


def test_delete_returns_status(core: CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("d"))
    status = core.delete_namespaced_config_map("d", ns)
    assert status["status"] == "Success" and status["details"]["name"] == "d"
    assert core.list_namespaced_config_map(ns).items == []


def test_watch_with_bookmarks(core: CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("w", v="1"))
    seen: list[str] = []
    watcher = watch.Watch()
    deadline = time.monotonic() + 10
    for event in watcher.stream(
        core.list_namespaced_config_map, ns, allow_watch_bookmarks=True, timeout_seconds=10
    ):
        seen.append(event["type"])
        if event["type"] == "ADDED":
            core.patch_namespaced_config_map("w", ns, {"data": {"v": "2"}}, _content_type=MERGE)
        elif event["type"] == "MODIFIED":
            assert event["object"].data == {"v": "2"}
            core.delete_namespaced_config_map("w", ns)
        elif (event["type"] == "BOOKMARK" and "DELETED" in seen) or time.monotonic() > deadline:
            watcher.stop()
    assert [t for t in seen if t != "BOOKMARK"] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[-1] == "BOOKMARK"
    assert int(watcher.resource_version) >= 1


def test_watch_from_expired_resource_version(tmp_path: Path) -> None:
    with (
        serving(tmp_path, window=3) as api,
        config.new_client_from_config(config_file=str(api.kubeconfig)) as c,
    ):
        core = CoreV1Api(c)
        ns = api.namespace("expired")
        first = core.create_namespaced_config_map(ns, configmap("x", v="0"))
        for i in range(6):
            core.patch_namespaced_config_map("x", ns, {"data": {"v": str(i)}}, _content_type=MERGE)
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=first.metadata.resource_version
        )
        with pytest.raises(ApiException) as gone:
            next(iter(stream))
    assert gone.value.status == 410


def test_custom_objects_and_scale(client: ApiClient, ns: str) -> None:
    custom = CustomObjectsApi(client)
    custom.create_namespaced_custom_object("petdns.dev", "v1", ns, "petsets", petset("web"))
    alpha = custom.get_namespaced_custom_object("apps", "v1alpha1", ns, "petsets", "web")
    assert alpha["apiVersion"] == "apps/v1alpha1" and alpha["spec"]["replicas"] == 1
    scale = custom.get_namespaced_custom_object_scale("petdns.dev", "v1", ns, "petsets", "web")
    assert scale["kind"] == "Scale" and scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 4
    custom.replace_namespaced_custom_object_scale("petdns.dev", "v1", ns, "petsets", "web", scale)
    with pytest.raises(ApiException) as stale:
        custom.replace_namespaced_custom_object_scale("petdns.dev", "v1", ns, "petsets", "web", scale)
    assert stale.value.status == 409
    listed = custom.list_namespaced_custom_object("petdns.dev", "v1", ns, "petsets")
    assert [i["spec"]["replicas"] for i in listed["items"]] == [4]
