"""The soak's events, drawn at random (seeded): scale a set up or down, delete a pet, fail a pet, kill -9
`petdns local` and restart it on the same state, run a second PetSet controller for a while, and break
the separate DNS server's watches (reset, stall, refuse). Each kind comes once first, in a random order,
then by weight."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from soak_api import Api, Pet, ReplicaLog, Snapshot
from soak_load import Key, Load
from soak_observer import Observer
from soak_procs import LocalCluster, Proc, second_controller
from soak_proxy import FaultProxy
from soak_report import Record

MAX_REPLICAS = 6
WEIGHTS = {
    "scale": 4,
    "delete_pet": 2,
    "fail_pet": 2,
    "kill_restart": 1,
    "kill_mid_scale": 1,
    "second_controller": 1,
    "watch_reset": 1,
    "watch_stall": 1,
    "watch_refuse": 1,
}

SETS = (  # name, podManagementPolicy, whenScaled, initial replicas
    ("web", "OrderedReady", "Retain", 3),
    ("db", "Parallel", "Delete", 3),
    ("kv", "Parallel", "Retain", 2),
)


def manifest() -> str:
    """A headless Service and a PetSet with a volumeClaimTemplate per entry of SETS."""
    docs = []
    for name, policy, when_scaled, replicas in SETS:
        docs.append(
            f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  clusterIP: None
  selector: {{app: {name}}}
  ports: [{{port: 80, name: web}}]
---
apiVersion: apps/v1alpha1
kind: PetSet
metadata: {{name: {name}}}
spec:
  serviceName: {name}
  replicas: {replicas}
  podManagementPolicy: {policy}
  persistentVolumeClaimRetentionPolicy: {{whenScaled: {when_scaled}, whenDeleted: Retain}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{localcluster.petdns.dev/stop-after: "0.3"}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: registry.local/soak:1
        ports: [{{containerPort: 80, name: web}}]
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"""
        )
    return "---\n".join(docs)


def load_names(snap: Snapshot) -> list[Key]:
    """What the DNS load asks: every Ready pet's A, and each headless service's A and SRV."""
    keys: list[Key] = []
    want = snap.expected()
    for (name, qtype), answers in want.items():
        if answers or not name.split(".", 1)[0][-1:].isdigit():
            keys.append((name, qtype))
    return keys


