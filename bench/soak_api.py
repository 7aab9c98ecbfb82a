"""What the API says, through the official `kubernetes` Python client: PetSets and their pets, whether the
cluster has settled, the DNS answers it implies, and the writes the scenario makes (scale, fail a pod)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

NAMESPACE = "default"
ZONE = "cluster.local"
GROUP, VERSION, PLURAL = "apps", "v1alpha1", "petsets"
FAIL_AFTER = "localcluster.petdns.dev/fail-after"
MAX_ORDINAL = 8  # pet names 0..MAX_ORDINAL-1 are asked for, so stale names are noticed too
TIMEOUT = 5.0


@dataclass(frozen=True)
class SetView:
    name: str
    replicas: int
    service: str
    policy: str  # OrderedReady or Parallel
    when_scaled: str
    when_deleted: str
    templates: tuple[str, ...]  # volumeClaimTemplates' names
    port: str  # the first container port's name, the SRV label


@dataclass(frozen=True)
class Pet:
    name: str
    uid: str
    owner: str  # the PetSet's name
    ordinal: int
    ready: bool
    ip: str
    deleting: bool
    phase: str


@dataclass
class Snapshot:
    sets: dict[str, SetView]
    pets: list[Pet]
    taken: float = field(default_factory=time.monotonic)

    def unsettled(self) -> str | None:
        """Why the cluster has not settled yet (every set: exactly its ordinals, all Ready, nothing
        terminating), or None."""
        by_set: dict[str, list[Pet]] = {}
        for pet in self.pets:
            by_set.setdefault(pet.owner, []).append(pet)
        for s in self.sets.values():
            pets = by_set.get(s.name, [])
            ordinals = sorted(p.ordinal for p in pets)
            if ordinals != list(range(s.replicas)):
                return f"{s.name}: ordinals {ordinals}, replicas {s.replicas}"
            for p in pets:
                if p.deleting or not p.ready:
                    return f"{p.name}: {'terminating' if p.deleting else 'not ready'} ({p.phase})"
        return None

    def expected(self) -> dict[tuple[str, str], frozenset[str]]:
        """(name, type) → the answer set the DNS server should give: per-pet A = the pet's IP when it is
        Ready, the headless service's A = the Ready pets' IPs, its SRV = "port target" of the Ready pets."""
        want: dict[tuple[str, str], frozenset[str]] = {}
        ready: dict[str, list[Pet]] = {}
        for pet in self.pets:
            if pet.ready and not pet.deleting and pet.ip:
                ready.setdefault(pet.owner, []).append(pet)
        for s in self.sets.values():
            svc = f"{s.service}.{NAMESPACE}.svc.{ZONE}."
            pets = {p.name: p for p in ready.get(s.name, [])}
            for ordinal in range(MAX_ORDINAL):
                pet_name = f"{s.name}-{ordinal}"
                pet = pets.get(pet_name)
                want[(f"{pet_name}.{svc}", "A")] = frozenset([pet.ip] if pet else [])
            want[(svc, "A")] = frozenset(p.ip for p in pets.values())
            want[(f"_{s.port}._tcp.{svc}", "SRV")] = frozenset(f"80 {name}.{svc}" for name in pets)
        return want


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def owner_of(pod: Mapping[str, Any]) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "PetSet" and ref.get("controller"):
            return str(ref.get("name"))
    return None


def pet_of(pod: Mapping[str, Any]) -> Pet | None:
    meta = pod.get("metadata") or {}
    owner = owner_of(pod)
    name = str(meta.get("name", ""))
    prefix, _, ordinal = name.rpartition("-")
    if owner is None or prefix != owner or not ordinal.isdigit():
        return None
    status = pod.get("status") or {}
    return Pet(
        name=name,
        uid=str(meta.get("uid", "")),
        owner=owner,
        ordinal=int(ordinal),
        ready=_ready(pod),
        ip=str(status.get("podIP") or ""),
        deleting=bool(meta.get("deletionTimestamp")),
        phase=str(status.get("phase", "")),
    )


def set_view(raw: Mapping[str, Any]) -> SetView:
    spec = raw.get("spec") or {}
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    ports = containers[0].get("ports") or [{}]
    return SetView(
        name=str(raw["metadata"]["name"]),
        replicas=int(spec.get("replicas", 1)),
        service=str(spec.get("serviceName", "")),
        policy=str(spec.get("podManagementPolicy", "OrderedReady")),
        when_scaled=str(retention.get("whenScaled", "Retain")),
        when_deleted=str(retention.get("whenDeleted", "Retain")),
        templates=tuple(str(t["metadata"]["name"]) for t in spec.get("volumeClaimTemplates") or []),
        port=str(ports[0].get("name", "")),
    )


class ReplicaLog:
    """Every replica count each set was asked for, with when: a claim may go under whenScaled: Delete only
    if its ordinal was scaled away at some point after the claim appeared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: dict[str, list[tuple[float, int]]] = {}

    def asked(self, name: str, replicas: int) -> None:
        with self._lock:
            self._log.setdefault(name, []).append((time.monotonic(), replicas))

    def scaled_away(self, name: str, ordinal: int, since: float) -> bool:
        with self._lock:
            log = self._log.get(name, [])
        current = [r for t, r in log if t <= since][-1:]  # the count in force when the claim appeared
        later = [r for t, r in log if t > since]
        return any(r <= ordinal for r in current + later)


class Api:
    """The official client on the cluster's kubeconfig (a request times out after TIMEOUT seconds)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        self.core = k8s.CoreV1Api(self.client)
        self.custom = k8s.CustomObjectsApi(self.client)

    def raw_list(self, what: str, **params: Any) -> dict[str, Any]:
        call = (
            self.core.list_namespaced_pod
            if what == "pods"
            else self.core.list_namespaced_persistent_volume_claim
        )
        resp = call(NAMESPACE, _preload_content=False, _request_timeout=TIMEOUT, **params)
        return dict(json.loads(resp.data))

    def sets(self) -> dict[str, SetView]:
        raw = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, _request_timeout=TIMEOUT
        )
        return {v.name: v for v in (set_view(item) for item in raw.get("items", []))}

    def snapshot(self) -> Snapshot:
        sets = self.sets()
        pods = self.raw_list("pods").get("items", [])
        pets = [p for p in (pet_of(pod) for pod in pods) if p is not None and p.owner in sets]
        return Snapshot(sets, pets)

    def scale(self, name: str, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, name, body, _request_timeout=TIMEOUT
        )

    def fail_pod(self, name: str) -> None:
        """The kubelet turns the pod Failed at once (its fail-after annotation at 0 s)."""
        body = {"metadata": {"annotations": {FAIL_AFTER: "0"}}}
        self.core.patch_namespaced_pod(name, NAMESPACE, body, _request_timeout=TIMEOUT)

    def close(self) -> None:
        self.client.close()
