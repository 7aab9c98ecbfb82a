"""The companions of a stateful app through real kubectl (validation on) and the official client: each kind
created, listed and printed with kubectl's columns, upstream's defaults and checks, whole manifests from
tests/data/real, the error kubectl gives for a kind not served, and pods/eviction against a budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client import CoreV1Api, V1DeleteOptions, V1Eviction, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from localcluster.seed import plan_files
from localcluster.storage.resources import by_kind, find
from tests.localcluster.conftest import LocalApi

REAL = Path(__file__).parents[1] / "data" / "real"
PDBS = find("policy", "v1", "poddisruptionbudgets")
PODS = find("", "v1", "pods")
TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
}
SELECTOR = {"matchLabels": {"app": "web"}}
RBAC = "rbac.authorization.k8s.io/v1"


def obj(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}


COMPANIONS = [
    obj("v1", "Secret", "creds", stringData={"password": "hunter2"}, data={"user": "YWRtaW4="}),
    obj("v1", "ServiceAccount", "runner"),
    obj("policy/v1", "PodDisruptionBudget", "web-pdb", spec={"selector": SELECTOR, "maxUnavailable": "25%"}),
    obj("apps/v1", "Deployment", "web", spec={"replicas": 2, "selector": SELECTOR, "template": TEMPLATE}),
    obj("apps/v1", "ReplicaSet", "solo", spec={"selector": SELECTOR, "template": TEMPLATE}),
    obj(
        "batch/v1",
        "Job",
        "once",
        spec={
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
            }
        },
    ),
    obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "web-only",
        spec={"podSelector": SELECTOR, "policyTypes": ["Ingress"]},
    ),
    obj(RBAC, "Role", "reader", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
    obj(
        RBAC,
        "RoleBinding",
        "read-pods",
        roleRef={"kind": "Role", "name": "reader"},
        subjects=[
            {"kind": "ServiceAccount", "name": "runner", "namespace": "x"},
            {"kind": "User", "name": "ann"},
        ],
    ),
]
CLUSTER_WIDE = [
    obj(
        RBAC, "ClusterRole", "companions-viewer", rules=[{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    ),
    obj(
        RBAC,
        "ClusterRoleBinding",
        "companions-view",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "companions-viewer"},
        subjects=[{"kind": "Group", "name": "viewers"}],
    ),
]


def rows(text: str) -> list[list[str]]:
    """A kubectl table, split on runs of two or more spaces (headers with one space stay whole)."""
    return [[cell for cell in line.split("  ") if cell.strip()] for line in text.splitlines()]


def cells(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in rows(text)]


@pytest.fixture(scope="module")
def applied(api: LocalApi) -> str:
    namespace = api.namespace("companions")
    out = api.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(COMPANIONS)).stdout
    assert out.splitlines() == [
        "secret/creds created",
        "serviceaccount/runner created",
        "poddisruptionbudget.policy/web-pdb created",
        "deployment.apps/web created",
        "replicaset.apps/solo created",
        "job.batch/once created",
        "networkpolicy.networking.k8s.io/web-only created",
        "role.rbac.authorization.k8s.io/reader created",
        "rolebinding.rbac.authorization.k8s.io/read-pods created",
    ]
    cluster = api.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(CLUSTER_WIDE)).stdout
    assert "clusterrole.rbac.authorization.k8s.io/companions-viewer created" in cluster
    return namespace


@pytest.mark.parametrize(
    ("what", "header", "row"),
    [
        (
            "pdb",
            ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
            ["web-pdb", "N/A", "25%", "0"],
        ),
        ("deploy", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], ["web", "0/2", "0", "0"]),
        ("rs", ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["solo", "1", "0", "0"]),
        ("job", ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], ["once", "Running", "0/1"]),
        ("netpol", ["NAME", "POD-SELECTOR", "AGE"], ["web-only", "app=web"]),
        ("secret", ["NAME", "TYPE", "DATA", "AGE"], ["creds", "Opaque", "2"]),
        ("sa", ["NAME", "SECRETS", "AGE"], ["runner", "0"]),
        ("rolebinding", ["NAME", "ROLE", "AGE"], ["read-pods", "Role/reader"]),
    ],
)
def test_kubectl_prints_each_kind_with_upstream_columns(
    api: LocalApi, applied: str, what: str, header: list[str], row: list[str]
) -> None:
    table = cells(api.kubectl("get", "-n", applied, what).stdout)
    assert table[0] == header
    assert table[1][: len(row)] == row and len(table) == 2


def test_wide_columns_and_roles(api: LocalApi, applied: str) -> None:
    deploy = cells(api.kubectl("get", "-n", applied, "deploy", "web", "-o", "wide").stdout)
    assert deploy[0] == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert deploy[1][-3:] == ["nginx", "nginx:1.25", "app=web"]
    binding = cells(api.kubectl("get", "-n", applied, "rolebinding", "read-pods", "-o", "wide").stdout)
    assert binding[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert binding[1][-2:] == ["ann", "x:runner"]
    role = cells(api.kubectl("get", "-n", applied, "role").stdout)
    assert role[0] == ["NAME", "CREATED AT"] and role[1][0] == "reader" and role[1][1].endswith("Z")
    cluster = cells(api.kubectl("get", "clusterrolebinding", "companions-view").stdout)
    assert cluster[1][:2] == ["companions-view", "ClusterRole/companions-viewer"]


def test_upstream_defaults_are_stored(api: LocalApi, applied: str) -> None:
    def get(kind: str, name: str) -> dict[str, Any]:
        return json.loads(api.kubectl("get", "-n", applied, kind, name, "-o", "json").stdout)

    deploy = get("deploy", "web")
    assert deploy["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert deploy["spec"]["revisionHistoryLimit"] == 10 and deploy["spec"]["progressDeadlineSeconds"] == 600
    assert deploy["metadata"]["generation"] == 1
    assert deploy["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    job = get("job", "once")
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "once"
    assert (job["spec"]["completions"], job["spec"]["parallelism"], job["spec"]["backoffLimit"]) == (1, 1, 6)
    secret = get("secret", "creds")
    assert secret["data"] == {"user": "YWRtaW4=", "password": "aHVudGVyMg=="} and "stringData" not in secret
    pdb = get("pdb", "web-pdb")
    assert pdb["status"]["disruptionsAllowed"] == 0 and pdb["status"]["expectedPods"] == 0
    binding = get("rolebinding", "read-pods")
    assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert binding["subjects"][1]["apiGroup"] == "rbac.authorization.k8s.io"


def test_scale_and_status_subresources(api: LocalApi, applied: str) -> None:
    assert (
        "deployment.apps/web scaled"
        in api.kubectl("scale", "-n", applied, "deploy", "web", "--replicas=3").stdout
    )
    scale = json.loads(
        api.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{applied}/deployments/web/scale").stdout
    )
    assert scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"
    assert (
        api.kubectl("get", "-n", applied, "deploy", "web", "-o", "jsonpath={.metadata.generation}").stdout
        == "2"
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            obj(
                "apps/v1",
                "Deployment",
                "bad",
                spec={"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
            ),
            'spec.template.metadata.labels: Invalid value: {"app":"web"}: '
            "`selector` does not match template `labels`",
        ),
        (
            obj("policy/v1", "PodDisruptionBudget", "both", spec={"minAvailable": 1, "maxUnavailable": 1}),
            "minAvailable and maxUnavailable cannot be both set",
        ),
        (
            obj("policy/v1", "PodDisruptionBudget", "pct", spec={"minAvailable": "120%"}),
            'spec.minAvailable: Invalid value: "120%": must not be greater than 100%',
        ),
        (
            obj("apps/v1", "Deployment", "nosel", spec={"template": TEMPLATE}),
            "spec.selector: Required value",
        ),
        (
            obj(RBAC, "RoleBinding", "noref", roleRef={"kind": "Group", "name": "r"}),
            'roleRef.kind: Unsupported value: "Group": supported values: "Role", "ClusterRole"',
        ),
    ],
)
def test_checks_refuse_with_upstream_messages(api: LocalApi, doc: dict[str, Any], message: str) -> None:
    namespace = api.namespace("companions-checks")
    done = api.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_selector_is_immutable(api: LocalApi, applied: str) -> None:
    patch = json.dumps({"spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}})
    done = api.kubectl("patch", "-n", applied, "rs", "solo", "--type=merge", "-p", patch, check=False)
    assert (
        done.returncode == 1
        and "spec.selector: Invalid value" in done.stderr
        and "field is immutable" in done.stderr
    )


def test_a_kind_not_served_gets_kubectls_own_error(api: LocalApi, tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(obj("bar/v1", "Foo", "x")))
    done = api.kubectl("apply", "-f", str(path), check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f'error: resource mapping not found for name: "x" namespace: "" from "{path}": '
        'no matches for kind "Foo" in version "bar/v1"'
    ), done.stderr


@pytest.mark.parametrize("name", ["zookeeper.yaml", "postgresql-helm.yaml"])
def test_real_manifests_apply_with_validation(api: LocalApi, name: str, tmp_path: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all((REAL / name).read_text()) if doc]
    served = [doc for doc in docs if by_kind(doc["apiVersion"], doc["kind"]) is not None]
    assert {doc["kind"] for doc in docs} - {doc["kind"] for doc in served} <= {"StatefulSet"}
    namespace = "default"
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(served if len(served) < len(docs) else docs))
    out = api.kubectl("apply", "-n", namespace, "-f", str(path)).stdout.splitlines()
    assert len(out) == len(served) and all(line.endswith(" created") for line in out), out
    again = api.kubectl("apply", "-n", namespace, "-f", str(path)).stdout.splitlines()
    assert len(again) == len(served)
    names = api.kubectl("get", "-n", namespace, "-f", str(path), "-o", "name").stdout.split()
    assert len(names) == len(served)


def test_real_manifests_plan_for_petdns_local() -> None:
    planned = plan_files([str(REAL / "zookeeper.yaml"), str(REAL / "postgresql-helm.yaml")])
    assert [raw["kind"] for _, _, _, raw in planned].count("PodDisruptionBudget") == 2
    assert len(planned) == 12


@pytest.fixture(scope="module")
def core(api: LocalApi) -> Iterator[CoreV1Api]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        yield CoreV1Api(made)


def _ready_pod(api: LocalApi, namespace: str, name: str) -> None:
    assert PODS is not None
    spec = {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}
    pod = {"metadata": {"name": name, "labels": {"app": "db"}}, "spec": spec}

    def create() -> None:
        made = api.store.create(PODS, namespace, pod)
        made["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        api.store.update(PODS, namespace, name, made, subresource="status")

    api.call(create)


def _budget_status(api: LocalApi, namespace: str, **status: int) -> None:
    assert PDBS is not None

    def write() -> None:
        found = api.store.get(PDBS, namespace, "db-pdb")
        found["status"] = {**found["status"], "observedGeneration": 1, **status}
        api.store.update(PDBS, namespace, "db-pdb", found, subresource="status")

    api.call(write)


def test_eviction_honours_the_budget(api: LocalApi, core: CoreV1Api) -> None:
    namespace = api.namespace("companions-evict")
    pdb = obj(
        "policy/v1",
        "PodDisruptionBudget",
        "db-pdb",
        spec={"selector": {"matchLabels": {"app": "db"}}, "minAvailable": 2},
    )
    api.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(pdb))
    for name in ("db-0", "db-1", "db-2"):
        _ready_pod(api, namespace, name)
    _budget_status(api, namespace, currentHealthy=3, desiredHealthy=3, expectedPods=3, disruptionsAllowed=0)
    body = V1Eviction(
        metadata=V1ObjectMeta(name="db-0", namespace=namespace), delete_options=V1DeleteOptions()
    )
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod_eviction("db-0", namespace, body)
    assert refused.value.status == 429
    status = json.loads(refused.value.body)
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["reason"] == "TooManyRequests"
    assert status["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget db-pdb needs 3 healthy pods and has 3 currently",
        }
    ]
    _budget_status(api, namespace, desiredHealthy=2, disruptionsAllowed=1)
    core.create_namespaced_pod_eviction("db-0", namespace, body)
    evicted = core.read_namespaced_pod("db-0", namespace)
    assert evicted.metadata.deletion_timestamp is not None  # deleted gracefully: terminating
    spent = json.loads(api.kubectl("get", "-n", namespace, "pdb", "db-pdb", "-o", "json").stdout)["status"]
    assert spent["disruptionsAllowed"] == 0 and "db-0" in spent["disruptedPods"]
    with pytest.raises(ApiException) as again:
        core.create_namespaced_pod_eviction(
            "db-1", namespace, body.__class__(metadata=V1ObjectMeta(name="db-1"))
        )
    assert again.value.status == 429


def test_eviction_is_listed_in_discovery(api: LocalApi) -> None:
    listed = json.loads(api.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    eviction = next(r for r in listed if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    assert eviction["verbs"] == ["create"]


def test_rbac_names_are_path_segments(api: LocalApi) -> None:
    """RBAC objects take any name a path segment can carry (`system:...`), as upstream; not `/` or `%`."""
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    good = obj(RBAC, "ClusterRole", "system:controller:petdns", rules=[rule])
    done = api.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(good))
    assert done.stdout == "clusterrole.rbac.authorization.k8s.io/system:controller:petdns created\n"
    bad = obj(RBAC, "Role", "a%b", rules=[rule])
    refused = api.kubectl("create", "-n", "default", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert (
        refused.returncode == 1
        and "metadata.name: Invalid value: \"a%b\": may not contain '%'" in refused.stderr
    )
