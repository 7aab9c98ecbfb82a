"""Pod status the way a kubelet writes it (pure): phase, conditions, container statuses, addresses, QoS.

Every builder takes the pod as it is and keeps what has not changed: a condition's lastTransitionTime
while its status stays, startTime, a container's startedAt. Building again from the written status
gives the same status, so a caller compares and writes only real changes.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from kubeapi.meta import Obj, dig, rfc3339

Condition = tuple[str, bool, str, str]  # (type, status, reason, message)

CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
RUNTIME = "containerd"
# container-level failure reasons: the containers terminate with them; any other reason is the pod's own
CONTAINER_REASONS = {"Error": 1, "OOMKilled": 137, "ContainerCannotRun": 128, "DeadlineExceeded": 137}
_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- QoS ---------------------------------------------------------------------------------------------


def quantity(value: Any) -> Decimal | None:
    """A resource quantity (`500m`, `1Gi`, `2`, `1e3`) as a number; None when unreadable."""
    match = _QUANTITY.fullmatch(str(value).strip())
    if match is None or match.group(2) not in _SUFFIXES:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the cpu and memory requests and limits of all containers."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    containers = _list(dig(pod, "spec", "containers")) + _list(dig(pod, "spec", "initContainers"))
    for container in containers:
        resources = dig(container, "resources") or {}
        found_limits = set()
        for kind, into in (("limits", limits), ("requests", requests)):
            for name, raw in (resources.get(kind) or {}).items():
                amount = quantity(raw)
                if name not in ("cpu", "memory") or amount is None or amount == 0:
                    continue
                into[name] = into.get(name, Decimal(0)) + amount
                if kind == "limits":
                    found_limits.add(name)
        for name in ("cpu", "memory"):  # a missing request defaults to its limit
            if name in (resources.get("limits") or {}) and name not in (resources.get("requests") or {}):
                amount = quantity((resources.get("limits") or {})[name])
                if amount:
                    requests[name] = requests.get(name, Decimal(0)) + amount
        if found_limits != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and requests == limits else "Burstable"


# --- images and ids ----------------------------------------------------------------------------------


def normalize_image(image: str) -> str:
    """A reference as the container runtime reports it: `nginx` -> `docker.io/library/nginx:latest`."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", name
        if "/" not in rest:
            rest = f"library/{rest}"
    repo = f"{first}/{rest}"
    if at:
        return f"{repo}@{digest}"
    return repo if ":" in rest.rsplit("/", 1)[-1] else f"{repo}:latest"


def image_id(image: str) -> str:
    """The runtime's image id: `repo@sha256:<digest>` (a stable digest of the reference when it has none)."""
    ref = normalize_image(image)
    if "@" in ref:
        return ref
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    return f"{repo}@sha256:{hashlib.sha256(ref.encode()).hexdigest()}"


def container_id(pod_uid: str, name: str, restarts: int = 0) -> str:
    """`containerd://<64 hex>`, stable for a pod's container and restart count."""
    digest = hashlib.sha256(f"{pod_uid}/{name}/{restarts}".encode()).hexdigest()
    return f"{RUNTIME}://{digest}"


# --- conditions --------------------------------------------------------------------------------------


def conditions(old_status: Obj, wanted: list[Condition], now: float) -> list[Obj]:
    """Pod conditions; lastTransitionTime is kept from old_status while a condition's status stays."""
    before = {c.get("type"): c for c in _list(old_status.get("conditions")) if isinstance(c, dict)}
    out = []
    for kind, ok, reason, message in wanted:
        status = "True" if ok else "False"
        previous = before.get(kind) or {}
        changed = previous.get("status") != status or not previous.get("lastTransitionTime")
        condition: Obj = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(now) if changed else previous["lastTransitionTime"],
        }
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        out.append(condition)
    return out


def _names(containers: list[Obj]) -> str:
    return "[" + " ".join(str(c.get("name", "")) for c in containers) + "]"


def _containers(pod: Obj, key: str = "containers") -> list[Obj]:
    return [c for c in _list(dig(pod, "spec", key)) if isinstance(c, dict)]


def _started_at(pod: Obj, key: str, name: str) -> str | None:
    for status in _list(dig(pod, "status", key)):
        if isinstance(status, dict) and status.get("name") == name:
            state = status.get("state") or {}
            found = dig(state, "running", "startedAt") or dig(state, "terminated", "startedAt")
            return str(found) if found else None
    return None