class Scenario:
    def __init__(
        self,
        *,
        work: Path,
        rng: random.Random,
        record: Record,
        cluster: LocalCluster,
        proxy: FaultProxy,
        api: Api,
        load: Load,
        observer: Observer,
        replicas: ReplicaLog,
        fault_max: float = 6.0,
    ) -> None:
        self.work = work
        self.rng = rng
        self.record = record
        self.cluster = cluster
        self.proxy = proxy
        self.api = api
        self.load = load
        self.observer = observer
        self.replicas = replicas
        self.fault_max = fault_max  # longest stall, refusal (and 2/3 of it: API downtime), seconds
        self.controller: Proc | None = None
        self.controller_until = 0.0
        self.controllers = 0
        self.downtime: list[float] = []
        self.effect: Callable[[Snapshot], bool] | None = None
        order = list(WEIGHTS)
        rng.shuffle(order)
        self.first = order

    def next_kind(self) -> str:
        if self.first:
            return self.first.pop(0)
        kinds = list(WEIGHTS)
        return self.rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]

    def step(self) -> None:
        """One event, then wait for settle; convergence recorded under the event's kind."""
        if self.controller is not None and time.monotonic() >= self.controller_until:
            self._stop_controller()
        snap = self.observer.last
        assert snap is not None
        kind = self.next_kind()
        started = time.monotonic()
        self.effect = None
        kind = getattr(self, f"_{kind}")(snap) or kind
        outcome = self.observer.settle(kind, started, effect=self.effect)
        self.load.must_answer = frozenset()
        if outcome.snapshot is not None:
            self.load.names = load_names(outcome.snapshot)

    def finish(self) -> None:
        if self.controller is not None:
            self._stop_controller()

    def _keep_answers(self, snap: Snapshot, changing: str | None) -> None:
        """Until settled, the DNS load checks that every name with data keeps it, but those of the
        set `changing` (its scale legitimately removes names)."""
        changing_svc = None if changing is None else snap.sets[changing].service
        self.load.must_answer = frozenset(
            (name, qtype)
            for (name, qtype), answers in snap.expected().items()
            if answers and name.split(".")[-6] != changing_svc
        )

    # the events; each returns the kind its convergence is recorded under (None: its own)

    def _pick_set(self, snap: Snapshot) -> str:
        return str(self.rng.choice(sorted(snap.sets)))

    def _scale_to(self, snap: Snapshot, how: str, name: str | None = None) -> str:
        s = snap.sets[name or self._pick_set(snap)]
        choices = [n for n in range(MAX_REPLICAS + 1) if n != s.replicas]
        if self.rng.random() < 0.8:
            choices = [n for n in choices if n > 0]  # scaling to 0 now and then
        n = self.rng.choice(choices)
        self.replicas.asked(s.name, n)
        if how == "kubectl":
            done = self.cluster.kubectl("scale", f"petset/{s.name}", f"--replicas={n}")
            if done.returncode != 0:
                self.record.note(f"kubectl scale failed ({done.stderr.strip()}); using the client")
                self.api.scale(s.name, n)
        else:
            self.api.scale(s.name, n)
        self.effect = lambda now: now.sets[s.name].replicas == n
        direction = "up" if n > s.replicas else "down"
        self.record.event(f"scale_{direction}", f"{s.name} ({s.policy}) {s.replicas} -> {n} via {how}")
        return f"scale_{direction}"

    def _scale(self, snap: Snapshot) -> str:
        return self._scale_to(snap, self.rng.choice(["kubectl", "client"]))

    def _pick_pet(self, snap: Snapshot) -> Pet | None:
        pets = sorted((p for p in snap.pets if p.ready and not p.deleting), key=lambda p: p.name)
        return self.rng.choice(pets) if pets else None

    def _replaced(self, pet: Pet) -> None:
        """The event's effect: the pet's name now has another pod (or none, for the moment)."""
        self.effect = lambda now: all(p.uid != pet.uid for p in now.pets)

    def _delete_pet(self, snap: Snapshot) -> str | None:
        pet = self._pick_pet(snap)
        if pet is None:
            return self._scale(snap)
        self._keep_answers(snap, pet.owner)
        done = self.cluster.kubectl("delete", "pod", pet.name, "--wait=false")
        self._replaced(pet)
        self.record.event("delete_pet", f"{pet.name}: {(done.stdout + done.stderr).strip()}")
        return None

    def _fail_pet(self, snap: Snapshot) -> str | None:
        pet = self._pick_pet(snap)
        if pet is None:
            return self._scale(snap)
        self._keep_answers(snap, pet.owner)
        self.api.fail_pod(pet.name)
        self._replaced(pet)
        self.record.event("fail_pet", f"{pet.name}: fail-after 0")
        return None

    def _kill_restart(self, snap: Snapshot) -> str | None:
        self._keep_answers(snap, None)  # nothing changes while the API server is down, nor after
        self.cluster.kill9()
        down = self.rng.uniform(1.0, max(1.0, self.fault_max * 2 / 3))
        self.record.event("kill_restart", f"petdns local killed (SIGKILL), down {down:.1f} s")
        time.sleep(down)
        took = self.cluster.start()
        self.downtime.append(down + took)
        self.record.note(f"petdns local restarted, API answering after {took:.1f} s")
        return None

    def _kill_mid_scale(self, snap: Snapshot) -> str:
        """Scale a set, then kill -9 `petdns local` while its pets are being made or removed."""
        name = self._pick_set(snap)
        self._keep_answers(snap, name)
        self._scale_to(snap, "client", name)
        time.sleep(self.rng.uniform(0, 1.0))
        self.cluster.kill9()
        down = self.rng.uniform(0.5, max(0.5, self.fault_max / 3))
        self.record.event("kill_mid_scale", f"petdns local killed (SIGKILL) mid-scale, down {down:.1f} s")
        time.sleep(down)
        took = self.cluster.start()
        self.downtime.append(down + took)
        return "kill_mid_scale"

    def _second_controller(self, snap: Snapshot) -> str:
        if self.controller is not None:
            return self._scale(snap)
        self.controllers += 1
        self.controller = second_controller(self.work, self.cluster.kubeconfig, self.controllers)
        seconds = self.rng.uniform(10, 30)
        self.controller_until = time.monotonic() + seconds
        self.record.event("second_controller", f"a second controller runs for {seconds:.0f} s")
        time.sleep(0.5)  # let it list, then make it race the embedded one
        name = self._pick_set(snap)
        self._keep_answers(snap, name)
        self._scale_to(snap, "client", name)
        return "second_controller"

    def _stop_controller(self) -> None:
        assert self.controller is not None
        code = self.controller.stop()
        self.record.note(f"second controller stopped (exit {code})")
        self.controller = None

    def _watch_reset(self, snap: Snapshot) -> str:
        name = self._pick_set(snap)
        self._keep_answers(snap, name)
        n = self.proxy.reset()
        self.record.event("watch_reset", f"{n} connections of the separate DNS server reset")
        self._scale_to(snap, "client", name)
        return "watch_reset"

    def _watch_stall(self, snap: Snapshot) -> str:
        seconds = self.rng.uniform(self.fault_max / 3, self.fault_max)
        then_reset = self.rng.random() < 0.5
        name = self._pick_set(snap)
        self._keep_answers(snap, name)
        self.proxy.stall(True)
        self.record.event(
            "watch_stall", f"stalled {seconds:.1f} s, then {'reset' if then_reset else 'released'}"
        )
        self._scale_to(snap, "client", name)
        time.sleep(seconds)
        if then_reset:
            self.proxy.reset()
        self.proxy.stall(False)
        return "watch_stall"

    def _watch_refuse(self, snap: Snapshot) -> str:
        seconds = self.rng.uniform(self.fault_max / 3, self.fault_max)
        name = self._pick_set(snap)
        self._keep_answers(snap, name)
        self.proxy.refuse(seconds)
        n = self.proxy.reset()
        self.record.event("watch_refuse", f"{n} connections reset, new ones refused for {seconds:.1f} s")
        self._scale_to(snap, "client", name)
        time.sleep(seconds)
        return "watch_refuse"
