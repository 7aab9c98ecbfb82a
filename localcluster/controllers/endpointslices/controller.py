"""The EndpointSlice controller: watches Services, Pods and EndpointSlices through the API and keeps each
selector Service's slices in step with the pods it selects (planning in `endpointslices`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.paths import ENDPOINT_SLICES, PODS, SERVICES
from kubeapi.reflector import Reflector
from kubeapi.skipping import skipping
from kubeapi.store import Change, Key
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.controllers.endpointslices.model import (
    Pod,
    Service,
    Slice,
    pod_from_raw,
    selector_pairs,
    service_from_raw,
    slice_from_raw,
)
from localcluster.controllers.endpointslices.slices import MAX_ENDPOINTS, Plan, manifest, plan, slice_labels
from localcluster.controllers.endpointslices.tracker import SliceTracker

log = logging.getLogger("localcluster.endpointslices")
# retries while the cache lags the controller's own writes before planning anyway (a write the watch
# never showed, e.g. created and deleted by others across a relist, must not block a Service forever)
STALE_RETRIES = 8
# store indexes: pods by each `namespace/key=value` label; Services with a selector by their first pair
# (the candidates for a pod's labels); managed slices by the `namespace/service` they are labelled for
BY_LABEL, BY_FIRST_PAIR, BY_SERVICE = "label", "first-selector-pair", "service"


def _pair(namespace: str, key: str, value: str) -> str:
    return f"{namespace}/{key}={value}"


def pod_labels(pod: Pod) -> list[str]:
    """A pod's BY_LABEL index values."""
    return [_pair(pod.namespace, key, value) for key, value in pod.labels]


def first_selector_pair(service: Service) -> list[str]:
    """A Service's BY_FIRST_PAIR index value (none without a selector)."""
    pairs = selector_pairs(service.selector) if service.selector is not None else ()
    return [_pair(service.namespace, *pairs[0])] if pairs else []


def service_of(found: Slice) -> list[str]:
    """A slice's BY_SERVICE index value."""
    return [f"{found.namespace}/{found.service}"]


class StaleCache(Exception):
    """The slice cache does not show the controller's last writes for a Service yet."""


