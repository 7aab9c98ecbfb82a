"""When a claim or volume carries its protection finalizer, and when a deleted one may lose it (pure).

As upstream: a claim is in use while a pod scheduled to a node (spec.nodeName set) and not finished
(Succeeded, Failed) mounts it; a pod still waiting for a node does not hold it (the kubelet will not start
a pod whose claim is being deleted). A volume is in use while it is Bound to a claim.
"""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj, section

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def finalizers(obj: Obj) -> list[str]:
    """metadata.finalizers."""
    return [str(f) for f in section(obj, "metadata").get("finalizers") or []]


def deleting(obj: Obj) -> bool:
    """Whether the object has a deletionTimestamp."""
    return bool(section(obj, "metadata").get("deletionTimestamp"))


def claims_held(pod: Obj) -> list[str]:
    """The claims a pod holds: those it mounts, when it is on a node and not finished."""
    spec: Any = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return []
    return [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in spec.get("volumes") or []
        if isinstance(v, dict)
        and isinstance(v.get("persistentVolumeClaim"), dict)
        and v["persistentVolumeClaim"].get("claimName")
    ]


def wanted_finalizers(obj: Obj, finalizer: str, *, in_use: bool) -> list[str] | None:
    """The finalizers the object should have now, or None when they are right as they are: the protection
    added to a live object, removed from a deleted one no longer in use."""
    have = finalizers(obj)
    if not deleting(obj):
        return None if finalizer in have else [*have, finalizer]
    if finalizer in have and not in_use:
        return [f for f in have if f != finalizer]
    return None


def volume_in_use(volume: Obj) -> bool:
    """Whether a volume is Bound to a claim."""
    return (volume.get("status") or {}).get("phase") == "Bound"
