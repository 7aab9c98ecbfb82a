"""Test builders: raw objects, model values, and a compact notation for observed pets and claims."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
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
    ExpandClaim,
    Release,
    RenumberRevision,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.identity import POD_INDEX_LABEL, POD_NAME_LABEL, claim_names, new_pod, pod_name
from petset_controller.core.model import (
    INITIALIZED_ANNOTATION,
    Claim,
    OwnerRef,
    PetSet,
    Pod,
    Revision,
    petset_from_raw,
    pod_from_raw,
    revision_from_raw,
)
from petset_controller.core.revision import new_revision, revision_name, template_hash

NOW = 1_800_000_000.0
NS = "default"
SET_UID = "uid-set-web"
OLD_IMAGE = "nginx:0"


def _spec(replicas: int, image: str, kw: dict[str, Any]) -> dict[str, Any]:
    labels = kw.get("labels", {"app": "nginx"})
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": "nginx",
        "selector": {"matchLabels": kw.get("selector", labels)},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "nginx", "image": image}]},
        },
        "volumeClaimTemplates": [
            {"metadata": {"name": c}, "spec": {"accessModes": ["ReadWriteOnce"]}}
            for c in kw.get("claims", ["www"])
        ],
    }
    optional = {
        "podManagementPolicy": kw.get("policy"),
        "minReadySeconds": kw.get("min_ready"),
        "revisionHistoryLimit": kw.get("history"),
        "ordinals": {"start": kw["start"]} if "start" in kw else None,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    rolling = {
        "partition": kw.get("partition"),
        "maxUnavailable": kw.get("max_unavailable"),
        "replaceUnhealthy": kw.get("heal"),
        "unhealthyAfterSeconds": kw.get("heal_after"),
    }
    rolling = {k: v for k, v in rolling.items() if v is not None}
    if "strategy" in kw or rolling:
        spec["updateStrategy"] = {"type": kw.get("strategy", "RollingUpdate")}
        if rolling:
            spec["updateStrategy"]["rollingUpdate"] = rolling
    retention = {"whenDeleted": kw.get("when_deleted"), "whenScaled": kw.get("when_scaled")}
    if any(retention.values()):
        spec["persistentVolumeClaimRetentionPolicy"] = {k: v for k, v in retention.items() if v}
    spec.update(kw.get("spec", {}))
    return spec


def raw_set(name: str = "web", *, replicas: int = 2, image: str = "nginx:1", **kw: Any) -> dict[str, Any]:
    """A PetSet; keywords: policy, strategy, partition, max_unavailable, heal, heal_after, when_deleted,
    when_scaled, min_ready, start, claims, status, generation, deletion, history, labels, selector,
    spec (merged).
    """
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": SET_UID,
        "generation": kw.get("generation", 1),
    }
    if kw.get("deletion"):
        meta["deletionTimestamp"] = rfc3339(NOW - 1)
    return {
        "apiVersion": "petdns.dev/v1",
        "kind": "PetSet",
        "metadata": meta,
        "spec": _spec(replicas, image, kw),
        "status": kw.get("status", {}),
    }


def pet_set(name: str = "web", **kw: Any) -> PetSet:
    """A decoded PetSet (see raw_set)."""
    return petset_from_raw(raw_set(name, **kw))


def update_revision_name(pet_set: PetSet) -> str:
    """The revision name of the set's template."""
    return revision_name(pet_set.name, template_hash(pet_set.spec.template, pet_set.status.collision_count))


def revision_of(pet_set: PetSet, number: int = 1, *, template: Any = None) -> Revision:
    """An owned ControllerRevision holding the set's template (or another one)."""
    template = pet_set.spec.template if template is None else template
    raw = new_revision(pet_set, template=template, number=number, collision_count=0)
    raw["metadata"]["uid"] = f"uid-rev-{number}"
    return revision_from_raw(raw)


def with_history(**kw: Any) -> tuple[PetSet, list[Revision], str]:
    """A set mid-rollout: revision 1 runs OLD_IMAGE (current), revision 2 is the set's template (update)."""
    base = pet_set(**kw)
    old_template = copy.deepcopy(dict(base.spec.template))
    old_template["spec"]["containers"][0]["image"] = OLD_IMAGE
    old = revision_of(base, 1, template=old_template)
    new = revision_of(base, 2)
    status = {"currentRevision": old.name, "updateRevision": new.name, "observedGeneration": 1}
    return pet_set(**kw, status=status), [old, new], old.name


_PHASES = {"pending": "Pending", "failed": "Failed", "succeeded": "Succeeded"}


