"""Object store state: objects by storage, the global resourceVersion, indexes, journal and event window."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kubeapi.meta import Obj
from localcluster.storage.errors import ApiError, gone, not_found
from localcluster.storage.indexes import Indexes, Ref
from localcluster.storage.journal import Journal
from localcluster.storage.meta import clone, meta, name_of, namespace_of
from localcluster.storage.paging import Key, SortedKeys
from localcluster.storage.resources import RESOURCES, Resource

log = logging.getLogger(__name__)

# the resource that names each storage in errors and cascades (the first registered one)
RESOURCE_OF_STORE: dict[str, Resource] = {}
for _res in RESOURCES:
    RESOURCE_OF_STORE.setdefault(_res.store_key, _res)
NAMESPACES = "namespaces"


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change, sharing the store's objects with listeners and the window: read-only.

    `object` is the new version (for DELETED, the last state at the delete's resourceVersion); `old` is
    the version it replaced (None for ADDED).
    """

    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    store_key: str
    object: Obj
    resource_version: int
    old: Obj | None = None


class StoreState:
    """Objects, the global resourceVersion, indexes, event window; every change goes through `put` or `drop`.

    Objects handed out by the read methods are the stored ones: read them, never change them.
    """

    def __init__(self, *, window: int, journal: Journal | None) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._window: deque[Event] = deque(maxlen=window)
        self._floor = 0  # every event after this resourceVersion is still in the window
        self._rv = 0
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._keys: dict[str, SortedKeys] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._journal = journal
        self.indexes = Indexes()
        if journal is not None:
            self._load(journal)

    def _load(self, journal: Journal) -> None:
        rv, items = journal.load()
        for store_key, obj in items:
            key = (namespace_of(obj), name_of(obj))
            self._objects.setdefault(store_key, {})[key] = obj
            self.indexes.update(store_key, None, obj)
        self._keys = {store_key: SortedKeys(bucket) for store_key, bucket in self._objects.items()}
        self._rv = self._floor = rv

    @property
    def resource_version(self) -> int:
        """The global resourceVersion: the number of the last committed change."""
        return self._rv

    @property
    def floor(self) -> int:
        """Every change after this resourceVersion is still in the event window."""
        return self._floor

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call listener synchronously after each committed change; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def check_fresh(self, resource_version: int) -> None:
        """Raise 410 Expired when changes after resource_version are no longer all kept."""
        if resource_version < self._floor and resource_version != self._rv:
            raise gone(f"too old resource version: {resource_version} ({self._floor})")

    def events_after(self, res: Resource, namespace: str | None, resource_version: int) -> list[Event]:
        """Kept events of res's storage (and namespace, if given) after resource_version, oldest first."""
        self.check_fresh(resource_version)
        out = []
        only_ns = namespace if res.namespaced and namespace else None
        for event in reversed(self._window):
            if event.resource_version <= resource_version:
                break
            if event.store_key == res.store_key and (
                only_ns is None or namespace_of(event.object) == only_ns
            ):
                out.append(event)
        out.reverse()
        return out

    # --- reads -------------------------------------------------------------------------------------------

    def objects(self, store_key: str) -> dict[Key, Obj]:
        """The objects of one storage by key (read-only)."""
        return self._objects.get(store_key) or {}

    def keys(self, store_key: str) -> SortedKeys:
        """The sorted keys of one storage (read-only)."""
        return self._keys.get(store_key) or SortedKeys()

    def find(self, store_key: str, namespace: str, name: str) -> Obj | None:
        """The stored object, or None."""
        return self._objects.get(store_key, {}).get((namespace, name))

    def existing(self, res: Resource, namespace: str | None, name: str) -> Obj:
        """The stored object of res; 404 when absent."""
        found = self.find(res.store_key, (namespace or "") if res.namespaced else "", name)
        if found is None:
            raise not_found(res, name)
        return found

    def by_ref(self, ref: Ref) -> Obj | None:
        """The stored object at a (store_key, namespace, name) reference, or None."""
        return self.find(*ref)

    def owner(self, uid: str) -> tuple[Ref, Obj] | None:
        """The stored object with this uid and its reference, or None."""
        ref = self.indexes.ref_of_uid(uid)
        found = self.by_ref(ref) if ref else None
        return (ref, found) if ref and found is not None else None

    def in_namespace(self, namespace: str) -> Iterator[Ref]:
        """References to every object in a namespace (a snapshot per storage)."""
        for store_key, bucket in self._objects.items():
            for ns, name in list(bucket):
                if ns == namespace:
                    yield store_key, ns, name

    def namespace_obj(self, name: str) -> Obj | None:
        """The stored Namespace of this name, or None."""
        return self.find(NAMESPACES, "", name)

    # --- commits -----------------------------------------------------------------------------------------

    def put(self, store_key: str, obj: Obj, *, added: bool) -> Obj:
        """Commit obj (a dict the store now owns, never changed again) as a new version; ADDED or MODIFIED."""
        meta(obj)["resourceVersion"] = str(self._rv + 1)
        if self._journal is not None:  # first, so a failed write leaves memory as it was
            self._journal.put(store_key, obj)
            self._journal.set_version(self._rv + 1)
        self._rv += 1
        bucket = self._objects.setdefault(store_key, {})
        key = (namespace_of(obj), name_of(obj))
        old = bucket.get(key)
        bucket[key] = obj
        if old is None:
            self._sorted_keys(store_key).add(key)
        self.indexes.update(store_key, old, obj)
        self._emit(Event("ADDED" if added else "MODIFIED", store_key, obj, self._rv, old))
        return obj

    def drop(self, store_key: str, obj: Obj) -> Obj:
        """Remove obj (last state given, not changed) for good; returns a private copy of the last state.

        DELETED carries that state with the delete's resourceVersion, sharing all but its top level and
        metadata with obj.
        """
        final = {**obj, "metadata": {**meta(obj), "resourceVersion": str(self._rv + 1)}}
        key = (namespace_of(obj), name_of(obj))
        if self._journal is not None:
            self._journal.delete(store_key, key[0], key[1])
            self._journal.set_version(self._rv + 1)
        self._rv += 1
        old = self._objects.setdefault(store_key, {}).pop(key, None)
        if old is not None:
            self._sorted_keys(store_key).discard(key)
        self.indexes.update(store_key, old, None)
        self._emit(Event("DELETED", store_key, final, self._rv, old))
        return clone(final)

    def _sorted_keys(self, store_key: str) -> SortedKeys:
        found = self._keys.get(store_key)
        if found is None:
            found = self._keys[store_key] = SortedKeys()
        return found

    def _emit(self, event: Event) -> None:
        if len(self._window) == self._window.maxlen:
            self._floor = self._window[0].resource_version
        self._window.append(event)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("store listener failed on %s %s", event.type, event.store_key)


def resource_of(store_key: str) -> Resource:
    """The resource that stands for a storage in errors and cascades."""
    return RESOURCE_OF_STORE[store_key]


__all__ = ["ApiError", "Event", "Key", "Ref", "StoreState", "resource_of"]
