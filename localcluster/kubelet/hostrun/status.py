"""The status of a pod run for real (pure): phase, conditions and container statuses from what its
containers did (the supervisor's views: state, lastState, restartCount, ready, started, containerID)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi.meta import Obj, rfc3339
from localcluster.kubelet.podstatus import Condition, conditions, image_id, normalize_image, qos_class


@dataclass(frozen=True)
class RunView:
    """What the supervisor knows of a pod: sandbox up, init done, its phase, each container's view."""

    sandbox: bool
    initialized: bool
    phase: str  # Pending, Running, Succeeded, Failed
    init: Mapping[str, Obj]
    containers: Mapping[str, Obj]
    message: str = ""


def _containers(pod: Obj, key: str) -> list[Obj]:
    found = (pod.get("spec") or {}).get(key) or []
    return [c for c in found if isinstance(c, dict)]


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def _status(container: Obj, view: Obj | None) -> Obj:
    image = str(container.get("image") or "")
    view = view or {"state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    ran = bool(view.get("containerID"))
    out: dict[str, Any] = {
        "name": container.get("name", ""),
        "image": normalize_image(image) if image else "",
    }
    out["imageID"] = image_id(image) if ran and image else ""
    if ran:
        out["containerID"] = view["containerID"]
    out.update(
        lastState=view.get("lastState") or {},
        ready=bool(view.get("ready")),
        restartCount=int(view.get("restartCount") or 0),
        started=bool(view.get("started")),
        state=view["state"],
    )
    return out


def status(
    pod: Obj, run: RunView, host_ips: tuple[str, ...], pod_ips: tuple[str, ...], *, stopping: bool, now: float
) -> Obj:
    """The pod's status; a pod being deleted is not Ready."""
    old = pod.get("status") or {}
    init, main = _containers(pod, "initContainers"), _containers(pod, "containers")
    unready = [
        str(c.get("name"))
        for c in main
        if stopping or not (run.containers.get(str(c.get("name"))) or {}).get("ready")
    ]
    terminal = run.phase in ("Succeeded", "Failed")
    if unready or terminal:
        reason = (
            "PodCompleted" if run.phase == "Succeeded" else "PodFailed" if terminal else "ContainersNotReady"
        )
        message = "" if terminal else f"containers with unready status: {_names(unready)}"
        ready: Condition = ("Ready", False, reason, message)
        containers_ready: Condition = ("ContainersReady", False, reason, message)
    else:
        ready, containers_ready = ("Ready", True, "", ""), ("ContainersReady", True, "", "")
    if run.initialized or not init:
        initialized: Condition = ("Initialized", True, "", "")
    else:
        pending = [
            str(c.get("name"))
            for c in init
            if "terminated" not in ((run.init.get(str(c.get("name"))) or {}).get("state") or {})
        ]
        message = f"containers with incomplete status: {_names(pending)}"
        initialized = ("Initialized", False, "ContainersNotInitialized", message)
    wanted: list[Condition] = [
        ("PodReadyToStartContainers", run.sandbox and not terminal, "", ""),
        initialized,
        ready,
        containers_ready,
        ("PodScheduled", True, "", ""),
    ]
    out: Obj = {"phase": run.phase, "conditions": conditions(old, wanted, now)}
    if run.message:
        out["message"] = run.message
    if host_ips:
        out["hostIP"] = host_ips[0]
        out["hostIPs"] = [{"ip": ip} for ip in host_ips]
        out["startTime"] = old.get("startTime") or rfc3339(now)
    if pod_ips:
        out["podIP"] = pod_ips[0]
        out["podIPs"] = [{"ip": ip} for ip in pod_ips]
    out["qosClass"] = qos_class(pod)
    if init:
        out["initContainerStatuses"] = [_status(c, run.init.get(str(c.get("name")))) for c in init]
    statuses = [_status(c, run.containers.get(str(c.get("name")))) for c in main]
    out["containerStatuses"] = sorted(statuses, key=lambda s: str(s.get("name")))
    return out
