"""Manifests people already have, applied unchanged to `petdns local`: the ZooKeeper tutorial, a
Helm-rendered PostgreSQL chart and a Cassandra ring (the Kubernetes docs' StatefulSet Basics has a module of
its own). Each starts with `petdns local -f FILE`, one also with `kubectl apply` to a running cluster; the
pets come up in order, their names and the governing Service's SRV records resolve, budgets and
anti-affinity are honoured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from tests.support.process import ROOT, LocalProcess, wait_for

REAL = ROOT / "tests" / "data" / "real"


QUIET = ("--health-listen", "127.0.0.1:0", "--ready-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")


def started(directory: Path, *args: str) -> LocalProcess:
    return LocalProcess(directory, "--no-forward", *QUIET, *args, timeout=60)


def pods(local: LocalProcess, namespace: str, selector: str) -> dict[str, Any]:
    listed = json.loads(local.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))
    return {p["metadata"]["name"]: p for p in listed["items"]}


def ready_since(pod: dict[str, Any]) -> str | None:
    for condition in pod.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready" and condition["status"] == "True":
            return str(condition["lastTransitionTime"])
    return None


def all_ready(local: LocalProcess, namespace: str, selector: str, names: list[str]) -> dict[str, Any] | None:
    found = pods(local, namespace, selector)
    if sorted(found) != sorted(names) or not all(ready_since(p) for p in found.values()):
        return None
    return found


def ask(local: LocalProcess, name: str, qtype: str) -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, qtype), local.dns_host, port=local.dns_port, timeout=2)
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


def _answered(local: LocalProcess, name: str) -> list[str] | None:
    return ask(local, name, "A") or None


def check_pets(
    local: LocalProcess, namespace: str, selector: str, names: list[str], service: str
) -> dict[str, Any]:
    """Every pet Running and Ready, in ordinal order; each pet's A record is its IP; SRV lists them all."""
    found = wait_for(lambda: all_ready(local, namespace, selector, names), timeout=90, what=f"{names} Ready")
    created = [found[n]["metadata"]["creationTimestamp"] for n in names]
    assert created == sorted(created)  # OrderedReady: web-1 only after web-0 is Ready
    for name in names:
        assert found[name]["status"]["phase"] == "Running"
        fqdn = f"{name}.{service}.{namespace}.svc.cluster.local."
        ip = found[name]["status"]["podIP"]
        # the answer follows the pod's readiness through its EndpointSlice and the watch: soon, not at once
        answered = wait_for(partial(_answered, local, fqdn), timeout=10, what=f"{fqdn} A")
        assert answered == [ip]
    srv = ask(local, f"{service}.{namespace}.svc.cluster.local.", "SRV")
    targets = sorted({line.split()[-1] for line in srv})
    assert targets == sorted(f"{n}.{service}.{namespace}.svc.cluster.local." for n in names)
    return found


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    running = started(tmp_path_factory.mktemp("zookeeper"), "-f", str(REAL / "zookeeper.yaml"))
    try:
        yield running
    finally:
        assert running.stop() == 0


def test_zookeeper_tutorial_unchanged(zookeeper: LocalProcess) -> None:
    found = check_pets(zookeeper, "default", "app.kubernetes.io/name=zk", ["zk-0", "zk-1", "zk-2"], "zk-hs")
    nodes = {p["spec"]["nodeName"] for p in found.values()}
    assert len(nodes) == 3  # requiredDuringScheduling podAntiAffinity on kubernetes.io/hostname
    status = json.loads(zookeeper.kubectl("get", "pdb", "zk-pdb", "-o", "json"))["status"]
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 1)
    assert ask(zookeeper, "zk-cs.default.svc.cluster.local.", "A")  # the client Service's cluster IP


def test_postgresql_helm_chart_unchanged(tmp_path: Path) -> None:
    local = started(tmp_path, "-f", str(REAL / "postgresql-helm.yaml"))
    try:
        check_pets(
            local,
            "default",
            "app.kubernetes.io/name=postgresql",
            ["my-release-postgresql-0"],
            "my-release-postgresql-hl",
        )
        claims = json.loads(local.kubectl("get", "pvc", "-o", "json"))["items"]
        assert [(c["metadata"]["name"], c["status"]["phase"]) for c in claims] == [
            ("data-my-release-postgresql-0", "Bound")
        ]
        for kind in ("secret", "configmap", "serviceaccount", "networkpolicy", "pdb"):
            assert local.kubectl("get", kind, "-o", "name").strip(), kind
    finally:
        assert local.stop() == 0


def test_cassandra_ring_with_kubectl_apply(tmp_path: Path) -> None:
    local = started(tmp_path)
    try:
        out = local.kubectl("apply", "-f", str(REAL / "cassandra.yaml"))
        assert out.splitlines() == ["service/cassandra created", "statefulset.apps/cassandra created"]
        names = ["cassandra-0", "cassandra-1", "cassandra-2"]
        check_pets(local, "default", "app=cassandra", names, "cassandra")
        claims = json.loads(local.kubectl("get", "pvc", "-o", "json"))["items"]
        bound = sorted(c["metadata"]["name"] for c in claims if c["status"]["phase"] == "Bound")
        assert bound == sorted(f"{t}-{n}" for t in ("cassandra-commitlog", "cassandra-data") for n in names)
    finally:
        assert local.stop() == 0
