"""Watch streams: initial events, replay from a resourceVersion, 410, bookmarks, selectors, overflow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from localcluster.apiserver.watch import SelectorEdges
from localcluster.storage.resources import find
from localcluster.storage.selectors import label_matcher
from tests.localcluster.conftest import LocalApi, serving

CONFIGMAPS = find("", "v1", "configmaps")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
async def http(api: LocalApi) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api.url) as session:
        yield session


class Stream:
    """The events of one open watch, read line by line."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def next(self, timeout: float = 5) -> dict[str, Any]:
        line = await asyncio.wait_for(self.resp.content.readline(), timeout)
        assert line, "the watch ended"
        return json.loads(line)

    async def until(self, event_type: str, timeout: float = 5) -> dict[str, Any]:
        while True:
            event = await self.next(timeout)
            if event["type"] == event_type:
                return event

    async def rest(self, timeout: float = 5) -> list[dict[str, Any]]:
        """Every event until the server ends the stream."""
        body = await asyncio.wait_for(self.resp.content.read(), timeout)
        return [json.loads(line) for line in body.splitlines() if line]


async def watch(http: aiohttp.ClientSession, path: str, **params: str) -> AsyncIterator[Stream]:
    async with http.get(path, params={"watch": "1", **params}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        yield Stream(resp)


def cm(
    api: LocalApi, ns: str, name: str, *, labels: dict[str, str] | None = None, **data: str
) -> dict[str, Any]:
    """Create or replace a ConfigMap through the store; its stored form."""
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": data}

    def write() -> dict[str, Any]:
        try:
            current = api.store.get(CONFIGMAPS, ns, name)
        except Exception:
            return api.store.create(CONFIGMAPS, ns, body)
        new = {**current, "data": data, "metadata": {**current["metadata"], "labels": labels or {}}}
        return api.store.update(CONFIGMAPS, ns, name, new)

    return api.call(write)


def remove(api: LocalApi, ns: str, name: str) -> None:
    api.call(lambda: api.store.delete(CONFIGMAPS, ns, name))


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


async def test_initial_events_then_live(api: LocalApi, ns: str, http: aiohttp.ClientSession) -> None:
    cm(api, ns, "a", v="1")
    async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps"):
        first = await events.next()
        assert first["type"] == "ADDED" and first["object"]["kind"] == "ConfigMap"
        assert first["object"]["apiVersion"] == "v1" and first["object"]["data"] == {"v": "1"}
        cm(api, ns, "a", v="2")
        cm(api, ns, "b")
        remove(api, ns, "a")
        got = [await events.next() for _ in range(3)]
        assert names(got) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]


async def test_replay_from_resource_version_has_no_gap(
    api: LocalApi, ns: str, http: aiohttp.ClientSession
) -> None:
    start = cm(api, ns, "r", v="0")["metadata"]["resourceVersion"]
    for i in range(1, 4):
        cm(api, ns, "r", v=str(i))
    path = f"/api/v1/namespaces/{ns}/configmaps"
    async for events in watch(http, path, resourceVersion=start):
        got = [await events.next() for _ in range(3)]
        assert [e["object"]["data"]["v"] for e in got] == ["1", "2", "3"]
        assert all(e["type"] == "MODIFIED" for e in got)
        cm(api, ns, "r", v="4")
        assert (await events.next())["object"]["data"]["v"] == "4"


async def test_too_old_resource_version_is_an_error_event(tmp_path: Path) -> None:
    with serving(tmp_path, window=5) as api:
        ns = api.namespace("old")
        start = cm(api, ns, "x", v="0")["metadata"]["resourceVersion"]
        for i in range(10):
            cm(api, ns, "x", v=str(i + 1))
        async with aiohttp.ClientSession(base_url=api.url) as http:
            async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps", resourceVersion=start):
                (error,) = await events.rest()
    assert error["type"] == "ERROR"
    status = error["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")


async def test_send_initial_events_ends_with_a_bookmark(
    api: LocalApi, ns: str, http: aiohttp.ClientSession
) -> None:
    cm(api, ns, "one")
    cm(api, ns, "two")
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps", **params):
        got = [await events.next() for _ in range(3)]
    assert names(got[:2]) == [("ADDED", "one"), ("ADDED", "two")]
    bookmark = got[2]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(
        got[1]["object"]["metadata"]["resourceVersion"]
    )


