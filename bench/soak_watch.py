"""Watches of pods and claims (the official client, raw watch lines, resumed from the last
resourceVersion across API outages, relisted on 410) checking the invariants that must hold at every
moment, not only once settled:

- at most one pod per identity: a pod name (set, ordinal) never gets a second uid while the first is
  alive, and a uid never comes back after its pod was deleted;
- no claim deleted against policy: a pet's claim goes only under whenScaled: Delete after its ordinal
  was scaled away, or under whenDeleted: Delete once its set is gone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from soak_api import Api, ReplicaLog, SetView, owner_of
from soak_report import Record


def _lines(resp: Any) -> Iterator[bytes]:
    pending = b""
    for chunk in resp.stream(65536, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line


class Watch(threading.Thread):
    """List, then watch from the list's resourceVersion; keep the last one seen and resume from it after
    any failure; relist on 410 Gone."""

    def __init__(self, api: Api, what: str, record: Record) -> None:
        super().__init__(name=f"soak-watch-{what}", daemon=True)
        self.api = api
        self.what = what
        self.record = record
        self.stopping = threading.Event()
        self.relists = 0
        self.events = 0
        self.synced = threading.Event()

    def run(self) -> None:
        rv: str | None = None
        while not self.stopping.is_set():
            try:
                if rv is None:
                    listed = self.api.raw_list(self.what)
                    rv = str(listed["metadata"]["resourceVersion"])
                    self.relisted(listed.get("items", []))
                    self.relists += 1
                    self.synced.set()
                rv = self._watch(rv)
            except Exception:  # the API is down or the stream broke: resume from rv
                self.stopping.wait(0.2)

    def _watch(self, rv: str) -> str | None:
        call = (
            self.api.core.list_namespaced_pod
            if self.what == "pods"
            else self.api.core.list_namespaced_persistent_volume_claim
        )
        resp = call(
            "default",
            watch=True,
            resource_version=rv,
            timeout_seconds=30,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=(3, 45),
        )
        try:
            for line in _lines(resp):
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    return None if obj.get("code") == 410 else rv
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if event.get("type") != "BOOKMARK":
                    self.events += 1
                    self.changed(str(event.get("type")), obj)
                if new_rv:
                    rv = str(new_rv)
                if self.stopping.is_set():
                    break
        finally:
            resp.release_conn()
        return rv

    def relisted(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        raise NotImplementedError


def _id(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name", "")), str(meta.get("uid", ""))


class PodWatch(Watch):
    """One uid per pod name at a time; deleted uids never return."""

    def __init__(self, api: Api, record: Record) -> None:
        super().__init__(api, "pods", record)
        self.live: dict[str, str] = {}
        self.gone: set[str] = set()
        self.uids_seen: set[str] = set()

    def relisted(self, items: list[dict[str, Any]]) -> None:
        now = dict(map(_id, items))
        for name, uid in now.items():
            if uid in self.gone:
                self.record.violation("identity_uid_reused", f"pod {name} uid {uid} was deleted before")
        for name, uid in self.live.items():
            if now.get(name) != uid:
                self.gone.add(uid)  # deleted while the watch was away
        self.live = now
        self.uids_seen.update(now.values())

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        name, uid = _id(obj)
        if kind == "DELETED":
            if self.live.get(name) == uid:
                del self.live[name]
            self.gone.add(uid)
            return
        if uid in self.gone:
            self.record.violation("identity_uid_reused", f"{kind} pod {name} uid {uid} after its deletion")
        old = self.live.get(name)
        if old is not None and old != uid:
            owner = owner_of(obj) or "-"
            self.record.violation(
                "identity_two_pods", f"pod {name} (set {owner}) uid {uid} while uid {old} is not deleted"
            )
        self.live[name] = uid
        self.uids_seen.add(uid)


class ClaimWatch(Watch):
    """A pet's claim disappears only as its set's retention policy allows."""

    def __init__(
        self, api: Api, record: Record, sets: Callable[[], dict[str, SetView]], replicas: ReplicaLog
    ) -> None:
        super().__init__(api, "pvcs", record)
        self.sets = sets
        self.replicas = replicas
        self.first_seen: dict[str, float] = {}
        self.deleted = 0

    def relisted(self, items: list[dict[str, Any]]) -> None:
        now = {name for name, _ in map(_id, items)}
        for name in list(self.first_seen):
            if name not in now:
                self._gone(name)
        for name in now:
            self.first_seen.setdefault(name, time.monotonic())

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        name, _ = _id(obj)
        if kind == "DELETED":
            if name in self.first_seen:
                self._gone(name)
        else:
            self.first_seen.setdefault(name, time.monotonic())

    def _gone(self, name: str) -> None:
        since = self.first_seen.pop(name)
        self.deleted += 1
        sets = self.sets()
        for s in sets.values():
            for template in s.templates:
                prefix = f"{template}-{s.name}-"
                ordinal = name[len(prefix) :]
                if not (name.startswith(prefix) and ordinal.isdigit()):
                    continue
                if s.when_scaled == "Delete" and self.replicas.scaled_away(s.name, int(ordinal), since):
                    return
                self.record.violation(
                    "claim_deleted",
                    f"claim {name} of {s.name} (whenScaled {s.when_scaled}, replicas {s.replicas}) deleted",
                )
                return
        # not a claim of a living set: the set is gone (whenDeleted) or it was never a pet's claim
