"""What the simulated kubelet tells: `kubectl logs` (its lifecycle), exec/attach/port-forward refused with
a message, readiness probe timing, anti-affinity and nodeSelector scheduling, claims protected while in
use. One `petdns local` process; the real kubectl and the official Python client drive it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubeapi.meta import parse_time
from tests.support.process import KUBECTL, LocalProcess, wait_for

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
NO_CONTAINERS = "pods run no containers in petdns local"

PROBED = """
apiVersion: v1
kind: Pod
metadata: {name: probed, labels: {app: probed}}
spec:
  initContainers: [{name: setup, image: busybox}]
  containers:
  - name: web
    image: nginx
    readinessProbe:
      httpGet: {path: /, port: 80}
      initialDelaySeconds: 1
      periodSeconds: 1
      successThreshold: 2
  - {name: side, image: busybox}
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: only, image: busybox}]
"""


def zk_pod(n: int) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: zk-{n}, labels: {{app: zk}}}}
spec:
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchExpressions: [{{key: app, operator: In, values: [zk]}}]
        topologyKey: kubernetes.io/hostname
  containers: [{{name: zk, image: zookeeper}}]
"""


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    running = LocalProcess(tmp_path_factory.mktemp("kubelet"), "--no-forward", "--nodes", "3")
    try:
        yield running
    finally:
        assert running.stop() == 0


def pod(local: LocalProcess, name: str) -> dict[str, Any]:
    return dict(json.loads(local.kubectl("get", "pod", name, "-o", "json")))


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