async def test_periodic_bookmarks_and_timeout(api: LocalApi, ns: str, http: aiohttp.ClientSession) -> None:
    rv = cm(api, ns, "b")["metadata"]["resourceVersion"]
    params = {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps", **params):
        got = await events.rest(timeout=5)
    assert len(got) >= 3 and {e["type"] for e in got} == {"BOOKMARK"}
    obj = got[-1]["object"]
    assert (
        obj["kind"] == "ConfigMap"
        and obj["apiVersion"] == "v1"
        and set(obj) == {"kind", "apiVersion", "metadata"}
    )
    assert int(obj["metadata"]["resourceVersion"]) >= int(rv)


async def test_label_selector_edges(api: LocalApi, ns: str, http: aiohttp.ClientSession) -> None:
    cm(api, ns, "l", labels={"app": "x"})
    async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps", labelSelector="app=x"):
        assert names([await events.next()]) == [("ADDED", "l")]
        cm(api, ns, "l", labels={"app": "y"})
        cm(api, ns, "other", labels={"app": "y"})
        cm(api, ns, "l", labels={"app": "x"})
        cm(api, ns, "l", labels={"app": "x"}, v="1")
        remove(api, ns, "l")
        got = [await events.next() for _ in range(4)]
    assert names(got) == [("DELETED", "l"), ("ADDED", "l"), ("MODIFIED", "l"), ("DELETED", "l")]


async def test_selector_watch_from_resource_version(
    api: LocalApi, ns: str, http: aiohttp.ClientSession
) -> None:
    rv = cm(api, ns, "s", labels={"app": "x"})["metadata"]["resourceVersion"]
    cm(api, ns, "s", labels={"app": "y"})
    async for events in watch(
        http, f"/api/v1/namespaces/{ns}/configmaps", labelSelector="app=x", resourceVersion=rv
    ):
        assert names([await events.next()]) == [("DELETED", "s")]


async def test_selector_watch_from_resource_version_ignores_objects_that_never_matched(
    api: LocalApi, ns: str, http: aiohttp.ClientSession
) -> None:
    rv = cm(api, ns, "quiet", labels={"app": "y"})["metadata"]["resourceVersion"]
    cm(api, ns, "quiet", labels={"app": "y"}, v="1")  # changed after rv, never matching
    cm(api, ns, "loud", labels={"app": "x"})
    remove(api, ns, "quiet")
    async for events in watch(
        http, f"/api/v1/namespaces/{ns}/configmaps", labelSelector="app=x", resourceVersion=rv
    ):
        assert names([await events.next()]) == [("ADDED", "loud")]
        cm(api, ns, "quiet", labels={"app": "y"})
        cm(api, ns, "loud", labels={"app": "x"}, v="1")
        assert names([await events.next()]) == [("MODIFIED", "loud")]


def labelled(app: str) -> dict[str, Any]:
    return {"metadata": {"name": "o", "labels": {"app": app}}}


@pytest.mark.parametrize(
    ("event_type", "old", "new", "sent"),
    [
        ("ADDED", None, "x", "ADDED"),
        ("ADDED", None, "y", None),
        ("MODIFIED", "x", "x", "MODIFIED"),
        ("MODIFIED", "x", "y", "DELETED"),
        ("MODIFIED", "y", "x", "ADDED"),
        ("MODIFIED", "y", "y", None),
        ("DELETED", "x", "y", "DELETED"),  # judged by the version the client holds
        ("DELETED", "y", "x", None),
        ("DELETED", None, "x", "DELETED"),
        ("DELETED", None, "y", None),
    ],
)
def test_selector_edges_compare_old_and_new(
    event_type: str, old: str | None, new: str, sent: str | None
) -> None:
    edges = SelectorEdges(label_matcher("app=x"))
    before = None if old is None else labelled(old)
    assert edges.decide(event_type, labelled(new), before) == sent


async def test_field_selector_and_legacy_watch_path(
    api: LocalApi, ns: str, http: aiohttp.ClientSession
) -> None:
    cm(api, ns, "f1")
    cm(api, ns, "f2")
    async with http.get(
        f"/api/v1/watch/namespaces/{ns}/configmaps", params={"fieldSelector": "metadata.name=f2"}
    ) as resp:
        events = Stream(resp)
        assert names([await events.next()]) == [("ADDED", "f2")]
        cm(api, ns, "f1", v="1")
        cm(api, ns, "f2", v="1")
        assert names([await events.next()]) == [("MODIFIED", "f2")]
    async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps/f1"):
        assert names([await events.next()]) == [("ADDED", "f1")]
        cm(api, ns, "f2", v="2")
        cm(api, ns, "f1", v="2")
        assert names([await events.next()]) == [("MODIFIED", "f1")]


async def test_all_namespaces_and_other_version(api: LocalApi, http: aiohttp.ClientSession) -> None:
    ns = api.namespace("petset-watch")
    body = {
        "apiVersion": "petdns.dev/v1",
        "kind": "PetSet",
        "metadata": {"name": "w"},
        "spec": {"replicas": 1, "template": {}},
    }
    rv = str(api.call(lambda: api.store.resource_version))
    async for events in watch(http, "/apis/apps/v1alpha1/petsets", resourceVersion=rv):
        async with http.post(f"/apis/petdns.dev/v1/namespaces/{ns}/petsets", json=body) as resp:
            assert resp.status == 201
        event = await events.next()
    assert event["type"] == "ADDED" and event["object"]["apiVersion"] == "apps/v1alpha1"


async def test_table_watch(api: LocalApi, ns: str, http: aiohttp.ClientSession) -> None:
    cm(api, ns, "t", a="1", b="2")
    path = f"/api/v1/namespaces/{ns}/configmaps"
    async with http.get(path, params={"watch": "true"}, headers={"Accept": TABLE}) as resp:
        event = await Stream(resp).next()
    table = event["object"]
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Data",
        "Age",
    ]
    assert table["rows"][0]["cells"][:2] == ["t", 2]


async def test_slow_watcher_is_closed(tmp_path: Path) -> None:
    with serving(tmp_path, capacity=5) as api:
        ns = api.namespace("slow")
        async with aiohttp.ClientSession(base_url=api.url) as http:
            async for events in watch(http, f"/api/v1/namespaces/{ns}/configmaps", resourceVersion="1"):
                await asyncio.sleep(0.2)  # the stream is open and idle

                def burst() -> None:
                    for i in range(20):
                        api.store.create(CONFIGMAPS, ns, {"metadata": {"name": f"c{i}"}})

                api.call(burst)
                got = await events.rest()
                assert len(got) <= 5
            assert api.call(lambda: api.server.hub.count) == 0
