"""The volume provisioner: a hostPath PersistentVolume (a directory under `volume_root`) for every unbound
claim of its classes, both then Bound; a bound claim whose request grew gets its volume expanded (resize);
a volume whose claim is gone is Released, and with reclaim policy Delete its directory and the volume are
removed. Talks to the API only through the client."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass

from kubeapi.client import Client
from kubeapi.errors import AlreadyExists, ApiError, NotFound
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS, STORAGE_CLASSES
from kubeapi.reflector import Reflector
from kubeapi.skipping import skipping
from kubeapi.store import Change
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.controllers.provisioner.resize import mounts, needs_resize, resize_status, volume_growth
from localcluster.controllers.provisioner.volumes import (
    BIND_COMPLETED,
    BOUND,
    LOST,
    RELEASED,
    Claim,
    StorageClass,
    Volume,
    claim_binding,
    claim_from_raw,
    claim_is_gone,
    claim_status,
    class_from_raw,
    class_of,
    private_dir,
    provisions,
    removable_path,
    storage_class_manifest,
    volume_from_raw,
    volume_manifest,
    volume_name,
    volume_path,
)

log = logging.getLogger("localcluster.provisioner")
Work = tuple[str, str, str]  # ("claim", namespace, name) or ("volume", "", name)
BY_CLAIM = "claim"  # volumes by the `namespace/name` of the claim they are made for


def claim_of(volume: Volume) -> list[str]:
    """A volume's BY_CLAIM index value (none when it names no claim)."""
    return [f"{volume.claim[0]}/{volume.claim[1]}"] if volume.claim is not None else []


@dataclass(frozen=True)
class ProvisionerConfig:
    """Where volume directories live, the default StorageClass made at start, and how long a mounted
    volume's file system takes to grow."""

    volume_root: str
    default_class: str = "standard"
    resize_wait: float = 1.0


def _remove_dir(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)


