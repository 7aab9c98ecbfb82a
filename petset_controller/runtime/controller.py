"""The controller's shell: informers, the work queue, and the loop that plans and executes one set."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from kubeapi.client import Client
from kubeapi.meta import Obj
from kubeapi.paths import (
    CONTROLLER_REVISIONS,
    PERSISTENT_VOLUME_CLAIMS,
    PODS,
    STORAGE_CLASSES,
    ResourceRef,
)
from kubeapi.reflector import Reflector
from kubeapi.store import Change, Indexer
from kubeapi.workqueue import Workers, WorkQueue
from petset_controller.core.growth import class_from_raw
from petset_controller.core.model import claim_from_raw, pod_from_raw, revision_from_raw
from petset_controller.core.plan import plan
from petset_controller.core.spec import PETSET_KIND, STATEFULSET_KIND
from petset_controller.core.status import DEFAULT_STALL_AFTER
from petset_controller.runtime.events import EventRecorder, Fenced, Gate, open_gate
from petset_controller.runtime.executor import Executor
from petset_controller.runtime.expectations import Expectations
from petset_controller.runtime.informers import (
    CLAIM_INDEXERS,
    POD_INDEXERS,
    REVISION_INDEXERS,
    SET_INDEXERS,
    Informers,
    SetKey,
    cached_set,
)
from petset_controller.runtime.leader import LeaderElector
from petset_controller.runtime.outcome import Outcome, Target
from petset_controller.runtime.setkinds import set_resource

log = logging.getLogger("petset_controller")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """What the controller watches and how hard it works."""

    namespace: str | None = None  # None: every namespace
    workers: int = 4
    stall_after: float = DEFAULT_STALL_AFTER
    expectation_timeout: float = 30.0
    page_size: int = 500
    release_on_stop: bool = True  # give the lease up on a clean stop (a crash leaves it to expire)
    kind: str = PETSET_KIND  # the sets this controller reconciles: PetSet or StatefulSet
    # apps/v1 StatefulSets too (by a second controller run alongside, under the same lease); off on a
    # real cluster, where kube-controller-manager owns them
    manage_statefulsets: bool = False


class Unfinished(Exception):
    """A sync that ended with a failed write or stopped early (the cache is behind)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome.error) if outcome.error is not None else "stopped")
        self.outcome = outcome


@dataclass(slots=True)
class Stats:
    """Counters for logs, tests and benchmarks."""

    syncs: int = 0
    planned: int = 0
    waited: int = 0  # syncs skipped while expectations were pending
    failed: int = 0
    stopped: int = 0  # syncs that stopped early, the cache behind the API (retried, not failures)
    plan_cpu: float = 0.0  # CPU seconds in syncs that planned (plan and execute)


