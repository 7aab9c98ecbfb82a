"""The Deployment and ReplicaSet controllers' shell: reflectors over Deployments, ReplicaSets and Pods,
one work queue, the writes `rollout` and `replicas` decide on (kube-controller-manager's two loops)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.meta import Obj, rfc3339
from kubeapi.paths import PODS, ResourceRef
from kubeapi.reflector import Reflector
from kubeapi.store import Change
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.controllers.deployments.objects import controller_uid, name, replicas, terminating, uid
from localcluster.controllers.deployments.replicas import plan_pods, pod_manifest
from localcluster.controllers.deployments.rollout import plan_rollout

log = logging.getLogger("localcluster.deployments")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
REPLICA_SETS = ResourceRef("apps", "v1", "replicasets")
BY_OWNER, BY_UID = "owner", "uid"
# how long a sync waits for the caches to show its own writes before deciding again regardless
EXPECTATION_SECONDS = 10.0
RECHECK_SECONDS = 0.5
WorkKey = tuple[str, str, str]  # (kind, namespace, name)


def _owner(obj: Obj) -> list[str]:
    found = controller_uid(obj)
    return [found] if found else []


def _uid(obj: Obj) -> list[str]:
    return [uid(obj)]


def _raw(obj: Obj) -> Obj | None:
    return obj


class Expectations:
    """Writes a key made that the caches must show before it is decided on again (or the deadline passes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: dict[WorkKey, tuple[float, Callable[[], bool]]] = {}

    def expect(self, key: WorkKey, seen: Callable[[], bool]) -> None:
        """key waits until seen() holds."""
        self._pending[key] = (self._clock() + EXPECTATION_SECONDS, seen)

    def waiting(self, key: WorkKey) -> bool:
        """Whether key's last writes are not in the caches yet (and their deadline has not passed)."""
        found = self._pending.get(key)
        if found is None:
            return False
        deadline, seen = found
        if seen() or self._clock() > deadline:
            del self._pending[key]
            return False
        return True


class DeploymentController:
    """Deployments to ReplicaSets to Pods; `synced` once every resource has been listed."""

    def __init__(self, client: Client, *, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.expectations = Expectations()
        self.synced = asyncio.Event()
        self._workers = Workers(self.queue, self._sync, on_error=self._failed)
        self._deployments: Reflector[Obj] = Reflector(
            client, DEPLOYMENTS, transform=_raw, on_changes=self._deployments_changed, indexers={BY_UID: _uid}
        )
        self._sets: Reflector[Obj] = Reflector(
            client,
            REPLICA_SETS,
            transform=_raw,
            on_changes=self._sets_changed,
            indexers={BY_OWNER: _owner, BY_UID: _uid},
        )
        self._pods: Reflector[Obj] = Reflector(
            client, PODS, transform=_raw, on_changes=self._pods_changed, indexers={BY_OWNER: _owner}
        )
        self.reflectors: tuple[Reflector[Any], ...] = (self._deployments, self._sets, self._pods)

    async def run(self) -> None:
        """Watch and reconcile until cancelled."""
        async with asyncio.TaskGroup() as group:
            for reflector in self.reflectors:
                group.create_task(reflector.run(), name=f"deployments: watch {reflector.name}")
            await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
            self.synced.set()
            group.create_task(self._workers.run(self.workers), name="deployments: workers")

    # -- events ----------------------------------------------------------------------------------------

    def _deployments_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            self.queue.add(("Deployment", *change.key))

    def _sets_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            self.queue.add(("ReplicaSet", *change.key))
            for found in (change.old, change.new):
                if found is not None:
                    owners = self._deployments.store.keys_by(BY_UID, controller_uid(found))
                    self._owner_changed(owners, "Deployment")

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            for found in (change.old, change.new):
                if found is not None:
                    owners = self._sets.store.keys_by(BY_UID, controller_uid(found))
                    self._owner_changed(owners, "ReplicaSet")

    def _owner_changed(self, keys: set[tuple[str, str]], kind: str) -> None:
        for key in keys:
            self.queue.add((kind, *key))

    # -- work ------------------------------------------------------------------------------------------

    def _failed(self, key: WorkKey, err: Exception) -> None:
        if isinstance(err, ApiError):
            log.info("%s %s/%s: %s (retrying)", *key, err)
        else:
            log.error("%s %s/%s: sync failed", *key, exc_info=err)

    async def _sync(self, key: WorkKey) -> float | None:
        if self.expectations.waiting(key):
            return RECHECK_SECONDS
        kind, namespace, obj_name = key
        if kind == "Deployment":
            return await self.sync_deployment(namespace, obj_name)
        return await self.sync_replicaset(namespace, obj_name)

    def _owned(self, reflector: Reflector[Obj], owner: Obj) -> list[Obj]:
        return reflector.store.by(BY_OWNER, uid(owner))

    async def sync_deployment(self, namespace: str, deploy_name: str) -> float | None:
        """One step of a Deployment's rollout, then its status."""
        deploy = self._deployments.store.get((namespace, deploy_name))
        if deploy is None or terminating(deploy):
            return None
        todo = plan_rollout(deploy, self._owned(self._sets, deploy), rfc3339(time.time()))
        wanted: dict[str, int] = {}
        if todo.create is not None:
            try:
                created = await self.client.create(REPLICA_SETS, namespace, todo.create)
            except ApiError as err:
                if err.code != 409:
                    raise
                created = todo.create  # made by an earlier sync the cache does not show yet
            wanted[name(created)] = replicas(created)
        for rs_name, count in todo.scale:
            patch = {"spec": {"replicas": count}}
            await self.client.patch(REPLICA_SETS, namespace, rs_name, patch)
            wanted[rs_name] = count
        if wanted:
            key: WorkKey = ("Deployment", namespace, deploy_name)
            self.expectations.expect(key, lambda: self._sets_show(namespace, wanted))
        if todo.status is not None:
            await self.client.replace(
                DEPLOYMENTS, namespace, deploy_name, {**deploy, "status": todo.status}, "status"
            )
        return None

    def _sets_show(self, namespace: str, wanted: dict[str, int]) -> bool:
        for rs_name, count in wanted.items():
            found = self._sets.store.get((namespace, rs_name))
            if found is None or replicas(found) != count:
                return False
        return True

    async def sync_replicaset(self, namespace: str, rs_name: str) -> float | None:
        """Pods created or deleted toward spec.replicas, then the ReplicaSet's status."""
        rs = self._sets.store.get((namespace, rs_name))
        if rs is None or terminating(rs):
            return None
        todo = plan_pods(rs, self._owned(self._pods, rs), time.time())
        made: set[str] = set()
        for _ in range(todo.create):
            created = await self.client.create(PODS, namespace, pod_manifest(rs))
            made.add(name(created))
        for pod_name in todo.delete:
            await self.client.delete(PODS, namespace, pod_name)
        if made or todo.delete:
            gone = set(todo.delete)
            key: WorkKey = ("ReplicaSet", namespace, rs_name)
            self.expectations.expect(key, lambda: self._pods_show(namespace, made, gone))
            return RECHECK_SECONDS
        if todo.status is not None:
            body = {**rs, "status": todo.status}
            await self.client.replace(REPLICA_SETS, namespace, rs_name, body, "status")
        return None

    def _pods_show(self, namespace: str, made: set[str], gone: set[str]) -> bool:
        pods = self._pods.store
        if any(pods.get((namespace, pod_name)) is None for pod_name in made):
            return False
        for pod_name in gone:
            found = pods.get((namespace, pod_name))
            if found is not None and not terminating(found):
                return False
        return True