def raw_pod(pet_set: PetSet, ordinal: int, flags: Sequence[str] = (), *, old: str = "") -> dict[str, Any]:
    """A pet's pod as the API would hold it; flags: pending notready failed succeeded terminating old
    orphan foreign uninit nolabels nomatch fresh crashloop."""
    revision = old if "old" in flags else update_revision_name(pet_set)
    raw = new_pod(pet_set, ordinal, template=pet_set.spec.template, revision=revision)
    meta = raw["metadata"]
    meta["uid"] = f"uid-{meta['name']}"
    meta["creationTimestamp"] = rfc3339(NOW - 900)
    phase = next((_PHASES[f] for f in flags if f in _PHASES), "Running")
    ready = phase == "Running" and "notready" not in flags
    since = NOW if "fresh" in flags else NOW - 600
    condition = {"type": "Ready", "status": str(ready), "lastTransitionTime": rfc3339(since)}
    raw["status"] = {"phase": phase, "conditions": [condition]}
    if "crashloop" in flags:
        condition["status"] = "False"
        waiting = {"waiting": {"reason": "CrashLoopBackOff"}}
        raw["status"]["containerStatuses"] = [{"name": "nginx", "restartCount": 5, "state": waiting}]
    if "terminating" in flags:
        meta["deletionTimestamp"] = rfc3339(NOW - 5)
    if "orphan" in flags:
        meta["ownerReferences"] = []
    if "foreign" in flags:
        meta["ownerReferences"] = [
            OwnerRef("apps/v1", "ReplicaSet", "rs", "uid-rs", controller=True).to_raw()
        ]
    if "uninit" in flags:
        meta["annotations"] = {INITIALIZED_ANNOTATION: "false"}
    if "nolabels" in flags:
        meta["labels"] = {
            k: v for k, v in meta["labels"].items() if k not in (POD_NAME_LABEL, POD_INDEX_LABEL)
        }
    if "nomatch" in flags:
        meta["labels"]["app"] = "other"
    return raw


def _tokens(spec: str) -> Iterable[tuple[int, list[str]]]:
    for token in spec.split():
        ordinal, _, flags = token.partition(":")
        yield int(ordinal), [f for f in flags.split(",") if f]


def pods(pet_set: PetSet, spec: str, *, old: str = "") -> list[Pod]:
    """Pods from `0 1:pending 2:old,notready` notation."""
    return [pod_from_raw(raw_pod(pet_set, ordinal, flags, old=old)) for ordinal, flags in _tokens(spec)]


def claims(pet_set: PetSet, spec: str) -> list[Claim]:
    """Claims (every template) from `0 1:pending 2:terminating 3:setref 4:podref 5:stale 6:other`."""
    out = []
    for ordinal, flags in _tokens(spec):
        pet = pod_name(pet_set.name, ordinal)
        refs: list[OwnerRef] = []
        if "setref" in flags:
            refs.append(OwnerRef(pet_set.api_version, "PetSet", pet_set.name, SET_UID, True, True))
        if "staleset" in flags:
            refs.append(OwnerRef(pet_set.api_version, "PetSet", pet_set.name, "uid-old-set", True, True))
        if "podref" in flags:
            refs.append(OwnerRef("v1", "Pod", pet, f"uid-{pet}", True, True))
        if "stale" in flags:
            refs.append(OwnerRef("v1", "Pod", pet, "uid-gone", True, True))
        if "other" in flags:
            refs.append(OwnerRef("example.com/v1", "Keeper", "k", "uid-keeper", True, False))
        for name in claim_names(pet_set, ordinal):
            out.append(
                Claim(
                    NS,
                    name,
                    uid=f"uid-{name}",
                    phase="Pending" if "pending" in flags else "Bound",
                    owner_refs=tuple(refs),
                    deletion_timestamp=NOW - 1 if "terminating" in flags else None,
                )
            )
    return out


def _owners(refs: Iterable[OwnerRef]) -> str:
    return ",".join(f"{r.kind}/{r.name}" for r in refs) or "-"


def _line(action: Action) -> str:
    match action:
        case Adopt() | Release():
            return f"{type(action).__name__} {action.kind} {action.name}"
        case CreateRevision():
            return "CreateRevision"
        case RenumberRevision():
            return f"RenumberRevision {action.name} {action.revision}"
        case DeleteRevision() | CreateClaim() | CreatePod() | UpdatePodLabels():
            return f"{type(action).__name__} {action.name}"
        case DeletePod():
            return f"DeletePod {action.name} {action.reason}"
        case UpdateClaimOwner():
            return f"UpdateClaimOwner {action.name} {_owners(action.owners)}"
        case ExpandClaim():
            return f"ExpandClaim {action.name} {action.storage}"
        case Event():
            return f"Event {action.reason}"
        case RequeueAfter():
            return f"RequeueAfter {action.seconds:g}"
        case UpdateStatus():
            return "UpdateStatus"


def summary(actions: Iterable[Action], *, everything: bool = False) -> list[str]:
    """One line per action; status writes and requeues only when `everything`."""
    skip = () if everything else (UpdateStatus, RequeueAfter)
    return [_line(a) for a in actions if not isinstance(a, skip)]
