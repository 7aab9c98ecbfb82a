"""Node objects as a kubelet registers them, and as the node lifecycle marks silent ones (pure)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from kubeapi.meta import Obj, rfc3339
from localcluster.kubelet.scheduler import UNREACHABLE

RUNTIME_VERSION = "containerd://1.7.22"
OS_IMAGE = "petdns local cluster"
CAPACITY = {
    "cpu": "4",
    "ephemeral-storage": "104857600Ki",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
    "memory": "16384000Ki",
    "pods": "110",
}
ALLOCATABLE = {**CAPACITY, "ephemeral-storage": "96636764809", "memory": "16281600Ki"}
_HEALTHY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def _stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def healthy_conditions(now: float, old: list[Any] | None = None) -> list[Obj]:
    """The four conditions of a healthy node; lastTransitionTime kept from `old` where unchanged."""
    before = {c.get("type"): c for c in old or [] if isinstance(c, dict)}
    stamp = rfc3339(now)
    out = []
    for kind, status, reason, message in _HEALTHY:
        previous = before.get(kind) or {}
        since = previous.get("lastTransitionTime") if previous.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": since or stamp,
                "reason": reason,
                "message": message,
            }
        )
    return out


def lost_conditions(old: list[Any] | None, now: float) -> list[Obj]:
    """Every condition Unknown: what the node lifecycle controller writes when a kubelet stops posting."""
    stamp = rfc3339(now)
    out = []
    for cond in old or healthy_conditions(now):
        if not isinstance(cond, dict):
            continue
        changed = cond.get("status") != "Unknown"
        out.append(
            {
                **cond,
                "status": "Unknown",
                "lastTransitionTime": stamp if changed else cond.get("lastTransitionTime", stamp),
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
            }
        )
    return out


def with_unreachable_taints(taints: list[Any] | None, now: float) -> list[Any]:
    """The node's taints plus `node.kubernetes.io/unreachable` NoSchedule and NoExecute."""
    kept = [t for t in taints or [] if not (isinstance(t, dict) and t.get("key") == UNREACHABLE)]
    stamp = rfc3339(now)
    return [
        *kept,
        *({"key": UNREACHABLE, "effect": e, "timeAdded": stamp} for e in ("NoSchedule", "NoExecute")),
    ]


def without_unreachable_taints(taints: list[Any] | None) -> list[Any]:
    """The node's taints less the unreachable ones."""
    return [t for t in taints or [] if not (isinstance(t, dict) and t.get("key") == UNREACHABLE)]


def node_status(name: str, ip: str, now: float, *, kubelet_version: str, arch: str, kernel: str) -> Obj:
    """A registering node's status: addresses, capacity, conditions, nodeInfo."""
    return {
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "capacity": dict(CAPACITY),
        "allocatable": dict(ALLOCATABLE),
        "conditions": healthy_conditions(now),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": arch,
            "bootID": _stable_uuid("boot", name, str(int(now))),
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kernelVersion": kernel,
            "kubeProxyVersion": kubelet_version,
            "kubeletVersion": kubelet_version,
            "machineID": hashlib.sha256(f"machine/{name}".encode()).hexdigest()[:32],
            "operatingSystem": "linux",
            "osImage": OS_IMAGE,
            "systemUUID": _stable_uuid("system", name),
        },
    }


def node_manifest(name: str, ip: str, now: float, *, kubelet_version: str, arch: str, kernel: str) -> Obj:
    """A Node as its kubelet creates it on registration."""
    labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {},
        "status": node_status(name, ip, now, kubelet_version=kubelet_version, arch=arch, kernel=kernel),
    }
