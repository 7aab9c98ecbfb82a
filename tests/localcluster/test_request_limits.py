"""Request bodies the API server refuses as upstream does: nested too deeply (400 with a Status, for
every way in: create, merge, strategic, JSON and apply patches, JSON or YAML) and over 3 MiB (413)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.localcluster.conftest import LocalApi

LEVELS = 10_000
DEEP_JSON = '{"a":' * LEVELS + "1" + "}" * LEVELS
DEEP_YAML = "{a: " * LEVELS + "1" + "}" * LEVELS  # flow style: block style would take 100 MB
JSON_BODY = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"extra":' + DEEP_JSON + "}"
YAML_BODY = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nextra: " + DEEP_YAML + "\n"
JSON_PATCH = '[{"op":"add","path":"/data/x","value":' + DEEP_JSON + "}]"


@pytest.fixture
async def http(api: LocalApi) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api.url, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def send(http: aiohttp.ClientSession, method: str, path: str, body: str, ctype: str) -> tuple[int, Any]:
    async with http.request(method, path, data=body.encode(), headers={"Content-Type": ctype}) as resp:
        return resp.status, json.loads(await resp.text())


@pytest.fixture
async def target(api: LocalApi, http: aiohttp.ClientSession) -> str:
    """A ConfigMap `deep` to patch, in a namespace of its own."""
    ns = api.namespace("limits")
    body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{"k":"v"}}'
    status, _ = await send(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", body, "application/json")
    assert status in (201, 409)
    return ns


def assert_status(got: tuple[int, Any], code: int, reason: str) -> dict[str, Any]:
    status, body = got
    assert status == code, body
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == code and body["reason"] == reason, body
    return dict(body)


@pytest.mark.parametrize(
    "case",
    [
        ("POST", "", "application/json", JSON_BODY),
        ("POST", "", "application/yaml", YAML_BODY),
        ("PUT", "/deep", "application/json", JSON_BODY),
        ("PATCH", "/deep", "application/merge-patch+json", JSON_BODY),
        ("PATCH", "/deep", "application/strategic-merge-patch+json", JSON_BODY),
        ("PATCH", "/deep", "application/json-patch+json", JSON_PATCH),
        ("PATCH", "/deep", "application/apply-patch+yaml", YAML_BODY),
        ("PATCH", "/deep", "application/apply-patch+yaml", JSON_BODY),
        ("PATCH", "/fresh", "application/apply-patch+yaml", YAML_BODY),
    ],
)
async def test_deep_bodies_are_400_with_a_status(
    http: aiohttp.ClientSession, target: str, case: tuple[str, str, str, str]
) -> None:
    method, suffix, ctype, body = case
    path = f"/api/v1/namespaces/{target}/configmaps{suffix}"
    if ctype.startswith("application/apply-patch"):
        path += "?fieldManager=test"
    status = assert_status(await send(http, method, path, body, ctype), 400, "BadRequest")
    assert "nested more than 100 levels deep" in status["message"]


@pytest.mark.parametrize(
    ("method", "suffix", "ctype"),
    [
        ("POST", "", "application/json"),
        ("POST", "", "application/yaml"),
        ("PATCH", "/deep", "application/merge-patch+json"),
        ("PATCH", "/deep", "application/apply-patch+yaml"),
    ],
)
async def test_bodies_over_3_mib_are_413(
    http: aiohttp.ClientSession, target: str, method: str, suffix: str, ctype: str
) -> None:
    big = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y" * (4 << 20)}}
    )
    path = f"/api/v1/namespaces/{target}/configmaps{suffix}?fieldManager=test"
    status = assert_status(await send(http, method, path, big, ctype), 413, "RequestEntityTooLarge")
    assert status["message"] == f"Request entity too large: limit is {3 * 1024 * 1024}"


async def test_a_body_just_under_3_mib_is_taken(http: aiohttp.ClientSession, target: str) -> None:
    # a Lease: a ConfigMap's data may not pass 1 MiB
    head = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "large"}}
    filler = 3 * 1024 * 1024 - len(
        json.dumps({**head, "spec": {"holderIdentity": ""}}, separators=(",", ":"))
    )
    body = json.dumps({**head, "spec": {"holderIdentity": "y" * filler}}, separators=(",", ":"))
    assert len(body) == 3 * 1024 * 1024
    path = f"/apis/coordination.k8s.io/v1/namespaces/{target}/leases"
    status, got = await send(http, "POST", path, body, "application/json")
    assert status == 201, got


async def test_a_deep_continue_token_is_400(http: aiohttp.ClientSession, target: str) -> None:
    token = base64.urlsafe_b64encode(b"[" * 5000).decode()
    path = f"/api/v1/namespaces/{target}/configmaps?limit=1&continue={token}"
    async with http.get(path) as resp:
        got = resp.status, json.loads(await resp.text())
    status = assert_status(got, 400, "BadRequest")
    assert "continue key is not valid" in status["message"]
