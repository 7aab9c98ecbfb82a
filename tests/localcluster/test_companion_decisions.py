"""The pure decisions of the Deployment, ReplicaSet and disruption controllers."""

from __future__ import annotations

from typing import Any

from localcluster.controllers.deployments.replicas import plan_pods, pod_manifest
from localcluster.controllers.deployments.rollout import (
    HASH_LABEL,
    limits,
    plan_rollout,
    replicaset_manifest,
    template_hash,
)
from localcluster.controllers.disruption.budget import Scales, budget_status, owners

NOW = "2026-01-01T00:00:00Z"
TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
}


def deployment(replicas: int = 4, image: str = "nginx:1", **strategy: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": template,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    }
    if strategy:
        spec["strategy"] = strategy
    meta = {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": {}}


def replicaset(deploy: dict[str, Any], replicas: int, available: int, rev: int) -> dict[str, Any]:
    rs = replicaset_manifest(deploy, replicas, rev)
    rs["metadata"]["uid"] = f"rs-{rev}"
    rs["status"] = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
    return rs


def pod(name: str, *, ready: bool = True, node: str = "n1", created: str = NOW) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created, "labels": {"app": "web"}},
        "spec": {"nodeName": node},
        "status": {"phase": "Running" if node else "Pending", "conditions": conditions},
    }


def test_hash_names_and_labels_the_replicaset() -> None:
    deploy = deployment()
    digest = template_hash(deploy["spec"]["template"])
    assert digest and set(digest) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert template_hash(deployment(image="nginx:2")["spec"]["template"]) != digest
    rs = replicaset_manifest(deploy, 4, 1)
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: digest}
    assert rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL] == digest
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    assert limits(deployment(replicas=3)) == (1, 0)
    assert limits(deployment(replicas=10)) == (3, 2)
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    assert limits(deployment(**zero)) == (0, 1)


def test_first_sync_creates_the_full_replicaset() -> None:
    todo = plan_rollout(deployment(), [], NOW)
    assert todo.create is not None and todo.create["spec"]["replicas"] == 4 and todo.scale == ()


def test_a_template_change_surges_then_scales_the_old_down() -> None:
    old_deploy = deployment()
    old = replicaset(old_deploy, 4, 4, 1)
    new_deploy = deployment(image="nginx:2")
    first = plan_rollout(new_deploy, [old], NOW)
    assert first.create is not None and first.create["spec"]["replicas"] == 1  # 4 + 25% surge - 4
    assert first.create["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    new = replicaset(new_deploy, 1, 0, 2)
    assert plan_rollout(new_deploy, [old, new], NOW).scale == ((old["metadata"]["name"], 3),)
    new = replicaset(new_deploy, 1, 1, 2)
    old = replicaset(old_deploy, 3, 3, 1)
    assert plan_rollout(new_deploy, [old, new], NOW).scale == ((new["metadata"]["name"], 2),)


def test_recreate_scales_old_to_zero_first() -> None:
    recreate = {"type": "Recreate"}
    old = replicaset(deployment(**recreate), 4, 4, 1)
    new_deploy = deployment(image="nginx:2", **recreate)
    todo = plan_rollout(new_deploy, [old], NOW)
    assert todo.create is not None and todo.create["spec"]["replicas"] == 0
    assert todo.scale == ((old["metadata"]["name"], 0),)


def test_status_and_conditions_follow_the_replicasets() -> None:
    deploy = deployment()
    rs = replicaset(deploy, 4, 4, 1)
    status = plan_rollout(deploy, [rs], NOW).status
    assert status is not None
    assert {k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} == {
        "replicas": 4,
        "updatedReplicas": 4,
        "readyReplicas": 4,
        "availableReplicas": 4,
    }
    assert status["observedGeneration"] == 1
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")


def test_replicaset_creates_and_deletes_unready_newest_first() -> None:
    rs = replicaset(deployment(), 3, 0, 1)
    assert plan_pods(rs, [pod("a")], 0.0).create == 2
    pods = [
        pod("old", created="2026-01-01T00:00:00Z"),
        pod("new", created="2026-01-01T00:01:00Z"),
        pod("unready", ready=False),
        pod("pending", node=""),
    ]
    assert plan_pods(rs, pods, 0.0).delete == ("pending",)
    rs["spec"]["replicas"] = 1
    assert plan_pods(rs, pods, 0.0).delete == ("pending", "unready", "new")
    made = pod_manifest(rs)
    assert made["metadata"]["generateName"] == f"{rs['metadata']['name']}-"
    assert made["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs["metadata"]["name"],
        "uid": "rs-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def budget(**spec: Any) -> dict[str, Any]:
    meta = {"name": "b", "namespace": "ns", "generation": 2}
    return {"metadata": meta, "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}, "status": {}}


def test_budget_with_min_available_counts_the_selected_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False)]
    status = budget_status(budget(minAvailable=1), pods, Scales(), NOW)
    assert {
        k: status[k] for k in ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed")
    } == {
        "currentHealthy": 2,
        "desiredHealthy": 1,
        "expectedPods": 3,
        "disruptionsAllowed": 1,
    }
    assert status["observedGeneration"] == 2
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")
    none_ready = budget_status(budget(minAvailable=1), [pod("a", ready=False)], Scales(), NOW)
    assert none_ready["disruptionsAllowed"] == 0
    assert none_ready["conditions"][0]["reason"] == "InsufficientPods"


def test_budget_with_max_unavailable_uses_the_controllers_scale() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    status = budget_status(budget(maxUnavailable=1), pods, Scales(expected=3), NOW)
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 1)
    found, failure = owners(pods)
    assert failure == 'found no controllers for pod "a"' and not found
    failed = budget_status(budget(maxUnavailable=1), pods, Scales(failure=failure), NOW)
    assert failed["disruptionsAllowed"] == 0 and failed["conditions"][0]["reason"] == "SyncFailed"
