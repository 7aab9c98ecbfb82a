"""A tiny in-memory cluster for plan(): applies actions, steps a fake kubelet and binder, collects garbage."""

from __future__ import annotations

import copy
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from kubeapi.meta import rfc3339
from petset_controller.core.actions import (
    Action,
    Adopt,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    Event,
    Release,
    RenumberRevision,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.identity import claim_names, parse_ordinal, pod_name
from petset_controller.core.model import (
    REVISION_LABEL,
    claim_from_raw,
    petset_from_raw,
    pod_from_raw,
    revision_from_raw,
)
from petset_controller.core.plan import plan
from tests.petset_controller.builders import NOW

Obj = dict[str, Any]
QUIET = (UpdateStatus, Event, RequeueAfter)


@dataclass
class FakeCluster:
    """One namespace holding one PetSet, its pods, claims and revisions.

    Invariants are asserted as actions are applied and on every step: at most one pod per identity,
    claims before their pod, no pet before its predecessors are Ready (OrderedReady), and no claim
    collected unless it belonged to a pet removed by a scale-down under whenScaled: Delete.
    """

    petset: Obj
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    max_start: int = 0
    now: float = NOW
    pods: dict[str, Obj] = field(default_factory=dict)
    claims: dict[str, Obj] = field(default_factory=dict)
    revisions: dict[str, Obj] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)
    timers: dict[str, int] = field(default_factory=dict)
    fail_next_start: set[str] = field(default_factory=set)
    condemned_uids: set[str] = field(default_factory=set)
    _uids: itertools.count[int] = field(default_factory=itertools.count)

    # -- views -----------------------------------------------------------------------------------
    def model(self) -> Any:
        """The set as the controller would read it."""
        return petset_from_raw(self.petset)

    def spec(self) -> Obj:
        """The raw spec, for edits."""
        spec: Obj = self.petset["spec"]
        return spec

    def running_ready(self, name: str) -> bool:
        """Whether a pod exists, runs, is Ready and is not terminating."""
        raw = self.pods.get(name)
        return raw is not None and pod_from_raw(raw).healthy

    def reconcile(self) -> list[Action]:
        """Plan against the current objects and apply the actions."""
        actions = plan(
            self.model(),
            [pod_from_raw(p) for p in self.pods.values()],
            [claim_from_raw(c) for c in self.claims.values()],
            [revision_from_raw(r) for r in self.revisions.values()],
            self.now,
        )
        for action in actions:
            self.apply(action)
        return actions

    # -- the API ---------------------------------------------------------------------------------
    def _meta(self, manifest: Any) -> Obj:
        raw: Obj = copy.deepcopy(dict(manifest))
        raw["metadata"]["uid"] = f"uid-{next(self._uids)}"
        raw["metadata"]["creationTimestamp"] = rfc3339(self.now)
        return raw

    def apply(self, action: Action) -> None:
        """One action, as the API server would take it (assertions stand in for refusals)."""
        match action:
            case CreatePod():
                self._create_pod(action)
            case CreateClaim():
                assert action.name not in self.claims, f"claim {action.name} created twice"
                raw = self._meta(action.manifest)
                raw["status"] = {"phase": "Pending"}
                self.claims[action.name] = raw
            case DeletePod():
                raw = self.pods[action.name]
                assert raw["metadata"]["uid"] == action.uid
                pet_set = self.model()
                if parse_ordinal(pet_set.name, action.name) not in pet_set.spec.ordinals:
                    self.condemned_uids.add(action.uid)
                raw["metadata"].setdefault("deletionTimestamp", rfc3339(self.now))
                self.timers[action.name] = self.rng.randint(0, 2)
            case UpdateClaimOwner():
                raw = self.claims[action.name]
                assert raw["metadata"]["uid"] == action.uid
                raw["metadata"]["ownerReferences"] = [r.to_raw() for r in action.owners]
            case UpdateStatus():
                self.petset["status"] = action.status.to_raw()
            case _:
                self._apply_other(action)

    def _apply_other(self, action: Action) -> None:
        match action:
            case CreateRevision():
                assert action.name not in self.revisions
                self.revisions[action.name] = self._meta(action.manifest)
            case RenumberRevision():
                self.revisions[action.name]["revision"] = action.revision
            case DeleteRevision():
                del self.revisions[action.name]
            case UpdatePodLabels():
                self.pods[action.name]["metadata"]["labels"].update(action.labels)
            case Adopt():
                target = self.pods if action.kind == "Pod" else self.revisions
                target[action.name]["metadata"].setdefault("ownerReferences", []).append(
                    action.owner.to_raw()
                )
            case Release():
                meta = self.pods[action.name]["metadata"]
                meta["ownerReferences"] = [r for r in meta["ownerReferences"] if r["uid"] != action.owner_uid]
            case Event():
                self.events.append(action)
            case RequeueAfter():
                pass

    def _create_pod(self, action: CreatePod) -> None:
        pet_set = self.model()
        assert action.name not in self.pods, f"second pod for identity {action.name}"
        for claim in claim_names(pet_set, action.ordinal):
            assert claim in self.claims, f"pod {action.name} created before its claim {claim}"
        if not pet_set.spec.parallel:
            for ordinal in pet_set.spec.ordinals:
                if ordinal >= action.ordinal:
                    break
                name = pod_name(pet_set.name, ordinal)
                assert self.running_ready(name), f"{action.name} created while {name} is not Ready"
        raw = self._meta(action.manifest)
        raw["status"] = {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}
        self.pods[action.name] = raw
        self.timers[action.name] = self.rng.randint(0, self.max_start)

    # -- the rest of the cluster -----------------------------------------------------------------
    def delete_pod(self, name: str) -> None:
        """A user deletes a pet."""
        self.pods[name]["metadata"]["deletionTimestamp"] = rfc3339(self.now)
        self.timers[name] = 0

    def fail_pod(self, name: str) -> None:
        """The node reports the pet Failed (eviction, node shutdown)."""
        self.pods[name]["status"] = {"phase": "Failed", "reason": "Evicted"}

    def step(self) -> None:
        """One tick: binder, kubelet, garbage collector, clock."""
        for claim in self.claims.values():
            claim["status"]["phase"] = "Bound"
        for name in list(self.pods):
            self._kubelet(name)
        self._collect()
        self.now += 1.0

    def _kubelet(self, name: str) -> None:
        raw = self.pods[name]
        status, meta = raw["status"], raw["metadata"]
        if "deletionTimestamp" in meta:
            self.timers[name] = self.timers.get(name, 0) - 1
            if self.timers[name] < 0:
                del self.pods[name]
            return
        if status["phase"] == "Pending":
            volumes = raw["spec"].get("volumes", [])
            wanted = [
                v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
            ]
            bound = all(self.claims.get(c, {}).get("status", {}).get("phase") == "Bound" for c in wanted)
            self.timers[name] = self.timers.get(name, 0) - 1
            if bound and self.timers[name] < 0:
                failed = name in self.fail_next_start
                self.fail_next_start.discard(name)
                status["phase"] = "Failed" if failed else "Running"
        elif status["phase"] == "Running" and status["conditions"][0]["status"] != "True":
            status["conditions"] = [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self.now)}
            ]

    def _collect(self) -> None:
        """Claims whose every owner is gone are deleted; each must be one the policy lets go."""
        live = {p["metadata"]["uid"] for p in self.pods.values()} | {self.petset["metadata"]["uid"]}
        pet_set = self.model()
        for name, claim in list(self.claims.items()):
            refs = claim["metadata"].get("ownerReferences") or []
            if refs and not any(r["uid"] in live for r in refs):
                # only the claims of pets deleted by a scale-down go, and only under whenScaled: Delete
                assert pet_set.spec.retention.when_scaled == "Delete", f"claim {name} lost under Retain"
                assert all(r["uid"] in self.condemned_uids for r in refs), (
                    f"claim {name} lost outside scale-down"
                )
                del self.claims[name]
                self.collected.append(name)

    # -- driving ---------------------------------------------------------------------------------
    def converged(self) -> bool:
        """Exactly the wanted pets, all Ready at the update revision (or below the partition)."""
        pet_set = self.model()
        wanted = {pod_name(pet_set.name, o) for o in pet_set.spec.ordinals}
        if set(self.pods) != wanted or not all(self.running_ready(n) for n in wanted):
            return False
        update = pet_set.status.update_revision
        floor = pet_set.spec.partition_start if pet_set.spec.update_strategy.type == "RollingUpdate" else None
        return all(
            floor is None
            or (parse_ordinal(pet_set.name, n) or 0) < floor
            or self.pods[n]["metadata"]["labels"][REVISION_LABEL] == update
            for n in wanted
        )

    def run(self, *, limit: int = 400) -> int:
        """Reconcile and step until converged and quiet; returns the steps taken."""
        for steps in range(limit):
            actions = self.reconcile()
            if self.converged() and all(isinstance(a, QUIET) for a in actions):
                return steps
            self.step()
        raise AssertionError(f"not converged after {limit} steps: {sorted(self.pods)}")
