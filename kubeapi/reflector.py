"""List, then watch; relist on 410 or after a failure, reporting only real differences; never empty."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from kubeapi.client import Client, backoff
from kubeapi.errors import ApiError, Gone
from kubeapi.meta import Obj
from kubeapi.paths import ResourceRef
from kubeapi.store import Change, Indexer, Key, Store

log = logging.getLogger("kubeapi.reflector")
T = TypeVar("T")


def object_key(obj: Obj) -> Key:
    """(namespace, name) of a raw object, as fresh strings: a kept key must not pin the raw page's memory."""
    meta = obj.get("metadata") or {}
    return (_fresh(meta.get("namespace") or ""), _fresh(meta.get("name") or ""))


def _fresh(value: object) -> str:
    return sys.intern(str(value).encode().decode())


class Reflector(Generic[T]):
    """Keeps a store in step with one resource; `on_changes` hears every batch of differences.

    `transform` reduces each raw object before it is stored (None: skip the object). While the API
    cannot be reached the store keeps the last known state; recovery relists and applies the difference.
    """

    def __init__(
        self,
        client: Client,
        ref: ResourceRef,
        *,
        transform: Callable[[Obj], T | None],
        on_changes: Callable[[list[Change[T]]], None],
        namespace: str | None = None,
        label_selector: str = "",
        page_size: int = 500,
        watch_seconds: int = 300,
        backoff_cap: float = 30.0,
        indexers: Mapping[str, Indexer[T]] | None = None,
    ) -> None:
        self.client = client
        self.ref = ref
        self.transform = transform
        self.on_changes = on_changes
        self.namespace = namespace
        self.label_selector = label_selector
        self.page_size = page_size
        self.watch_seconds = watch_seconds
        self.backoff_cap = backoff_cap
        self.store: Store[T] = Store(indexers)
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self.watch_restarts = 0
        self.failures = 0

    @property
    def name(self) -> str:
        """The resource, for logs."""
        return self.ref.plural if not self.ref.group else f"{self.ref.plural}.{self.ref.group}"

    @property
    def has_synced(self) -> bool:
        """True once the first list has been applied."""
        return self.synced.is_set()

    async def run(self) -> None:
        """Run until cancelled."""
        need_list, failures = True, 0
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                    if failures:
                        log.warning(
                            "%s: API reachable again after %d failed attempt(s); relisted",
                            self.name,
                            failures,
                        )
                    failures = 0
                await self._watch()
                self.watch_restarts += 1
            except Gone as err:
                log.info("%s: %s; relisting", self.name, err)
                need_list = True
            except ApiError as err:
                failures += 1
                self.failures += 1
                need_list = True
                if failures == 1:
                    log.warning("%s: %s; serving the last known state while retrying", self.name, err)
                await asyncio.sleep(backoff(failures, cap=self.backoff_cap))

    async def _list(self) -> None:
        fresh = []
        version = ""
        async for page in self.client.pages(
            self.ref, self.namespace, limit=self.page_size, label_selector=self.label_selector
        ):
            for obj in page.get("items") or []:  # reduced page by page: raw pages are not kept
                value = self.transform(obj)
                if value is not None:
                    fresh.append((object_key(obj), value))
            version = str((page.get("metadata") or {}).get("resourceVersion", ""))
        changes = self.store.replace(fresh)
        self.resource_version = version
        self.relists += 1
        if changes:
            self.on_changes(changes)
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.client.watch(
            self.ref,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=self.watch_seconds,
            label_selector=self.label_selector,
        ):
            obj = event.get("object") or {}
            version = (obj.get("metadata") or {}).get("resourceVersion")
            kind = event.get("type")
            change: Change[T] | None = None
            if kind in ("ADDED", "MODIFIED"):
                value = self.transform(obj)
                key = object_key(obj)
                change = self.store.put(key, value) if value is not None else self.store.remove(key)
            elif kind == "DELETED":
                change = self.store.remove(object_key(obj))
            if version:
                self.resource_version = str(version)
            if change is not None:
                self.on_changes([change])
