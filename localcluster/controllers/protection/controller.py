"""The protection controller's shell: watches claims, volumes and pods; adds and removes the finalizers."""

from __future__ import annotations

import asyncio
import logging

from kubeapi.client import Client
from kubeapi.errors import ApiError, NotFound
from kubeapi.meta import Obj
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS, ResourceRef
from kubeapi.reflector import Reflector
from kubeapi.store import Change
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.controllers.protection.rules import (
    PV_PROTECTION,
    PVC_PROTECTION,
    claims_held,
    volume_in_use,
    wanted_finalizers,
)

log = logging.getLogger("localcluster.protection")
Work = tuple[str, str, str]  # ("claim", namespace, name) or ("volume", "", name)
BY_CLAIM = "claim"  # pods by the `namespace/name` of each claim they hold


def _keep(obj: Obj) -> Obj:
    return obj


def _held(pod: Obj) -> list[str]:
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    return [f"{namespace}/{name}" for name in claims_held(pod)]


class ProtectionController:
    """Keeps `kubernetes.io/pvc-protection` on claims and `kubernetes.io/pv-protection` on volumes, and
    lets a deleted one go once nothing uses it. `synced` is set once everything has been listed."""

    def __init__(self, client: Client, *, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[Work] = WorkQueue()
        self.synced = asyncio.Event()
        self._workers = Workers(self.queue, self._sync, on_error=self._failed)
        self._claims: Reflector[Obj] = Reflector(
            client, PERSISTENT_VOLUME_CLAIMS, transform=_keep, on_changes=self._claims_changed
        )
        self._volumes: Reflector[Obj] = Reflector(
            client, PERSISTENT_VOLUMES, transform=_keep, on_changes=self._volumes_changed
        )
        self._pods: Reflector[Obj] = Reflector(
            client, PODS, transform=_keep, on_changes=self._pods_changed, indexers={BY_CLAIM: _held}
        )

    async def run(self) -> None:
        """Watch and reconcile until cancelled."""
        reflectors = (self._claims, self._volumes, self._pods)
        async with asyncio.TaskGroup() as group:
            for reflector in reflectors:
                group.create_task(reflector.run(), name=f"protection: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in reflectors))
            self.synced.set()
            group.create_task(self._workers.run(self.workers), name="protection: workers")

    def _claims_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            if change.new is not None:
                self.queue.add(("claim", *change.key))

    def _volumes_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            if change.new is not None:
                self.queue.add(("volume", "", change.key[1]))

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            for pod in (change.old, change.new):
                for held in _held(pod) if pod is not None else []:
                    namespace, _, name = held.partition("/")
                    self.queue.add(("claim", namespace, name))

    async def _sync(self, work: Work) -> float | None:
        kind, namespace, name = work
        if kind == "claim":
            claim = self._claims.store.get((namespace, name))
            if claim is not None:
                in_use = bool(self._pods.store.keys_by(BY_CLAIM, f"{namespace}/{name}"))
                wanted = wanted_finalizers(claim, PVC_PROTECTION, in_use=in_use)
                await self._set(PERSISTENT_VOLUME_CLAIMS, claim, wanted)
        else:
            volume = self._volumes.store.get(("", name))
            if volume is not None:
                wanted = wanted_finalizers(volume, PV_PROTECTION, in_use=volume_in_use(volume))
                await self._set(PERSISTENT_VOLUMES, volume, wanted)
        return None

    async def _set(self, ref: ResourceRef, obj: Obj, wanted: list[str] | None) -> None:
        if wanted is None:
            return
        meta = obj["metadata"]
        patch = {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}
        try:
            await self.client.patch(ref, meta.get("namespace"), str(meta["name"]), patch)
        except NotFound:
            return
        log.debug("%s %s: finalizers %s", ref.plural, meta["name"], wanted)

    def _failed(self, work: Work, err: Exception) -> None:
        if isinstance(err, ApiError):
            log.debug("protection: %s %s/%s: %s; retrying", *work, err)
        else:
            log.error("protection: %s %s/%s failed; retrying", *work, exc_info=err)
