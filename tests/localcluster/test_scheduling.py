"""Placing pods: the claims a pod waits for, which nodes fit, the least loaded one."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi.store import Store
from localcluster.kubelet.podindex import BY_CLAIM, BY_NODE, PLACED, POD_INDEXERS, UNSCHEDULED, claim_value
from localcluster.kubelet.scheduler import (
    UNREACHABLE,
    ClaimView,
    NodeView,
    choose_node,
    claim_names,
    claims_problem,
    misfit,
)

NODES = ("node-1", "node-2", "node-3")


def pod(*claims: str, **spec: Any) -> dict[str, Any]:
    volumes = [{"name": f"v{n}", "persistentVolumeClaim": {"claimName": c}} for n, c in enumerate(claims)]
    volumes.append({"name": "tmp", "emptyDir": {}})
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "volumes": volumes, **spec}}


def node(name: str, **changes: Any) -> NodeView:
    labels = (("kubernetes.io/hostname", name), ("kubernetes.io/os", "linux"))
    return NodeView(
        **{"name": name, "ready": True, "unschedulable": False, "labels": labels, "taints": (), **changes}
    )


def test_views_from_raw_objects() -> None:
    raw_node = {
        "metadata": {"name": "n", "labels": {"b": "2", "a": "1"}},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert NodeView.from_raw(raw_node) == NodeView(
        "n", True, True, (("a", "1"), ("b", "2")), (("k", "", "NoSchedule"),)
    )
    assert NodeView.from_raw({"metadata": {"name": "n"}}).ready is False
    claim = {"metadata": {"deletionTimestamp": "2030-01-01T00:00:00Z"}, "status": {"phase": "Bound"}}
    assert ClaimView.from_raw(claim) == ClaimView("Bound", True)
    assert ClaimView.from_raw({"metadata": {}}) == ClaimView("Pending", False)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, None),
        ({"data": ClaimView("Bound", False)}, None),
        ({"data": ClaimView("Pending", False)}, "pod has unbound immediate PersistentVolumeClaims"),
        ({"data": ClaimView("Bound", True)}, 'persistentvolumeclaim "data" is being deleted'),
        ({}, 'persistentvolumeclaim "data" not found'),
    ],
)
def test_claims_problem(claims: dict[str, ClaimView], expected: str | None) -> None:
    obj = pod("data") if expected is not None or claims else pod()
    assert claim_names(obj) == (["data"] if expected is not None or claims else [])
    assert claims_problem(obj, claims.get) == expected


def test_a_missing_claim_is_named_before_unbound_ones() -> None:
    claims = {"a": ClaimView("Pending", False)}
    assert claims_problem(pod("a", "b"), claims.get) == 'persistentvolumeclaim "b" not found'


def tainted(*taints: tuple[str, str, str]) -> NodeView:
    return node("n", taints=taints)


UNTOLERATED = "node(s) had untolerated taint"
NO_SCHEDULE = ("k", "v", "NoSchedule")


@pytest.mark.parametrize(
    ("obj", "view", "reason"),
    [
        (pod(), node("n"), None),
        (pod(), None, "node(s) were not found"),
        (pod(), node("n", unschedulable=True), "node(s) were unschedulable"),
        (pod(), node("n", ready=False), "node(s) were not ready"),
        (pod(), tainted((UNREACHABLE, "", "NoSchedule")), f"{UNTOLERATED} {{{UNREACHABLE}: }}"),
        (pod(), tainted(("gpu", "yes", "PreferNoSchedule")), None),  # only a preference
        (pod(tolerations=[{"operator": "Exists"}]), tainted(NO_SCHEDULE), None),
        (pod(tolerations=[{"key": "k", "value": "v"}]), tainted(NO_SCHEDULE), None),
        (pod(tolerations=[{"key": "k", "value": "w"}]), tainted(NO_SCHEDULE), f"{UNTOLERATED} {{k: v}}"),
        (
            pod(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute"}]),
            tainted(NO_SCHEDULE),
            f"{UNTOLERATED} {{k: v}}",
        ),
        (pod(nodeSelector={"kubernetes.io/hostname": "n"}), node("n"), None),
        (pod(nodeSelector={"disk": "ssd"}), node("n"), "node(s) didn't match Pod's node affinity/selector"),
    ],
)
def test_misfit(obj: dict[str, Any], view: NodeView | None, reason: str | None) -> None:
    assert misfit(obj, view) == reason


def test_fewest_pods_then_name() -> None:
    nodes = [(name, node(name)) for name in NODES]
    assert choose_node(pod(), nodes, {}) == ("node-1", "")
    assert choose_node(pod(), nodes, {"node-1": 1}) == ("node-2", "")
    assert choose_node(pod(), nodes, {"node-1": 1, "node-2": 1, "node-3": 1}) == ("node-1", "")
    assert choose_node(pod(), nodes, {"node-1": 2, "node-2": 1, "node-3": 2}) == ("node-2", "")
    cordoned = [("node-1", node("node-1", unschedulable=True)), *nodes[1:]]
    assert choose_node(pod(), cordoned, {"node-2": 5}) == ("node-3", "")


def test_no_node_fits() -> None:
    nodes = [
        ("node-1", node("node-1", unschedulable=True)),
        ("node-2", node("node-2", taints=((UNREACHABLE, "", "NoSchedule"),))),
        ("node-3", node("node-3", unschedulable=True)),
    ]
    assert choose_node(pod(), nodes, {}) == (
        None,
        f"0/3 nodes are available: 1 node(s) had untolerated taint {{{UNREACHABLE}: }}, "
        "2 node(s) were unschedulable. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling.",
    )
    assert choose_node(pod(), [], {}) == (None, "no nodes available to schedule pods")


def test_the_pod_cache_indexes() -> None:
    store: Store[dict[str, Any]] = Store(POD_INDEXERS)
    waiting = pod("data")
    waiting["metadata"]["namespace"] = "ns"
    running = {**pod("data"), "spec": {**pod("data")["spec"], "nodeName": "node-1"}}
    done = {**running, "status": {"phase": "Succeeded"}}
    going = {**pod(), "metadata": {"name": "g", "deletionTimestamp": "2030-01-01T00:00:00Z"}}
    for name, obj in {"waiting": waiting, "running": running, "done": done, "going": going}.items():
        store.put(("ns", name), obj)
    assert store.keys_by(BY_NODE, "node-1") == {("ns", "running"), ("ns", "done")}
    assert store.keys_by(PLACED, "node-1") == {("ns", "running")}  # finished pods free their node
    assert store.keys_by(UNSCHEDULED, "") == {("ns", "waiting")}
    assert store.keys_by(BY_CLAIM, claim_value("ns", "data")) == {("ns", "waiting")}
    store.put(("ns", "waiting"), {**waiting, "spec": {**waiting["spec"], "nodeName": "node-2"}})
    assert store.keys_by(UNSCHEDULED, "") == set() and store.keys_by(PLACED, "node-2") == {("ns", "waiting")}
