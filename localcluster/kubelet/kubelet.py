"""A simulated kubelet and scheduler for the local control plane, speaking to it only through the API.

One `Kubelet` plays every node of `KubeletConfig.nodes`. It registers a Node object per node, then
watches pods, PersistentVolumeClaims and nodes and reacts to each change:

- A pod without `spec.nodeName` is bound (a patch of spec.nodeName) to the fitting node with the fewest
  pods, ties by name. A pod waits until every claim it mounts exists and is Bound; until then, and while
  no node fits (cordoned, tainted, nodeSelector), its PodScheduled condition is False with reason
  Unschedulable and the scheduler's message.
- A pod on one of its nodes gets one address from each pod range (`pod_cidr`, `pod_cidr6`) and goes
  Running; it turns Ready `ready_after` seconds later. Addresses are unique among existing pods and
  freed when a pod is gone; a restarted kubelet reads them back from status.podIPs first.
- A deleted pod (the API server sets deletionTimestamp and its grace period) turns not Ready, its
  containers take `stop_after` seconds to stop (at most the grace period), then the kubelet deletes it
  with grace 0 and a uid precondition. Failed and Succeeded pods stay until someone deletes them.

Per-pod annotations override the timing (seconds, decimals allowed; see `localcluster.podlife`):

- `localcluster.petdns.dev/ready-after`: from start to Ready; `never` keeps the pod not Ready.
- `localcluster.petdns.dev/stop-after`: from deletion to stopped (still capped by the grace period).
- `localcluster.petdns.dev/fail-after`: from start until the containers exit with Error (pod Failed).

Failure injection: `fail_pod` (Failed with the reason given), `set_ready` (readiness forced either way
until set again), `lose_node` (the node goes silent: its conditions turn Unknown, it is tainted
`node.kubernetes.io/unreachable`, and its pods turn not Ready as the node lifecycle controller marks
them; nothing more happens to them: a deletion does not complete, the pod is marked reason NodeLost
and stays Terminating until a force delete or `restore_node`). Pods are never turned Failed for a lost
node.

Pods bound to nodes that are not this kubelet's are left alone. Every pod write carries a precondition
(resourceVersion; uid for the final delete). A conflict, a missing object or an unreachable API is
retried on the next event or after a short backoff; the watches relist by themselves. There is no node
heartbeat and no Lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import platform
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubeapi.meta import Obj, parse_time
from kubeapi.paths import NODES, PERSISTENT_VOLUME_CLAIMS, PODS
from kubeapi.reflector import Reflector
from kubeapi.store import Change
from localcluster.apiserver.discovery import SERVER_VERSION
from localcluster.kubelet import podstatus
from localcluster.kubelet.ipam import PodAddresses, PoolExhausted
from localcluster.kubelet.nodes import (
    healthy_conditions,
    lost_conditions,
    node_manifest,
    with_unreachable_taints,
    without_unreachable_taints,
)
from localcluster.kubelet.podlife import Facts, next_step, terminal, terminating, timing_of
from localcluster.kubelet.scheduler import (
    UNREACHABLE,
    ClaimView,
    NodeView,
    choose_node,
    claim_names,
    claims_problem,
    unschedulable_message,
)

log = logging.getLogger("localcluster.kubelet")
Key = tuple[str, str]  # (namespace, name)
RETRY_BASE = 0.05
RETRY_CAP = 5.0


@dataclass(frozen=True)
class KubeletConfig:
    """The simulated nodes, address ranges and default timing (seconds)."""

    nodes: tuple[str, ...] = ("node-1", "node-2", "node-3")
    pod_cidr: str = "127.244.0.0/16"
    pod_cidr6: str | None = None  # set: pods also get an IPv6 address
    ready_after: float = 0.5  # from start to Ready
    stop_after: float = 0.0  # from deletion to stopped (capped by the grace period)
    node_cidr: str = "127.0.1.0/24"  # node N (counting from 1) gets address N of this range
    workers: int = 16  # pods synced at once

    def __post_init__(self) -> None:
        if not self.nodes or len(set(self.nodes)) != len(self.nodes):
            raise ValueError("nodes must be a non-empty list of distinct names")
        if ipaddress.ip_network(self.pod_cidr).version != 4:
            raise ValueError(f"pod_cidr {self.pod_cidr} is not an IPv4 range")
        if self.pod_cidr6 is not None and ipaddress.ip_network(self.pod_cidr6).version != 6:
            raise ValueError(f"pod_cidr6 {self.pod_cidr6} is not an IPv6 range")
        if ipaddress.ip_network(self.node_cidr).num_addresses < len(self.nodes) + 2:
            raise ValueError(f"node_cidr {self.node_cidr} is too small for {len(self.nodes)} nodes")
        if self.ready_after < 0 or self.stop_after < 0 or self.workers < 1:
            raise ValueError("ready_after and stop_after must be >= 0, workers >= 1")

    def host_ip(self, node: str) -> str:
        """The node's InternalIP."""
        return str(ipaddress.ip_network(self.node_cidr).network_address + self.nodes.index(node) + 1)

    @property
    def pod_cidrs(self) -> tuple[str, ...]:
        """The pod ranges, IPv4 first."""
        return (self.pod_cidr,) if self.pod_cidr6 is None else (self.pod_cidr, self.pod_cidr6)


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _keep(obj: Obj) -> Obj:
    return obj