class Controller:
    """Reconciles every PetSet it can see; with an elector, only while it holds the lease."""

    def __init__(
        self,
        client: Client,
        *,
        config: ControllerConfig | None = None,
        elector: LeaderElector | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_write: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.config = config or ControllerConfig()
        self.elector = elector
        self.clock = clock
        self.monotonic = monotonic
        self.queue: WorkQueue[SetKey] = WorkQueue(clock=monotonic)
        self.workers = Workers(self.queue, self.sync_key, on_error=self._failed)
        self.expectations = Expectations(timeout=self.config.expectation_timeout)
        self.stats = Stats()
        self._on_write = on_write
        self.leading = False
        gate = self._gate(elector.gate if elector is not None else open_gate)
        self.events = EventRecorder(client, clock=clock, gate=gate)
        self.executor = Executor(
            client, expectations=self.expectations, events=self.events, gate=gate, monotonic=monotonic
        )
        transform = functools.partial(cached_set, kind=self.config.kind)
        sets = self._reflector(
            set_resource(self.config.kind), transform, SET_INDEXERS, route=Informers.on_sets
        )
        pods = self._reflector(PODS, pod_from_raw, POD_INDEXERS, route=Informers.on_pods)
        claims = self._reflector(
            PERSISTENT_VOLUME_CLAIMS, claim_from_raw, CLAIM_INDEXERS, route=Informers.on_claims
        )
        revisions = self._reflector(
            CONTROLLER_REVISIONS, revision_from_raw, REVISION_INDEXERS, route=Informers.on_revisions
        )
        classes = self._reflector(STORAGE_CLASSES, class_from_raw, {}, route=Informers.on_classes)
        self.cache = Informers(
            sets=sets.store,
            pods=pods.store,
            claims=claims.store,
            revisions=revisions.store,
            classes=classes.store,
            kind=self.config.kind,
        )
        self.reflectors: list[Reflector[Any]] = [sets, pods, claims, revisions, classes]
        self.sibling: Controller | None = None  # the StatefulSet controller that runs with this one
        if self.config.manage_statefulsets and self.config.kind != STATEFULSET_KIND:
            config = replace(self.config, kind=STATEFULSET_KIND, manage_statefulsets=False)
            self.sibling = Controller(
                client, config=config, elector=elector, clock=clock, monotonic=monotonic, on_write=on_write
            )

    def _gate(self, inner: Gate) -> Gate:
        def gate(verb: str, kind: str, name: str) -> None:
            inner(verb, kind, name)
            if self._on_write is not None:
                self._on_write(verb, kind, name)

        return gate

    def _reflector(
        self,
        ref: ResourceRef,
        transform: Callable[[Obj], T | None],
        indexers: Mapping[str, Indexer[T]],
        *,
        route: Callable[[Informers, list[Change[T]]], set[SetKey]],
    ) -> Reflector[T]:
        """A reflector whose store has `indexers`; its changes queue the sets `route` finds in the cache."""

        def on_changes(changes: list[Change[T]]) -> None:
            for key in route(self.cache, changes):
                self.queue.add(key)

        return Reflector(
            self.client,
            ref,
            transform=transform,
            on_changes=on_changes,
            namespace=self.config.namespace,
            page_size=self.config.page_size,
            indexers=indexers,
        )

    # -- state for tests and benchmarks -------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Every informer has listed once."""
        return all(r.has_synced for m in self._members() for r in m.reflectors)

    @property
    def idle(self) -> bool:
        """Nothing running and, while leading, nothing queued to run now (delayed requeues may wait)."""
        return all(m.workers.busy == 0 and (len(m.queue) == 0 or not m.leading) for m in self._members())

    # -- running --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch, then (once elected, with an elector) reconcile until cancelled.

        Raises LeadershipLost when the lease is lost: the caller should exit and let a fresh process
        start as a candidate.
        """
        members = self._members()
        reflectors = [r for member in members for r in member.reflectors]
        informers = [asyncio.create_task(r.run(), name=f"informer {r.name}") for r in reflectors]
        try:
            await asyncio.gather(*(r.synced.wait() for r in reflectors))
            for member in members:
                log.info("caches synced: %d %ss", len(member.cache.sets), member.config.kind)
            if self.elector is not None:
                log.info("waiting for lease as %s", self.elector.identity)
                await self.elector.acquire()
            await self._lead()
        finally:
            for task in informers:
                task.cancel()
            await asyncio.gather(*informers, return_exceptions=True)

    def _members(self) -> list[Controller]:
        """This controller and the sibling it runs (the sibling's reflectors and workers are its own)."""
        return [self] if self.sibling is None else [self, self.sibling]

    async def _lead(self) -> None:
        members = self._members()
        tasks = []
        for member in members:
            for key in list(member.cache.sets):
                member.queue.add(key)
            name = member.config.kind
            tasks.append(
                asyncio.create_task(member.workers.run(member.config.workers), name=f"{name} workers")
            )
            tasks.append(asyncio.create_task(member.events.run(), name=f"{name} events"))
        keeper = asyncio.create_task(self.elector.keep()) if self.elector is not None else None
        for member in members:
            member.leading = True
        try:
            await (keeper if keeper is not None else asyncio.gather(*tasks))
        finally:
            for member in members:
                member.leading = False
            for task in [*tasks, *([keeper] if keeper is not None else [])]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if keeper is not None:
                await asyncio.gather(keeper, return_exceptions=True)
            await self._step_down()

    async def _step_down(self) -> None:
        """After the workers stopped: flush events and release the lease (on a clean stop)."""
        elector = self.elector
        if elector is None or not self.config.release_on_stop:
            return
        for member in self._members():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await member.events.flush()
        await elector.release()

    async def sync_key(self, key: SetKey) -> float | None:
        """One sync for the workers: when to look again, or Unfinished to retry it rate-limited."""
        outcome = await self.sync(key)
        if outcome.error is not None or outcome.stopped:
            raise Unfinished(outcome)
        return outcome.requeue_after

    def _failed(self, key: SetKey, err: Exception) -> None:
        """Log and count a sync that will be retried rate-limited."""
        if isinstance(err, Unfinished):
            if err.outcome.error is not None:
                self.stats.failed += 1
                log.warning("%s/%s: %s (retrying)", key[0], key[1], err.outcome.error)
            else:
                self.stats.stopped += 1
                log.info(
                    "%s/%s: stopped: %s (the cache is behind; retrying)", key[0], key[1], err.outcome.stopped
                )
        elif isinstance(err, Fenced):
            log.warning("%s/%s: %s", key[0], key[1], err)
        else:
            self.stats.failed += 1
            log.error("%s/%s: sync failed", *key, exc_info=err)

    async def sync(self, key: SetKey) -> Outcome:
        """Plan one set from the cache and carry the plan out (nothing while expectations are pending)."""
        self.stats.syncs += 1
        cached = self.cache.sets.get(key)
        if cached is None:
            self.expectations.forget(key)
            return Outcome()
        wait = self.expectations.wait(key, self.cache, now=self.monotonic())
        if wait is not None:
            self.stats.waited += 1
            return Outcome(requeue_after=wait)
        cpu = time.process_time()
        pet_set = cached.pet_set
        actions = plan(
            pet_set,
            self.cache.pods_of(key),
            self.cache.claims_of(pet_set),
            self.cache.revisions_in(pet_set.namespace),
            self.clock(),
            stall_after=self.config.stall_after,
            classes=self.cache.classes,
        )
        try:
            return await self.executor.execute(Target(pet_set, cached.resource_version), actions)
        finally:
            self.stats.planned += 1
            self.stats.plan_cpu += time.process_time() - cpu
