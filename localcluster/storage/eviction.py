"""The `pods/eviction` subresource (policy/v1 Eviction, what `kubectl drain` posts): a pod is deleted
gracefully unless the one PodDisruptionBudget selecting it allows no disruption (429, as upstream)."""

from __future__ import annotations

from typing import Any

from kubeapi.labels import from_label_selector
from kubeapi.meta import Obj, rfc3339
from localcluster.storage.errors import ApiError, bad_request, forbidden
from localcluster.storage.meta import clone, field_path, meta
from localcluster.storage.resources import Resource, find
from localcluster.storage.store import ObjectStore

PODS = find("", "v1", "pods")
PDBS = find("policy", "v1", "poddisruptionbudgets")
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = (
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
)
EVICTION_KINDS = (("policy/v1", "Eviction"), ("policy/v1beta1", "Eviction"), ("v1", "DeleteOptions"))


def _too_many(cause: str) -> ApiError:
    details = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    return ApiError(429, "TooManyRequests", VIOLATION, details)


def success() -> Obj:
    """The Status an accepted eviction answers with (201)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _delete_options(body: Any, name: str) -> Obj:
    given_kind = (body.get("apiVersion"), body.get("kind")) if isinstance(body, dict) else None
    if given_kind not in (*EVICTION_KINDS, (None, None)):  # a body without them is taken as an Eviction
        raise bad_request("the request body must be a policy/v1 Eviction")
    assert isinstance(body, dict)
    given = (body.get("metadata") or {}).get("name")
    if given and given != name:
        raise bad_request(f"name in URL does not match name in Eviction object: {name} vs {given}")
    options = body.get("deleteOptions")
    return options if isinstance(options, dict) else {}


def _ready(pod: Obj) -> bool:
    conditions = field_path(pod, "status.conditions") or []
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def _budgets(store: ObjectStore, pod: Obj) -> list[Obj]:
    assert PDBS is not None
    namespace = str(meta(pod).get("namespace") or "")
    labels = meta(pod).get("labels") or {}
    found = []
    for pdb in store.list(PDBS, namespace, copy=False).items:
        selector = field_path(pdb, "spec.selector")
        parsed = from_label_selector(selector)
        if selector is not None and not parsed.empty and parsed.matches(labels):
            found.append(pdb)
    return found


def evict(store: ObjectStore, namespace: str, name: str, body: Any, *, now: float) -> Obj:
    """Evict a pod: the 201 Status when it was deleted; ApiError 429 when its budget forbids it."""
    assert PODS is not None and PDBS is not None
    options = _delete_options(body, name)
    pod = store.get(PODS, namespace, name, copy=False)
    phase = field_path(pod, "status.phase")
    if not (phase in ("Succeeded", "Failed", "Pending") or meta(pod).get("deletionTimestamp")):
        _spend_budget(store, pod, now)
    grace, preconditions = options.get("gracePeriodSeconds"), options.get("preconditions")
    store.delete(
        PODS,
        namespace,
        name,
        grace_seconds=grace if isinstance(grace, int) else None,
        preconditions=preconditions if isinstance(preconditions, dict) else None,
        dry_run=bool(options.get("dryRun")),
    )
    return success()


def _spend_budget(store: ObjectStore, pod: Obj, now: float) -> None:
    """Take one disruption from the budget selecting the pod (none: nothing to take)."""
    assert PDBS is not None
    budgets = _budgets(store, pod)
    if not budgets:
        return
    if len(budgets) > 1:
        raise ApiError(500, "InternalError", MORE_THAN_ONE)
    pdb = budgets[0]
    status = pdb.get("status") or {}
    pdb_name = str(meta(pdb).get("name"))
    if int(status.get("observedGeneration") or 0) < int(meta(pdb).get("generation") or 0):
        raise _too_many(f"The disruption budget {pdb_name} is still being processed by the server.")
    healthy, desired = int(status.get("currentHealthy") or 0), int(status.get("desiredHealthy") or 0)
    if not _ready(pod):
        policy = field_path(pdb, "spec.unhealthyPodEvictionPolicy") or "IfHealthyBudget"
        if policy == "AlwaysAllow" or (desired > 0 and healthy >= desired):
            return  # an unhealthy pod takes nothing from a budget that is met
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise forbidden(_res(), pdb_name, "pdb disruptions allowed is negative")
    if allowed == 0:
        needs = f"needs {desired} healthy pods and has {healthy} currently"
        raise _too_many(f"The disruption budget {pdb_name} {needs}")
    updated = clone(pdb)
    new_status = updated.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    disrupted = dict(new_status.get("disruptedPods") or {})
    disrupted[str(meta(pod).get("name"))] = rfc3339(now)
    new_status["disruptedPods"] = disrupted
    store.update(PDBS, str(meta(pdb).get("namespace")), pdb_name, updated, subresource="status")


def _res() -> Resource:
    assert PDBS is not None
    return PDBS
