"""The Deployment controller's decisions: the new ReplicaSet of the current template (named and labelled
by `pod-template-hash`), how far each ReplicaSet is scaled in a rolling update or a recreate, the status.
Pure."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from kubeapi.meta import Obj
from localcluster.controllers.deployments.objects import (
    condition,
    count,
    merge_conditions,
    meta,
    name,
    owner_reference,
    replicas,
    scaled,
    spec,
    status,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# the alphabet of upstream's rand.SafeEncodeString: no vowels, no look-alikes
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """One sync of a Deployment: a ReplicaSet to create, (name, replicas) to scale to, the status to write."""

    create: Obj | None = None
    scale: tuple[tuple[str, int], ...] = ()
    status: Obj | None = None


def template_hash(template: object, collisions: int = 0) -> str:
    """FNV-1a (32 bit) of the template and the collision count, spelled in the safe alphabet."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    text += str(collisions) if collisions else ""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(value))


def _without_hash(template: object) -> object:
    if not isinstance(template, dict):
        return template
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def is_current(deploy: Obj, rs: Obj) -> bool:
    """The ReplicaSet runs the Deployment's template (its pod-template-hash label aside)."""
    return _without_hash(spec(rs).get("template")) == _without_hash(spec(deploy).get("template"))


def revision(rs: Obj) -> int:
    """The deployment.kubernetes.io/revision annotation (0 when absent)."""
    text = str((meta(rs).get("annotations") or {}).get(REVISION) or "0")
    return int(text) if text.isdigit() else 0


def limits(deploy: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; never both 0 (upstream's fenceposts)."""
    rolling = (spec(deploy).get("strategy") or {}).get("rollingUpdate") or {}
    want = replicas(deploy)
    surge = scaled(rolling.get("maxSurge", "25%"), want, round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), want, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def replicaset_manifest(deploy: Obj, rs_replicas: int, rev: int) -> Obj:
    """The new ReplicaSet of the Deployment's template: `<name>-<hash>`, labelled and selected by the hash."""
    template = copy.deepcopy(spec(deploy).get("template") or {})
    digest = template_hash(template, count(status(deploy), "collisionCount"))
    tmeta = template.setdefault("metadata", {})
    labels = {**(tmeta.get("labels") or {}), HASH_LABEL: digest}
    tmeta["labels"] = labels
    selector = copy.deepcopy(spec(deploy).get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
    surge, _ = limits(deploy)
    annotations = {
        REVISION: str(rev),
        DESIRED: str(replicas(deploy)),
        MAX_REPLICAS: str(replicas(deploy) + surge),
    }
    rs_spec: Obj = {"replicas": rs_replicas, "selector": selector, "template": template}
    if count(spec(deploy), "minReadySeconds"):
        rs_spec["minReadySeconds"] = count(spec(deploy), "minReadySeconds")
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name(deploy)}-{digest}",
            "namespace": meta(deploy).get("namespace", ""),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(deploy, "Deployment")],
        },
        "spec": rs_spec,
    }


def plan_rollout(deploy: Obj, owned: list[Obj], now: str) -> RolloutPlan:
    """The next step of a Deployment over the ReplicaSets it owns."""
    current = [rs for rs in owned if is_current(deploy, rs)]
    new = max(current, key=revision) if current else None
    old = sorted((rs for rs in owned if rs is not new), key=revision)
    want = replicas(deploy)
    recreate = (spec(deploy).get("strategy") or {}).get("type") == "Recreate"
    if spec(deploy).get("paused"):
        return RolloutPlan(status=_status_change(deploy, new, owned, now))
    scale = _recreate(want, new, old) if recreate else _rolling(deploy, want, new, old)
    if new is None:
        rev = max((revision(rs) for rs in owned), default=0) + 1
        target = dict(scale).get("", 0)
        created = replicaset_manifest(deploy, target, rev)
        return RolloutPlan(create=created, scale=tuple(s for s in scale if s[0]), status=None)
    return RolloutPlan(scale=scale, status=_status_change(deploy, new, owned, now))


