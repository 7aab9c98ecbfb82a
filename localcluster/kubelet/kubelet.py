"""A simulated kubelet and scheduler for the local control plane, speaking to it only through the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from kubeapi.client import Client
from kubeapi.errors import ApiError, Conflict, NotFound
from kubeapi.meta import Obj
from kubeapi.paths import NODES, PERSISTENT_VOLUME_CLAIMS, PODS
from kubeapi.reflector import Reflector
from kubeapi.store import Change, Key
from kubeapi.workqueue import Workers, WorkQueue
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.hostrun.runtime import HostRuntime, available
from localcluster.kubelet.hostsync import HostSync, this_host
from localcluster.kubelet.podindex import BY_CLAIM, BY_NODE, POD_INDEXERS, UNSCHEDULED, claim_value, uid_of
from localcluster.kubelet.podlife import terminal
from localcluster.kubelet.podsync import PodSync
from localcluster.kubelet.registration import Registrar
from localcluster.kubelet.scheduler import ClaimView, NodeView

__all__ = ["Kubelet", "KubeletConfig"]
log = logging.getLogger("localcluster.kubelet")
RETRY_FIRST = 0.1  # a failed sync is retried after this, doubling per failure up to RETRY_CAP
RETRY_CAP = 5.0
DEFAULT_CONFIG = KubeletConfig()


def _keep(obj: Obj) -> Obj:
    return obj


class Kubelet:
    """Registers the nodes, schedules pods onto them and runs their lifecycle, until cancelled.

    One `Kubelet` plays every node of `KubeletConfig.nodes`. It registers a Node object per node, then
    watches pods, PersistentVolumeClaims and nodes and reacts to each change:

    - A pod without `spec.nodeName` is bound (a patch of spec.nodeName) to the fitting node with the fewest
      pods, ties by name. A pod waits until every claim it mounts exists and is Bound; until then, and while
      no node fits (cordoned, tainted, nodeSelector, required pod anti-affinity: see
      `localcluster.kubelet.affinity`), its PodScheduled condition is False with reason Unschedulable and
      the scheduler's message, with a FailedScheduling event per new message (Scheduled once bound).
    - A pod on one of its nodes gets one address from each pod range (`pod_cidr`, `pod_cidr6`) and goes
      Running; it turns Ready as its readiness probes say (at once without one; see
      `localcluster.kubelet.podlife`), or `ready_after` seconds later when that is set. Addresses are
      unique among existing pods and freed when a pod is gone; a restarted kubelet reads them back from
      status.podIPs first.
    - A deleted pod (the API server sets deletionTimestamp and its grace period) turns not Ready, its
      containers take `stop_after` seconds to stop (at most the grace period), then the kubelet deletes it
      with grace 0 and a uid precondition. Failed and Succeeded pods stay until someone deletes them.

    Per-pod annotations override the timing (seconds, decimals allowed; see `localcluster.kubelet.podlife`):

    - `localcluster.petdns.dev/ready-after`: from start to Ready; `never` keeps the pod not Ready.
    - `localcluster.petdns.dev/stop-after`: from deletion to stopped (still capped by the grace period).
    - `localcluster.petdns.dev/fail-after`: from start until the containers exit with Error (pod Failed).

    Failure injection: `fail_pod` (Failed with the reason given), `set_ready` (readiness forced either way
    until set again), `lose_node` (the node goes silent: its conditions turn Unknown, it is tainted
    `node.kubernetes.io/unreachable`, and its pods turn not Ready as the node lifecycle controller marks
    them; nothing more happens to them: a deletion does not complete, the pod is marked reason NodeLost
    and stays Terminating until a force delete or `restore_node`). Pods are never turned Failed for a lost
    node.

    With `KubeletConfig.run_pods`, a pod annotated `localcluster.petdns.dev/run: host` whose commands are
    found on the host runs as host processes (`localcluster.kubelet.hostrun`: a sandbox per pod with the
    pet's hostname, resolv.conf and hosts; init containers, restarts, probes and the stop sequence for
    real), and its status follows its processes; any other pod is simulated as above, with a `NotRun`
    event saying why. Every sandbox ends with the kubelet (and with its process, however it ends).

    Pods bound to nodes that are not this kubelet's are left alone. Every pod write carries a precondition
    (resourceVersion; uid for the final delete). A conflict, a missing object or an unreachable API is
    retried on the next event or after a short backoff; the watches relist by themselves. There is no node
    heartbeat and no Lease.
    """

    def __init__(
        self, client: Client, config: KubeletConfig = DEFAULT_CONFIG, runtime: HostRuntime | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.synced = asyncio.Event()  # set once the nodes are registered and every watch has listed
        self._pods: Reflector[Obj] = Reflector(
            client, PODS, transform=_keep, on_changes=self._pods_changed, indexers=POD_INDEXERS
        )
        self._claims: Reflector[ClaimView] = Reflector(
            client, PERSISTENT_VOLUME_CLAIMS, transform=ClaimView.from_raw, on_changes=self._claims_changed
        )
        self._nodes: Reflector[NodeView] = Reflector(
            client, NODES, transform=NodeView.from_raw, on_changes=self._nodes_changed
        )
        self._registrar = Registrar(client, config, self._nodes.store)
        self._podsync = PodSync(
            client, config, pods=self._pods.store, claims=self._claims.store, nodes=self._registrar
        )
        self._queue: WorkQueue[Key] = WorkQueue(base_delay=RETRY_FIRST, max_delay=RETRY_CAP)
        self.runtime: HostRuntime | None = None  # pods run as host processes (`run_pods`)
        if config.run_pods:
            missing = available()
            if missing is None:
                self.runtime = runtime or HostRuntime(config.pods_dir)
                self.runtime.notify = self._queue.add
                events = self._podsync.events
                self._podsync.host = HostSync(client, config, events, self.runtime, this_host())
            else:
                log.warning("kubelet: pods cannot run on this host (%s); every pod is simulated", missing)
        self._workers = Workers(self._queue, self._sync_key, on_error=self._failed)
        self._locks: dict[Key, asyncio.Lock] = {}
        self._lock_users: Counter[Key] = Counter()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def writes(self) -> int:
        """The API writes made so far."""
        return self._registrar.writes + self._podsync.writes

    # --- running -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register the nodes, then watch and act until cancelled."""
        tasks: list[asyncio.Task[None]] = []
        try:
            for node in self.config.nodes:
                await self._registrar.register(node)
            tasks = [asyncio.create_task(r.run()) for r in (self._pods, self._claims, self._nodes)]
            await self._wait_listed(tasks)
            tasks.append(asyncio.create_task(self._podsync.events.run()))
            tasks.append(asyncio.create_task(self._workers.run(self.config.workers)))
            self.synced.set()
            known = len(self._pods.store)
            log.info("kubelet: %d node(s) registered, %d pod(s) known", len(self.config.nodes), known)
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, *self._background]:
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)
            self._queue.shut_down()
            if self.runtime is not None:
                await self.runtime.shutdown()

    async def _wait_listed(self, tasks: list[asyncio.Task[None]]) -> None:
        async def all_listed() -> None:
            for reflector in (self._pods, self._claims, self._nodes):
                await reflector.synced.wait()

        listed = asyncio.create_task(all_listed())
        try:
            done, _ = await asyncio.wait([listed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            listed.cancel()
        for task in done:
            if task is not listed:
                task.result()  # a watch that ended before listing: raise what ended it

    def pods_on(self, node: str) -> list[Key]:
        """The pods the kubelet has seen on a node."""
        return sorted(self._pods.store.keys_by(BY_NODE, node))

    # --- failure injection -------------------------------------------------------------------------------

    async def fail_pod(self, namespace: str, name: str, reason: str = "Error", message: str = "") -> None:
        """The containers fail: phase Failed with `reason` (Error, OOMKilled; or a pod reason: Evicted)."""
        pod = await self.client.get(PODS, namespace, name)
        self._podsync.failure[uid_of(pod)] = (reason, message)
        await self._sync_now((namespace, name), pod)

    async def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Force the pod's readiness (as a readiness probe would) until set again."""
        pod = await self.client.get(PODS, namespace, name)
        self._podsync.ready_override[uid_of(pod)] = ready
        await self._sync_now((namespace, name), pod)

    async def lose_node(self, node: str) -> None:
        """The node goes silent: Ready Unknown, tainted unreachable; its pods not Ready, left as they are."""
        await self._registrar.lose(node)
        await asyncio.gather(*(self._workers.process(key) for key in self.pods_on(node)))

    async def restore_node(self, node: str) -> None:
        """A lost node answers again: Ready, untainted; its pods carry on."""
        await self._registrar.restore(node)
        for key in [*self.pods_on(node), *self._pods.store.keys_by(UNSCHEDULED, "")]:
            self._queue.add(key)

    async def _sync_now(self, key: Key, pod: Obj) -> None:
        """Sync a pod at once from a fresh copy; a conflict reads it again (a few times)."""
        for _ in range(5):
            async with self._exclusive(key):
                try:
                    again = await self._podsync.sync(key, pod)
                except Conflict:
                    pod = await self.client.get(PODS, *key)
                    continue
            if again is not None:
                self._queue.add_after(key, again)
            return
        self._queue.add(key)

    # --- watch events ------------------------------------------------------------------------------------

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        waiting = False
        for change in changes:
            old, new = change.old, change.new
            if old is not None and (new is None or uid_of(old) != uid_of(new)):
                self._forget(change.key, uid_of(old))
                waiting = True  # a pod gone may let an anti-affine one be placed
            elif old is not None and new is not None and terminal(new) and not terminal(old):
                waiting = True
            if new is not None:
                self._podsync.observe(change.key, new)
            self._queue.add(change.key)
        if waiting:
            for key in self._pods.store.keys_by(UNSCHEDULED, ""):
                self._queue.add(key)

    def _forget(self, key: Key, uid: str) -> None:
        """A pod is gone (or replaced by another of the same name): free what it held."""
        for waiting in self._podsync.forget(key, uid):
            self._queue.add(waiting)
        if self.runtime is not None and self.runtime.get(uid) is not None:
            task = asyncio.create_task(self.runtime.forget(key, uid))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._queue.forget(key)

    def _claims_changed(self, changes: list[Change[ClaimView]]) -> None:
        for change in changes:
            for key in self._pods.store.keys_by(BY_CLAIM, claim_value(*change.key)):
                self._queue.add(key)

    def _nodes_changed(self, changes: list[Change[NodeView]]) -> None:
        for change in changes:
            name = change.key[1]
            if change.new is None and name in self._registrar.host_ips and self.synced.is_set():
                task = asyncio.create_task(self._registrar.register(name))  # deleted: registered again
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        for key in self._pods.store.keys_by(UNSCHEDULED, ""):
            self._queue.add(key)

    # --- syncing -----------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: Key) -> AsyncIterator[None]:
        """One sync of a pod at a time (the workers, and the failure injection beside them)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key]
                self._locks.pop(key, None)

    async def _sync_key(self, key: Key) -> float | None:
        """Sync a pod from the watch cache; returns when to sync it again."""
        async with self._exclusive(key):
            try:
                return await self._podsync.sync(key)
            except NotFound:
                return None  # gone: its DELETED event follows

    def _failed(self, key: Key, err: Exception) -> None:
        """A failed sync, retried after a backoff."""
        if isinstance(err, ApiError):
            log.debug("kubelet: pod %s/%s: %s; retrying", *key, err)
        else:
            log.error("kubelet: pod %s/%s: sync failed; retrying", *key, exc_info=err)