def _addresses(ips: tuple[str, ...]) -> list[Obj]:
    return [{"ip": ip} for ip in ips]


def _base(pod: Obj, phase: str, conds: list[Obj], host_ips: tuple[str, ...], now: float) -> Obj:
    status: Obj = {"phase": phase, "conditions": conds}
    if host_ips:
        status["hostIP"] = host_ips[0]
        status["hostIPs"] = _addresses(host_ips)
        status["startTime"] = dig(pod, "status", "startTime") or rfc3339(now)
    status["qosClass"] = qos_class(pod)
    return status


def _pod_ips(status: Obj, pod_ips: tuple[str, ...]) -> None:
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = _addresses(pod_ips)


def _container(pod: Obj, container: Obj, state: Obj, *, ready: bool, started: bool, ran: bool) -> Obj:
    image = str(container.get("image") or "")
    status: Obj = {"name": container.get("name", ""), "image": normalize_image(image) if image else ""}
    status["imageID"] = image_id(image) if ran and image else ""
    if ran:
        status["containerID"] = container_id(str(dig(pod, "metadata", "uid") or ""), str(status["name"]))
    status.update(lastState={}, ready=ready, restartCount=0, started=started, state=state)
    return status


def _sorted(statuses: list[Obj]) -> list[Obj]:
    return sorted(statuses, key=lambda s: str(s.get("name")))


# --- statuses ----------------------------------------------------------------------------------------


def unschedulable(pod: Obj, message: str, now: float) -> Obj:
    """A pod the scheduler cannot place: Pending, PodScheduled False with reason Unschedulable."""
    old = pod.get("status") or {}
    conds = conditions(old, [("PodScheduled", False, "Unschedulable", message)], now)
    return {"phase": "Pending", "conditions": conds, "qosClass": qos_class(pod)}


def waiting(pod: Obj, host_ips: tuple[str, ...], now: float) -> Obj:
    """A pod placed on its node whose containers are not created yet (volumes not ready)."""
    old = pod.get("status") or {}
    init, main = _containers(pod, "initContainers"), _containers(pod)
    reason = "PodInitializing" if init else "ContainerCreating"
    unready = f"containers with unready status: {_names(main)}"
    initialized: Condition = (
        (
            "Initialized",
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: {_names(init)}",
        )
        if init
        else ("Initialized", True, "", "")
    )
    wanted: list[Condition] = [
        ("PodReadyToStartContainers", False, "", ""),
        initialized,
        ("Ready", False, "ContainersNotReady", unready),
        ("ContainersReady", False, "ContainersNotReady", unready),
        ("PodScheduled", True, "", ""),
    ]
    status = _base(pod, "Pending", conditions(old, wanted, now), host_ips, now)
    state = {"waiting": {"reason": reason}}
    if init:
        status["initContainerStatuses"] = [
            _container(pod, c, state, ready=False, started=False, ran=False) for c in init
        ]
    status["containerStatuses"] = _sorted(
        [_container(pod, c, state, ready=False, started=False, ran=False) for c in main]
    )
    return status


def running(pod: Obj, host_ips: tuple[str, ...], pod_ips: tuple[str, ...], *, ready: bool, now: float) -> Obj:
    """A pod whose containers run (init containers completed); Ready as given."""
    old = pod.get("status") or {}
    init, main = _containers(pod, "initContainers"), _containers(pod)
    if ready:
        wanted_ready: Condition = ("Ready", True, "", "")
        containers_ready: Condition = ("ContainersReady", True, "", "")
    else:
        unready = f"containers with unready status: {_names(main)}"
        wanted_ready = ("Ready", False, "ContainersNotReady", unready)
        containers_ready = ("ContainersReady", False, "ContainersNotReady", unready)
    wanted: list[Condition] = [
        ("PodReadyToStartContainers", True, "", ""),
        ("Initialized", True, "", ""),
        wanted_ready,
        containers_ready,
        ("PodScheduled", True, "", ""),
    ]
    status = _base(pod, "Running", conditions(old, wanted, now), host_ips, now)
    _pod_ips(status, pod_ips)
    stamp = rfc3339(now)
    if init:
        status["initContainerStatuses"] = [_init_completed(pod, c, stamp) for c in init]
    statuses = []
    for c in main:
        started = _started_at(pod, "containerStatuses", str(c.get("name"))) or stamp
        statuses.append(
            _container(pod, c, {"running": {"startedAt": started}}, ready=ready, started=True, ran=True)
        )
    status["containerStatuses"] = _sorted(statuses)
    return status


