"""`petdns local` runs the Deployment and disruption controllers: a Deployment behind a Service resolves
(dnspython), `kubectl rollout status` completes across a template change, a budget's status follows its
pods becoming Ready, and `kubectl drain` is refused by the budget until it permits the eviction."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from tests.support.process import KUBECTL, LocalProcess, wait_for

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}],
    },
}
WEB = [
    {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web-pdb"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 2},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-hl"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    },
]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    running = LocalProcess(tmp_path_factory.mktemp("companions"), "--no-forward")
    try:
        running.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(WEB))
        yield running
    finally:
        running.stop()


def resolve(local: LocalProcess, name: str) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.A)
    reply = dns.query.udp(query, local.dns_host, port=local.dns_port, timeout=2)
    return sorted(item.address for rrset in reply.answer for item in rrset if rrset.rdtype == dns.rdatatype.A)


def drain(local: LocalProcess, node: str, timeout: str) -> subprocess.CompletedProcess[str]:
    """kubectl drain, its output kept whether it fails or not."""
    command = [KUBECTL, f"--kubeconfig={local.kubeconfig}", "drain", node, f"--timeout={timeout}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def get(local: LocalProcess, *args: str) -> Any:
    return json.loads(local.kubectl("get", *args, "-o", "json"))


def test_a_deployment_behind_a_service_resolves(local: LocalProcess) -> None:
    done = local.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in done
    pods = get(local, "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    rs = get(local, "rs", "-l", "app=web")["items"]
    assert len(rs) == 1 and all(
        p["metadata"]["ownerReferences"][0]["name"] == rs[0]["metadata"]["name"] for p in pods
    )
    ips = sorted(p["status"]["podIP"] for p in pods)
    assert wait_for(
        lambda: resolve(local, "web-hl.default.svc.cluster.local.") == ips or None, what="pod IPs"
    )
    cluster_ip = get(local, "svc", "web")["spec"]["clusterIP"]
    assert resolve(local, "web.default.svc.cluster.local.") == [cluster_ip]


def test_the_budget_follows_its_pods(local: LocalProcess) -> None:
    local.kubectl("rollout", "status", "deployment/web", "--timeout=60s")

    def settled() -> Any:
        status = get(local, "pdb", "web-pdb")["status"]
        return status if status.get("currentHealthy") == 2 else None

    status = wait_for(settled, what="the budget's healthy pods")
    assert (status["desiredHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == (2, 2, 0)
    assert status["observedGeneration"] == 1
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    table = local.kubectl("get", "pdb", "web-pdb").splitlines()
    assert table[0].split() == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]
    assert table[1].split()[:4] == ["web-pdb", "2", "N/A", "0"]


def test_drain_is_refused_by_the_budget_then_allowed(local: LocalProcess) -> None:
    local.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    wait_for(lambda: get(local, "pdb", "web-pdb")["status"].get("currentHealthy") == 2, what="healthy pods")
    node = get(local, "pods", "-l", "app=web")["items"][0]["spec"]["nodeName"]
    try:
        refused = drain(local, node, "2s")
        assert refused.returncode != 0
        violation = "Cannot evict pod as it would violate the pod's disruption budget."
        assert violation in refused.stderr, refused.stderr
        local.kubectl("scale", "deployment/web", "--replicas=3")
        wait_for(
            lambda: get(local, "pdb", "web-pdb")["status"].get("disruptionsAllowed") == 1, what="a disruption"
        )
        drained = drain(local, node, "30s")
        assert drained.returncode == 0 and f"node/{node} drained" in drained.stdout, drained.stderr
        left = get(local, "pods", "-l", "app=web", "--field-selector", f"spec.nodeName={node}")["items"]
        assert all(p["metadata"].get("deletionTimestamp") for p in left)
        done = local.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert "successfully rolled out" in done
    finally:
        local.kubectl("uncordon", node)


def test_a_template_change_rolls_out(local: LocalProcess) -> None:
    local.kubectl("set", "image", "deployment/web", "nginx=nginx:1.26")
    done = local.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in done
    sets = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in get(local, "rs")["items"]}
    assert sets["nginx:1.26"]["spec"]["replicas"] == sets["nginx:1.26"]["status"]["readyReplicas"] > 0
    assert sets["nginx:1.25"]["spec"]["replicas"] == 0
    images = {
        p["spec"]["containers"][0]["image"]
        for p in get(local, "pods", "-l", "app=web")["items"]
        if not p["metadata"].get("deletionTimestamp")
    }
    assert images == {"nginx:1.26"}
    deploy = get(local, "deploy", "web")
    assert deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
