"""The status of a pod run for real (pure), from its supervisor's view; the reserved DNS address."""

from __future__ import annotations

from typing import Any

from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.hostrun.status import RunView, status

POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "default", "uid": "u-1"},
    "spec": {
        "initContainers": [{"name": "setup", "image": "busybox"}],
        "containers": [{"name": "main", "image": "busybox"}],
    },
}
RUNNING = {"running": {"startedAt": "2026-12-04T16:00:00Z"}}
DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}


def conditions(out: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in out["conditions"]}


def view(phase: str, main: dict[str, Any], *, initialized: bool = True) -> RunView:
    return RunView(
        sandbox=True,
        initialized=initialized,
        phase=phase,
        init={"setup": {"state": DONE if initialized else RUNNING, "containerID": "containerd://a"}},
        containers={"main": main},
    )


def test_running_ready_and_stopping() -> None:
    main = {
        "state": RUNNING,
        "ready": True,
        "started": True,
        "restartCount": 2,
        "containerID": "containerd://b",
    }
    out = status(POD, view("Running", main), ("127.0.1.1",), ("127.244.0.11",), stopping=False, now=1e9)
    assert out["phase"] == "Running" and out["podIP"] == "127.244.0.11"
    assert conditions(out) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    (container,) = out["containerStatuses"]
    assert container["restartCount"] == 2 and container["state"] == RUNNING and container["ready"]
    assert container["image"] == "docker.io/library/busybox:latest"
    stopping = status(POD, view("Running", main), ("127.0.1.1",), ("127.244.0.11",), stopping=True, now=1e9)
    assert conditions(stopping)["Ready"] == "False"


def test_initializing_and_back_off() -> None:
    waiting = {"state": {"waiting": {"reason": "PodInitializing"}}}
    out = status(
        POD, view("Pending", waiting, initialized=False), ("127.0.1.1",), (), stopping=False, now=1e9
    )
    assert out["phase"] == "Pending" and conditions(out)["Initialized"] == "False"
    assert out["conditions"][1]["message"] == "containers with incomplete status: [setup]"
    back_off = {
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        "restartCount": 1,
        "containerID": "containerd://c",
    }
    out = status(POD, view("Running", back_off), ("127.0.1.1",), (), stopping=False, now=1e9)
    (container,) = out["containerStatuses"]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff" and not container["ready"]
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert conditions(out)["Ready"] == "False"


def test_the_dns_address_is_address_10_of_the_pod_range() -> None:
    assert KubeletConfig().dns_address == "127.244.0.10"
    assert KubeletConfig(pod_cidr="127.246.7.0/24").dns_address == "127.246.7.10"
