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


class SqliteJournal:
    """One SQLite file (WAL mode); objects as JSON text; one transaction per store change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_files(self.path)
        self._db = sqlite3.connect(self.path, isolation_level="DEFERRED", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.commit()

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
