"""The API server over HTTP: version, health, discovery, OpenAPI, verbs, errors, subresources, auth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.localcluster.conftest import LocalApi, serving

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


@pytest.fixture
async def http(api: LocalApi) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api.url) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **kw: Any
) -> tuple[int, Any]:
    """(status, decoded JSON body) of one request; a dict body is sent as JSON."""
    data = json.dumps(body) if isinstance(body, dict | list) else body
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    async with http.request(method, path, data=data, headers=headers, **kw) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text.startswith(("{", "[")) else text


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }


def petset(name: str, replicas: int = 2) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    return {
        "apiVersion": "apps/v1alpha1",
        "kind": "PetSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


async def test_version_and_health(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", "/version")
    assert status == 200
    assert body["gitVersion"].endswith("-petdns") and body["major"] == "1" and "platform" in body
    for path in ("/healthz", "/livez", "/readyz"):
        assert await call(http, "GET", path) == (200, "ok")


async def test_legacy_discovery(http: aiohttp.ClientSession) -> None:
    _, versions = await call(http, "GET", "/api")
    assert versions["kind"] == "APIVersions" and versions["versions"] == ["v1"]
    _, core = await call(http, "GET", "/api/v1")
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"]["shortNames"] == ["po"] and names["pods"]["namespaced"] is True
    assert names["pods/status"]["kind"] == "Pod" and names["pods/status"]["verbs"] == [
        "get",
        "patch",
        "update",
    ]
    assert names["namespaces"]["namespaced"] is False
    _, groups = await call(http, "GET", "/apis")
    apps = next(g for g in groups["groups"] if g["name"] == "apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert {v["version"] for v in apps["versions"]} == {"v1", "v1alpha1"}
    _, group = await call(http, "GET", "/apis/petdns.dev")
    assert group["kind"] == "APIGroup" and group["preferredVersion"]["version"] == "v1"
    for path in ("/apis/apps/v1alpha1", "/apis/petdns.dev/v1"):
        _, listed = await call(http, "GET", path)
        by_name = {r["name"]: r for r in listed["resources"]}
        scale = by_name["petsets/scale"]
        assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
        assert by_name["petsets"]["kind"] == "PetSet"
    _, ours = await call(http, "GET", "/apis/petdns.dev/v1")
    assert {r["name"]: r for r in ours["resources"]}["petsets"]["shortNames"] == ["pets"]


async def test_aggregated_discovery(http: aiohttp.ClientSession) -> None:
    async with http.get("/apis", headers={"Accept": AGGREGATED}) as resp:
        assert (
            resp.headers["Content-Type"]
            == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        body = await resp.json(content_type=None)
    assert body["kind"] == "APIGroupDiscoveryList" and body["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = {g["metadata"].get("name", ""): g for g in body["items"]}
    assert "" not in groups and [v["version"] for v in groups["apps"]["versions"]] == ["v1", "v1alpha1"]
    petsets = next(r for r in groups["petdns.dev"]["versions"][0]["resources"] if r["resource"] == "petsets")
    assert petsets["scope"] == "Namespaced" and petsets["shortNames"] == ["pets"]
    subs = {s["subresource"]: s["responseKind"] for s in petsets["subresources"]}
    assert subs["scale"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    async with http.get("/api", headers={"Accept": AGGREGATED}) as resp:
        core = await resp.json(content_type=None)
    assert [g["versions"][0]["version"] for g in core["items"]] == ["v1"]
    async with http.get("/api", headers={"Accept": "application/json"}) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        assert (await resp.json())["kind"] == "APIVersions"


async def test_openapi_v3_index(http: aiohttp.ClientSession) -> None:
    _, root = await call(http, "GET", "/openapi/v3")
    url = root["paths"]["apis/apps/v1alpha1"]["serverRelativeURL"]
    _, doc = await call(http, "GET", url)
    patch = doc["paths"]["/apis/apps/v1alpha1/namespaces/{namespace}/petsets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1alpha1",
        "kind": "PetSet",
    }
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert (await http.get("/openapi/v2")).headers["Content-Type"].endswith("+protobuf")  # no definitions


async def test_unknown_paths_are_status_404(http: aiohttp.ClientSession) -> None:
    for path in (
        "/api/v1/widgets",
        "/apis/nope/v1",
        "/api/v1/pods/x",
        "/api/v1/namespaces/default/pods/x/logs",
    ):
        status, body = await call(http, "GET", path)
        assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound", path
    status, body = await call(http, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {})
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = await call(http, "POST", "/api/v1", {})
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    for method, path in (("HEAD", "/api/v1/namespaces/default"), ("POST", "/api/v1/namespaces/default")):
        assert (await call(http, method, path))[0] == 405, method
    assert (await call(http, "GET", "/api/v1/namespaces/default"))[0] == 200


async def test_petset_served_under_both_group_versions(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("both-versions")
    status, created = await call(http, "POST", f"/apis/apps/v1alpha1/namespaces/{ns}/petsets", petset("web"))
    assert status == 201 and created["apiVersion"] == "apps/v1alpha1"
    _, ours = await call(http, "GET", f"/apis/petdns.dev/v1/namespaces/{ns}/petsets/web")
    assert ours["apiVersion"] == "petdns.dev/v1" and ours["kind"] == "PetSet"
    _, listed = await call(http, "GET", f"/apis/petdns.dev/v1/namespaces/{ns}/petsets")
    assert listed["kind"] == "PetSetList" and listed["apiVersion"] == "petdns.dev/v1"
    assert [i["apiVersion"] for i in listed["items"]] == ["petdns.dev/v1"]


async def test_create_get_list_page(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("paging")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(5):
        assert (await call(http, "POST", base, cm(f"c{i}", group="odd" if i % 2 else "even")))[0] == 201
    names, token = [], ""
    while True:
        _, page = await call(
            http, "GET", base, params={"limit": "2", **({"continue": token} if token else {})}
        )
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == 5 - len(names)
    assert names == [f"c{i}" for i in range(5)]
    _, odd = await call(http, "GET", base, params={"labelSelector": "group=odd"})
    assert [i["metadata"]["name"] for i in odd["items"]] == ["c1", "c3"]
    _, named = await call(
        http, "GET", "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={ns}"}
    )
    assert len(named["items"]) == 5


async def test_yaml_body_and_dry_run(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("yaml-dry")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    yaml_body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata: {a: '1'}\n"
    status, made = await call(http, "POST", base, yaml_body, headers={"Content-Type": "application/yaml"})
    assert status == 201 and made["data"] == {"a": "1"}
    status, dry = await call(http, "POST", base, cm("dry"), params={"dryRun": "All"})
    assert status == 201 and dry["metadata"]["name"] == "dry"
    assert (await call(http, "GET", f"{base}/dry"))[0] == 404


async def test_errors_are_status_objects(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("errors")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    await call(http, "POST", base, cm("dup"))
    status, body = await call(http, "POST", base, cm("dup"))
    assert (status, body["reason"], body["code"]) == (409, "AlreadyExists", 409)
    status, body = await call(
        http, "POST", base, {**cm("x"), "metadata": {"name": "x", "namespace": "other"}}
    )
    assert (status, body["reason"]) == (400, "BadRequest")
    status, body = await call(http, "POST", f"/api/v1/namespaces/{ns}/endpoints", {"metadata": {"name": "e"}})
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    status, body = await call(
        http,
        "POST",
        base,
        b"\x6b\x38\x73\x00",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")
    status, body = await call(http, "POST", base, "{not json")
    assert (status, body["kind"]) == (400, "Status")
    status, body = await call(http, "PUT", f"{base}/dup", cm("other-name"))
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_update_with_stale_resource_version_conflicts(
    api: LocalApi, http: aiohttp.ClientSession
) -> None:
    ns = api.namespace("conflicts")
    path = f"/api/v1/namespaces/{ns}/configmaps/c"
    _, made = await call(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c"))
    fresh = {**made, "data": {"k": "new"}}
    status, updated = await call(http, "PUT", path, fresh)
    assert status == 200 and updated["data"] == {"k": "new"}
    status, body = await call(http, "PUT", path, {**made, "data": {"k": "stale"}})
    assert (status, body["reason"]) == (409, "Conflict")


async def test_patch_types(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("patches")
    path = f"/api/v1/namespaces/{ns}/configmaps/p"
    await call(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("p"))
    merge = {"Content-Type": "application/merge-patch+json"}
    _, body = await call(http, "PATCH", path, {"data": {"m": "1"}}, headers=merge)
    assert body["data"] == {"k": "v", "m": "1"}
    jsonp = {"Content-Type": "application/json-patch+json"}
    _, body = await call(http, "PATCH", path, [{"op": "remove", "path": "/data/k"}], headers=jsonp)
    assert body["data"] == {"m": "1"}
    apply = {"Content-Type": "application/apply-patch+yaml"}
    new = f"/api/v1/namespaces/{ns}/configmaps/applied"
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: b}\n"
    status, body = await call(http, "PATCH", new, doc, headers=apply, params={"fieldManager": "test"})
    assert status == 201 and body["data"] == {"a": "b"}
    status, body = await call(
        http, "PATCH", new, doc.replace("a: b", "a: c"), headers=apply, params={"fieldManager": "test"}
    )
    assert status == 200 and body["data"] == {"a": "c"}


async def test_status_and_scale_subresources(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("subresources")
    base = f"/apis/apps/v1alpha1/namespaces/{ns}/petsets/web"
    _, made = await call(http, "POST", f"/apis/apps/v1alpha1/namespaces/{ns}/petsets", petset("web"))
    status, updated = await call(
        http, "PUT", f"{base}/status", {**made, "status": {"replicas": 1}, "spec": {"replicas": 9}}
    )
    assert status == 200 and updated["status"] == {"replicas": 1} and updated["spec"]["replicas"] == 2
    _, scale = await call(http, "GET", f"{base}/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 1, "selector": "app=web"}
    status, scaled = await call(http, "PUT", f"{base}/scale", {**scale, "spec": {"replicas": 4}})
    assert status == 200 and scaled["spec"]["replicas"] == 4
    status, body = await call(http, "PUT", f"{base}/scale", {**scale, "spec": {"replicas": 5}})
    assert (status, body["reason"]) == (409, "Conflict")
    merge = {"Content-Type": "application/merge-patch+json"}
    _, patched = await call(http, "PATCH", f"{base}/scale", {"spec": {"replicas": 3}}, headers=merge)
    assert patched["spec"]["replicas"] == 3
    _, current = await call(http, "GET", f"/apis/petdns.dev/v1/namespaces/{ns}/petsets/web")
    assert current["spec"]["replicas"] == 3


async def test_delete_answers(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("deletes")
    await call(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("gone"))
    status, body = await call(http, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/gone")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "gone" and body["details"]["kind"] == "configmaps"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await call(http, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
    status, body = await call(
        http,
        "DELETE",
        f"/api/v1/namespaces/{ns}/pods/p",
        {"kind": "DeleteOptions", "propagationPolicy": "Background"},
    )
    assert status == 200 and body["kind"] == "Pod" and body["metadata"]["name"] == "p"
    assert (await call(http, "DELETE", f"/api/v1/namespaces/{ns}/pods/p"))[0] == 404


async def test_delete_collection(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("collection")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        await call(http, "POST", base, cm(name, tier=tier))
    status, body = await call(http, "DELETE", base, params={"labelSelector": "tier=x"})
    assert status == 200 and body["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    _, left = await call(http, "GET", base)
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]


async def test_tables(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("tables")
    await call(http, "POST", f"/apis/apps/v1alpha1/namespaces/{ns}/petsets", petset("web", 3))
    _, listed = await call(
        http, "GET", f"/apis/apps/v1alpha1/namespaces/{ns}/petsets", headers={"Accept": TABLE}
    )
    assert listed["kind"] == "Table" and listed["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in listed["columnDefinitions"]] == ["Name", "Desired", "Current", "Age"]
    (row,) = listed["rows"]
    assert row["cells"][:3] == ["web", 3, None] and row["object"]["kind"] == "PartialObjectMetadata"
    assert listed["metadata"]["resourceVersion"]
    _, one = await call(
        http, "GET", f"/api/v1/namespaces/{ns}", headers={"Accept": TABLE}, params={"includeObject": "Object"}
    )
    assert one["rows"][0]["cells"][:2] == [ns, "Active"] and one["rows"][0]["object"]["kind"] == "Namespace"


async def test_bearer_token(tmp_path: Path) -> None:
    with serving(tmp_path, token="s3cret") as api:
        assert api.url.startswith("https://127.0.0.1:") and api.cert is not None
        connector = aiohttp.TCPConnector(ssl=api.cert.client_context())
        async with aiohttp.ClientSession(base_url=api.url, connector=connector) as http:
            status, body = await call(http, "GET", "/api/v1/namespaces")
            assert (status, body["reason"]) == (401, "Unauthorized")
            status, _ = await call(http, "GET", "/version", headers={"Authorization": "Bearer wrong"})
            assert status == 401
            status, body = await call(
                http, "GET", "/api/v1/namespaces", headers={"Authorization": "Bearer s3cret"}
            )
            assert status == 200 and body["kind"] == "NamespaceList"
        assert "token: s3cret" in api.kubeconfig.read_text()
        assert api.kubectl("get", "ns", "default", "-o", "name").stdout.strip() == "namespace/default"
