"""A minimal simulated kubelet and claim binder for controller tests: stepped, or reacting to watches."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError, Conflict, NotFound
from kubeapi.meta import rfc3339
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PODS
from kubeapi.reflector import Reflector
from kubeapi.store import Change

Obj = dict[str, Any]
PodKey = tuple[str, str]


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def claims_of(pod: Obj) -> list[str]:
    """The claim names a pod mounts."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return [v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v]


class Kubelet:
    """Binds pods to `node`, starts them `ready_after` steps after their claims are Bound (Running and
    Ready at once), finishes graceful deletions with grace 0, and binds every Pending claim.

    `step()` does one tick over everything in `namespace` (None: all); `run()` reacts to watch events
    instead and makes pods Ready as soon as their claims are bound.
    """

    def __init__(
        self,
        client: Client,
        *,
        namespace: str | None = None,
        ready_after: int = 1,
        node: str = "node-1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.ready_after = ready_after
        self.node = node
        self.clock = clock
        self.ages: dict[str, int] = {}
        self.writes = 0
        self._ips = itertools.count(10)
        self._dirty: asyncio.Queue[tuple[str, PodKey]] = asyncio.Queue()
        self._queued: set[tuple[str, PodKey]] = set()
        self._pods: Reflector[Obj] = Reflector(client, PODS, transform=lambda o: o, on_changes=lambda c: None)
        self._claims: Reflector[Obj] = Reflector(
            client, PERSISTENT_VOLUME_CLAIMS, transform=lambda o: o, on_changes=lambda c: None
        )

    # -- single writes --------------------------------------------------------------------------------

    async def _write(self, call: Any) -> Obj | None:
        """One write; an object changed or gone meanwhile is left for the next tick."""
        try:
            result: Obj | None = await call
        except (Conflict, NotFound):
            return None
        self.writes += 1
        return result

    async def bind_claim(self, claim: Obj) -> None:
        """A Pending claim becomes Bound."""
        meta = _meta(claim)
        status = {"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"]}}
        await self._write(
            self.client.patch(
                PERSISTENT_VOLUME_CLAIMS, meta["namespace"], meta["name"], status, subresource="status"
            )
        )

    async def bind(self, pod: Obj) -> Obj | None:
        """spec.nodeName set (what the scheduler's binding does)."""
        meta = _meta(pod)
        patch = {"metadata": {"uid": meta["uid"]}, "spec": {"nodeName": self.node}}
        return await self._write(self.client.patch(PODS, meta["namespace"], meta["name"], patch))

    async def start(self, pod: Obj) -> None:
        """Running and Ready, with a pod IP."""
        meta, stamp = _meta(pod), rfc3339(self.clock())
        n = next(self._ips)
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": stamp}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        status = {
            "phase": "Running",
            "podIP": f"10.244.{n // 250 % 250}.{n % 250 + 1}",
            "hostIP": "10.0.0.1",
            "startTime": stamp,
            "conditions": conditions,
        }
        patch = {"metadata": {"uid": meta["uid"]}, "status": status}
        await self._write(
            self.client.patch(PODS, meta["namespace"], meta["name"], patch, subresource="status")
        )

    async def fail(self, namespace: str, name: str, *, reason: str = "Evicted") -> None:
        """The pod's node reports it Failed."""
        status = {"phase": "Failed", "reason": reason, "conditions": [{"type": "Ready", "status": "False"}]}
        await self._write(self.client.patch(PODS, namespace, name, {"status": status}, subresource="status"))

    async def finish(self, pod: Obj) -> None:
        """A graceful deletion completed (delete again with grace 0)."""
        meta = _meta(pod)
        await self._write(
            self.client.delete(
                PODS, meta["namespace"], meta["name"], grace_seconds=0, preconditions={"uid": meta["uid"]}
            )
        )

    # -- stepped --------------------------------------------------------------------------------------

    async def step(self) -> int:
        """One tick: bind claims, then move every pod one step on; returns the writes made."""
        before = self.writes
        claims, _ = await self.client.list(PERSISTENT_VOLUME_CLAIMS, self.namespace)
        bound = set()
        for claim in claims:
            meta = _meta(claim)
            if (claim.get("status") or {}).get("phase") != "Bound" and not meta.get("deletionTimestamp"):
                await self.bind_claim(claim)
            bound.add((meta["namespace"], meta["name"]))
        pods, _ = await self.client.list(PODS, self.namespace)
        for pod in pods:
            await self._tick(pod, bound)
        return self.writes - before

    async def _tick(self, pod: Obj, bound: set[tuple[str, str]]) -> None:
        meta, spec = _meta(pod), pod.get("spec") or {}
        if meta.get("deletionTimestamp"):
            await self.finish(pod)
            return
        if not spec.get("nodeName"):
            await self.bind(pod)
            self.ages[meta["uid"]] = 0
            return
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        if not all((meta["namespace"], c) in bound for c in claims_of(pod)):
            return
        self.ages[meta["uid"]] = self.ages.get(meta["uid"], 0) + 1
        if self.ages[meta["uid"]] >= self.ready_after:
            await self.start(pod)

    # -- reacting ---------------------------------------------------------------------------------------

    async def run(self, *, workers: int = 8) -> None:
        """React to pod and claim events until cancelled: everything goes as far as it can at once."""
        self._pods = Reflector(
            self.client, PODS, transform=lambda o: o, on_changes=self._pods_changed, namespace=self.namespace
        )
        self._claims = Reflector(
            self.client,
            PERSISTENT_VOLUME_CLAIMS,
            transform=lambda o: o,
            on_changes=self._claims_changed,
            namespace=self.namespace,
        )
        tasks = [asyncio.create_task(r.run()) for r in (self._pods, self._claims)]
        tasks += [asyncio.create_task(self._work()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _mark(self, kind: str, key: PodKey) -> None:
        if (kind, key) not in self._queued:
            self._queued.add((kind, key))
            self._dirty.put_nowait((kind, key))

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            self._mark("pod", change.key)

    def _claims_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            self._mark("claim", change.key)
            namespace, name = change.key
            for at, char in enumerate(name):  # claim <template>-<pod>: the pods that may wait for it
                if char == "-" and (namespace, name[at + 1 :]) in self._pods.store:
                    self._mark("pod", (namespace, name[at + 1 :]))

    async def _work(self) -> None:
        while True:
            kind, key = await self._dirty.get()
            self._queued.discard((kind, key))
            with contextlib.suppress(ApiError):
                await (self._react_claim(key) if kind == "claim" else self._react_pod(key))

    async def _react_claim(self, key: PodKey) -> None:
        claim = self._claims.store.get(key)
        if claim is None or _meta(claim).get("deletionTimestamp"):
            return
        if (claim.get("status") or {}).get("phase") != "Bound":
            await self.bind_claim(claim)

    async def _react_pod(self, key: PodKey) -> None:
        pod = self._pods.store.get(key)
        if pod is None:
            return
        meta, spec = _meta(pod), pod.get("spec") or {}
        if meta.get("deletionTimestamp"):
            await self.finish(pod)
            return
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        for name in claims_of(pod):
            claim = self._claims.store.get((key[0], name))
            if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
                return
        if not spec.get("nodeName") and await self.bind(pod) is None:
            return
        await self.start(pod)
