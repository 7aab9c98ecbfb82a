"""Object store lists: order, namespaces, selectors, paging with continue tokens and their expiry."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kubeapi.meta import Obj
from localcluster.storage.journal import SqliteJournal
from localcluster.storage.selectors import selector_matcher
from localcluster.storage.store import ObjectStore
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    NAMESPACES,
    PODS,
    api_error,
    names,
    new_store,
    pod,
)


def cm(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


@pytest.fixture
def store() -> ObjectStore:
    s = new_store()
    s.create(NAMESPACES, None, {"metadata": {"name": "team"}})
    return s


def test_list_order_and_namespaces(store: ObjectStore) -> None:
    for ns, name in [("team", "b"), ("default", "z"), ("team", "a"), ("default", "c")]:
        store.create(CONFIGMAPS, ns, cm(name))
    everything = store.list(CONFIGMAPS, None)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everything.items] == [
        ("default", "c"),
        ("default", "z"),
        ("team", "a"),
        ("team", "b"),
    ]
    assert everything.resource_version == str(store.resource_version)
    assert everything.continue_token == "" and everything.remaining is None
    assert names(store.list(CONFIGMAPS, "team").items) == ["a", "b"]
    assert names(store.list(CONFIGMAPS, "nowhere").items) == []


def test_list_with_selectors(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a", app="web", tier="front"))
    store.create(CONFIGMAPS, "default", cm("b", app="web"))
    store.create(CONFIGMAPS, "default", cm("c", app="db"))
    assert names(store.list(CONFIGMAPS, None, label_selector="app=web,tier").items) == ["a"]
    assert names(store.list(CONFIGMAPS, None, label_selector="app=web,!tier").items) == ["b"]
    assert names(store.list(CONFIGMAPS, None, field_selector="metadata.name!=b").items) == ["a", "c"]
    with api_error(400, "BadRequest", "field label not supported: data.x"):
        store.list(CONFIGMAPS, None, field_selector="data.x=1")
    with api_error(400, "BadRequest"):
        store.list(CONFIGMAPS, None, label_selector="app in (web")


def test_pod_field_selectors(store: ObjectStore) -> None:
    store.create(PODS, "default", pod("on-n1", node="n1"))
    store.create(PODS, "default", pod("unscheduled"))
    assert names(store.list(PODS, None, field_selector="spec.nodeName=n1").items) == ["on-n1"]
    assert names(store.list(PODS, None, field_selector="spec.nodeName=").items) == ["unscheduled"]
    assert names(store.list(PODS, None, field_selector="status.phase=Pending,spec.nodeName!=n1").items) == [
        "unscheduled"
    ]


def page_through(store: ObjectStore, *, limit: int, between: object = None, **kw: str) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        page = store.list(CONFIGMAPS, "default", limit=limit, continue_token=token, **kw)
        assert len(page.items) <= limit
        seen += names(page.items)
        if not page.continue_token:
            return seen
        token = page.continue_token
        if callable(between):
            between()


def test_paging_1000_objects(store: ObjectStore) -> None:
    for i in range(1000):
        store.create(CONFIGMAPS, "default", cm(f"cm-{i:04d}"))
    first = store.list(CONFIGMAPS, "default", limit=100)
    assert len(first.items) == 100 and first.remaining == 900 and first.continue_token
    assert page_through(store, limit=100) == [f"cm-{i:04d}" for i in range(1000)]
    assert page_through(store, limit=333) == [f"cm-{i:04d}" for i in range(1000)]
    last = store.list(CONFIGMAPS, "default", limit=1000)
    assert len(last.items) == 1000 and last.continue_token == "" and last.remaining is None


def test_paging_with_selector_has_no_remaining_count(store: ObjectStore) -> None:
    for i in range(10):
        store.create(CONFIGMAPS, "default", cm(f"c{i}", parity=str(i % 2)))
    page = store.list(CONFIGMAPS, "default", limit=2, label_selector="parity=0")
    assert names(page.items) == ["c0", "c2"] and page.remaining is None and page.continue_token
    assert page_through(store, limit=2, label_selector="parity=0") == ["c0", "c2", "c4", "c6", "c8"]


def test_paging_while_objects_come_and_go(store: ObjectStore) -> None:
    rng = random.Random(3)
    stable = [f"cm-{i:04d}" for i in range(0, 1000, 2)]
    churn = [f"cm-{i:04d}" for i in range(1, 1000, 2)]
    for name in stable + churn:
        store.create(CONFIGMAPS, "default", cm(name))
    extra = iter(range(10_000))

    def mutate() -> None:
        for _ in range(20):
            victim = rng.choice(churn)
            try:
                store.delete(CONFIGMAPS, "default", victim)
            except Exception:
                store.create(CONFIGMAPS, "default", cm(victim))
            store.create(CONFIGMAPS, "default", cm(f"new-{next(extra):05d}-{rng.randrange(10**6)}"))

    seen = page_through(store, limit=37, between=mutate)
    assert len(seen) == len(set(seen)), "an object was listed twice"
    assert set(stable) <= set(seen), "an object present throughout was skipped"


def test_continue_pages_report_the_first_page_version(store: ObjectStore) -> None:
    for i in range(4):
        store.create(CONFIGMAPS, "default", cm(f"c{i}"))
    first = store.list(CONFIGMAPS, "default", limit=2)
    store.create(CONFIGMAPS, "default", cm("later"))
    second = store.list(CONFIGMAPS, "default", limit=2, continue_token=first.continue_token)
    assert second.resource_version == first.resource_version


def test_stale_continue_token_is_gone() -> None:
    store = new_store(window=10)
    for i in range(5):
        store.create(CONFIGMAPS, "default", cm(f"c{i}"))
    first = store.list(CONFIGMAPS, "default", limit=2)
    for i in range(20):
        store.create(CONFIGMAPS, "kube-system", cm(f"noise{i}"))
    with api_error(410, "Expired", "continue parameter is too old") as info:
        store.list(CONFIGMAPS, "default", limit=2, continue_token=first.continue_token)
    fresh = info.value.status()["metadata"]["continue"]
    rest = store.list(CONFIGMAPS, "default", limit=10, continue_token=fresh)
    assert names(rest.items) == ["c2", "c3", "c4"]  # the inconsistent remainder the real server offers


@pytest.mark.parametrize("token", ["not base64!", "eyJ4IjoxfQ=="])
def test_malformed_continue_token(store: ObjectStore, token: str) -> None:
    with api_error(400, "BadRequest", "continue key is not valid"):
        store.list(CONFIGMAPS, "default", continue_token=token)


def all_pages(
    store: ObjectStore, namespace: str | None, *, limit: int
) -> tuple[list[tuple[str, str]], list[int]]:
    """Every (namespace, name) a paged list serves, and the remaining count of each partial page."""
    keys: list[tuple[str, str]] = []
    remaining: list[int] = []
    token = ""
    while True:
        page = store.list(CONFIGMAPS, namespace, limit=limit, continue_token=token)
        keys += [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page.items]
        if not page.continue_token:
            assert page.remaining is None
            return keys, remaining
        assert page.remaining is not None
        remaining.append(page.remaining)
        token = page.continue_token


def test_key_order_survives_creates_and_deletes_in_any_order(store: ObjectStore) -> None:
    store.create(NAMESPACES, None, {"metadata": {"name": "team-a"}})
    rng = random.Random(7)
    keys = [(ns, f"cm-{i}") for ns in ("default", "team", "team-a") for i in range(60)]
    for ns, name in rng.sample(keys, len(keys)):
        store.create(CONFIGMAPS, ns, cm(name))
    for ns, name in rng.sample(keys, 50):
        store.delete(CONFIGMAPS, ns, name)
        keys.remove((ns, name))
    keys.sort()
    assert all_pages(store, None, limit=0)[0] == keys
    served, remaining = all_pages(store, None, limit=7)
    assert served == keys  # continuing across namespace boundaries
    assert remaining == [len(keys) - 7 * (i + 1) for i in range(len(remaining))]
    team = [k for k in keys if k[0] == "team"]  # not "team-a", whose name starts the same
    assert all_pages(store, "team", limit=9)[0] == team
    assert all_pages(store, "team", limit=len(team))[1] == []


def test_a_continue_key_that_was_deleted_resumes_after_it(store: ObjectStore) -> None:
    for i in range(6):
        store.create(CONFIGMAPS, "default", cm(f"c{i}"))
    first = store.list(CONFIGMAPS, "default", limit=3)
    store.delete(CONFIGMAPS, "default", "c2")  # the page's last key
    rest = store.list(CONFIGMAPS, "default", limit=3, continue_token=first.continue_token)
    assert names(first.items) == ["c0", "c1", "c2"] and names(rest.items) == ["c3", "c4", "c5"]
    assert rest.continue_token == "" and rest.remaining is None


def test_reads_without_copy_share_the_stored_objects(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, "default", cm("a"))
    shared = store.get(CONFIGMAPS, "default", "a", copy=False)
    assert store.get(CONFIGMAPS, "default", "a", copy=False) is shared
    assert store.list(CONFIGMAPS, "default", copy=False).items[0] is shared
    assert store.get(CONFIGMAPS, "default", "a") is not shared
    copied = store.list(CONFIGMAPS, "default").items[0]
    assert copied == shared and copied is not shared
    copied["metadata"]["labels"]["x"] = "y"
    assert store.get(CONFIGMAPS, "default", "a") == shared and "x" not in shared["metadata"]["labels"]


@pytest.mark.parametrize(("labels", "fields", "selects_all"), [("", "", True), ("a=b", "", False)])
def test_empty_selectors_check_nothing_per_object(labels: str, fields: str, selects_all: bool) -> None:
    assert (selector_matcher(labels, fields, "ConfigMap") is None) is selects_all


def test_a_reloaded_store_lists_in_key_order(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "objects.sqlite3")
    first = new_store(journal=journal)
    for name in random.Random(5).sample([f"c{i:02d}" for i in range(30)], 30):
        first.create(CONFIGMAPS, "default", cm(name))
    journal.close()
    reloaded = new_store(journal=SqliteJournal(tmp_path / "objects.sqlite3"))
    page = reloaded.list(CONFIGMAPS, "default", limit=10)
    assert names(page.items) == [f"c{i:02d}" for i in range(10)] and page.remaining == 20
    reloaded.create(CONFIGMAPS, "default", cm("c05a"))
    assert names(reloaded.list(CONFIGMAPS, "default", limit=7).items)[-2:] == ["c05", "c05a"]
