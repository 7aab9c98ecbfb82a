"""kubectl's columns for the companions of a stateful app (Deployment, ReplicaSet, Job,
PodDisruptionBudget, NetworkPolicy, RBAC, Secret, ServiceAccount), as kube-apiserver prints them.

`columns(name, age, duration)` takes the shared NAME and AGE columns and the age formatter from
`apiserver.tables`, which folds the result into its table of built-in columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeapi.labels import selector_text
from kubeapi.meta import Obj, parse_time, rfc3339
from localcluster.apiserver.setcolumns import set_containers, set_images, set_ready
from localcluster.storage.meta import field_path

Cell = Callable[[Obj, float], Any]
Column = tuple[str, str, int, Cell]


def _int(obj: Obj, path: str) -> int:
    value = field_path(obj, path)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(obj: Obj, path: str) -> list[Any]:
    value = field_path(obj, path)
    return value if isinstance(value, list) else []


def spec_selector(obj: Obj, _now: float) -> Any:
    """spec.selector as label selector text."""
    return selector_text(field_path(obj, "spec.selector"))


def _count(path: str) -> Cell:
    return lambda obj, _now: _int(obj, path)


def _int_or_percent(path: str) -> Cell:
    def cell(obj: Obj, _now: float) -> Any:
        value = field_path(obj, path)
        return "N/A" if value is None else str(value)

    return cell


def job_completions(obj: Obj, _now: float) -> Any:
    """`succeeded/completions`, or `succeeded/1 of parallelism` for a work queue."""
    succeeded = _int(obj, "status.succeeded")
    completions, parallelism = field_path(obj, "spec.completions"), field_path(obj, "spec.parallelism")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    if isinstance(parallelism, int) and parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_status(obj: Obj, _now: float) -> Any:
    """Complete, Failed, Terminating, Suspended, FailureTarget or Running, as upstream's order."""
    held = {
        c.get("type")
        for c in _list(obj, "status.conditions")
        if isinstance(c, dict) and c.get("status") == "True"
    }
    if "Complete" in held:
        return "Complete"
    if "Failed" in held:
        return "Failed"
    if field_path(obj, "metadata.deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget"):
        if kind in held:
            return kind
    return "Running"


def _job_duration(duration: Callable[[float], str]) -> Cell:
    def cell(obj: Obj, now: float) -> Any:
        start = parse_time(field_path(obj, "status.startTime"))
        if start is None:
            return ""
        end = parse_time(field_path(obj, "status.completionTime"))
        return duration((now if end is None else end) - start)

    return cell


def created_at(obj: Obj, _now: float) -> Any:
    """The creation time as RFC 3339 (kubectl's CREATED AT of roles)."""
    stamp = parse_time(field_path(obj, "metadata.creationTimestamp"))
    return "" if stamp is None else rfc3339(stamp)


def binding_role(obj: Obj, _now: float) -> Any:
    """`Kind/name` of the role a binding grants."""
    return f"{field_path(obj, 'roleRef.kind') or ''}/{field_path(obj, 'roleRef.name') or ''}"


def _subjects(kind: str) -> Cell:
    def cell(obj: Obj, _now: float) -> Any:
        names = []
        for subject in _list(obj, "subjects"):
            if isinstance(subject, dict) and subject.get("kind") == kind:
                name = str(subject.get("name", ""))
                names.append(f"{subject.get('namespace', '')}:{name}" if kind == "ServiceAccount" else name)
        return ", ".join(names)

    return cell


def pod_selector(obj: Obj, _now: float) -> Any:
    """A NetworkPolicy's podSelector as text, `<none>` when it selects every pod."""
    return selector_text(field_path(obj, "spec.podSelector")) or "<none>"


def _data_count(obj: Obj, _now: float) -> Any:
    data = obj.get("data")
    return len(data) if isinstance(data, dict) else 0


def _secret_count(obj: Obj, _now: float) -> Any:
    return len(_list(obj, "secrets"))


def columns(name: Column, age: Column, duration: Callable[[float], str]) -> dict[str, tuple[Column, ...]]:
    """The built-in columns of the companions' storages, by storage key."""
    wide: tuple[Column, ...] = (
        ("Containers", "string", 1, set_containers),
        ("Images", "string", 1, set_images),
        ("Selector", "string", 1, spec_selector),
    )
    binding = (
        name,
        ("Role", "string", 0, binding_role),
        age,
        ("Users", "string", 1, _subjects("User")),
        ("Groups", "string", 1, _subjects("Group")),
        ("ServiceAccounts", "string", 1, _subjects("ServiceAccount")),
    )
    role = (name, ("Created At", "date", 0, created_at))
    return {
        "deployments.apps": (
            name,
            ("Ready", "string", 0, set_ready),
            ("Up-to-date", "integer", 0, _count("status.updatedReplicas")),
            ("Available", "integer", 0, _count("status.availableReplicas")),
            age,
            *wide,
        ),
        "replicasets.apps": (
            name,
            ("Desired", "integer", 0, _count("spec.replicas")),
            ("Current", "integer", 0, _count("status.replicas")),
            ("Ready", "integer", 0, _count("status.readyReplicas")),
            age,
            *wide,
        ),
        "jobs.batch": (
            name,
            ("Status", "string", 0, job_status),
            ("Completions", "string", 0, job_completions),
            ("Duration", "string", 0, _job_duration(duration)),
            age,
            *wide,
        ),
        "poddisruptionbudgets.policy": (
            name,
            ("Min Available", "string", 0, _int_or_percent("spec.minAvailable")),
            ("Max Unavailable", "string", 0, _int_or_percent("spec.maxUnavailable")),
            ("Allowed Disruptions", "integer", 0, _count("status.disruptionsAllowed")),
            age,
        ),
        "networkpolicies.networking.k8s.io": (name, ("Pod-Selector", "string", 0, pod_selector), age),
        "roles.rbac.authorization.k8s.io": role,
        "clusterroles.rbac.authorization.k8s.io": role,
        "rolebindings.rbac.authorization.k8s.io": binding,
        "clusterrolebindings.rbac.authorization.k8s.io": binding,
        "secrets": (
            name,
            ("Type", "string", 0, lambda obj, _now: obj.get("type", "")),
            ("Data", "integer", 0, _data_count),
            age,
        ),
        "serviceaccounts": (name, ("Secrets", "integer", 0, _secret_count), age),
    }