def ready(local: LocalProcess, name: str) -> bool:
    """The pod's Ready condition is True (False while the kubelet has written no conditions yet)."""
    conditions = pod(local, name)["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def kubectl_fails(local: LocalProcess, *args: str) -> str:
    done = subprocess.run(
        [KUBECTL, f"--kubeconfig={local.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_readiness_follows_the_probe_and_a_pod_without_one_is_ready_once_started(local: LocalProcess) -> None:
    local.kubectl("apply", "-f", "-", stdin=PROBED)
    wait_for(lambda: ready(local, "plain"), what="plain Ready")
    plain = pod(local, "plain")
    started = parse_time(plain["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    assert started is not None
    assert parse_time(condition(plain, "Ready")["lastTransitionTime"]) - started <= 1  # whole seconds
    wait_for(lambda: pod(local, "probed")["status"].get("phase") == "Running", what="probed Running")
    assert not ready(local, "probed")  # 1 s delay + one more 1 s period: 2 s
    wait_for(lambda: ready(local, "probed"), timeout=10, what="probed Ready")
    probed = pod(local, "probed")
    web = next(s for s in probed["status"]["containerStatuses"] if s["name"] == "web")
    began = parse_time(web["state"]["running"]["startedAt"])
    became = parse_time(condition(probed, "Ready")["lastTransitionTime"])
    assert began is not None and became is not None and 1 <= became - began <= 3


def test_logs_tell_the_lifecycle_in_order(local: LocalProcess) -> None:
    wait_for(lambda: ready(local, "probed"), timeout=10, what="probed Ready")
    lines = local.kubectl("logs", "probed", "-c", "web").splitlines()
    texts = [re.fullmatch(f"({STAMP}) kubelet: (.*)", line) for line in lines]
    assert all(texts), lines
    steps = [m.group(2) for m in texts if m]
    node = pod(local, "probed")["spec"]["nodeName"]
    assert steps == [
        f"pod scheduled to node {node} by default-scheduler",
        "init container setup started",
        "init container setup exited with code 0 (Completed)",
        "container web started (image docker.io/library/nginx:latest)",
        "container web ready: readiness probe succeeded 2 time(s) (initialDelaySeconds 1, periodSeconds 1)",
    ]
    assert [m.group(1) for m in texts if m] == sorted(m.group(1) for m in texts if m)
    assert local.kubectl("logs", "probed", "-c", "web", "--tail", "1").splitlines() == lines[-1:]
    stamped = local.kubectl("logs", "probed", "-c", "web", "--timestamps").splitlines()
    assert [s.split(" ", 1)[1] for s in stamped] == lines
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", s) for s in stamped)
    init = local.kubectl("logs", "probed", "-c", "setup").splitlines()
    assert [line.split(" ", 1)[1] for line in init][
        -1
    ] == "kubelet: init container setup exited with code 0 (Completed)"
    assert "container web" not in "".join(init)
    single = local.kubectl("logs", "plain")  # one container: no -c needed
    assert single.splitlines()[-1].endswith(
        "kubelet: container only ready: no readiness probe: ready once started"
    )


def test_log_errors_are_upstreams_400s(local: LocalProcess) -> None:
    k8s_config.load_kube_config(config_file=local.kubeconfig)
    api = k8s.CoreV1Api()
    for kwargs, message in (
        ({"container": "nope"}, "container nope is not valid for pod probed"),
        (
            {},
            "a container name must be specified for pod probed, choose one of: [web side] or one of the "
            "init containers: [setup]",
        ),
    ):
        with pytest.raises(k8s.ApiException) as caught:
            api.read_namespaced_pod_log("probed", "default", **kwargs)
        assert caught.value.status == 400
        assert json.loads(caught.value.body)["message"] == message
    assert api.read_namespaced_pod_log("plain", "default", tail_lines=1).count("\n") == 1


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("exec", "probed", "-c", "web", "--", "hostname"), "exec"),
        (("attach", "probed", "-c", "web"), "attach"),
        (("port-forward", "pod/probed", "18080:80"), "port-forward"),
    ],
)
def test_exec_attach_and_port_forward_say_no_container_runs(
    local: LocalProcess, args: tuple[str, ...], what: str
) -> None:
    err = kubectl_fails(local, *args)
    assert f"{NO_CONTAINERS}: {what} is not available (pod probed is simulated" in err


def test_logs_follow_until_the_pod_is_gone_and_show_the_kill(local: LocalProcess) -> None:
    follow = subprocess.Popen(
        [KUBECTL, f"--kubeconfig={local.kubeconfig}", "logs", "-f", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        local.kubectl("delete", "pod", "plain", "--grace-period=5", "--wait=false")
        out, err = follow.communicate(timeout=20)
    finally:
        follow.kill()
    assert follow.returncode == 0, err
    assert out.splitlines()[-1].endswith("kubelet: killing container only with a grace period of 5 s")


def test_anti_affinity_spreads_and_the_fourth_stays_pending(local: LocalProcess) -> None:
    local.kubectl("apply", "-f", "-", stdin="---".join(zk_pod(n) for n in range(4)))

    def nodes() -> dict[str, str | None]:
        items = json.loads(local.kubectl("get", "pods", "-l", "app=zk", "-o", "json"))["items"]
        return {p["metadata"]["name"]: p["spec"].get("nodeName") for p in items}

    wait_for(lambda: sum(1 for n in nodes().values() if n) == 3, what="three placed")
    time.sleep(0.3)  # the fourth is not placed a little later either
    placed = nodes()
    assert sorted(n for n in placed.values() if n) == ["node-1", "node-2", "node-3"]
    pending = next(name for name, node in placed.items() if not node)
    message = (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are "
        "available: 3 No preemption victims found for incoming pod."
    )
    assert condition(pod(local, pending), "PodScheduled")["message"] == message
    events = local.kubectl("get", "events", "--field-selector", f"involvedObject.name={pending}")
    assert "FailedScheduling" in events and "didn't match pod anti-affinity rules" in events
    first, freed = next((name, node) for name, node in placed.items() if node)
    local.kubectl("delete", "pod", first, "--wait=false")
    wait_for(
        lambda: pod(local, pending)["spec"].get("nodeName") == freed, what=f"{pending} placed on {freed}"
    )


def test_node_selector_that_no_node_matches_stays_pending(local: LocalProcess) -> None:
    local.kubectl(
        "run",
        "picky",
        "--image=busybox",
        "--overrides",
        json.dumps({"spec": {"nodeSelector": {"disk": "ssd"}}}),
    )
    wait_for(
        lambda: condition(pod(local, "picky"), "PodScheduled").get("reason") == "Unschedulable", what="picky"
    )
    assert condition(pod(local, "picky"), "PodScheduled")["message"] == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes "
        "are available: 3 Preemption is not helpful for scheduling."
    )
    local.kubectl("label", "node", "node-2", "disk=ssd")
    wait_for(lambda: pod(local, "picky")["spec"].get("nodeName") == "node-2", what="picky on node-2")


CLAIMED = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers: [{name: app, image: busybox}]
"""


def test_a_claim_in_use_stays_terminating_until_its_pod_is_gone(local: LocalProcess) -> None:
    local.kubectl("apply", "-f", "-", stdin=CLAIMED)
    wait_for(lambda: ready(local, "user"), what="user Ready")
    claim = json.loads(local.kubectl("get", "pvc", "data", "-o", "json"))
    volume = claim["spec"]["volumeName"]
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert json.loads(local.kubectl("get", "pv", volume, "-o", "json"))["metadata"]["finalizers"] == [
        "kubernetes.io/pv-protection"
    ]
    local.kubectl("delete", "pvc", "data", "--wait=false")
    time.sleep(0.5)
    row = local.kubectl("get", "pvc", "data", "--no-headers").split()
    assert row[:2] == ["data", "Terminating"]
    local.kubectl("delete", "pod", "user")
    wait_for(
        lambda: not local.kubectl("get", "pvc", "--ignore-not-found", "-o", "name").strip(), what="claim gone"
    )
    wait_for(lambda: volume not in local.kubectl("get", "pv", "-o", "name"), what="volume gone")
