"""A pet's identity: names, ordinals, identity labels, ownership, and the pod and claim it is made of."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeapi.labels import Selector
from petset_controller.core.model import REVISION_LABEL, Claim, OwnerRef, PetSet, Pod, controller_of
from petset_controller.core.spec import (
    DELETE,
    RETAIN,
    ClaimTemplate,
    Json,
    labels_of,
    mapping_of,
)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
MAX_ORDINAL = 2**31 - 1
_ORDINAL = re.compile(r"(0|[1-9][0-9]*)\Z")


def pod_name(set_name: str, ordinal: int) -> str:
    """`web-3`: the pet's pod name, which is also its hostname."""
    return f"{set_name}-{ordinal}"


@functools.lru_cache(maxsize=1 << 16)
def parse_ordinal(set_name: str, name: str) -> int | None:
    """The ordinal of a pod named exactly `<set>-<ordinal>`; None for look-alikes (`web-01`, `web-x-1`)."""
    prefix = f"{set_name}-"
    if not set_name or not name.startswith(prefix):
        return None
    tail = name[len(prefix) :]
    if not _ORDINAL.match(tail) or int(tail) > MAX_ORDINAL:
        return None
    return int(tail)


def claim_name(template: str, set_name: str, ordinal: int) -> str:
    """`www-web-3`: the claim a claim template makes for one pet."""
    return f"{template}-{set_name}-{ordinal}"


def claim_names(pet_set: PetSet, ordinal: int) -> tuple[str, ...]:
    """The names of every claim one pet mounts, in template order."""
    return tuple(claim_name(t.name, pet_set.name, ordinal) for t in pet_set.spec.claim_templates)


def identity_labels(set_name: str, ordinal: int) -> dict[str, str]:
    """The labels that name a pet: pod name and pod index."""
    return {POD_NAME_LABEL: pod_name(set_name, ordinal), POD_INDEX_LABEL: str(ordinal)}


def label_repairs(pod: Pod, set_name: str, ordinal: int) -> dict[str, str]:
    """Identity labels the pod lacks or has wrong (empty when it is intact)."""
    if pod.labels.get(POD_NAME_LABEL) == pod.name and pod.labels.get(POD_INDEX_LABEL) == str(ordinal):
        return {}
    return {k: v for k, v in identity_labels(set_name, ordinal).items() if pod.labels.get(k) != v}


def controller_ref(pet_set: PetSet) -> OwnerRef:
    """The controller reference a set puts on its pods (and claims, under whenDeleted: Delete)."""
    return OwnerRef(
        api_version=pet_set.api_version,
        kind=pet_set.kind,
        name=pet_set.name,
        uid=pet_set.uid,
        controller=True,
        block_owner_deletion=True,
    )


def pod_ref(pod: Pod) -> OwnerRef:
    """The controller reference a condemned pet's claims get under whenScaled: Delete."""
    return OwnerRef("v1", "Pod", pod.name, pod.uid, controller=True, block_owner_deletion=True)


def owned_by(refs: tuple[OwnerRef, ...], pet_set: PetSet) -> bool:
    """Whether the set is the controller in these references (by UID: a namesake set is someone else)."""
    ref = controller_of(refs)
    return ref is not None and ref.uid == pet_set.uid


def _claim_volumes(pet_set: PetSet, ordinal: int, volumes: object) -> list[Any]:
    ours = [
        {"name": t.name, "persistentVolumeClaim": {"claimName": claim_name(t.name, pet_set.name, ordinal)}}
        for t in pet_set.spec.claim_templates
    ]
    taken = {t.name for t in pet_set.spec.claim_templates}
    kept = [
        v for v in (volumes if isinstance(volumes, list) else []) if mapping_of(v).get("name") not in taken
    ]
    return ours + kept


def new_pod(pet_set: PetSet, ordinal: int, *, template: Json, revision: str) -> dict[str, Any]:
    """The pod manifest of one pet: the template plus name, identity labels, hostname, claims, owner."""
    raw = copy.deepcopy(dict(template))
    tmeta = mapping_of(raw.get("metadata"))
    name = pod_name(pet_set.name, ordinal)
    labels = {**labels_of(tmeta.get("labels")), **identity_labels(pet_set.name, ordinal)}
    labels[REVISION_LABEL] = revision
    meta: dict[str, Any] = {"name": name, "namespace": pet_set.namespace, "labels": labels}
    for key in ("annotations", "finalizers"):
        if tmeta.get(key):
            meta[key] = tmeta[key]
    meta["ownerReferences"] = [controller_ref(pet_set).to_raw()]
    spec = dict(mapping_of(raw.get("spec")))
    spec["hostname"] = name
    if pet_set.spec.service_name:
        spec["subdomain"] = pet_set.spec.service_name
    volumes = _claim_volumes(pet_set, ordinal, spec.get("volumes"))
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def new_claim(pet_set: PetSet, template: ClaimTemplate, ordinal: int) -> dict[str, Any]:
    """The claim a template makes for an in-range pet (owned by the set under whenDeleted: Delete)."""
    raw = copy.deepcopy(dict(template.raw))
    tmeta = mapping_of(raw.get("metadata"))
    labels = {**labels_of(tmeta.get("labels")), **_match_labels(pet_set.spec.selector)}
    meta: dict[str, Any] = {
        "name": claim_name(template.name, pet_set.name, ordinal),
        "namespace": pet_set.namespace,
        "labels": labels,
    }
    if tmeta.get("annotations"):
        meta["annotations"] = tmeta["annotations"]
    if pet_set.spec.retention.when_deleted == DELETE:
        meta["ownerReferences"] = [controller_ref(pet_set).to_raw()]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": raw.get("spec") or {},
    }


