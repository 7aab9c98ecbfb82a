"""The controller against an in-process local API server: stepping, settling, invariants on every change."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import PETSETS
from localcluster.apiserver.server import ApiServer, ServerConfig
from localcluster.apiserver.watch_requests import WatchSettings
from localcluster.storage.store import Event, ObjectStore
from petset_controller.core.identity import parse_ordinal
from petset_controller.core.model import pod_from_raw
from petset_controller.runtime.controller import Controller, ControllerConfig
from petset_controller.runtime.leader import LeaderElector
from tests.petset_controller.kubelet import Kubelet, claims_of

Obj = dict[str, Any]
NS = "default"
PETSET_STORE = "petsets.petdns.dev"


def petset(name: str = "web", *, replicas: int = 3, **spec: Any) -> Obj:
    """A PetSet with one claim template (`www`); keywords are merged into the spec."""
    body: Obj = {
        "apiVersion": "petdns.dev/v1",
        "kind": "PetSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    body["spec"].update(spec)
    return body


@dataclass
class Invariants:
    """Checks each committed change of one set's pods and claims, in commit order, and notes violations.

    At most one pod per pet name; a pod's claims exist before it; under OrderedReady no pet is created
    before its predecessors are Running and Ready, and a condemned pet is deleted only once every higher
    one is gone; no claim is deleted unless `claims_may_go` says the policy allows it.
    """

    set_name: str
    namespace: str = NS
    spec: Obj = field(default_factory=dict)
    pods: dict[str, Obj] = field(default_factory=dict)
    claims: dict[str, Obj] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    deleted_claims: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    claims_may_go: Callable[[str], bool] = lambda name: False
    last_rv: dict[str, int] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        self.last_rv[event.store_key] = event.resource_version
        meta = event.object.get("metadata") or {}
        if meta.get("namespace") != self.namespace:
            return
        if event.store_key == PETSET_STORE and meta.get("name") == self.set_name:
            self.spec = copy.deepcopy(event.object.get("spec") or {}) if event.type != "DELETED" else {}
        elif event.store_key == "persistentvolumeclaims":
            self._claim(event, meta["name"])
        elif event.store_key == "pods" and parse_ordinal(self.set_name, meta["name"]) is not None:
            self._pod(event, meta["name"])

    @property
    def ordered(self) -> bool:
        return bool(self.spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady")

    def _claim(self, event: Event, name: str) -> None:
        if event.type == "DELETED":
            self.claims.pop(name, None)
            self.deleted_claims.append(name)
            if not self.claims_may_go(name):
                self.violations.append(f"claim {name} deleted")
        else:
            self.claims[name] = event.object

    def _pod(self, event: Event, name: str) -> None:
        ordinal = parse_ordinal(self.set_name, name)
        assert ordinal is not None
        old = self.pods.get(name)
        if event.type == "ADDED":
            self._added(event.object, name=name, ordinal=ordinal)
        elif event.type == "DELETED":
            self.pods.pop(name, None)
            if old is not None and not (old.get("metadata") or {}).get("deletionTimestamp"):
                self._deleting(ordinal)
        else:
            self.pods[name] = event.object
            was = (old or {}).get("metadata", {}).get("deletionTimestamp")
            if (event.object.get("metadata") or {}).get("deletionTimestamp") and not was:
                self._deleting(ordinal)

    def _added(self, pod: Obj, *, name: str, ordinal: int) -> None:
        if name in self.pods:
            self.violations.append(f"second pod {name} while one exists")
        missing = [c for c in claims_of(pod) if c not in self.claims]
        if missing:
            self.violations.append(f"pod {name} created before its claims {missing}")
        start = (self.spec.get("ordinals") or {}).get("start", 0)
        if self.ordered:
            for before in range(start, ordinal):
                other = self.pods.get(f"{self.set_name}-{before}")
                if other is None or not pod_from_raw(other).healthy:
                    self.violations.append(f"{name} created while {self.set_name}-{before} is not Ready")
                    break
        self.pods[name] = pod
        self.created.append(name)

    def _deleting(self, ordinal: int) -> None:
        start = (self.spec.get("ordinals") or {}).get("start", 0)
        if not self.ordered or ordinal < start + self.spec.get("replicas", 1):
            return
        higher = [n for n in self.pods if (parse_ordinal(self.set_name, n) or 0) > ordinal]
        if higher:
            self.violations.append(f"{self.set_name}-{ordinal} deleted while {sorted(higher)} exist")

    def ready(self) -> list[str]:
        """Names of the set's pods that are Running, Ready and not terminating."""
        return sorted(n for n, p in self.pods.items() if pod_from_raw(p).healthy)