def _init_completed(pod: Obj, c: Obj, stamp: str) -> Obj:
    """The status of an init container that ran to completion."""
    started = _started_at(pod, "initContainerStatuses", str(c.get("name"))) or stamp
    done = {
        "terminated": {
            "containerID": container_id(str(dig(pod, "metadata", "uid") or ""), str(c.get("name"))),
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": started,
            "finishedAt": started,
        }
    }
    return _container(pod, c, done, ready=True, started=False, ran=True)


def failed(
    pod: Obj,
    host_ips: tuple[str, ...],
    pod_ips: tuple[str, ...],
    *,
    reason: str,
    message: str,
    now: float,
) -> Obj:
    """A pod whose containers ended in failure: phase Failed (an unscheduled one keeps its conditions).

    A container-level reason (Error, OOMKilled...) ends the containers with it; any other (Evicted...)
    is the pod's status.reason, and the containers end with Error.
    """
    old = pod.get("status") or {}
    wanted: list[Condition] = [
        ("PodReadyToStartContainers", False, "", ""),
        ("Initialized", True, "", ""),
        ("Ready", False, "PodFailed", ""),
        ("ContainersReady", False, "PodFailed", ""),
        ("PodScheduled", True, "", ""),
    ]
    conds = conditions(old, wanted, now) if host_ips else _list(old.get("conditions"))
    status = _base(pod, "Failed", conds, host_ips, now)
    if reason not in CONTAINER_REASONS:
        status["reason"] = reason
    if message:
        status["message"] = message
    _pod_ips(status, pod_ips)
    container_reason = reason if reason in CONTAINER_REASONS else "Error"
    stamp = rfc3339(now)
    if "initContainerStatuses" in old:
        status["initContainerStatuses"] = old["initContainerStatuses"]
    statuses = [_ended(pod, c, container_reason, stamp) for c in _containers(pod)]
    status["containerStatuses"] = _sorted(statuses)
    return status


def _ended(pod: Obj, c: Obj, reason: str, stamp: str) -> Obj:
    """The status of a container that ended with `reason` (one of CONTAINER_REASONS)."""
    name = str(c.get("name"))
    started = _started_at(pod, "containerStatuses", name)
    end: Obj = {"exitCode": CONTAINER_REASONS[reason], "reason": reason}
    if started:
        end.update(containerID=container_id(str(dig(pod, "metadata", "uid") or ""), name))
        end.update(startedAt=started)
    end["finishedAt"] = stamp
    return _container(pod, c, {"terminated": end}, ready=False, started=False, ran=bool(started))


def mark_not_ready(pod: Obj, now: float) -> Obj:
    """The status with its Ready condition False and nothing else changed (a node gone silent)."""
    status: Obj = dict(pod.get("status") or {})
    out = []
    for cond in _list(status.get("conditions")):
        flip = isinstance(cond, dict) and cond.get("type") == "Ready" and cond.get("status") != "False"
        out.append({**cond, "status": "False", "lastTransitionTime": rfc3339(now)} if flip else cond)
    status["conditions"] = out
    return status


def node_lost(pod: Obj, node: str, now: float) -> Obj:
    """A pod being deleted on a node that stopped answering: not Ready, reason NodeLost."""
    status = mark_not_ready(pod, now)
    status["reason"] = "NodeLost"
    name = dig(pod, "metadata", "name")
    status["message"] = f"Node {node} which was running pod {name} is unresponsive"
    return status


def is_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in _list(dig(pod, "status", "conditions"))
    )


def pod_ips_of(pod: Obj) -> list[str]:
    """status.podIPs (or podIP) of a pod."""
    ips = [
        str(a.get("ip")) for a in _list(dig(pod, "status", "podIPs")) if isinstance(a, dict) and a.get("ip")
    ]
    single = dig(pod, "status", "podIP")
    return ips or ([str(single)] if single else [])


def started_at(pod: Obj) -> str | None:
    """When the pod's containers started (the earliest startedAt), if they did."""
    stamps = [
        str(dig(s, "state", "running", "startedAt"))
        for s in _list(dig(pod, "status", "containerStatuses"))
        if dig(s, "state", "running", "startedAt")
    ]
    return min(stamps) if stamps else None
