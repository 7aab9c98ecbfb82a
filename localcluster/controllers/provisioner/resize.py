"""Volume expansion, pure, in upstream's steps: a bound claim whose request grew beyond its volume gets the
volume's capacity raised (the external-resizer, where the class allows expansion); while a running pod
mounts the claim, the claim shows FileSystemResizePending until the file system has grown (the kubelet's
part, here a short wait), then its status.capacity is the new size; unmounted, it gets the size at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubeapi import quantity
from kubeapi.meta import Obj, parse_time, rfc3339
from localcluster.controllers.provisioner.volumes import BOUND, Claim, StorageClass, Volume

FS_RESIZE_PENDING = "FileSystemResizePending"
FS_RESIZE_MESSAGE = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."


def volume_growth(claim: Claim, volume: Volume, cls: StorageClass | None) -> Obj | None:
    """The patch that raises a volume to its bound claim's larger request (None: nothing to grow)."""
    if claim.phase != BOUND or cls is None or not cls.allow_expansion or not volume.ours:
        return None
    if not quantity.greater(claim.request, volume.capacity):
        return None
    return {"metadata": {"uid": volume.uid}, "spec": {"capacity": {"storage": claim.request}}}


def needs_resize(claim: Claim, volume: Volume) -> bool:
    """Whether the claim's status.capacity is behind its grown volume (the file system step is due)."""
    return claim.phase == BOUND and bool(claim.capacity) and quantity.greater(volume.capacity, claim.capacity)


def mounts(pod: Mapping[str, Any], claim_name: str) -> bool:
    """Whether a running pod, not being deleted, mounts the claim."""
    meta, spec, status = (pod.get(k) or {} for k in ("metadata", "spec", "status"))
    if status.get("phase") != "Running" or meta.get("deletionTimestamp"):
        return False
    for volume in spec.get("volumes") or ():
        if ((volume or {}).get("persistentVolumeClaim") or {}).get("claimName") == claim_name:
            return True
    return False


def _others(conditions: Iterable[Mapping[str, Any]]) -> list[Obj]:
    return [dict(c) for c in conditions if c.get("type") != FS_RESIZE_PENDING]


def resize_status(
    claim: Claim, volume: Volume, *, mounted: bool, now: float, wait: float
) -> tuple[Obj, float]:
    """The claim's status patch for the file system step, and seconds until the next step (0: none)."""
    pending = next((c for c in claim.conditions if c.get("type") == FS_RESIZE_PENDING), None)
    if mounted and pending is None:
        condition: Obj = {"type": FS_RESIZE_PENDING, "status": "True", "message": FS_RESIZE_MESSAGE}
        condition["lastTransitionTime"] = rfc3339(now)
        conditions = [*_others(claim.conditions), condition]
        return {"metadata": {"uid": claim.uid}, "status": {"conditions": conditions}}, wait
    since = parse_time(pending.get("lastTransitionTime")) if pending is not None else None
    # the condition's time has whole seconds: the wait counts from the end of its second
    left = (since + 1 + wait - now) if mounted and since is not None else 0.0
    if left > 0:
        return {}, left
    status = {"capacity": {"storage": volume.capacity}, "conditions": _others(claim.conditions) or None}
    return {"metadata": {"uid": claim.uid}, "status": status}, 0.0
