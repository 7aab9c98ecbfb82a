"""One pod's sync from the kubelet's caches: bind it to a node or say why not, else run its lifecycle."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kubeapi.client import Client
from kubeapi.meta import Obj, parse_time
from kubeapi.paths import PODS
from kubeapi.store import Key, Store
from localcluster.kubelet import podstatus
from localcluster.kubelet.affinity import PlacedPod, placed, terms_of
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.events import SCHEDULER, EventSender, event_body
from localcluster.kubelet.hostsync import HostSync
from localcluster.kubelet.ipam import PodAddresses, PoolExhausted
from localcluster.kubelet.podindex import ANTI_AFFINE, PLACED, node_of, uid_of
from localcluster.kubelet.podlife import Facts, Step, Timing, next_step, terminal, terminating, timing_of
from localcluster.kubelet.registration import Registrar
from localcluster.kubelet.scheduler import ClaimView, choose_node, claims_problem, unschedulable_message

log = logging.getLogger("localcluster.kubelet")
T = TypeVar("T")


class PodSync:
    """Syncs pods from the caches; keeps what only the kubelet knows (per pod uid: when its containers
    started, when its deletion was seen, forced readiness or failure), the pod addresses and the binds
    sent that the cache does not show yet. `writes` counts its API writes."""

    def __init__(
        self,
        client: Client,
        config: KubeletConfig,
        *,
        pods: Store[Obj],
        claims: Store[ClaimView],
        nodes: Registrar,
    ) -> None:
        self.client = client
        self.config = config
        self.writes = 0
        self.events = EventSender(client)
        self.addresses = PodAddresses(config.pod_cidrs)
        if config.run_pods:  # the cluster DNS address pods run for real are given
            self.addresses.pools[0].reserve(config.dns_address)
        self.host: HostSync | None = None  # pods run as host processes, when the kubelet runs them
        self.binding: dict[Key, str] = {}  # binds sent that the pod cache does not show yet
        self.started: dict[str, float] = {}  # monotonic time the containers started
        self.stopping: dict[str, float] = {}  # monotonic time the deletion was first seen
        self.ready_override: dict[str, bool] = {}
        self.failure: dict[str, tuple[str, str]] = {}
        self.warned: set[str] = set()
        self.unschedulable: dict[str, str] = {}  # the last FailedScheduling message sent, per pod uid
        self.no_address: set[Key] = set()  # pods waiting for a free address
        self._pods = pods
        self._claims = claims
        self._nodes = nodes

    # --- keeping in step with the pod cache --------------------------------------------------------------

    def observe(self, key: Key, pod: Obj) -> None:
        """A pod as the cache shows it now: a bind it shows is no longer in flight; its addresses are kept."""
        node = node_of(pod)
        if node or terminal(pod):
            self.binding.pop(key, None)
        node = node or self.binding.get(key, "")
        if node not in self._nodes.host_ips:
            return
        uid, ips = uid_of(pod), podstatus.pod_ips_of(pod)
        refused = self.addresses.adopt(uid, ips) if ips else []
        if refused and uid not in self.warned:
            self.warned.add(uid)
            log.warning("kubelet: pod %s/%s: addresses %s taken or outside the pod range", *key, refused)

    def forget(self, key: Key, uid: str) -> list[Key]:
        """A pod is gone (or replaced by another of the same name): free what it held; returns the pods
        that waited for an address and may start now."""
        self.no_address.discard(key)
        freed: list[Key] = []
        if self.addresses.release(uid):
            freed = list(self.no_address)
            self.no_address.clear()
        self.binding.pop(key, None)
        for memory in (self.started, self.stopping, self.ready_override, self.failure, self.unschedulable):
            memory.pop(uid, None)
        self.warned.discard(uid)
        if self.host is not None:
            self.host.forget(uid)
        return freed

    def load(self) -> Counter[str]:
        """Pods per node, binds in flight included: binds sent at once spread over the nodes too."""
        counts = Counter({node: len(self._pods.keys_by(PLACED, node)) for node in self._nodes.host_ips})
        counts.update(self.binding.values())
        return counts

    # --- one pod -----------------------------------------------------------------------------------------

    async def sync(self, key: Key, fresh: Obj | None = None) -> float | None:
        """Sync a pod (from `fresh`, else the cache); returns when to sync it again, if it is to be."""
        pod = fresh if fresh is not None else self._pods.get(key)
        if pod is None:
            return None
        node = node_of(pod)
        if not node:
            await self._sync_unscheduled(key, pod)
        elif node in self._nodes.host_ips:
            return await self._sync_scheduled(key, pod, node)
        return None

    def _claim_lookup(self, namespace: str) -> Callable[[str], ClaimView | None]:
        return lambda name: self._claims.get((namespace, name))

    async def _sync_unscheduled(self, key: Key, pod: Obj) -> None:
        uid, now = uid_of(pod), time.time()
        if terminal(pod) or terminating(pod) or key in self.binding:
            return  # finished, being deleted by the server, or bound already (the event is on its way)
        if uid in self.failure:
            reason, message = self.failure[uid]
            status = podstatus.failed(pod, (), (), reason=reason, message=message, now=now)
            await self._put_status(pod, status)
            return
        problem = claims_problem(pod, self._claim_lookup(key[0]))
        if problem is not None:
            node, message = None, unschedulable_message(len(self.config.nodes), problem)
        else:
            node, message = choose_node(pod, self._nodes.views(), self.load(), self._placed_pods(pod))
        if node is None:
            await self._put_status(pod, podstatus.unschedulable(pod, message, now))
            if self.unschedulable.get(uid) != message:  # one event per new reason, not per retry
                self.unschedulable[uid] = message
                body = event_body(
                    pod, reason="FailedScheduling", message=message, kind="Warning", **self._by()
                )
                await self._event(body)
            return
        meta = pod["metadata"]
        patch = {
            "metadata": {"uid": uid, "resourceVersion": meta.get("resourceVersion")},
            "spec": {"nodeName": node},
        }
        self.binding[key] = node  # counted at once: binds in flight spread over the nodes too
        try:
            await self._write(self.client.patch(PODS, key[0], key[1], patch))
        except BaseException:
            self.binding.pop(key, None)
            raise
        self.unschedulable.pop(uid, None)
        text = f"Successfully assigned {key[0]}/{key[1]} to {node}"
        await self._event(event_body(pod, reason="Scheduled", message=text, kind="Normal", **self._by()))

    def _by(self) -> dict[str, Any]:
        return {"component": SCHEDULER, "now": time.time()}

    async def _event(self, body: dict[str, Any]) -> None:
        self.events.post(body)  # sent in the background, not counted in `writes`

    def _placed_pods(self, pod: Obj) -> list[PlacedPod]:
        """The pods bound to the nodes (binds in flight included) that anti-affinity has to look at: all
        of them for a pod with terms of its own, else those with terms."""
        index = PLACED if terms_of(pod) else ANTI_AFFINE
        out = []
        for node in self._nodes.host_ips:
            for key in self._pods.keys_by(index, node):
                found = self._pods.get(key)
                if found is not None:
                    out.append(placed(found, node))
        for key, node in self.binding.items():
            found = self._pods.get(key)
            if found is not None and not node_of(found):
                out.append(placed(found, node))
        return out

    async def _sync_scheduled(self, key: Key, pod: Obj, node: str) -> float | None:
        uid, now, mono = uid_of(pod), time.time(), time.monotonic()
        lost = node in self._nodes.lost
        started = self._started(key, pod, lost=lost, now=now, mono=mono)
        if terminating(pod) and not terminal(pod):
            self.stopping.setdefault(uid, mono)
        stopping = self.stopping.get(uid)
        pod_ips = self.addresses.of(uid)
        if started is not None and not terminal(pod) and not lost:
            try:
                pod_ips = self.addresses.assign(uid)
            except PoolExhausted as err:  # not started: it waits until a pod is gone and frees one
                if key not in self.no_address:
                    log.warning("kubelet: pod %s/%s cannot start: %s", *key, err)
                self.no_address.add(key)
                self.started.pop(uid, None)
                started = None
        if self.host is not None and not lost and uid not in self.failure:
            hosted = await self.host.step(key, pod, node, (self._nodes.host_ips[node],), pod_ips)
            if hosted is not None:
                return await self._apply(key, pod, hosted)
        facts = Facts(
            node=node,
            host_ips=(self._nodes.host_ips[node],),
            pod_ips=pod_ips,
            running_for=None if started is None else mono - started,
            stopping_for=None if stopping is None else mono - stopping,
            node_lost=lost,
            ready_override=self.ready_override.get(uid),
            failure=self.failure.get(uid),
        )
        return await self._apply(key, pod, next_step(pod, facts, self._timing(key, pod), now))

    async def _apply(self, key: Key, pod: Obj, step: Step) -> float | None:
        if step.status is not None:
            await self._put_status(pod, step.status)
        if step.finish:
            preconditions = {"uid": pod["metadata"].get("uid")}
            await self._write(self.client.delete(PODS, *key, grace_seconds=0, preconditions=preconditions))
        return step.wake_in

    def _timing(self, key: Key, pod: Obj) -> Timing:
        timing, problems = timing_of(
            pod, ready_after=self.config.ready_after, stop_after=self.config.stop_after
        )
        uid = uid_of(pod)
        if problems and uid not in self.warned:
            self.warned.add(uid)
            log.warning("kubelet: pod %s/%s: %s", *key, "; ".join(problems))
        return timing

    def _started(self, key: Key, pod: Obj, *, lost: bool, now: float, mono: float) -> float | None:
        """When the containers started (monotonic): remembered, read back from the status, or now when
        the pod may start (node answering, not finished or being deleted, claims Bound)."""
        uid = uid_of(pod)
        started = self.started.get(uid)
        if started is not None:
            return started
        since = parse_time(podstatus.started_at(pod))
        if since is not None:  # started before this kubelet did
            started = mono - max(now - since, 0.0)
        elif (
            not lost
            and not terminal(pod)
            and not terminating(pod)
            and uid not in self.failure
            and claims_problem(pod, self._claim_lookup(key[0])) is None
        ):
            started = mono
        if started is not None:
            self.started[uid] = started
        return started

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

    async def _write(self, call: Awaitable[T]) -> T:
        result = await call
        self.writes += 1
        return result
