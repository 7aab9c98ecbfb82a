"""Persistence: a store on a SQLite journal restarts with the same objects and resourceVersion."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kubeapi.meta import Obj
from localcluster.storage.journal import SqliteJournal
from tests.localcluster.test_objects_support import (
    CONFIGMAPS,
    NAMESPACES,
    PETSETS,
    PODS,
    SERVICES,
    api_error,
    exists,
    new_store,
    owned,
    petset,
    pod,
    recorder,
)


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = SqliteJournal.in_dir(tmp_path / "state")
    store = new_store(journal=journal)
    store.create(NAMESPACES, None, {"metadata": {"name": "team"}})
    owner = store.create(PETSETS, "team", petset("web"))
    store.create(PODS, "team", pod("web-0", owners=(owner,), node="n1"))
    store.create(CONFIGMAPS, "team", owned("ConfigMap", "c", owner, data={"k": "v"}))
    store.update(CONFIGMAPS, "team", "c", {**store.get(CONFIGMAPS, "team", "c"), "data": {"k": "w"}})
    service = store.create(SERVICES, "team", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    store.create(CONFIGMAPS, "default", {"metadata": {"name": "gone"}})
    store.delete(CONFIGMAPS, "default", "gone")
    before = {
        res.plural: store.list(res, None).items for res in (NAMESPACES, PETSETS, PODS, CONFIGMAPS, SERVICES)
    }
    rv = store.resource_version
    journal.close()

    reopened = new_store(journal=SqliteJournal.in_dir(tmp_path / "state"))
    assert reopened.resource_version == rv
    after = {
        res.plural: reopened.list(res, None).items
        for res in (NAMESPACES, PETSETS, PODS, CONFIGMAPS, SERVICES)
    }
    assert after == before
    assert not exists(reopened, CONFIGMAPS, "default", "gone")
    # the resourceVersion continues, and history from before the restart is gone
    created = reopened.create(CONFIGMAPS, "default", {"metadata": {"name": "new"}})
    assert created["metadata"]["resourceVersion"] == str(rv + 1)
    with api_error(410, "Expired"):
        reopened.events_after(CONFIGMAPS, None, rv - 1)
    assert [e.object["metadata"]["name"] for e in reopened.events_after(CONFIGMAPS, None, rv)] == ["new"]
    # indexes were rebuilt: the allocated IP is taken, ownership cascades still work
    with api_error(422, "Invalid", "already allocated"):
        reopened.create(
            SERVICES,
            "default",
            {
                "metadata": {"name": "dup"},
                "spec": {"clusterIP": service["spec"]["clusterIP"], "ports": [{"port": 80}]},
            },
        )
    reopened.delete(PETSETS, "team", "web")
    assert not exists(reopened, CONFIGMAPS, "team", "c")
    assert exists(reopened, PODS, "team", "web-0")  # in its grace period


def test_journal_file_is_wal_sqlite_with_json(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "objects.sqlite3")
    store = new_store(journal=journal)
    store.create(CONFIGMAPS, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    with sqlite3.connect(tmp_path / "objects.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute(
            "SELECT store_key, namespace, name FROM objects WHERE store_key = 'configmaps'"
        ).fetchall()
        assert rows == [("configmaps", "default", "a")]
        assert db.execute("SELECT rv FROM version").fetchone()[0] == store.resource_version
    journal.close()


def test_dry_run_and_noop_writes_do_not_reach_the_journal(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    store = new_store(journal=journal)
    store.create(CONFIGMAPS, "default", {"metadata": {"name": "dry"}}, dry_run=True)
    journal.close()
    reopened = new_store(journal=SqliteJournal(tmp_path / "j.sqlite3"))
    assert not exists(reopened, CONFIGMAPS, "default", "dry")
    assert reopened.resource_version == store.resource_version


def test_empty_journal_starts_at_zero(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "fresh.sqlite3")
    assert journal.load() == (0, [])


class FailingJournal:
    """A journal whose writes fail on demand."""

    def __init__(self) -> None:
        self.failing = False

    def load(self) -> tuple[int, list[tuple[str, Obj]]]:
        return 0, []

    def put(self, store_key: str, obj: Obj) -> None:
        if self.failing:
            raise OSError("disk full")

    def delete(self, store_key: str, namespace: str, name: str) -> None:
        if self.failing:
            raise OSError("disk full")

    def set_version(self, rv: int) -> None:
        pass


def test_failed_journal_write_changes_nothing() -> None:
    journal = FailingJournal()
    store = new_store(journal=journal)
    store.create(CONFIGMAPS, "default", {"metadata": {"name": "kept"}})
    rv = store.resource_version
    seen = recorder(store)
    journal.failing = True
    with pytest.raises(OSError):
        store.create(CONFIGMAPS, "default", {"metadata": {"name": "lost"}})
    with pytest.raises(OSError):
        store.delete(CONFIGMAPS, "default", "kept")
    assert store.resource_version == rv and seen == []
    assert exists(store, CONFIGMAPS, "default", "kept") and not exists(store, CONFIGMAPS, "default", "lost")


def _disk_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_deleted_objects_leave_the_disk(tmp_path: Path) -> None:
    journal = SqliteJournal.in_dir(tmp_path / "state")
    store = new_store(journal=journal)
    blob = "x" * 200_000
    for i in range(30):
        store.create(CONFIGMAPS, "default", {"metadata": {"name": f"big-{i}"}, "data": {"k": blob}})
    grown = _disk_bytes(journal.path)
    assert grown > 6_000_000
    for i in range(30):
        store.delete(CONFIGMAPS, "default", f"big-{i}")
    store.create(CONFIGMAPS, "default", {"metadata": {"name": "small"}, "data": {"k": "v"}})
    # at most the compaction threshold's free pages and the WAL of the last few changes remain
    assert _disk_bytes(journal.path) < grown // 3, (grown, _disk_bytes(journal.path))
    journal.close()
    rv, rows = SqliteJournal.in_dir(tmp_path / "state").load()
    assert [obj["metadata"]["name"] for key, obj in rows if key == "configmaps"] == ["small"]
    assert rv == int(store.get(CONFIGMAPS, "default", "small")["metadata"]["resourceVersion"])


def test_a_file_left_large_is_compacted_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "objects.sqlite3"
    raw = sqlite3.connect(db)
    raw.execute(
        "CREATE TABLE objects (store_key TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
        " body TEXT NOT NULL, PRIMARY KEY (store_key, namespace, name))"
    )
    body = '{"metadata":{"name":"%s","namespace":"default"},"data":{"k":"%s"}}'
    for i in range(40):
        raw.execute(
            "INSERT INTO objects VALUES ('configmaps', 'default', ?, ?)",
            (f"c{i}", body % (f"c{i}", "y" * 100_000)),
        )
    raw.commit()
    raw.execute("DELETE FROM objects WHERE name != 'c0'")
    raw.commit()
    raw.close()
    assert db.stat().st_size > 4_000_000
    journal = SqliteJournal(db)
    assert _disk_bytes(db) < 1_000_000
    _, rows = journal.load()
    assert [obj["metadata"]["name"] for _, obj in rows] == ["c0"]
    journal.close()
