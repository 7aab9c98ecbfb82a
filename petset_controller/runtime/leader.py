"""Leader election on a coordination.k8s.io/v1 Lease: acquire, renew, release; writes only while it holds."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubeapi.meta import micro_time
from kubeapi.paths import LEASES
from petset_controller.runtime.events import Fenced

log = logging.getLogger("petset_controller.leader")
JITTER = 1.2  # a candidate waits retry_period * (1 + up to this fraction) between tries


def default_identity() -> str:
    """`<hostname>_<random UUID>`: unique per process, readable in the Lease."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeadershipLost(Exception):
    """The lease could not be renewed in time, or another replica holds it now."""


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Which Lease, who we are, and the timing (client-go's defaults: 15 s, 10 s, 2 s)."""

    name: str = "petset-controller"
    namespace: str = "kube-system"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problems(self) -> list[str]:
        """What is wrong with the timing (empty when usable)."""
        out = []
        if not self.lease_duration > self.renew_deadline:
            out.append("the lease duration must be longer than the renew deadline")
        if not self.renew_deadline > JITTER * self.retry_period:
            out.append(f"the renew deadline must be longer than {JITTER} x the retry period")
        if not min(self.lease_duration, self.renew_deadline, self.retry_period) > 0:
            out.append("lease duration, renew deadline and retry period must be positive")
        if not self.identity:
            out.append("the identity must not be empty")
        return out


class LeaderElector:
    """One candidate for one Lease.

    Another holder's lease counts as valid until `lease_duration` after this candidate last saw it
    change (its own clock, never the holder's timestamps). The holder may write only until
    `renew_deadline` after the start of its last successful renewal, which ends before any other
    candidate may take over.
    """

    def __init__(
        self,
        client: Client,
        config: LeaseConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.config = config
        self.monotonic = monotonic
        self.wall = wall
        self.leader = False
        self.transitions = 0
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0

    @property
    def identity(self) -> str:
        """Who this candidate is."""
        return self.config.identity

    def holding(self) -> bool:
        """Whether writes are allowed now: leader, and within the renew deadline of the last renewal."""
        return self.leader and self.monotonic() - self._renewed_at < self.config.renew_deadline

    def gate(self, verb: str, kind: str, name: str) -> None:
        """Refuse a write (Fenced) unless this replica holds the lease now."""
        if not self.holding():
            raise Fenced(f"not the leader: refusing to {verb} {kind} {name}")

    def _spec(self, old: dict[str, Any], now: float) -> dict[str, Any]:
        mine = old.get("holderIdentity") == self.identity
        transitions = old.get("leaseTransitions")
        transitions = transitions if isinstance(transitions, int) else 0
        stamp = micro_time(now)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": old.get("acquireTime", stamp) if mine else stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions if mine or not old else transitions + 1,
        }

    def _won(self, spec: dict[str, Any], started: float) -> bool:
        if not self.leader:
            log.info("%s acquired lease %s/%s", self.identity, self.config.namespace, self.config.name)
        self.leader = True
        self._renewed_at = started
        self._observed, self._observed_at = spec, self.monotonic()
        self.transitions = int(spec.get("leaseTransitions") or 0)
        return True

    def _body(self, spec: dict[str, Any], resource_version: str = "") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.config.name, "namespace": self.config.namespace}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {"apiVersion": LEASES.api_version, "kind": "Lease", "metadata": meta, "spec": spec}

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: create the Lease, renew ours, or take over one that expired or was released."""
        started, ns, name = self.monotonic(), self.config.namespace, self.config.name
        try:
            lease = await self.client.get(LEASES, ns, name)
        except NotFound:
            spec = self._spec({}, self.wall())
            try:
                await self.client.create(LEASES, ns, self._body(spec))
            except AlreadyExists:
                return False
            return self._won(spec, started)
        old = dict(lease.get("spec") or {})
        if old != self._observed:
            self._observed, self._observed_at = old, self.monotonic()
        holder = old.get("holderIdentity") or ""
        valid = self._observed_at + self.config.lease_duration > self.monotonic()
        if holder and holder != self.identity and valid:
            return False
        spec = self._spec(old, self.wall())
        version = str((lease.get("metadata") or {}).get("resourceVersion", ""))
        try:
            await self.client.replace(LEASES, ns, name, self._body(spec, version))
        except Conflict:
            return False
        return self._won(spec, started)

    async def acquire(self) -> None:
        """Try every retry period (with jitter) until the lease is ours."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    return
            except ApiError as err:
                log.warning("lease %s/%s: %s", self.config.namespace, self.config.name, err)
            await asyncio.sleep(self.config.retry_period * (1 + random.uniform(0, JITTER - 1)))

    async def keep(self) -> None:
        """Renew every retry period; raises LeadershipLost when the renew deadline passes or another
        replica holds the lease."""
        while True:
            await asyncio.sleep(self.config.retry_period)
            deadline = self._renewed_at + self.config.renew_deadline
            try:
                async with asyncio.timeout(max(deadline - self.monotonic(), 0.001)):
                    renewed = await self.try_acquire_or_renew()
            except (ApiError, TimeoutError) as err:
                log.warning("lease %s/%s not renewed: %s", self.config.namespace, self.config.name, err)
                renewed = False
            holder = (self._observed or {}).get("holderIdentity") or ""
            if not renewed and (self.monotonic() >= deadline or holder not in ("", self.identity)):
                self.leader = False
                raise LeadershipLost(f"{self.identity} lost lease {self.config.namespace}/{self.config.name}")

    async def release(self) -> None:
        """Give the lease up at once (empty holder), so a standby need not wait for it to expire."""
        if not self.leader:
            return
        self.leader = False
        ns, name = self.config.namespace, self.config.name
        try:
            lease = await self.client.get(LEASES, ns, name)
            old = dict(lease.get("spec") or {})
            if old.get("holderIdentity") != self.identity:
                return
            stamp = micro_time(self.wall())
            spec = {**old, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": stamp}
            spec["acquireTime"] = stamp
            version = str((lease.get("metadata") or {}).get("resourceVersion", ""))
            await self.client.replace(LEASES, ns, name, self._body(spec, version))
            log.info("%s released lease %s/%s", self.identity, ns, name)
        except ApiError as err:
            log.warning("lease %s/%s not released: %s", ns, name, err)
