"""The disruption controller's shell: reflectors over PodDisruptionBudgets and Pods, the controllers' scale
read through `/scale`, each budget's status written when it changes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.meta import Obj, rfc3339
from kubeapi.paths import PODS, ResourceRef
from kubeapi.reflector import Reflector
from kubeapi.store import Change, Key
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.controllers.disruption.budget import (
    Owner,
    Scales,
    budget_status,
    needs_scale,
    owners,
    selects,
)

log = logging.getLogger("localcluster.disruption")
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets")
BY_NAMESPACE = "namespace"
# the controllers whose scale a budget reads, by (apiVersion, kind); others by their lower-case plural
SCALABLE = {
    ("apps/v1", "ReplicaSet"): ResourceRef("apps", "v1", "replicasets"),
    ("apps/v1", "Deployment"): ResourceRef("apps", "v1", "deployments"),
    ("apps/v1", "StatefulSet"): ResourceRef("apps", "v1", "statefulsets"),
    ("v1", "ReplicationController"): ResourceRef("", "v1", "replicationcontrollers"),
}


def _namespace(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def _raw(obj: Obj) -> Obj | None:
    return obj


def scale_ref(api_version: str, kind: str) -> ResourceRef:
    """The resource serving a controller's /scale."""
    known = SCALABLE.get((api_version, kind))
    if known is not None:
        return known
    group, _, version = api_version.rpartition("/")
    return ResourceRef(group, version, f"{kind.lower()}s")


class DisruptionController:
    """Keeps every PodDisruptionBudget's status in step with the pods it selects."""

    def __init__(self, client: Client, *, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.synced = asyncio.Event()
        self._workers = Workers(self.queue, self._sync, on_error=self._failed)
        by_namespace = {BY_NAMESPACE: _namespace}
        self._budgets: Reflector[Obj] = Reflector(
            client, PDBS, transform=_raw, on_changes=self._budgets_changed, indexers=by_namespace
        )
        self._pods: Reflector[Obj] = Reflector(
            client, PODS, transform=_raw, on_changes=self._pods_changed, indexers=by_namespace
        )
        self.reflectors: tuple[Reflector[Any], ...] = (self._budgets, self._pods)

    async def run(self) -> None:
        """Watch and reconcile until cancelled."""
        async with asyncio.TaskGroup() as group:
            for reflector in self.reflectors:
                group.create_task(reflector.run(), name=f"disruption: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
            self.synced.set()
            group.create_task(self._workers.run(self.workers), name="disruption: workers")

    def _budgets_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            self.queue.add(change.key)

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            for pod in (change.old, change.new):
                if pod is None:
                    continue
                for pdb in self._budgets.store.by(BY_NAMESPACE, _namespace(pod)[0]):
                    if selects(pdb, pod):
                        meta = pdb.get("metadata") or {}
                        self.queue.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))

    def _failed(self, key: Key, err: Exception) -> None:
        if isinstance(err, ApiError):
            log.info("disruption %s/%s: %s (retrying)", *key, err)
        else:
            log.error("disruption %s/%s: sync failed", *key, exc_info=err)

    async def _sync(self, key: Key) -> float | None:
        pdb = self._budgets.store.get(key)
        if pdb is None:
            return None
        pods = [pod for pod in self._pods.store.by(BY_NAMESPACE, key[0]) if selects(pdb, pod)]
        scales = await self._scales(key[0], pods) if needs_scale(pdb) else Scales()
        status = budget_status(pdb, pods, scales, rfc3339(time.time()))
        if status != pdb.get("status"):
            await self.client.replace(PDBS, key[0], key[1], {**pdb, "status": status}, "status")
        return None

    async def _scales(self, namespace: str, pods: list[Obj]) -> Scales:
        found, failure = owners(pods)
        if failure:
            return Scales(failure=failure)
        seen: set[Owner] = set()
        expected = 0
        for owner in found:
            try:
                top, replicas = await self._scale_of(namespace, owner)
            except ApiError as err:
                if err.code != 404:
                    raise
                return Scales(failure=f"{owner[1]} {namespace}/{owner[2]}: {err}")
            if top not in seen:
                seen.add(top)
                expected += replicas
        return Scales(expected=expected)

    async def _scale_of(self, namespace: str, owner: Owner) -> tuple[Owner, int]:
        """The top controller of a pod's controller (a Deployment above its ReplicaSet) and its replicas."""
        api_version, kind, name = owner
        if (api_version, kind) == ("apps/v1", "ReplicaSet"):
            rs = await self.client.get(SCALABLE[(api_version, kind)], namespace, name)
            for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
                if isinstance(ref, dict) and ref.get("controller") and ref.get("kind") == "Deployment":
                    owner = (str(ref.get("apiVersion")), "Deployment", str(ref.get("name")))
                    api_version, kind, name = owner
        scale = await self.client.get(scale_ref(api_version, kind), namespace, name, "scale")
        replicas = (scale.get("spec") or {}).get("replicas")
        return owner, replicas if isinstance(replicas, int) else 0