class Provisioner:
    """Provisions, binds and reclaims hostPath volumes; `synced` is set once claims, volumes and classes
    have been listed; `idle` when nothing is queued or running."""

    def __init__(self, client: Client, config: ProvisionerConfig, *, workers: int = 2) -> None:
        self.client = client
        self.config = config
        self.workers = workers
        self.queue: WorkQueue[Work] = WorkQueue()
        self.synced = asyncio.Event()
        self._workers = Workers(self.queue, self._sync, on_error=self._failed)
        self._claims: Reflector[Claim] = Reflector(
            client,
            PERSISTENT_VOLUME_CLAIMS,
            transform=skipping(claim_from_raw, "PersistentVolumeClaim", log),
            on_changes=self._claims_changed,
        )
        self._volumes: Reflector[Volume] = Reflector(
            client,
            PERSISTENT_VOLUMES,
            transform=skipping(volume_from_raw, "PersistentVolume", log),
            on_changes=self._volumes_changed,
            indexers={BY_CLAIM: claim_of},
        )
        self._classes: Reflector[StorageClass] = Reflector(
            client,
            STORAGE_CLASSES,
            transform=skipping(class_from_raw, "StorageClass", log),
            on_changes=self._classes_changed,
        )

    @property
    def idle(self) -> bool:
        """Synced, nothing being worked on and nothing queued (retries waiting count as queued)."""
        queue = self.queue
        return self.synced.is_set() and self._workers.busy == 0 and len(queue) == 0 and queue.delayed == 0

    async def run(self) -> None:
        """Ensure the default class, then watch and reconcile until cancelled."""
        await asyncio.to_thread(private_dir, self.config.volume_root)
        await self._ensure_class()
        reflectors = (self._claims, self._volumes, self._classes)
        async with asyncio.TaskGroup() as group:
            for reflector in reflectors:
                group.create_task(reflector.run(), name=f"provisioner: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in reflectors))
            self.synced.set()
            group.create_task(self._workers.run(self.workers), name="provisioner: workers")

    async def _ensure_class(self) -> None:
        while True:
            try:
                await self.client.create(
                    STORAGE_CLASSES, None, storage_class_manifest(self.config.default_class)
                )
            except AlreadyExists:
                return
            except ApiError as err:
                log.warning("creating StorageClass %s: %s (retrying)", self.config.default_class, err)
                await asyncio.sleep(1.0)
                continue
            log.info("created the default StorageClass %s", self.config.default_class)
            return

    # -- events ----------------------------------------------------------------------------------------

    def _claims_changed(self, changes: list[Change[Claim]]) -> None:
        for change in changes:
            self.queue.add(("claim", *change.key))
            replaced = change.new is None or (change.old is not None and change.old.uid != change.new.uid)
            if replaced:  # the volumes made for the old claim may be released now
                for _, name in self._volumes.store.keys_by(BY_CLAIM, "/".join(change.key)):
                    self.queue.add(("volume", "", name))

    def _volumes_changed(self, changes: list[Change[Volume]]) -> None:
        for change in changes:
            for volume in (change.old, change.new):
                if volume is not None and volume.claim is not None:
                    self.queue.add(("claim", volume.claim[0], volume.claim[1]))
            self.queue.add(("volume", "", change.key[1]))

    def _classes_changed(self, changes: list[Change[StorageClass]]) -> None:
        if not changes:
            return
        for key in self._claims.store:
            claim = self._claims.store.get(key)
            if claim is not None and claim.phase != BOUND:
                self.queue.add(("claim", *key))

    # -- work ------------------------------------------------------------------------------------------

    async def _sync(self, item: Work) -> float | None:
        if item[0] == "claim":
            return await self.sync_claim((item[1], item[2]))
        await self.sync_volume(item[2])
        return None

    def _failed(self, item: Work, err: Exception) -> None:
        """A failed sync (retried): an API error briefly, any other in full."""
        if isinstance(err, ApiError):
            log.info("%s %s/%s: %s (retrying)", *item, err)
        else:
            log.error("%s %s/%s: sync failed", *item, exc_info=err)

    def _classes_by_name(self) -> dict[str, StorageClass]:
        return {c.name: c for c in self._classes.store.values()}

    async def sync_claim(self, key: tuple[str, str]) -> float | None:
        """Provision and bind one claim, or mark it Lost when its volume is gone; grow a bound claim's
        volume (seconds until its next resize step, if one is waiting)."""
        claim = self._claims.store.get(key)
        if claim is None or claim.deleting:
            return None
        name = volume_name(claim)
        volume = self._volumes.store.get(("", name))
        if claim.volume_name == name and claim.annotation(BIND_COMPLETED) and volume is None:
            await self._check_lost(claim)
            return None
        cls = class_of(claim, self._classes_by_name())
        if volume is None:
            if cls is None or not provisions(claim, cls):
                return None
            volume = await self._provision(claim, cls)
        if volume.claim is None or volume.claim[2] != claim.uid or volume.deleting:
            return None  # a volume of that name for another claim: never taken over
        if volume.phase != BOUND:
            await self.client.patch(
                PERSISTENT_VOLUMES, None, name, {"status": {"phase": BOUND}}, subresource="status"
            )
        binding = claim_binding(claim, volume)
        if binding is not None:
            await self.client.patch(PERSISTENT_VOLUME_CLAIMS, claim.namespace, claim.name, binding)
        status = claim_status(claim, volume)
        if status is not None:
            await self.client.patch(
                PERSISTENT_VOLUME_CLAIMS, claim.namespace, claim.name, status, subresource="status"
            )
        return await self._resize(claim, volume, cls) if claim.phase == BOUND else None

    async def _resize(self, claim: Claim, volume: Volume, cls: StorageClass | None) -> float | None:
        """A bound claim: its volume raised to a larger request, then the claim's capacity following."""
        growth = volume_growth(claim, volume, cls)
        if growth is not None:
            await self.client.patch(PERSISTENT_VOLUMES, None, volume.name, growth)
            log.info("expanded %s to %s for %s/%s", volume.name, claim.request, claim.namespace, claim.name)
            return None  # the volume's change queues the claim again
        if not needs_resize(claim, volume):
            return None
        pods, _ = await self.client.list(PODS, claim.namespace)
        mounted = any(mounts(pod, claim.name) for pod in pods)
        wait = self.config.resize_wait
        patch, wait = resize_status(claim, volume, mounted=mounted, now=time.time(), wait=wait)
        if patch:
            await self.client.patch(
                PERSISTENT_VOLUME_CLAIMS, claim.namespace, claim.name, patch, subresource="status"
            )
        return wait or None

    async def _provision(self, claim: Claim, cls: StorageClass) -> Volume:
        """The claim's volume: its directory made, then the PersistentVolume (or the one already there)."""
        name = volume_name(claim)
        path = volume_path(self.config.volume_root, name)
        raw_claim = await self.client.get(PERSISTENT_VOLUME_CLAIMS, claim.namespace, claim.name)
        meta = raw_claim.get("metadata") or {}
        if meta.get("uid") != claim.uid:
            raise NotFound(f"claim {claim.namespace}/{claim.name} was replaced")
        version = str(meta.get("resourceVersion") or "")
        await asyncio.to_thread(private_dir, path)
        try:
            created = await self.client.create(
                PERSISTENT_VOLUMES, None, volume_manifest(claim, cls, version, path)
            )
        except AlreadyExists:
            created = await self.client.get(PERSISTENT_VOLUMES, None, name)
        else:
            log.info("provisioned %s for %s/%s at %s", name, claim.namespace, claim.name, path)
        return volume_from_raw(created)

    async def _check_lost(self, claim: Claim) -> None:
        """A bound claim whose volume the cache does not show: Lost once the API confirms it is gone."""
        try:
            await self.client.get(PERSISTENT_VOLUMES, None, claim.volume_name)
        except NotFound:
            if claim.phase != LOST:
                patch = {"metadata": {"uid": claim.uid}, "status": {"phase": LOST}}
                await self.client.patch(
                    PERSISTENT_VOLUME_CLAIMS, claim.namespace, claim.name, patch, subresource="status"
                )

    async def sync_volume(self, name: str) -> None:
        """Release a volume whose claim is gone; with reclaim policy Delete remove its directory and it."""
        volume = self._volumes.store.get(("", name))
        if volume is None or not volume.ours or volume.claim is None or volume.deleting:
            return
        namespace, claim_name, _ = volume.claim
        if not claim_is_gone(volume, self._claims.store.get((namespace, claim_name))):
            return
        try:  # the cache may lag: the API server has the last word before anything is released
            live: Claim | None = claim_from_raw(
                await self.client.get(PERSISTENT_VOLUME_CLAIMS, namespace, claim_name)
            )
        except NotFound:
            live = None
        if not claim_is_gone(volume, live):
            return
        if volume.phase != RELEASED:
            await self.client.patch(
                PERSISTENT_VOLUMES, None, name, {"status": {"phase": RELEASED}}, subresource="status"
            )
            log.info("released %s (claim %s/%s is gone)", name, namespace, claim_name)
        if volume.reclaim_policy != "Delete":
            return
        path = removable_path(volume, self.config.volume_root)
        if path is not None:
            await asyncio.to_thread(_remove_dir, path)
        else:
            log.warning(
                "%s: path %r is not under %s; left in place", name, volume.path, self.config.volume_root
            )
        await self.client.delete(PERSISTENT_VOLUMES, None, name, preconditions={"uid": volume.uid})
        log.info("deleted %s", name)