def _set_ref(ref: OwnerRef, pet_set: PetSet) -> bool:
    return ref.kind == pet_set.kind and ref.name == pet_set.name


def _pod_ref(ref: OwnerRef, name: str) -> bool:
    return ref.kind == "Pod" and ref.api_version == "v1" and ref.name == name


def claim_is_stale(pet_set: PetSet, claim: Claim, name: str) -> bool:
    """Under whenScaled: Delete, a claim still owned by an earlier pod of this name awaits the collector."""
    return pet_set.spec.retention.when_scaled == DELETE and any(_pod_ref(r, name) for r in claim.owner_refs)


def claim_conflict(pet_set: PetSet, claim: Claim, name: str) -> bool:
    """Another controller owns the claim while a Delete policy is in force: the policy is not applied."""
    policy = pet_set.spec.retention
    if policy.when_deleted == RETAIN and policy.when_scaled == RETAIN:
        return False
    others = (r for r in claim.owner_refs if not _set_ref(r, pet_set) and not _pod_ref(r, name))
    return any(r.controller for r in others)


def wanted_claim_owners(
    pet_set: PetSet, claim: Claim, *, ordinal: int, pod: Pod | None, condemned: bool
) -> tuple[OwnerRef, ...] | None:
    """The claim's ownerReferences under the retention policy; None when they must stay as they are.

    Delete/Delete: in-range claims owned by the set, a condemned pet's claims by its pod only.
    Retain/Delete: owned by the set. Delete/Retain: a condemned pet's claims owned by its pod.
    References of a previous set or pod of the same name (another UID) mean the claim is not ours to
    touch; another controller means ours are removed and none are added.
    """
    refs, policy = claim.owner_refs, pet_set.spec.retention
    if not refs and policy.when_deleted == RETAIN and (policy.when_scaled == RETAIN or not condemned):
        return None  # nothing to add and nothing to take off
    name = pod_name(pet_set.name, ordinal)
    uid = pod.uid if pod is not None else None
    if any(_set_ref(r, pet_set) and r.uid != pet_set.uid for r in refs) or any(
        _pod_ref(r, name) and r.uid != uid for r in refs
    ):
        return None
    wanted = [r for r in refs if not _set_ref(r, pet_set) and not _pod_ref(r, name)]
    if not claim_conflict(pet_set, claim, name):
        if policy.when_scaled == DELETE and condemned and pod is not None:
            wanted.append(pod_ref(pod))
        elif policy.when_deleted == DELETE:
            wanted.append(controller_ref(pet_set))
    return None if set(wanted) == set(refs) else tuple(wanted)


@dataclass(frozen=True, slots=True)
class Ownership:
    """The set's pods, the orphans it adopts (selected, named as its pets) and the pods it lets go."""

    owned: tuple[Pod, ...]
    adopt: tuple[Pod, ...]
    release: tuple[Pod, ...]


def claim_pods(pet_set: PetSet, pods: Iterable[Pod]) -> Ownership:
    """Sort pods into owned (including adopted), to adopt and to release; deleting sets adopt nothing."""
    owned, adopt, release = [], [], []
    deleting = pet_set.deletion_timestamp is not None
    uid, name, matches = pet_set.uid, pet_set.name, pet_set.spec.selector.matches
    for pod in pods:
        owner = pod.controller_uid
        if owner is not None and owner == uid:
            if deleting or (parse_ordinal(name, pod.name) is not None and matches(pod.labels)):
                owned.append(pod)
            else:
                release.append(pod)
        elif (
            owner is None
            and not deleting
            and not pod.terminating
            and parse_ordinal(name, pod.name) is not None
            and matches(pod.labels)
        ):
            adopt.append(pod)
            owned.append(pod)
    return Ownership(tuple(owned), tuple(adopt), tuple(release))


def _match_labels(selector: Selector) -> dict[str, str]:
    """The selector's equalities as labels (its matchLabels, or the template labels it defaulted to)."""
    return {req.key: req.values[0] for req in selector.requirements if req.op == "=" and req.values}
