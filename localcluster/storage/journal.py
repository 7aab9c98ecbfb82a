"""Persistence of the object store: the Journal protocol and its SQLite implementation."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Protocol

from kubeapi import codec
from kubeapi.meta import Obj

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS objects ("
    " store_key TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (store_key, namespace, name))",
    "CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY CHECK (id = 0), rv INTEGER NOT NULL)",
)


class Journal(Protocol):
    """Where committed changes go: a change is `put` or `delete`, then `set_version`, which commits."""

    def load(self) -> tuple[int, list[tuple[str, Obj]]]:
        """The last committed resourceVersion and every stored (store_key, object)."""
        ...

    def put(self, store_key: str, obj: Obj) -> None:
        """Write (insert or replace) one object."""
        ...

    def delete(self, store_key: str, namespace: str, name: str) -> None:
        """Remove one object."""
        ...

    def set_version(self, rv: int) -> None:
        """Record the global resourceVersion and commit the change it closes."""
        ...


def _private_files(db: Path) -> None:
    """The database file, made when missing, and its WAL and shared-memory files: 0600. SQLite gives
    the WAL and -shm files the mode of the database file."""
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            path.chmod(0o600)


# free pages are given back to the file system once they are this many and this share of the file
COMPACT_MIN_FREE_PAGES = 256
COMPACT_MIN_FREE_SHARE = 0.25
WAL_LIMIT_BYTES = 4 << 20  # the write-ahead log is cut back to this after each checkpoint


def worth_compacting(free_pages: int, total_pages: int) -> bool:
    """Whether a file with this many free pages should be shrunk."""
    return free_pages >= COMPACT_MIN_FREE_PAGES and free_pages >= COMPACT_MIN_FREE_SHARE * total_pages


class SqliteJournal:
    """One SQLite file (WAL mode); objects as JSON text; one transaction per store change.

    Deleted data leaves the disk: the file is compacted when it is opened, and after a change that
    deleted objects once enough of it is free pages; the WAL is cut back after checkpoints."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_files(self.path)
        self._db = sqlite3.connect(self.path, isolation_level="DEFERRED", check_same_thread=False)
        self._deleted = False
        # incremental auto-vacuum takes effect on a new file, or on an old one at the VACUUM below
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.commit()
        self._compact_at_open()

    def _pages(self) -> tuple[int, int]:
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        total = self._db.execute("PRAGMA page_count").fetchone()[0]
        return int(free), int(total)

    def _compact_at_open(self) -> None:
        mode = self._db.execute("PRAGMA auto_vacuum").fetchone()[0]
        if mode != 2 or worth_compacting(*self._pages()):  # 2: INCREMENTAL
            self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def compact(self) -> None:
        """Give free pages back to the file system and cut the WAL back."""
        # sqlite3_exec runs the pragma to the end; a cursor would step it once, freeing one page
        self._db.executescript("PRAGMA incremental_vacuum;")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> SqliteJournal:
        """The journal file of a `--state DIR` directory."""
        return cls(Path(state_dir) / "objects.sqlite3")

    def load(self) -> tuple[int, list[tuple[str, Obj]]]:
        row = self._db.execute("SELECT rv FROM version WHERE id = 0").fetchone()
        rows = self._db.execute("SELECT store_key, body FROM objects ORDER BY store_key, namespace, name")
        return (int(row[0]) if row else 0), [(key, codec.loads(body)) for key, body in rows]

    def put(self, store_key: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        body = codec.dumps(obj).decode()
        self._run(
            "INSERT OR REPLACE INTO objects (store_key, namespace, name, body) VALUES (?, ?, ?, ?)",
            (store_key, meta.get("namespace") or "", meta.get("name") or "", body),
        )

    def delete(self, store_key: str, namespace: str, name: str) -> None:
        self._deleted = True
        self._run(
            "DELETE FROM objects WHERE store_key = ? AND namespace = ? AND name = ?",
            (store_key, namespace, name),
        )

    def set_version(self, rv: int) -> None:
        self._run("INSERT OR REPLACE INTO version (id, rv) VALUES (0, ?)", (rv,))
        try:
            self._db.commit()
        except sqlite3.Error:
            self._db.rollback()
            raise
        if self._deleted:
            self._deleted = False
            if worth_compacting(*self._pages()):
                self.compact()

    def _run(self, sql: str, args: tuple[object, ...]) -> None:
        """One statement of the open change; a failure abandons the whole change."""
        try:
            self._db.execute(sql, args)
        except sqlite3.Error:
            self._db.rollback()
            raise

    def close(self) -> None:
        """Commit anything pending and close the file."""
        self._db.commit()
        self._db.close()