def _rolling(deploy: Obj, want: int, new: Obj | None, old: list[Obj]) -> tuple[tuple[str, int], ...]:
    """One rolling-update step: scale the new ReplicaSet up within maxSurge, else old ones down within
    maxUnavailable ("" names the new ReplicaSet that does not exist yet)."""
    surge, unavailable = limits(deploy)
    new_count = replicas(new) if new is not None else 0
    total = new_count + sum(replicas(rs) for rs in old)
    new_name = name(new) if new is not None else ""
    if new_count > want:
        return ((new_name, want),)
    if new_count < want:
        room = want + surge - total
        if room > 0:
            return ((new_name, new_count + min(room, want - new_count)),)
    if not any(replicas(rs) for rs in old):
        return ()
    new_unavailable = new_count - (count(status(new), "availableReplicas") if new is not None else 0)
    budget = total - (want - unavailable) - max(new_unavailable, 0)
    # old pods that are not available cost no availability: they go first
    out = []
    for rs in old:
        have = replicas(rs)
        if have == 0:
            continue
        idle = have - count(status(rs), "availableReplicas")
        down = max(idle, 0) + max(budget, 0)
        step = min(have, down)
        budget -= max(step - max(idle, 0), 0)
        if step > 0:
            out.append((name(rs), have - step))
    return tuple(out)


def _recreate(want: int, new: Obj | None, old: list[Obj]) -> tuple[tuple[str, int], ...]:
    """Recreate: every old ReplicaSet to 0; the new one up once no old pod is left."""
    down = tuple((name(rs), 0) for rs in old if replicas(rs))
    if down:
        return down
    if any(count(status(rs), "replicas") for rs in old):
        return ()
    have = replicas(new) if new is not None else 0
    return ((name(new) if new is not None else "", want),) if have != want or new is None else ()


def deployment_status(deploy: Obj, new: Obj | None, owned: list[Obj], now: str) -> Obj:
    """Counts summed over the ReplicaSets, observedGeneration, the Available and Progressing conditions."""
    want = replicas(deploy)
    total = sum(count(status(rs), "replicas") for rs in owned)
    updated = count(status(new), "replicas") if new is not None else 0
    ready = sum(count(status(rs), "readyReplicas") for rs in owned)
    ok = sum(count(status(rs), "availableReplicas") for rs in owned)
    out: Obj = {}
    generation = meta(deploy).get("generation")
    if isinstance(generation, int):
        out["observedGeneration"] = generation
    counted = {
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ok,
        "unavailableReplicas": max(want - ok, 0),
    }
    out.update({key: value for key, value in counted.items() if value})
    _, unavailable = limits(deploy)
    conditions = []
    if ok >= want - unavailable:
        message = "Deployment has minimum availability."
        conditions.append(condition("Available", True, "MinimumReplicasAvailable", message, now))
    else:
        message = "Deployment does not have minimum availability."
        conditions.append(condition("Available", False, "MinimumReplicasUnavailable", message, now))
    if new is not None:
        done = updated == want and ok >= want and total == updated and replicas(new) == want
        reason = "NewReplicaSetAvailable" if done else "ReplicaSetUpdated"
        verb = "has successfully progressed" if done else "is progressing"
        conditions.append(condition("Progressing", True, reason, f'ReplicaSet "{name(new)}" {verb}.', now))
    out["conditions"] = merge_conditions(status(deploy).get("conditions") or [], conditions)
    if count(status(deploy), "collisionCount"):
        out["collisionCount"] = count(status(deploy), "collisionCount")
    return out


def _status_change(deploy: Obj, new: Obj | None, owned: list[Obj], now: str) -> Obj | None:
    fresh = deployment_status(deploy, new, owned, now)
    return None if fresh == status(deploy) else fresh
