"""The pure rules behind scheduling and readiness: anti-affinity both ways and by namespace, probe timing,
the protection finalizers, and a pod's log lines from its status."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.apiserver.podlog import log_lines, pick_container
from localcluster.controllers.protection.rules import PVC_PROTECTION, claims_held, wanted_finalizers
from localcluster.kubelet.affinity import ANTI_AFFINITY, EXISTING_ANTI_AFFINITY, anti_affinity_misfit, placed
from localcluster.kubelet.podlife import probes_ready_after, timing_of
from localcluster.storage.errors import ApiError

HOST = "kubernetes.io/hostname"
NODES = {f"n{i}": {HOST: f"n{i}", "zone": "a" if i < 3 else "b"} for i in range(1, 5)}


def pod(name: str, ns: str = "default", labels: dict[str, str] | None = None, **term: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if term:
        anti = {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": HOST, **term}]}
        spec["affinity"] = {"podAntiAffinity": anti}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}


ZK = {"labelSelector": {"matchLabels": {"app": "zk"}}}


@pytest.mark.parametrize(
    ("incoming", "existing", "node", "want"),
    [
        (pod("b", labels={"app": "zk"}, **ZK), pod("a", labels={"app": "zk"}), "n1", ANTI_AFFINITY),
        (pod("b", labels={"app": "zk"}, **ZK), pod("a", labels={"app": "zk"}), "n2", None),
        (pod("b", labels={"app": "zk"}), pod("a", labels={"app": "zk"}, **ZK), "n1", EXISTING_ANTI_AFFINITY),
        (pod("b", labels={"app": "web"}, **ZK), pod("a", labels={"app": "zk"}, ns="other"), "n1", None),
        (
            pod("b", **ZK, namespaces=["other"]),
            pod("a", labels={"app": "zk"}, ns="other"),
            "n1",
            ANTI_AFFINITY,
        ),
        (pod("b", **ZK, namespaceSelector={}), pod("a", labels={"app": "zk"}, ns="x"), "n1", ANTI_AFFINITY),
        (pod("b", labelSelector=None), pod("a", labels={"app": "zk"}), "n1", None),  # nil matches nothing
        (pod("b", **{**ZK, "topologyKey": "zone"}), pod("a", labels={"app": "zk"}), "n2", ANTI_AFFINITY),
        (pod("b", **{**ZK, "topologyKey": "zone"}), pod("a", labels={"app": "zk"}), "n3", None),
    ],
)
def test_anti_affinity(
    incoming: dict[str, Any], existing: dict[str, Any], node: str, want: str | None
) -> None:
    """`existing` runs on n1; n1 and n2 are in zone a, n3 and n4 in zone b."""
    assert anti_affinity_misfit(incoming, NODES[node], [placed(existing, "n1")], NODES) == want


def container(probe: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": "c", **({"readinessProbe": probe} if probe is not None else {})}


@pytest.mark.parametrize(
    ("probes", "seconds"),
    [
        ([None], 0.0),
        ([{}], 0.0),
        ([{"initialDelaySeconds": 5}], 5.0),
        ([{"initialDelaySeconds": 5, "successThreshold": 3}], 25.0),  # periodSeconds defaults to 10
        ([{"initialDelaySeconds": 1, "periodSeconds": 2, "successThreshold": 2}, None], 3.0),
    ],
)
def test_probe_timing(probes: list[dict[str, Any] | None], seconds: float) -> None:
    p = {"metadata": {}, "spec": {"containers": [container(x) for x in probes]}}
    assert probes_ready_after(p) == seconds
    assert timing_of(p, ready_after=None, stop_after=0)[0].ready_after == seconds
    assert timing_of(p, ready_after=0.5, stop_after=0)[0].ready_after == 0.5  # the kubelet-wide setting


def test_claim_protection_rules() -> None:
    claim: dict[str, Any] = {"metadata": {"name": "data"}}
    assert wanted_finalizers(claim, PVC_PROTECTION, in_use=False) == [PVC_PROTECTION]
    claim["metadata"].update(finalizers=[PVC_PROTECTION, "other"], deletionTimestamp="2026-01-01T00:00:00Z")
    assert wanted_finalizers(claim, PVC_PROTECTION, in_use=True) is None
    assert wanted_finalizers(claim, PVC_PROTECTION, in_use=False) == ["other"]
    user = {"spec": {"volumes": [{"persistentVolumeClaim": {"claimName": "data"}}]}, "status": {}}
    assert claims_held(user) == []  # not on a node yet
    user["spec"]["nodeName"] = "n1"
    assert claims_held(user) == ["data"]
    user["status"]["phase"] = "Succeeded"
    assert claims_held(user) == []


def test_log_lines_and_container_choice() -> None:
    p: dict[str, Any] = {
        "metadata": {
            "name": "p",
            "deletionTimestamp": "2026-01-01T00:01:00Z",
            "deletionGracePeriodSeconds": 30,
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"},
            ],
            "containerStatuses": [
                {
                    "name": "a",
                    "image": "i",
                    "ready": True,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}},
                }
            ],
        },
    }
    assert [line.render(timestamps=False) for line in log_lines(p, "a")] == [
        "2026-01-01T00:00:00Z kubelet: pod scheduled to node n1 by default-scheduler",
        "2026-01-01T00:00:01Z kubelet: container a started (image i)",
        "2026-01-01T00:00:05Z kubelet: container a ready: no readiness probe: ready once started",
        "2026-01-01T00:00:30Z kubelet: killing container a with a grace period of 30 s",
    ]
    with pytest.raises(ApiError, match=r"choose one of: \[a b\]$"):
        pick_container(p, "")
    assert pick_container(p, "b") == "b"