class EndpointSliceController:
    """Keeps the EndpointSlices of every Service with a selector in step with its pods.

    `synced` is set once Services, Pods and EndpointSlices have each been listed; `writes` counts the
    creates, updates and deletes sent.
    """

    def __init__(self, client: Client, *, workers: int = 4, max_endpoints: int = MAX_ENDPOINTS) -> None:
        self.client = client
        self.workers = workers
        self.max_endpoints = max_endpoints
        self.queue: WorkQueue[Key] = WorkQueue()
        self.tracker = SliceTracker()
        self.synced = asyncio.Event()
        self.writes = 0
        self._workers = Workers(self.queue, self._sync_key, on_error=self._failed)
        self._services: Reflector[Service] = Reflector(
            client,
            SERVICES,
            transform=skipping(service_from_raw, "Service", log),
            on_changes=self._services_changed,
            indexers={BY_FIRST_PAIR: first_selector_pair},
        )
        self._pods: Reflector[Pod] = Reflector(
            client,
            PODS,
            transform=skipping(pod_from_raw, "Pod", log),
            on_changes=self._pods_changed,
            indexers={BY_LABEL: pod_labels},
        )
        self._slices: Reflector[Slice] = Reflector(
            client,
            ENDPOINT_SLICES,
            transform=skipping(slice_from_raw, "EndpointSlice", log),
            on_changes=self._slices_changed,
            indexers={BY_SERVICE: service_of},
        )
        self.reflectors: tuple[Reflector[Any], ...] = (self._services, self._pods, self._slices)

    @property
    def has_synced(self) -> bool:
        """Every watched resource has been listed once."""
        return self.synced.is_set()

    @property
    def idle(self) -> bool:
        """Synced, with nothing being worked on and nothing queued (retries waiting count as queued)."""
        queue = self.queue
        return self.has_synced and self._workers.busy == 0 and len(queue) == 0 and queue.delayed == 0

    async def run(self) -> None:
        """Watch and reconcile until cancelled."""
        async with asyncio.TaskGroup() as group:
            for reflector in self.reflectors:
                group.create_task(reflector.run(), name=f"endpointslices: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
            self.synced.set()
            log.info("endpointslices: caches synced, %d pods", len(self._pods.store))
            group.create_task(self._workers.run(self.workers), name="endpointslices: workers")

    # -- reading the caches ----------------------------------------------------------------------------

    def selecting(self, pod: Pod) -> set[Key]:
        """The Services whose selector matches the pod's labels."""
        services, labels, out = self._services.store, pod.label_map, set()
        for pair in pod_labels(pod):
            for key in services.keys_by(BY_FIRST_PAIR, pair):
                service = services.get(key)
                if service is not None and service.selector is not None and service.selector.matches(labels):
                    out.add(key)
        return out

    def selected(self, service: Service) -> list[Pod]:
        """The pods of the Service's namespace that carry every pair of its (non-empty) selector."""
        pairs = selector_pairs(service.selector) if service.selector is not None else ()
        if not pairs:
            return []
        pods = self._pods.store
        found = sorted((pods.keys_by(BY_LABEL, _pair(service.namespace, *p)) for p in pairs), key=len)
        keys = found[0].intersection(*found[1:])
        return [pod for pod in map(pods.get, keys) if pod is not None]

    def slices_of(self, key: Key) -> list[Slice]:
        """The managed slices labelled for a Service."""
        return self._slices.store.by(BY_SERVICE, f"{key[0]}/{key[1]}")

    # -- events ----------------------------------------------------------------------------------------

    def _services_changed(self, changes: list[Change[Service]]) -> None:
        for change in changes:
            self.queue.add(change.key)

    def _pods_changed(self, changes: list[Change[Pod]]) -> None:
        for change in changes:
            touched: set[Key] = set()
            for pod in (change.old, change.new):
                if pod is not None:
                    touched |= self.selecting(pod)
            for key in touched:
                self.queue.add(key)

    def _slices_changed(self, changes: list[Change[Slice]]) -> None:
        for change in changes:
            old, new = change.old, change.new
            if new is not None:
                key = (new.namespace, new.service)
                if self.tracker.should_sync(key, new) or not self._labels_fit(key, new):
                    self.queue.add(key)
            if old is not None and (new is None or new.service != old.service):
                key = (old.namespace, old.service)
                if not self.tracker.handle_deletion(key, old.uid) or new is not None:
                    self.queue.add(key)  # gone or moved by someone else: the Service needs it back

    def _labels_fit(self, key: Key, found: Slice) -> bool:
        service = self._services.store.get(key)
        return service is None or found.labels == slice_labels(service)

    # -- work ------------------------------------------------------------------------------------------

    async def _sync_key(self, key: Key) -> None:
        await self.sync(key)

    def _failed(self, key: Key, err: Exception) -> None:
        """A failed sync (retried): a stale cache quietly, an API error briefly, any other in full."""
        if isinstance(err, StaleCache):
            return
        if isinstance(err, ApiError):
            log.info("endpointslices %s/%s: %s (retrying)", key[0], key[1], err)
        else:
            log.error("endpointslices %s/%s: sync failed", *key, exc_info=err)

    async def sync(self, key: Key) -> Plan:
        """Plan one Service against the cache and write the plan; returns what was planned."""
        service = self._services.store.get(key)
        if service is None:
            self.tracker.forget(key)  # its slices go with it (owner references)
            return Plan()
        existing = self.slices_of(key)
        if self.tracker.stale(key, existing):
            if self.queue.failures(key) < STALE_RETRIES:
                raise StaleCache(f"{key[0]}/{key[1]}")
            self.tracker.forget(key)
        pods = self.selected(service)
        todo = plan(service, pods, existing, max_endpoints=self.max_endpoints)
        await self._write(key, service, todo)
        return todo

    async def _write(self, key: Key, service: Service, todo: Plan) -> None:
        namespace = service.namespace
        for draft in todo.create:
            created = await self.client.create(ENDPOINT_SLICES, namespace, manifest(service, draft))
            self._wrote(key, created)
        for draft in todo.update:
            updated = await self.client.replace(
                ENDPOINT_SLICES, namespace, draft.name, manifest(service, draft)
            )
            self._wrote(key, updated)
        for found in todo.delete:
            self.tracker.deleted(key, found.uid)  # before the call: the watch may report it first
            try:
                result = await self.client.delete(
                    ENDPOINT_SLICES, namespace, found.name, preconditions={"uid": found.uid}
                )
            except ApiError:
                self.tracker.untrack(key, found.uid)
                raise
            if result is None:  # already gone
                self.tracker.untrack(key, found.uid)
            self.writes += 1

    def _wrote(self, key: Key, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self.tracker.wrote(key, str(meta.get("uid") or ""), int(meta.get("generation") or 0))
        self.writes += 1