async def eventually(done: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Wait until the condition holds (polled), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@dataclass
class Running:
    """A controller task with its own client."""

    controller: Controller
    task: asyncio.Task[None]
    client: Client

    async def stop(self) -> BaseException | None:
        """Cancel it (a clean stop) and wait; returns what it raised, if anything but the cancellation."""
        self.task.cancel()
        (result,) = await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()
        return None if isinstance(result, asyncio.CancelledError) else result


class Harness:
    """One API server, a writer client, the stepped kubelet, invariants, and any number of controllers."""

    def __init__(self, server: ApiServer, invariants: Invariants, *, ready_after: int) -> None:
        self.server = server
        self.store: ObjectStore = server.store
        self.invariants = invariants
        self.client = Client(Connection(server.url))
        self.kubelet = Kubelet(self.client, namespace=NS, ready_after=ready_after)
        self.controllers: list[Running] = []
        self._names = itertools.count()

    def start(
        self, *, elector: Callable[[Client], LeaderElector] | None = None, url: str = "", **kw: Any
    ) -> Running:
        """A controller (optionally a lease candidate) running in the background, talking to `url`
        (default: the server)."""
        client = Client(Connection(url or self.server.url), user_agent=f"controller-{next(self._names)}")
        config = ControllerConfig(**{"workers": 2, **kw.pop("config", {})})
        controller = Controller(client, config=config, elector=elector(client) if elector else None, **kw)
        running = Running(controller, asyncio.create_task(controller.run()), client)
        self.controllers.append(running)
        return running

    def _caught_up(self, controller: Controller) -> bool:
        if not controller.synced or not controller.idle:
            return False
        for reflector in controller.reflectors:
            key = reflector.ref.plural + (f".{reflector.ref.group}" if reflector.ref.group else "")
            if int(reflector.resource_version or 0) < self.invariants.last_rv.get(key, 0):
                return False
        return True

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every live controller has seen every change and has nothing left to do now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            live = [r.controller for r in self.controllers if not r.task.done()]
            version = self.store.resource_version
            await asyncio.sleep(0.002)
            ok = all(self._caught_up(c) for c in live) and version == self.store.resource_version
            quiet = quiet + 1 if ok else 0
            assert loop.time() < deadline, "the controllers did not settle"

    async def step(self) -> None:
        """One kubelet tick, then let the controllers react."""
        await self.kubelet.step()
        await self.settle()
        assert not self.invariants.violations, self.invariants.violations

    async def run_until(self, done: Callable[[], bool], *, steps: int = 80) -> int:
        """Step until `done()` holds; the steps taken."""
        await self.settle()
        for taken in range(steps):
            if done():
                return taken
            await self.step()
        raise AssertionError(f"not done after {steps} steps: ready {self.invariants.ready()}")

    async def create(self, body: Obj) -> None:
        await self.client.create(PETSETS, NS, body)
        await self.settle()

    async def patch(self, name: str, spec: Obj) -> None:
        await self.client.patch(PETSETS, NS, name, {"spec": spec})
        await self.settle()

    async def get(self, name: str) -> Obj:
        return await self.client.get(PETSETS, NS, name)


@asynccontextmanager
async def harness(set_name: str = "web", *, ready_after: int = 2) -> AsyncIterator[Harness]:
    """A fresh in-process API server (frequent bookmarks, so settling is quick) and a harness on it."""
    store = ObjectStore()
    store.ensure_namespaces()
    invariants = Invariants(set_name)
    store.subscribe(invariants)
    server = ApiServer(store, config=ServerConfig(watch=WatchSettings(bookmark_every=0.02)))
    await server.start("127.0.0.1", 0)
    h = Harness(server, invariants, ready_after=ready_after)
    try:
        yield h
    finally:
        for running in h.controllers:
            await running.stop()
        await h.client.close()
        await server.stop()
