"""Node objects: registration, a node going silent, its taints."""

from __future__ import annotations

from kubeapi.meta import rfc3339
from localcluster.kubelet.nodes import (
    healthy_conditions,
    lost_conditions,
    node_manifest,
    with_unreachable_taints,
    without_unreachable_taints,
)
from localcluster.kubelet.scheduler import UNREACHABLE, NodeView

T0 = 1_800_000_000.0


def test_manifest_is_a_ready_node() -> None:
    node = node_manifest("node-2", "127.0.1.2", T0, kubelet_version="v1.31.0", arch="amd64", kernel="6.1.0")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-2"
    status = node["status"]
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.1.2"}
    assert status["nodeInfo"]["kubeletVersion"] == "v1.31.0" and status["nodeInfo"]["architecture"] == "amd64"
    assert status["capacity"]["pods"] == "110"
    view = NodeView.from_raw(node)
    assert view.ready and not view.unschedulable and not view.taints


def test_conditions_keep_their_transition_time() -> None:
    first = healthy_conditions(T0)
    assert [(c["type"], c["status"]) for c in first] == [
        ("MemoryPressure", "False"),
        ("DiskPressure", "False"),
        ("PIDPressure", "False"),
        ("Ready", "True"),
    ]
    again = healthy_conditions(T0 + 60, first)
    assert all(c["lastTransitionTime"] == rfc3339(T0) for c in again)
    assert all(c["lastHeartbeatTime"] == rfc3339(T0 + 60) for c in again)

    lost = lost_conditions(again, T0 + 90)
    assert {c["status"] for c in lost} == {"Unknown"}
    assert {c["reason"] for c in lost} == {"NodeStatusUnknown"}
    assert all(c["lastTransitionTime"] == rfc3339(T0 + 90) for c in lost)
    assert all(c["lastHeartbeatTime"] == rfc3339(T0 + 60) for c in lost)  # nothing posted since
    assert lost_conditions(lost, T0 + 99) == lost
    back = healthy_conditions(T0 + 120, lost)
    assert all(c["lastTransitionTime"] == rfc3339(T0 + 120) for c in back)


def test_unreachable_taints_come_and_go() -> None:
    own = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    tainted = with_unreachable_taints([own], T0)
    assert [(t["key"], t["effect"]) for t in tainted] == [
        ("dedicated", "NoSchedule"),
        (UNREACHABLE, "NoSchedule"),
        (UNREACHABLE, "NoExecute"),
    ]
    assert with_unreachable_taints(tainted, T0 + 5)[1:] == with_unreachable_taints(
        [], T0 + 5
    )  # no duplicates
    assert without_unreachable_taints(tainted) == [own]
    assert without_unreachable_taints(None) == []
