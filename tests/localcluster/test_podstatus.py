"""Pod status as a kubelet writes it: shapes, QoS classes, images, and stable rewrites."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kubeapi.meta import rfc3339
from localcluster.kubelet import podstatus

T0 = 1_800_000_000.0
HOST = ("127.0.1.1",)
IPS = ("127.244.0.1",)


def pod(
    *containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (), status: Any = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers) or [{"name": "web", "image": "nginx"}]}
    if init:
        spec["initContainers"] = list(init)
    obj: dict[str, Any] = {"metadata": {"name": "web-0", "namespace": "ns", "uid": "uid-1"}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def cond(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in status["conditions"] if c["type"] == kind]
    assert len(found) == 1, kind
    return found[0]


def res(**kinds: dict[str, str]) -> dict[str, Any]:
    return {"name": "c", "image": "x", "resources": kinds}


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([{"name": "c", "image": "x"}], "BestEffort"),
        ([res(requests={"cpu": "100m"})], "Burstable"),
        ([res(limits={"cpu": "1", "memory": "1Gi"})], "Guaranteed"),  # requests default to limits
        (
            [res(limits={"cpu": "1", "memory": "1Gi"}, requests={"cpu": "1000m", "memory": "1024Mi"})],
            "Guaranteed",
        ),
        ([res(limits={"cpu": "1", "memory": "1Gi"}, requests={"cpu": "500m"})], "Burstable"),
        ([res(limits={"cpu": "1"})], "Burstable"),  # no memory limit
        ([res(limits={"cpu": "1", "memory": "1Gi"}), {"name": "d", "image": "x"}], "Burstable"),
        ([res(requests={"ephemeral-storage": "1Gi"})], "BestEffort"),  # only cpu and memory count
        ([res(requests={"cpu": "0"})], "BestEffort"),
    ],
)
def test_qos_class(containers: list[dict[str, Any]], expected: str) -> None:
    assert podstatus.qos_class(pod(*containers)) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("2", Decimal(2)),
        ("1e3", Decimal(1000)),
        ("1x", None),
    ],
)
def test_quantity(text: str, value: Decimal | None) -> None:
    assert podstatus.quantity(text) == value


@pytest.mark.parametrize(
    ("image", "normalized", "repo"),
    [
        ("nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx"),
        ("nginx:1.27", "docker.io/library/nginx:1.27", "docker.io/library/nginx"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest", "docker.io/bitnami/redis"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause"),
        ("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app"),
        ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64, "docker.io/library/nginx"),
    ],
)
def test_images_as_the_runtime_reports_them(image: str, normalized: str, repo: str) -> None:
    assert podstatus.normalize_image(image) == normalized
    image_id = podstatus.image_id(image)
    assert image_id.startswith(f"{repo}@sha256:") and len(image_id.split("sha256:")[1]) == 64
    assert podstatus.image_id(image) == image_id  # stable


def test_unschedulable() -> None:
    status = podstatus.unschedulable(pod(), "0/3 nodes are available: x.", T0)
    assert status["phase"] == "Pending" and status["qosClass"] == "BestEffort"
    assert status["conditions"] == [
        {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(T0),
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: x.",
        }
    ]


def test_waiting_for_volumes() -> None:
    status = podstatus.waiting(pod(), HOST, T0)
    assert status["phase"] == "Pending"
    assert status["hostIP"] == "127.0.1.1" and status["hostIPs"] == [{"ip": "127.0.1.1"}]
    assert "podIP" not in status and status["startTime"] == rfc3339(T0)
    assert [c["type"] for c in status["conditions"]] == list(podstatus.CONDITION_ORDER)
    assert cond(status, "PodScheduled")["status"] == "True"
    assert cond(status, "Ready")["message"] == "containers with unready status: [web]"
    (container,) = status["containerStatuses"]
    assert container["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert container["ready"] is False and container["started"] is False and container["imageID"] == ""


def test_waiting_with_init_containers() -> None:
    status = podstatus.waiting(pod(init=({"name": "setup", "image": "busybox"},)), HOST, T0)
    assert cond(status, "Initialized") == {
        "type": "Initialized",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(T0),
        "reason": "ContainersNotInitialized",
        "message": "containers with incomplete status: [setup]",
    }
    assert status["initContainerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


@pytest.mark.parametrize("ready", [False, True])
def test_running(ready: bool) -> None:
    containers = ({"name": "b", "image": "nginx:1.27"}, {"name": "a", "image": "busybox"})
    status = podstatus.running(pod(*containers), HOST, ("127.244.0.9", "fd00::9"), ready=ready, now=T0)
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.244.0.9"
    assert status["podIPs"] == [{"ip": "127.244.0.9"}, {"ip": "fd00::9"}]
    assert [c["status"] for c in status["conditions"]] == ["True", "True", str(ready), str(ready), "True"]
    if not ready:
        assert cond(status, "ContainersReady")["reason"] == "ContainersNotReady"
        assert cond(status, "Ready")["message"] == "containers with unready status: [b a]"
    assert [c["name"] for c in status["containerStatuses"]] == ["a", "b"]  # sorted by name
    for container in status["containerStatuses"]:
        assert container["state"] == {"running": {"startedAt": rfc3339(T0)}}
        assert container["ready"] is ready and container["started"] is True and container["restartCount"] == 0
        assert container["containerID"].startswith("containerd://") and len(container["containerID"]) == 77
        assert container["lastState"] == {}
    assert status["containerStatuses"][1]["image"] == "docker.io/library/nginx:1.27"


def test_running_completes_init_containers() -> None:
    status = podstatus.running(
        pod(init=({"name": "setup", "image": "busybox"},)), HOST, IPS, ready=True, now=T0
    )
    (init,) = status["initContainerStatuses"]
    assert (
        init["state"]["terminated"]["reason"] == "Completed" and init["state"]["terminated"]["exitCode"] == 0
    )
    assert init["ready"] is True and init["started"] is False


def test_rebuilding_keeps_times_and_is_a_fixed_point() -> None:
    first = podstatus.running(pod(), HOST, IPS, ready=False, now=T0)
    again = podstatus.running(pod(status=first), HOST, IPS, ready=False, now=T0 + 60)
    assert again == first  # nothing changed: the same status, so nothing to write
    ready = podstatus.running(pod(status=first), HOST, IPS, ready=True, now=T0 + 60)
    assert cond(ready, "Ready")["lastTransitionTime"] == rfc3339(T0 + 60)
    assert cond(ready, "Initialized")["lastTransitionTime"] == rfc3339(T0)
    assert ready["startTime"] == rfc3339(T0)
    assert ready["containerStatuses"][0]["state"]["running"]["startedAt"] == rfc3339(T0)
    assert "reason" not in cond(ready, "Ready") and "message" not in cond(ready, "Ready")


@pytest.mark.parametrize(
    ("reason", "pod_reason", "container_reason", "exit_code"),
    [
        ("Error", None, "Error", 1),
        ("OOMKilled", None, "OOMKilled", 137),
        ("Evicted", "Evicted", "Error", 1),
    ],
)
def test_failed(reason: str, pod_reason: str | None, container_reason: str, exit_code: int) -> None:
    started = podstatus.running(pod(), HOST, IPS, ready=True, now=T0)
    status = podstatus.failed(pod(status=started), HOST, IPS, reason=reason, message="gone", now=T0 + 5)
    assert status["phase"] == "Failed" and status.get("reason") == pod_reason and status["message"] == "gone"
    assert status["podIP"] == IPS[0]  # a finished pod keeps its addresses in status
    assert cond(status, "Ready")["status"] == "False" and cond(status, "Ready")["reason"] == "PodFailed"
    ended = status["containerStatuses"][0]["state"]["terminated"]
    assert ended["reason"] == container_reason and ended["exitCode"] == exit_code
    assert ended["startedAt"] == rfc3339(T0) and ended["finishedAt"] == rfc3339(T0 + 5)


def test_mark_not_ready_and_node_lost_change_nothing_else() -> None:
    started = podstatus.running(pod(), HOST, IPS, ready=True, now=T0)
    not_ready = podstatus.mark_not_ready(pod(status=started), T0 + 9)
    assert cond(not_ready, "Ready")["status"] == "False"
    assert cond(not_ready, "Ready")["lastTransitionTime"] == rfc3339(T0 + 9)
    assert {k: v for k, v in not_ready.items() if k != "conditions"} == {
        k: v for k, v in started.items() if k != "conditions"
    }
    lost = podstatus.node_lost(pod(status=started), "node-1", T0 + 9)
    assert lost["reason"] == "NodeLost"
    assert lost["message"] == "Node node-1 which was running pod web-0 is unresponsive"
    assert not podstatus.is_ready(pod(status=lost)) and podstatus.is_ready(pod(status=started))


def test_reading_back() -> None:
    started = podstatus.running(pod(), HOST, ("127.244.0.1", "fd00::1"), ready=True, now=T0)
    assert podstatus.pod_ips_of(pod(status=started)) == ["127.244.0.1", "fd00::1"]
    assert podstatus.pod_ips_of(pod(status={"podIP": "10.0.0.1"})) == ["10.0.0.1"]
    assert podstatus.started_at(pod(status=started)) == rfc3339(T0)
    assert podstatus.started_at(pod()) is None