class Kubelet:
    """Registers the nodes, schedules pods onto them and runs their lifecycle, until cancelled."""

    def __init__(self, client: Client, config: KubeletConfig = KubeletConfig()) -> None:
        self.client = client
        self.config = config
        self.synced = asyncio.Event()  # set once the nodes are registered and every watch has listed
        self.writes = 0
        self._host_ips = {node: config.host_ip(node) for node in config.nodes}
        self._addresses = PodAddresses(config.pod_cidrs)
        self._kubelet_version = "v{}.{}.{}".format(*SERVER_VERSION)
        self._pods: Reflector[Obj] = Reflector(client, PODS, transform=_keep, on_changes=self._pods_changed)
        self._claims: Reflector[ClaimView] = Reflector(
            client, PERSISTENT_VOLUME_CLAIMS, transform=ClaimView.from_raw, on_changes=self._claims_changed
        )
        self._nodes: Reflector[NodeView] = Reflector(
            client, NODES, transform=NodeView.from_raw, on_changes=self._nodes_changed
        )
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._locks: dict[Key, asyncio.Lock] = {}
        self._lock_users: Counter[Key] = Counter()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}
        # scheduling: where counted pods are, how many per node, who waits for a claim or a node
        self._placed: dict[Key, str] = {}
        self._load: Counter[str] = Counter()
        self._unscheduled: set[Key] = set()
        self._pod_claims: dict[Key, tuple[Key, ...]] = {}
        self._claim_users: dict[Key, set[Key]] = {}
        # per pod uid: what only the kubelet knows
        self._bound: dict[str, str] = {}
        self._started: dict[str, float] = {}  # monotonic time the containers started
        self._stopping: dict[str, float] = {}  # monotonic time the deletion was first seen
        self._ready_override: dict[str, bool] = {}
        self._failure: dict[str, tuple[str, str]] = {}
        self._warned: set[str] = set()
        self._lost: set[str] = set()
        self._no_address: set[Key] = set()  # pods waiting for a free address
        self._background: set[asyncio.Task[None]] = set()

    # --- running -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register the nodes, then watch and act until cancelled."""
        tasks: list[asyncio.Task[None]] = []
        try:
            for node in self.config.nodes:
                await self._register(node)
            tasks = [asyncio.create_task(r.run()) for r in (self._pods, self._claims, self._nodes)]
            await self._wait_listed(tasks)
            tasks += [asyncio.create_task(self._work()) for _ in range(self.config.workers)]
            self.synced.set()
            log.info(
                "kubelet: %d node(s) registered, %d pod(s) known", len(self._host_ips), len(self._pods.store)
            )
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, *self._background]:
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()

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
        return [key for key in self._pods.store if _node_of(self._pods.store.get(key) or {}) == node]

    # --- failure injection -------------------------------------------------------------------------------

    async def fail_pod(self, namespace: str, name: str, reason: str = "Error", message: str = "") -> None:
        """The containers fail: phase Failed with `reason` (Error, OOMKilled; or a pod reason: Evicted)."""
        pod = await self.client.get(PODS, namespace, name)
        self._failure[_uid(pod)] = (reason, message)
        await self._sync_now((namespace, name), pod)

    async def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Force the pod's readiness (as a readiness probe would) until set again."""
        pod = await self.client.get(PODS, namespace, name)
        self._ready_override[_uid(pod)] = ready
        await self._sync_now((namespace, name), pod)

    async def lose_node(self, node: str) -> None:
        """The node goes silent: Ready Unknown, tainted unreachable; its pods not Ready, left as they are."""
        self._check_node(node)
        self._lost.add(node)
        now = time.time()
        current = await self.client.get(NODES, None, node)
        taints = with_unreachable_taints((current.get("spec") or {}).get("taints"), now)
        await self._write(self.client.patch(NODES, None, node, {"spec": {"taints": taints}}))
        conditions = lost_conditions((current.get("status") or {}).get("conditions"), now)
        await self._write(
            self.client.patch(NODES, None, node, {"status": {"conditions": conditions}}, subresource="status")
        )
        await asyncio.gather(*(self._sync_locked(key) for key in self.pods_on(node)))

    async def restore_node(self, node: str) -> None:
        """A lost node answers again: Ready, untainted; its pods carry on."""
        self._check_node(node)
        self._lost.discard(node)
        await self._register_once(node)
        for key in [*self.pods_on(node), *self._unscheduled]:
            self._mark(key)

    def _check_node(self, node: str) -> None:
        if node not in self._host_ips:
            raise ValueError(f"{node!r} is not one of this kubelet's nodes {list(self._host_ips)}")

    async def _sync_now(self, key: Key, pod: Obj) -> None:
        """Sync a pod at once from a fresh copy; a conflict reads it again (a few times)."""
        for _ in range(5):
            async with self._exclusive(key):
                try:
                    await self._sync(key, pod)
                    return
                except Conflict:
                    pod = await self.client.get(PODS, *key)
        self._mark(key)

    # --- nodes -------------------------------------------------------------------------------------------

    async def _register(self, node: str) -> None:
        """Register a node, retrying until the API answers."""
        attempt = 0
        while True:
            try:
                await self._register_once(node)
                return
            except ApiError as err:
                attempt += 1
                if attempt == 1:
                    log.warning("kubelet: registering node %s: %s; retrying", node, err)
                await asyncio.sleep(min(RETRY_BASE * 2**attempt, RETRY_CAP))

    async def _register_once(self, node: str) -> None:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        manifest = node_manifest(
            node,
            self._host_ips[node],
            time.time(),
            kubelet_version=self._kubelet_version,
            arch=arch,
            kernel=platform.release(),
        )
        try:
            await self._write(self.client.create(NODES, None, manifest))
            return
        except AlreadyExists:
            pass
        current = await self.client.get(NODES, None, node)  # registered before: Ready again, untainted
        status = manifest["status"]
        status["conditions"] = healthy_conditions(
            time.time(), (current.get("status") or {}).get("conditions")
        )
        await self._write(self.client.patch(NODES, None, node, {"status": status}, subresource="status"))
        taints = (current.get("spec") or {}).get("taints")
        kept = without_unreachable_taints(taints)
        if kept != (taints or []):
            await self._write(self.client.patch(NODES, None, node, {"spec": {"taints": kept or None}}))

    def _node_views(self) -> list[tuple[str, NodeView | None]]:
        out = []
        for name in self.config.nodes:
            view = self._nodes.store.get(("", name))
            if view is not None and name in self._lost and not any(t[0] == UNREACHABLE for t in view.taints):
                view = dataclasses.replace(
                    view, ready=False, taints=(*view.taints, (UNREACHABLE, "", "NoSchedule"))
                )
            out.append((name, view))
        return out

    # --- watch events ------------------------------------------------------------------------------------

    def _pods_changed(self, changes: list[Change[Obj]]) -> None:
        for change in changes:
            old, new = change.old, change.new
            if old is not None and (new is None or _uid(old) != _uid(new)):
                self._forget(change.key, _uid(old))
            if new is not None:
                self._observe(change.key, new)
            self._mark(change.key)

    def _observe(self, key: Key, pod: Obj) -> None:
        """Keep the indexes in step with a pod: its node's load, claims it waits for, its addresses."""
        node = _node_of(pod) or self._bound.get(_uid(pod), "")  # a bind in flight counts already
        self._place(key, node if node in self._host_ips and not terminal(pod) else None)
        if not node and not terminal(pod) and not terminating(pod):
            self._unscheduled.add(key)
        else:
            self._unscheduled.discard(key)
        claims = tuple((key[0], name) for name in claim_names(pod)) if not terminal(pod) else ()
        if claims != self._pod_claims.get(key, ()):
            self._index_claims(key, claims)
        if node in self._host_ips:
            ips = podstatus.pod_ips_of(pod)
            refused = self._addresses.adopt(_uid(pod), ips) if ips else []
            if refused and _uid(pod) not in self._warned:
                self._warned.add(_uid(pod))
                log.warning("kubelet: pod %s/%s: addresses %s taken or outside the pod range", *key, refused)

    def _place(self, key: Key, node: str | None) -> None:
        before = self._placed.pop(key, None)
        if before is not None:
            self._load[before] -= 1
        if node is not None:
            self._placed[key] = node
            self._load[node] += 1

    def _index_claims(self, key: Key, claims: tuple[Key, ...]) -> None:
        for claim in self._pod_claims.pop(key, ()):
            users = self._claim_users.get(claim)
            if users is not None:
                users.discard(key)
                if not users:
                    del self._claim_users[claim]
        if claims:
            self._pod_claims[key] = claims
            for claim in claims:
                self._claim_users.setdefault(claim, set()).add(key)

    def _forget(self, key: Key, uid: str) -> None:
        """A pod is gone (or replaced by another of the same name): free what it held."""
        self._no_address.discard(key)
        if self._addresses.release(uid):
            for waiting in self._no_address:
                self._mark(waiting)
            self._no_address.clear()
        self._place(key, None)
        self._unscheduled.discard(key)
        self._index_claims(key, ())
        for memory in (self._bound, self._started, self._stopping, self._ready_override, self._failure):
            memory.pop(uid, None)
        self._warned.discard(uid)
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()
        self._failures.pop(key, None)

    def _claims_changed(self, changes: list[Change[ClaimView]]) -> None:
        for change in changes:
            for key in self._claim_users.get(change.key, ()):
                self._mark(key)

    def _nodes_changed(self, changes: list[Change[NodeView]]) -> None:
        for change in changes:
            name = change.key[1]
            if change.new is None and name in self._host_ips and self.synced.is_set():
                task = asyncio.create_task(self._register(name))  # deleted: the kubelet registers again
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        for key in self._unscheduled:
            self._mark(key)

    # --- the work queue ----------------------------------------------------------------------------------

    def _mark(self, key: Key) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _wake(self, key: Key, delay: float) -> None:
        """Sync the pod again after `delay` seconds (an earlier wake-up already set wins)."""
        loop = asyncio.get_running_loop()
        handle = self._timers.get(key)
        if handle is not None:
            if handle.when() <= loop.time() + delay:
                return
            handle.cancel()
        self._timers[key] = loop.call_later(max(delay, 0.0), self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self._mark(key)

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: Key) -> AsyncIterator[None]:
        """One sync of a pod at a time."""
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

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            await self._sync_locked(key)

    async def _sync_locked(self, key: Key) -> None:
        """Sync a pod from the watch cache; any failure is retried after a backoff, never raised."""
        async with self._exclusive(key):
            try:
                await self._sync(key, None)
            except NotFound:
                self._failures.pop(key, None)  # gone: its DELETED event follows
            except Exception as err:
                tries = self._failures.get(key, 0) + 1
                self._failures[key] = tries
                if isinstance(err, ApiError):
                    log.debug("kubelet: pod %s/%s: %s; retrying", *key, err)
                else:
                    log.exception("kubelet: pod %s/%s: sync failed; retrying", *key)
                self._wake(key, min(RETRY_BASE * 2 ** min(tries, 10), RETRY_CAP))
            else:
                self._failures.pop(key, None)

    # --- one pod -----------------------------------------------------------------------------------------

    async def _sync(self, key: Key, fresh: Obj | None) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        pod = fresh if fresh is not None else self._pods.store.get(key)
        if pod is None:
            return
        node = _node_of(pod)
        if not node:
            await self._sync_unscheduled(pod)
        elif node in self._host_ips:
            await self._sync_scheduled(key, pod, node)

    def _claim_lookup(self, namespace: str) -> Callable[[str], ClaimView | None]:
        return lambda name: self._claims.store.get((namespace, name))

    async def _sync_unscheduled(self, pod: Obj) -> None:
        uid, now = _uid(pod), time.time()
        if terminal(pod) or terminating(pod) or uid in self._bound:
            return  # finished, being deleted by the server, or bound already (the event is on its way)
        if uid in self._failure:
            reason, message = self._failure[uid]
            await self._put_status(
                pod, podstatus.failed(pod, (), (), reason=reason, message=message, now=now)
            )
            return
        namespace = str(pod["metadata"].get("namespace") or "")
        problem = claims_problem(pod, self._claim_lookup(namespace))
        if problem is not None:
            node, message = None, unschedulable_message(len(self.config.nodes), problem)
        else:
            node, message = choose_node(pod, self._node_views(), self._load)
        if node is None:
            await self._put_status(pod, podstatus.unschedulable(pod, message, now))
            return
        meta = pod["metadata"]
        key = (namespace, str(meta["name"]))
        patch = {
            "metadata": {"uid": uid, "resourceVersion": meta.get("resourceVersion")},
            "spec": {"nodeName": node},
        }
        self._bound[uid] = node  # counted at once: binds in flight spread over the nodes too
        self._place(key, node)
        try:
            await self._write(self.client.patch(PODS, namespace, key[1], patch))
        except BaseException:
            self._bound.pop(uid, None)
            current = self._pods.store.get(key)
            if current is not None:
                self._observe(key, current)
            else:
                self._place(key, None)
            raise

    async def _sync_scheduled(self, key: Key, pod: Obj, node: str) -> None:
        uid, now, mono = _uid(pod), time.time(), time.monotonic()
        lost = node in self._lost
        timing, problems = timing_of(
            pod, ready_after=self.config.ready_after, stop_after=self.config.stop_after
        )
        if problems and uid not in self._warned:
            self._warned.add(uid)
            log.warning("kubelet: pod %s/%s: %s", *key, "; ".join(problems))
        started = self._started.get(uid)
        if started is None:
            since = parse_time(podstatus.started_at(pod))
            if since is not None:  # started before this kubelet did
                started = mono - max(now - since, 0.0)
            elif (
                not lost
                and not terminal(pod)
                and not terminating(pod)
                and uid not in self._failure
                and claims_problem(pod, self._claim_lookup(key[0])) is None
            ):
                started = mono
            if started is not None:
                self._started[uid] = started
        if terminating(pod) and not terminal(pod):
            self._stopping.setdefault(uid, mono)
        stopping = self._stopping.get(uid)
        pod_ips = self._addresses.of(uid)
        if started is not None and not terminal(pod) and not lost:
            try:
                pod_ips = self._addresses.assign(uid)
            except PoolExhausted as err:  # not started: it waits until a pod is gone and frees one
                if key not in self._no_address:
                    log.warning("kubelet: pod %s/%s cannot start: %s", *key, err)
                self._no_address.add(key)
                self._started.pop(uid, None)
                started = None
        facts = Facts(
            node=node,
            host_ips=(self._host_ips[node],),
            pod_ips=pod_ips,
            running_for=None if started is None else mono - started,
            stopping_for=None if stopping is None else mono - stopping,
            node_lost=lost,
            ready_override=self._ready_override.get(uid),
            failure=self._failure.get(uid),
        )
        step = next_step(pod, facts, timing, now)
        if step.status is not None:
            await self._put_status(pod, step.status)
        if step.finish:
            meta = pod["metadata"]
            await self._write(
                self.client.delete(
                    PODS, key[0], key[1], grace_seconds=0, preconditions={"uid": meta.get("uid")}
                )
            )
        if step.wake_in is not None:
            self._wake(key, step.wake_in)

    async def _put_status(self, pod: Obj, status: Obj) -> None:
        """Write a pod's status when it differs (keys it no longer has are removed)."""
        current = pod.get("status") or {}
        if status == current:
            return
        body = {k: status.get(k) for k in (*current, *status)}
        meta = pod["metadata"]
        patch = {
            "metadata": {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
            "status": body,
        }
        await self._write(
            self.client.patch(PODS, meta.get("namespace"), str(meta["name"]), patch, subresource="status")
        )

    async def _write(self, call: Any) -> Any:
        result = await call
        self.writes += 1
        return result
