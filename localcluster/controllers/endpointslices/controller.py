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
from kubeapi.store import Change
from kubeapi.workqueue import WorkQueue
from localcluster.controllers.endpointslices.index import (
    Key,
    PodIndex,
    ServiceIndex,
    SliceIndex,
    SliceTracker,
)
from localcluster.controllers.endpointslices.model import (
    Pod,
    Service,
    Slice,
    pod_from_raw,
    service_from_raw,
    slice_from_raw,
)
from localcluster.controllers.endpointslices.slices import MAX_ENDPOINTS, Plan, manifest, plan, slice_labels

log = logging.getLogger("localcluster.endpointslices")
# retries while the cache lags the controller's own writes before planning anyway (a write the watch
# never showed, e.g. created and deleted by others across a relist, must not block a Service forever)
STALE_RETRIES = 8


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
        self.pods = PodIndex()
        self.services = ServiceIndex()
        self.slices = SliceIndex()
        self.tracker = SliceTracker()
        self.synced = asyncio.Event()
        self.writes = 0
        self._busy = 0
        self.reflectors: tuple[Reflector[Any], ...] = (
            Reflector(
                client,
                SERVICES,
                transform=skipping(service_from_raw, "Service", log),
                on_changes=self._services_changed,
            ),
            Reflector(
                client, PODS, transform=skipping(pod_from_raw, "Pod", log), on_changes=self._pods_changed
            ),
            Reflector(
                client,
                ENDPOINT_SLICES,
                transform=skipping(slice_from_raw, "EndpointSlice", log),
                on_changes=self._slices_changed,
            ),
        )

    @property
    def has_synced(self) -> bool:
        """Every watched resource has been listed once."""
        return self.synced.is_set()

    @property
    def idle(self) -> bool:
        """Synced, with nothing being worked on and nothing queued (retries waiting count as queued)."""
        return self.has_synced and self._busy == 0 and len(self.queue) == 0 and self.queue.delayed == 0

    async def run(self) -> None:
        """Watch and reconcile until cancelled."""
        async with asyncio.TaskGroup() as group:
            for reflector in self.reflectors:
                group.create_task(reflector.run(), name=f"endpointslices: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
            self.synced.set()
            log.info("endpointslices: caches synced, %d pods", len(self.pods))
            for i in range(self.workers):
                group.create_task(self._worker(), name=f"endpointslices: worker {i}")

    # -- events ----------------------------------------------------------------------------------------

    def _services_changed(self, changes: list[Change[Service]]) -> None:
        for change in changes:
            if change.new is None:
                self.services.remove(change.key)
            else:
                self.services.put(change.new)
            self.queue.add(change.key)

    def _pods_changed(self, changes: list[Change[Pod]]) -> None:
        for change in changes:
            touched: set[Key] = set()
            if change.old is not None:
                touched |= self.services.selecting(change.old)
            if change.new is None:
                self.pods.remove(change.key)
            else:
                self.pods.put(change.new)
                touched |= self.services.selecting(change.new)
            for key in touched:
                self.queue.add(key)

    def _slices_changed(self, changes: list[Change[Slice]]) -> None:
        for change in changes:
            old, new = change.old, change.new
            if old is not None:
                self.slices.remove(old)
            if new is not None:
                self.slices.put(new)
                key = (new.namespace, new.service)
                if self.tracker.should_sync(key, new) or not self._labels_fit(key, new):
                    self.queue.add(key)
            if old is not None and (new is None or new.service != old.service):
                key = (old.namespace, old.service)
                if not self.tracker.handle_deletion(key, old.uid) or new is not None:
                    self.queue.add(key)  # gone or moved by someone else: the Service needs it back

    def _labels_fit(self, key: Key, found: Slice) -> bool:
        service = self.services.get(key)
        return service is None or found.labels == slice_labels(service)

    # -- work ------------------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            self._busy += 1
            try:
                await self.sync(key)
            except StaleCache:
                self.queue.add_rate_limited(key)
            except ApiError as err:
                log.info("endpointslices %s/%s: %s (retrying)", key[0], key[1], err)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("endpointslices %s/%s: sync failed", *key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self._busy -= 1
                self.queue.done(key)

    async def sync(self, key: Key) -> Plan:
        """Plan one Service against the cache and write the plan; returns what was planned."""
        service = self.services.get(key)
        if service is None:
            self.tracker.forget(key)  # its slices go with it (owner references)
            return Plan()
        existing = self.slices.of(key)
        if self.tracker.stale(key, existing):
            if self.queue.failures(key) < STALE_RETRIES:
                raise StaleCache(f"{key[0]}/{key[1]}")
            self.tracker.forget(key)
        pods = self.pods.matching(service.namespace, service.selector) if service.selector else []
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
